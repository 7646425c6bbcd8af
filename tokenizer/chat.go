package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/ardanlabs/jinja"
)

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatTemplate renders conversations with a model's Jinja chat template, as transformers'
// apply_chat_template does (trim_blocks and lstrip_blocks on).
type ChatTemplate struct {
	source   string
	template *jinja.Template
	tokens   map[string]string // bos_token, eos_token, pad_token, unk_token when configured
}

// generationTag matches transformers' {% generation %} / {% endgeneration %} markers, which
// delimit the assistant text for return_assistant_tokens_mask and render their body unchanged.
var generationTag = regexp.MustCompile(`\{%(-?)\s*(end)?generation\s*(-?)%\}`)

// LoadChatTemplate reads the chat template of a model folder: "chat_template" in
// tokenizer_config.json (a string, or a list of {name, template} of which "default" is used),
// or else a chat_template.jinja file; plus the special tokens it may refer to.
func LoadChatTemplate(dir string) (*ChatTemplate, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	path := filepath.Join(dir, "tokenizer_config.json")
	var c tokenConfigJSON
	if err := readJSON(path, &c); err != nil {
		return nil, err
	}
	source, err := chatTemplateSource(c.ChatTemplate, dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	tokens := map[string]string{}
	for _, f := range []struct {
		key string
		raw json.RawMessage
	}{{"bos_token", c.BOS}, {"eos_token", c.EOS}, {"pad_token", c.Pad}, {"unk_token", c.Unk}} {
		content, err := tokenContent(f.raw, f.key)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
		}
		if content != "" {
			tokens[f.key] = content
		}
	}
	t, err := newChatTemplate(source, tokens)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

// chatTemplateSource picks the template text out of tokenizer_config.json's chat_template.
func chatTemplateSource(raw json.RawMessage, dir string) (string, error) {
	if isNull(raw) {
		data, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja"))
		if err != nil {
			return "", errors.New("no chat_template, and no chat_template.jinja beside it")
		}
		return string(data), nil
	}
	var source string
	if json.Unmarshal(raw, &source) == nil {
		return source, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := decodeComponent(raw, "chat_template", &named); err != nil {
		return "", err
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	return "", errors.New("chat_template: a list of templates without one named \"default\"")
}

// newChatTemplate compiles a template. The {% generation %} tags are rewritten to
// {% if true %}...{% endif %}, keeping their whitespace-control dashes, because the Jinja engine
// does not know this transformers extension and Hugging Face renders the body as is.
func newChatTemplate(source string, tokens map[string]string) (*ChatTemplate, error) {
	rewritten := generationTag.ReplaceAllStringFunc(source, func(tag string) string {
		m := generationTag.FindStringSubmatch(tag)
		if m[2] == "end" {
			return "{%" + m[1] + " endif " + m[3] + "%}"
		}
		return "{%" + m[1] + " if true " + m[3] + "%}"
	})
	tmpl, err := compileJinja(rewritten)
	if err != nil {
		return nil, fmt.Errorf("chat_template does not parse: %w", err)
	}
	return &ChatTemplate{source: source, template: tmpl, tokens: tokens}, nil
}

// compileJinja compiles a template, turning a panic of the engine on odd input into an error.
func compileJinja(source string) (tmpl *jinja.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("jinja engine failed: %v", r)
		}
	}()
	return jinja.Compile(source)
}

// Source returns the template text as configured.
func (c *ChatTemplate) Source() string { return c.source }

// Render formats a conversation; with addGenerationPrompt the text ends with the header that
// invites the assistant's reply. Encode the result with addSpecial false when the template
// writes the BOS itself (Huginn's does).
func (c *ChatTemplate) Render(messages []Message, addGenerationPrompt bool) (out string, err error) {
	list := make([]any, len(messages))
	for i, m := range messages {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{"messages": list, "add_generation_prompt": addGenerationPrompt}
	for k, v := range c.tokens {
		data[k] = v
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tokenizer: rendering chat template: jinja engine failed: %v", r)
		}
	}()
	out, err = c.template.Render(data)
	if err != nil {
		return "", fmt.Errorf("tokenizer: rendering chat template: %w", err)
	}
	return out, nil
}
