package judge

import (
	"strings"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// Tokens counts and cuts text in the tokens of the judge model. The vocabularies are
// compiled into the tokenizer module, so nothing is downloaded.
type Tokens struct {
	codec tokenizer.Codec
}

// NewTokens returns the tokenizer of model, or o200k_base (the encoding of the o-series
// and GPT-4o models) for a model the tokenizer module does not know, as the official judge
// falls back.
func NewTokens(model string) *Tokens {
	codec, err := tokenizer.ForModel(tokenizer.Model(model))
	if err != nil {
		codec, _ = tokenizer.Get(tokenizer.O200kBase)
	}
	return &Tokens{codec: codec}
}

// Count returns the number of tokens of s. Special-token text counts as ordinary text.
func (t *Tokens) Count(s string) int {
	n, err := t.codec.Count(s)
	if err != nil { // only with a strict error mode, which is not used
		return len(s)
	}
	return n
}

// Truncate returns the longest prefix of s that has at most n tokens, cut at a token
// boundary (a character split between tokens is dropped).
func (t *Tokens) Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	ids, _, err := t.codec.Encode(s)
	if err != nil || len(ids) <= n {
		return s
	}
	prefix, err := t.codec.Decode(ids[:n])
	if err != nil {
		return ""
	}
	return validPrefix(prefix)
}

// validPrefix drops an incomplete UTF-8 character at the end of s.
func validPrefix(s string) string {
	for cut := 0; cut < utf8.UTFMax && cut < len(s); cut++ {
		if utf8.ValidString(s[:len(s)-cut]) {
			return s[:len(s)-cut]
		}
	}
	return strings.ToValidUTF8(s, "")
}

// completeLines drops the text after the last newline of s (all of s when it has none),
// so that a cut text ends on a whole line, as the official judge does.
func completeLines(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
