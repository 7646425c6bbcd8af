// Package tokenizer implements the byte-level BPE tokenizers that Hugging Face models ship as
// tokenizer.json (Huginn-0125's among them), their special tokens, and their Jinja chat
// templates.
//
// The pipeline is Hugging Face's: added tokens are cut out of the raw text first (leftmost,
// then longest), the rest goes through the pre-tokenizer (Split with an Oniguruma-compatible
// regex, ByteLevel), each pre-token is merged by BPE rank, and the post-processor adds special
// tokens. Decoding maps the byte-level symbols back to bytes and converts them to text the
// way Rust's String::from_utf8_lossy does. Decode does not apply transformers'
// clean_up_tokenization_spaces; its output equals Rust tokenizers' decode.
//
// Input text that is not valid UTF-8 is first repaired by replacing each maximal ill-formed
// subpart with U+FFFD, since Hugging Face tokenizers only ever see valid Unicode text.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Tokenizer encodes text to token ids and decodes ids to text.
type Tokenizer struct {
	model         *bpe
	added         map[int]*addedToken // by id
	addedIDs      map[string]int      // by content
	rawMatcher    *addedMatcher       // added tokens with normalized=false
	normMatcher   *addedMatcher       // added tokens with normalized=true
	pre           preTokenizer
	post          postProcessor
	byteLevel     bool // the decoder is ByteLevel; otherwise tokens are joined with spaces
	vocabSize     int
	bos, eos, pad int // -1 when not configured
}

// Load reads a tokenizer from a model folder holding tokenizer.json (and optionally
// tokenizer_config.json / special_tokens_map.json naming the BOS, EOS and pad tokens), or from
// the path of a tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	file, dir := path, filepath.Dir(path)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		file, dir = filepath.Join(path, "tokenizer.json"), path
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", file, err)
	}
	if err := t.loadSpecialTokens(dir); err != nil {
		return nil, err
	}
	return t, nil
}

// parse builds a tokenizer from the contents of a tokenizer.json.
func parse(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, describeJSONError(data, err)
	}
	if err := checkNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if isNull(f.Model) {
		return nil, errors.New("model: missing")
	}
	model, err := newBPE(f.Model)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{model: model, added: map[int]*addedToken{}, addedIDs: map[string]int{},
		vocabSize: len(model.tokens), bos: -1, eos: -1, pad: -1}
	if err := t.addTokens(f.AddedTokens); err != nil {
		return nil, err
	}
	if t.pre, err = newPreTokenizer(f.PreTokenizer, "pre_tokenizer"); err != nil {
		return nil, err
	}
	if t.post, err = newPostProcessor(f.PostProcessor, "post_processor"); err != nil {
		return nil, err
	}
	t.byteLevel, err = checkDecoder(f.Decoder)
	return t, err
}

// checkNormalizer accepts no normalizer or an empty Sequence; this package implements none.
func checkNormalizer(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := decodeComponent(raw, "normalizer", &n); err != nil {
		return err
	}
	if n.Type == "Sequence" && len(n.Normalizers) == 0 {
		return nil
	}
	return fmt.Errorf("normalizer: unsupported: normalizer %s", n.Type)
}

// checkDecoder reports whether the decoder is ByteLevel; null means tokens joined by spaces.
func checkDecoder(raw json.RawMessage) (byteLevel bool, err error) {
	if isNull(raw) {
		return false, nil
	}
	var d typed
	if err := decodeComponent(raw, "decoder", &d); err != nil {
		return false, err
	}
	if d.Type != "ByteLevel" {
		return false, fmt.Errorf("decoder: unsupported: %s (decoder)", d.Type)
	}
	return true, nil
}

// addTokens registers the added tokens and builds their matchers.
func (t *Tokenizer) addTokens(tokens []addedToken) error {
	var raw, norm []*addedToken
	for i := range tokens {
		tok := &tokens[i]
		if tok.ID < 0 || tok.ID > 1<<24 || tok.Content == "" {
			return fmt.Errorf("added_tokens[%d]: bad token %q with id %d", i, tok.Content, tok.ID)
		}
		t.added[tok.ID] = tok
		t.addedIDs[tok.Content] = tok.ID
		t.vocabSize = max(t.vocabSize, tok.ID+1)
		if tok.Normalized {
			norm = append(norm, tok)
		} else {
			raw = append(raw, tok)
		}
	}
	t.rawMatcher, t.normMatcher = newAddedMatcher(raw), newAddedMatcher(norm)
	return nil
}

