package tokenizer

import (
	"path/filepath"
	"slices"
	"testing"
)

type goldenChat struct {
	Name                string    `json:"name"`
	AddGenerationPrompt bool      `json:"add_generation_prompt"`
	Messages            []Message `json:"messages"`
	Rendered            string    `json:"rendered"`
	IDs                 []int     `json:"ids"`
	Decoded             string    `json:"decoded"`
}

func TestGoldenChat(t *testing.T) {
	tok, dir := huginn(t)
	tmpl, err := LoadChatTemplate(dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := readJSONL[goldenChat](t, filepath.Join(dir, "golden_chat.jsonl"))
	if len(cases) != 10 {
		t.Fatalf("golden_chat.jsonl: %d lines, want 10", len(cases))
	}
	for _, c := range cases {
		rendered, err := tmpl.Render(c.Messages, c.AddGenerationPrompt)
		if err != nil {
			t.Errorf("%s (generation prompt %v): %v", c.Name, c.AddGenerationPrompt, err)
			continue
		}
		if rendered != c.Rendered {
			t.Errorf("%s (generation prompt %v):\n got  %q\n want %q", c.Name, c.AddGenerationPrompt, rendered, c.Rendered)
		}
		if ids := tok.Encode(rendered, false); !slices.Equal(ids, c.IDs) {
			t.Errorf("%s: ids\n got  %v\n want %v", c.Name, ids, c.IDs)
		}
		if d := tok.Decode(c.IDs, false); d != c.Decoded {
			t.Errorf("%s: decoded %q, want %q", c.Name, d, c.Decoded)
		}
	}
}
