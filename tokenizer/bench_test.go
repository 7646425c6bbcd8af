package tokenizer

import (
	"path/filepath"
	"strings"
	"testing"

	tiktoken "github.com/tiktoken-go/tokenizer"
)

// mixedText is about 8 KB of the golden corpus: English, code, LaTeX, numbers, CJK, emoji.
func mixedText(b *testing.B) string {
	_, dir := huginn(b)
	var sb strings.Builder
	for _, c := range readJSONL[goldenEncoding](b, filepath.Join(dir, "golden_encodings.jsonl")) {
		if c.Category != "long" && c.Category != "special" && c.Category != "chat" {
			sb.WriteString(c.Text)
			sb.WriteByte('\n')
		}
		if sb.Len() > 8000 {
			break
		}
	}
	return sb.String()
}

// BenchmarkEncode measures steady-state throughput (the word cache warm after the first call).
func BenchmarkEncode(b *testing.B) {
	tok, _ := huginn(b)
	text := mixedText(b)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text, true)
	}
}

// BenchmarkEncodeColdCache empties the word cache before every call, so each word is merged.
func BenchmarkEncodeColdCache(b *testing.B) {
	tok, _ := huginn(b)
	text := mixedText(b)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.model.cacheMu.Lock()
		clear(tok.model.cache)
		tok.model.cacheMu.Unlock()
		tok.Encode(text, true)
	}
}

// BenchmarkTiktokenBaseline encodes the same text with tiktoken-go's cl100k_base (a Go BPE
// with Go's regexp and no lookahead), a reference point for the figures above.
func BenchmarkTiktokenBaseline(b *testing.B) {
	text := mixedText(b)
	codec, err := tiktoken.Get(tiktoken.Cl100kBase)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		codec.Encode(text)
	}
}
