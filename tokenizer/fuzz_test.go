package tokenizer

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// survives reports whether the Huginn pre-tokenizer always keeps r. Every letter, number,
// punctuation mark, symbol and White_Space character starts a match of some alternative of the
// Split regex (\p{L}+, \p{N}, [\p{P}\p{S}]+, \s+), so only marks, controls, format characters,
// private-use and unassigned code points can be dropped, and those only when no match covers
// them (a mark right before a letter is kept: "[^\r\n\p{L}\p{N}]?\p{L}+").
func survives(r rune) bool {
	return unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S, unicode.White_Space)
}

// isSubsequence reports whether sub is s with some runes deleted, and whether every deleted
// rune is one the pre-tokenizer may drop.
func isSubsequence(sub, s string) bool {
	subRunes := []rune(sub)
	i := 0
	for _, r := range s {
		if i < len(subRunes) && subRunes[i] == r {
			i++
		} else if survives(r) {
			return false
		}
	}
	return i == len(subRunes)
}

// FuzzEncode checks on arbitrary input that Encode never panics and returns ids in the
// vocabulary, and, for valid UTF-8, the true round-trip property of Huginn's tokenizer:
// Decode(Encode(s)) is s with only droppable characters removed, and exactly s when s holds
// none of them (added tokens such as <|end_turn|> decode to their own text). Streamed decoding
// must agree with Decode.
func FuzzEncode(f *testing.F) {
	tok, _ := huginn(f)
	for _, seed := range []string{"", "Hello world", "l'été", "\\newcommand{\\x}", "e\u0301", "👨\u200d👩",
		"<|begin_text|>x<|end_turn|>", "a\x00b\x7f", "\xff\xfe", "x //= 2", "the 21st", "\r\n\t \u2028\u0085"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s, false)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		decoded := tok.Decode(ids, false)
		if !utf8.ValidString(s) {
			return
		}
		if !isSubsequence(decoded, s) {
			t.Fatalf("Decode(Encode(%q)) = %q: not the text with droppable characters removed", s, decoded)
		}
		if strings.IndexFunc(s, func(r rune) bool { return !survives(r) }) < 0 && decoded != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, decoded)
		}
		streamed := tok.NewStreamDecoder()
		var sb strings.Builder
		for _, id := range ids {
			sb.WriteString(streamed.Add(id))
		}
		if sb.WriteString(streamed.Flush()); sb.String() != decoded {
			t.Fatalf("streamed %q, Decode %q", sb.String(), decoded)
		}
	})
}

// FuzzDecode feeds arbitrary id sequences (any int32, so out-of-range ids too) to Decode and
// the stream decoder: no panic, valid UTF-8, and the two agree.
func FuzzDecode(f *testing.F) {
	tok, _ := huginn(f)
	f.Add([]byte{0xF0, 0, 0, 0, 0x9F, 0, 0, 0})
	f.Add([]byte{0xE0, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 65, 0, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		ids := make([]int, len(raw)/4)
		for i := range ids {
			ids[i] = int(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		}
		text := tok.Decode(ids, false)
		if !utf8.ValidString(text) {
			t.Fatalf("Decode(%v) = %q is not valid UTF-8", ids, text)
		}
		d := tok.NewStreamDecoder()
		var sb strings.Builder
		for _, id := range ids {
			sb.WriteString(d.Add(id))
		}
		if sb.WriteString(d.Flush()); sb.String() != text {
			t.Fatalf("ids %v: streamed %q, Decode %q", ids, sb.String(), text)
		}
	})
}

// FuzzParse feeds arbitrary tokenizer.json contents to the parser: an error or a working
// tokenizer, never a panic.
func FuzzParse(f *testing.F) {
	f.Add(syntheticJSON(f, []string{"a b", "Ġ a"}, []map[string]any{{"id": 300, "content": "<s>", "special": true}}, nil))
	f.Add([]byte(`{"model":{"merges":[["a","b"]],"vocab":{"a":0,"b":1,"ab":2}},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\b\\w+"},"behavior":"Isolated"}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"a","byte_fallback":true,"fuse_unk":true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := parse(data)
		if err != nil {
			return
		}
		ids := tok.Encode("ab a\u0301b <s> 12", true)
		tok.Decode(ids, true)
	})
}

// FuzzChatTemplate renders arbitrary templates: an error or text, never a panic.
func FuzzChatTemplate(f *testing.F) {
	f.Add("{% for m in messages %}{{ m['content'] | trim }}{% generation %}x{% endgeneration %}{% endfor %}")
	f.Add("{{ bos_token }}{% if add_generation_prompt %}{{ messages[0].role }}{% endif %}")
	f.Fuzz(func(t *testing.T, source string) {
		tmpl, err := newChatTemplate(source, map[string]string{"bos_token": "<s>"})
		if err != nil {
			return
		}
		tmpl.Render([]Message{{Role: "user", Content: " hi "}}, true)
	})
}
