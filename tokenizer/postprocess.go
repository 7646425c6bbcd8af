package tokenizer

import (
	"encoding/json"
	"fmt"
)

// postProcessor adds special tokens around one or two encoded sequences.
type postProcessor interface {
	process(a, b []int) []int // b is nil for a single sequence
}

// newPostProcessor builds the post-processor at jsonPath; null means none (sequences are
// concatenated as they are).
func newPostProcessor(raw json.RawMessage, jsonPath string) (postProcessor, error) {
	if isNull(raw) {
		return postSequence(nil), nil
	}
	var t typed
	if err := decodeComponent(raw, jsonPath, &t); err != nil {
		return nil, err
	}
	switch t.Type {
	case "TemplateProcessing":
		return newTemplateProcessing(raw, jsonPath)
	case "ByteLevel": // only trims offsets, which this package does not track
		return postSequence(nil), nil
	case "Sequence":
		var s struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := decodeComponent(raw, jsonPath, &s); err != nil {
			return nil, err
		}
		seq := make(postSequence, len(s.Processors))
		for i, item := range s.Processors {
			p, err := newPostProcessor(item, fmt.Sprintf("%s.processors[%d]", jsonPath, i))
			if err != nil {
				return nil, err
			}
			seq[i] = p
		}
		return seq, nil
	}
	return nil, fmt.Errorf("%s: unsupported: %s (post-processor)", jsonPath, t.Type)
}

// postSequence applies processors in order; a processor after the first sees the pair already
// joined, as Hugging Face's Sequence processor does with its encodings.
type postSequence []postProcessor

func (s postSequence) process(a, b []int) []int {
	if len(s) == 0 {
		return append(append([]int(nil), a...), b...)
	}
	out := s[0].process(a, b)
	for _, p := range s[1:] {
		out = p.process(out, nil)
	}
	return out
}

// templatePiece is one item of a TemplateProcessing template: a special token's ids, or the
// sequence A or B.
type templatePiece struct {
	ids      []int
	sequence string // "A" or "B"; "" for a special token
}

// templateProcessing is Hugging Face's TemplateProcessing: templates such as "<bos> $A" for one
// sequence and "$A <sep> $B" for a pair.
type templateProcessing struct {
	single, pair []templatePiece
}

func newTemplateProcessing(raw json.RawMessage, jsonPath string) (postProcessor, error) {
	var t struct {
		Single        []map[string]json.RawMessage `json:"single"`
		Pair          []map[string]json.RawMessage `json:"pair"`
		SpecialTokens map[string]struct {
			IDs []int `json:"ids"`
		} `json:"special_tokens"`
	}
	if err := decodeComponent(raw, jsonPath, &t); err != nil {
		return nil, err
	}
	specials := map[string][]int{}
	for name, tok := range t.SpecialTokens {
		specials[name] = tok.IDs
	}
	single, err := parseTemplate(t.Single, specials, jsonPath+".single")
	if err != nil {
		return nil, err
	}
	pair, err := parseTemplate(t.Pair, specials, jsonPath+".pair")
	if err != nil {
		return nil, err
	}
	return &templateProcessing{single: single, pair: pair}, nil
}

func parseTemplate(items []map[string]json.RawMessage, specials map[string][]int, jsonPath string) ([]templatePiece, error) {
	pieces := make([]templatePiece, len(items))
	for i, item := range items {
		itemPath := fmt.Sprintf("%s[%d]", jsonPath, i)
		var ref struct {
			ID string `json:"id"`
		}
		switch {
		case item["SpecialToken"] != nil:
			if err := decodeComponent(item["SpecialToken"], itemPath, &ref); err != nil {
				return nil, err
			}
			ids, ok := specials[ref.ID]
			if !ok {
				return nil, fmt.Errorf("%s: special token %q is not in special_tokens", itemPath, ref.ID)
			}
			pieces[i].ids = ids
		case item["Sequence"] != nil:
			if err := decodeComponent(item["Sequence"], itemPath, &ref); err != nil {
				return nil, err
			}
			if ref.ID != "A" && ref.ID != "B" {
				return nil, fmt.Errorf("%s: sequence id %q is neither A nor B", itemPath, ref.ID)
			}
			pieces[i].sequence = ref.ID
		default:
			return nil, fmt.Errorf("%s: want {\"SpecialToken\": ...} or {\"Sequence\": ...}", itemPath)
		}
	}
	return pieces, nil
}

func (t *templateProcessing) process(a, b []int) []int {
	template := t.single
	if b != nil {
		template = t.pair
	}
	var out []int
	for _, p := range template {
		switch p.sequence {
		case "A":
			out = append(out, a...)
		case "B":
			out = append(out, b...)
		default:
			out = append(out, p.ids...)
		}
	}
	return out
}