// loadSpecialTokens reads the BOS, EOS and pad tokens from tokenizer_config.json, falling back
// to special_tokens_map.json; both files are optional.
func (t *Tokenizer) loadSpecialTokens(dir string) error {
	for _, name := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		var c tokenConfigJSON
		if err := readJSON(path, &c); err != nil {
			return err
		}
		for _, field := range []struct {
			raw  json.RawMessage
			key  string
			dest *int
		}{{c.BOS, "bos_token", &t.bos}, {c.EOS, "eos_token", &t.eos}, {c.Pad, "pad_token", &t.pad}} {
			if err := t.setSpecial(field.raw, field.key, field.dest); err != nil {
				return fmt.Errorf("tokenizer: %s: %w", path, err)
			}
		}
	}
	return nil
}

// setSpecial resolves a configured special token to its id unless an earlier file set it.
func (t *Tokenizer) setSpecial(raw json.RawMessage, key string, dest *int) error {
	content, err := tokenContent(raw, key)
	if err != nil || content == "" || *dest >= 0 {
		return err
	}
	id, ok := t.TokenID(content)
	if !ok {
		return fmt.Errorf("%s: token %q is not in the vocabulary", key, content)
	}
	*dest = id
	return nil
}

// Encode returns the token ids of text; with addSpecial the post-processor adds its special
// tokens (Huginn-0125: a leading <|begin_text|>).
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	ids := t.encodeSequence(text)
	if addSpecial {
		ids = t.post.process(ids, nil)
	}
	return ids
}

// EncodePair encodes two sequences, joined by the post-processor's pair template when
// addSpecial is set and simply concatenated otherwise.
func (t *Tokenizer) EncodePair(a, b string, addSpecial bool) []int {
	idsA, idsB := t.encodeSequence(a), t.encodeSequence(b)
	if addSpecial {
		return t.post.process(idsA, idsB)
	}
	return append(idsA, idsB...)
}

// encodeSequence tokenizes one text without post-processing.
func (t *Tokenizer) encodeSequence(text string) []int {
	segs := []segment{{text: validUTF8(text), id: -1}}
	segs = t.normMatcher.split(t.rawMatcher.split(segs))
	ids := make([]int, 0, len(text)/3+1)
	for _, seg := range segs {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		for _, word := range t.pre.preTokenize([]string{seg.text}) {
			ids = t.model.tokenize(ids, word)
		}
	}
	return ids
}

// Decode turns ids back into text. Ids outside the vocabulary are skipped, and so are special
// tokens when skipSpecial is set.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	if !t.byteLevel {
		var tokens []string
		for _, id := range ids {
			if tok, ok := t.decodable(id, skipSpecial); ok {
				tokens = append(tokens, tok)
			}
		}
		return strings.Join(tokens, " ")
	}
	var buf []byte
	for _, id := range ids {
		if tok, ok := t.decodable(id, skipSpecial); ok {
			buf = byteLevelDecode(buf, tok)
		}
	}
	text, _ := decodeUTF8Lossy(buf, true)
	return text
}

// decodable returns the token of id unless it is unknown or a special token to skip.
func (t *Tokenizer) decodable(id int, skipSpecial bool) (string, bool) {
	if skipSpecial && t.IsSpecial(id) {
		return "", false
	}
	return t.Token(id)
}

// Token returns the text of a token id (byte-level symbols, not decoded bytes).
func (t *Tokenizer) Token(id int) (string, bool) {
	if tok, ok := t.added[id]; ok {
		return tok.Content, true
	}
	if id < 0 || id >= len(t.model.tokens) || t.model.tokens[id] == "" {
		return "", false
	}
	return t.model.tokens[id], true
}

// TokenID returns the id of a token given as its vocabulary text (added tokens first).
func (t *Tokenizer) TokenID(token string) (int, bool) {
	if id, ok := t.addedIDs[token]; ok {
		return id, true
	}
	id, ok := t.model.vocab[token]
	return id, ok
}

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int) bool {
	tok, ok := t.added[id]
	return ok && tok.Special
}

// VocabSize is one more than the largest token id, added tokens included.
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// BOS returns the beginning-of-text token id named in tokenizer_config.json or
// special_tokens_map.json.
func (t *Tokenizer) BOS() (int, bool) { return t.bos, t.bos >= 0 }

// EOS returns the end-of-text token id named in tokenizer_config.json or special_tokens_map.json.
func (t *Tokenizer) EOS() (int, bool) { return t.eos, t.eos >= 0 }

// Pad returns the padding token id named in tokenizer_config.json or special_tokens_map.json.
func (t *Tokenizer) Pad() (int, bool) { return t.pad, t.pad >= 0 }
