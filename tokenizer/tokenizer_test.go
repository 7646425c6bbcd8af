package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// syntheticJSON returns a small byte-level tokenizer.json: the 256 byte symbols, the merges
// given (as "a b" strings), the added tokens given, and the Huginn-style components; edit
// changes the decoded object before it is encoded again.
func syntheticJSON(t testing.TB, merges []string, added []map[string]any, edit func(map[string]any)) []byte {
	t.Helper()
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[string(byteToRune[b])] = b
	}
	for _, m := range merges {
		a, b, _ := strings.Cut(m, " ")
		if _, ok := vocab[a+b]; !ok {
			vocab[a+b] = len(vocab)
		}
	}
	doc := map[string]any{
		"version":        "1.0",
		"normalizer":     nil,
		"added_tokens":   added,
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel"},
	}
	if edit != nil {
		edit(doc)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t testing.TB, data []byte) *Tokenizer {
	t.Helper()
	tok, err := parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func tokens(t *testing.T, tok *Tokenizer, ids []int) []string {
	t.Helper()
	out := make([]string, len(ids))
	for i, id := range ids {
		s, ok := tok.Token(id)
		if !ok {
			t.Fatalf("id %d has no token", id)
		}
		out[i] = s
	}
	return out
}

func TestMergeRankDecidesOrder(t *testing.T) {
	for _, tc := range []struct {
		merges []string
		want   []string
	}{
		{[]string{"a b", "b c"}, []string{"ab", "c"}},
		{[]string{"b c", "a b"}, []string{"a", "bc"}},
		{[]string{"h e", "l l", "he ll", "hell o"}, []string{"hello"}},
		{[]string{"a a"}, []string{"aa", "aa", "a"}}, // leftmost first among equal ranks
	} {
		tok := mustParse(t, syntheticJSON(t, tc.merges, nil, nil))
		text := strings.Join(tc.want, "")
		if got := tokens(t, tok, tok.Encode(text, false)); !slices.Equal(got, tc.want) {
			t.Errorf("merges %q on %q: %q, want %q", tc.merges, text, got, tc.want)
		}
	}
}

func TestMergesAsPairs(t *testing.T) {
	merges := []string{"h e", "l l", "he ll", "Ġ w"}
	asStrings := mustParse(t, syntheticJSON(t, merges, nil, nil))
	asPairs := mustParse(t, syntheticJSON(t, merges, nil, func(doc map[string]any) {
		var pairs [][]string
		for _, m := range merges {
			a, b, _ := strings.Cut(m, " ")
			pairs = append(pairs, []string{a, b})
		}
		doc["model"].(map[string]any)["merges"] = pairs
	}))
	text := "hello world hell"
	if a, b := asStrings.Encode(text, false), asPairs.Encode(text, false); !slices.Equal(a, b) || len(a) != 9 {
		t.Errorf("strings %v, pairs %v (want equal, 9 ids)", a, b)
	}
}

func TestByteLevelPreTokenizer(t *testing.T) {
	for _, tc := range []struct {
		prefixSpace, useRegex bool
		text                  string
		want                  []string
	}{
		{false, true, "Hello world", []string{"Hello", "Ġworld"}},
		{true, true, "Hello world", []string{"ĠHello", "Ġworld"}},
		{false, true, "it's  12!", []string{"it", "'s", "Ġ", "Ġ12", "!"}},
		{false, false, "a b\n", []string{"aĠbĊ"}},
	} {
		raw, _ := json.Marshal(map[string]any{"type": "ByteLevel", "add_prefix_space": tc.prefixSpace, "use_regex": tc.useRegex})
		p, err := newPreTokenizer(raw, "pre_tokenizer")
		if err != nil {
			t.Fatal(err)
		}
		if got := p.preTokenize([]string{tc.text}); !slices.Equal(got, tc.want) {
			t.Errorf("ByteLevel(prefix %v, regex %v) on %q: %q, want %q", tc.prefixSpace, tc.useRegex, tc.text, got, tc.want)
		}
	}
}

func TestSplitBehaviors(t *testing.T) {
	// The examples of Hugging Face's SplitDelimiterBehavior documentation.
	text := "the-final--countdown"
	for behavior, want := range map[string][]string{
		"Removed":            {"the", "final", "countdown"},
		"Isolated":           {"the", "-", "final", "-", "-", "countdown"},
		"MergedWithPrevious": {"the-", "final-", "-", "countdown"},
		"MergedWithNext":     {"the", "-final", "-", "-countdown"},
		"Contiguous":         {"the", "-", "final", "--", "countdown"},
	} {
		raw, _ := json.Marshal(map[string]any{"type": "Split", "pattern": map[string]any{"String": "-"}, "behavior": behavior})
		p, err := newPreTokenizer(raw, "pre_tokenizer")
		if err != nil {
			t.Fatal(err)
		}
		if got := p.preTokenize([]string{text}); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", behavior, got, want)
		}
	}
	raw, _ := json.Marshal(map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\p{L}+`}, "behavior": "Removed", "invert": true})
	p, err := newPreTokenizer(raw, "pre_tokenizer")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.preTokenize([]string{"ab, cd!\u0301"}), []string{"ab", "cd"}; !slices.Equal(got, want) {
		t.Errorf("inverted Removed keeps only matches: %q, want %q", got, want)
	}
}

func TestOnigurumaWordBoundary(t *testing.T) {
	// Oniguruma's \b and \w count spacing marks (Mc), letter numbers (Nl) and ² as word
	// characters; .NET's native classes do not.
	for _, tc := range []struct {
		pattern, text string
		want          bool
	}{
		{`a\b`, "a.", true},
		{`a\b`, "aé", false},
		{`a\b`, "a\u0903", false}, // DEVANAGARI SIGN VISARGA, Mc
		{`a\b`, "aⅫ", false},      // ROMAN NUMERAL TWELVE, Nl
		{`a\b`, "a²", false},
		{`a\b`, "a\u200d", true}, // ZERO WIDTH JOINER is no word character here
		{`^\w+$`, "x\u0903Ⅻ_9", true},
		{`^[\w]+$`, "x\u0903", true},
		{`^[\b]$`, "\b", true}, // in a class \b stays backspace
		{`^\s$`, "\u0085", true},
		{`^\s$`, "\ufeff", false},
	} {
		re, err := compileRegex(translateOniguruma(tc.pattern))
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got, _ := re.MatchString(tc.text); got != tc.want {
			t.Errorf("%s on %q: %v, want %v", tc.pattern, tc.text, got, tc.want)
		}
	}
}

func TestAddedTokenOptions(t *testing.T) {
	added := []map[string]any{
		{"id": 300, "content": "<l>", "lstrip": true, "special": true},
		{"id": 301, "content": "<r>", "rstrip": true, "special": true},
		{"id": 302, "content": "<w>", "single_word": true, "special": false},
		{"id": 303, "content": "<l", "special": true}, // a shorter token sharing a prefix
		{"id": 304, "content": "nrm", "normalized": true},
	}
	tok := mustParse(t, syntheticJSON(t, nil, added, nil))
	for _, tc := range []struct{ text, want string }{
		{"a  <l>b", "a|<l>|b"},       // lstrip swallows the spaces before
		{"a<r> \tb", "a|<r>|b"},      // rstrip swallows the spaces after
		{"a <w> b", "a,Ġ|<w>|Ġ,b"},   // single word: stands alone
		{"a<w>b", "a,<,w,>,b"},       // glued to letters: not a token
		{"x<l<l>", "x|<l|<l>"},       // leftmost, then longest
		{"anrmb <l>", "a|nrm|b|<l>"}, // normalized tokens are found too
	} {
		var parts []string
		var word []string
		for _, id := range tok.Encode(tc.text, false) {
			if id >= 300 {
				if word != nil {
					parts = append(parts, strings.Join(word, ","))
					word = nil
				}
				s, _ := tok.Token(id)
				parts = append(parts, s)
				continue
			}
			s, _ := tok.Token(id)
			word = append(word, s)
		}
		if word != nil {
			parts = append(parts, strings.Join(word, ","))
		}
		if got := strings.Join(parts, "|"); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.text, got, tc.want)
		}
	}
	if got := tok.Decode(tok.Encode("a<l>b<w>", false), true); got != "ab<w>" {
		t.Errorf("skipping special tokens keeps non-special added ones: %q", got)
	}
}

func TestTemplateProcessingPair(t *testing.T) {
	added := []map[string]any{{"id": 300, "content": "<s>", "special": true}, {"id": 301, "content": "<sep>", "special": true}}
	tok := mustParse(t, syntheticJSON(t, nil, added, func(doc map[string]any) {
		doc["post_processor"] = map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>"}}, map[string]any{"Sequence": map[string]any{"id": "A"}}},
			"pair": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>"}}, map[string]any{"Sequence": map[string]any{"id": "A"}},
				map[string]any{"SpecialToken": map[string]any{"id": "<sep>"}}, map[string]any{"Sequence": map[string]any{"id": "B"}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"ids": []int{300}}, "<sep>": map[string]any{"ids": []int{301}}},
		}
	}))
	if got, want := tok.Encode("a", true), []int{300, 'a'}; !slices.Equal(got, want) {
		t.Errorf("single: %v, want %v", got, want)
	}
	if got, want := tok.EncodePair("a", "b", true), []int{300, 'a', 301, 'b'}; !slices.Equal(got, want) {
		t.Errorf("pair: %v, want %v", got, want)
	}
	if got, want := tok.EncodePair("a", "b", false), []int{'a', 'b'}; !slices.Equal(got, want) {
		t.Errorf("pair without specials: %v, want %v", got, want)
	}
}

func TestHuginnSpecialTokens(t *testing.T) {
	tok, _ := huginn(t)
	for _, tc := range []struct {
		name string
		get  func() (int, bool)
		want int
	}{{"BOS", tok.BOS, 65504}, {"EOS", tok.EOS, 65505}, {"Pad", tok.Pad, 65509}} {
		if id, ok := tc.get(); !ok || id != tc.want {
			t.Errorf("%s = %d, %v; want %d", tc.name, id, ok, tc.want)
		}
	}
	if tok.VocabSize() != 65536 {
		t.Errorf("VocabSize = %d, want 65536", tok.VocabSize())
	}
	if id, ok := tok.TokenID("Huginn"); !ok || id != 65503 {
		t.Errorf("TokenID(Huginn) = %d, %v; want 65503", id, ok)
	}
	if id, ok := tok.TokenID("<|end_turn|>"); !ok || id != 65508 || !tok.IsSpecial(id) {
		t.Errorf("TokenID(<|end_turn|>) = %d, %v, special %v", id, ok, tok.IsSpecial(id))
	}
	if tok.IsSpecial(65503) {
		t.Error("Huginn (65503) is an ordinary token")
	}
}

func TestDecodeUTF8LikeRust(t *testing.T) {
	// Expected strings are what Rust's String::from_utf8_lossy returns.
	for _, tc := range []struct{ in, want string }{
		{"a\xe2\x82", "a\ufffd"}, // truncated 3-byte sequence: one U+FFFD
		{"\xe2\x82a", "\ufffda"},
		{"\xf0\x80\x80", "\ufffd\ufffd\ufffd"}, // F0 80 is never valid: every byte on its own
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"}, // surrogate
		{"\xc0\xaf", "\ufffd\ufffd"},           // overlong
		{"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"},
		{"é\xff中", "é\ufffd中"},
	} {
		if got, _ := decodeUTF8Lossy([]byte(tc.in), true); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStreamDecoder(t *testing.T) {
	tok, dir := huginn(t)
	d := tok.NewStreamDecoder()
	emoji := []byte("😀")
	for i, b := range emoji { // byte-symbol ids equal byte values in this vocabulary
		got := d.Add(int(b))
		want := ""
		if i == len(emoji)-1 {
			want = "😀"
		}
		if got != want {
			t.Errorf("byte %d of 😀: Add = %q, want %q", i, got, want)
		}
	}
	if got := d.Add(0xF0) + d.Add('a') + d.Add(0xE4) + d.Flush(); got != "\ufffda\ufffd" {
		t.Errorf("broken sequences: %q, want %q", got, "\ufffda\ufffd")
	}
	for _, c := range readJSONL[goldenEncoding](t, filepath.Join(dir, "golden_encodings.jsonl")) {
		d := tok.NewStreamDecoder()
		var sb strings.Builder
		for _, id := range c.IDs {
			piece := d.Add(id)
			if strings.ContainsRune(piece, '\ufffd') && !strings.ContainsRune(c.DecodedWithSpecial, '\ufffd') {
				t.Errorf("line %d: Add emitted a broken character %q", c.ID, piece)
			}
			sb.WriteString(piece)
		}
		sb.WriteString(d.Flush())
		if sb.String() != c.DecodedWithSpecial {
			t.Errorf("line %d: streamed %q, want %q", c.ID, sb.String(), c.DecodedWithSpecial)
		}
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok, _ := huginn(t)
	texts := []string{"Hello world", "The quick brown fox", "l'été 21st", "def f(x): return x**2", "中文 😀"}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s, true)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				k := (g + i) % len(texts)
				if got := tok.Encode(texts[k]+strings.Repeat(" x", i), true); !slices.Equal(got[:len(want[k])], want[k]) {
					t.Errorf("goroutine %d: %q encoded differently", g, texts[k])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("missing tokenizer.json: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("missing file: %v", err)
	}
	valid := string(syntheticJSON(t, []string{"a b"}, nil, nil))
	for _, tc := range []struct {
		name, content, want string
	}{
		{"truncated", valid[:len(valid)/2], "malformed JSON at line 1"},
		{"syntax on line 3", "{\n \"model\": {},\n \"decoder\": [,]\n}", "line 3, column 14"},
		{"wrong type", `{"model": {"type": "BPE", "vocab": []}}`, "model: bad JSON value"},
		{"model", `{"model": {"type": "WordPiece", "vocab": {}}}`, "unsupported: WordPiece"},
		{"pre-tokenizer", strings.Replace(valid, `"ByteLevel","use_regex"`, `"Whitespace","use_regex"`, 1), "unsupported: Whitespace"},
		{"normalizer", strings.Replace(valid, `"normalizer":null`, `"normalizer":{"type":"NFKC"}`, 1), "unsupported: normalizer NFKC"},
		{"post-processor", strings.Replace(valid, `"post_processor":null`, `"post_processor":{"type":"BertProcessing"}`, 1), "unsupported: BertProcessing"},
		{"decoder", strings.Replace(valid, `"decoder":{"type":"ByteLevel"}`, `"decoder":{"type":"WordPiece"}`, 1), "unsupported: WordPiece"},
		{"split behavior", strings.Replace(valid, `"pre_tokenizer":{`, `"pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"Sideways","x":{`, 1) + "}", `unsupported: "Sideways"`},
		{"bad regex", strings.Replace(valid, `"pre_tokenizer":{`, `"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a"},"behavior":"Removed","x":{`, 1) + "}", "pre_tokenizer.pattern"},
		{"merge not in vocab", strings.Replace(valid, `"merges":["a b"]`, `"merges":["a q"]`, 1), `"aq" is not in model.vocab`},
		{"bad merge", strings.Replace(valid, `"merges":["a b"]`, `"merges":["a b c"]`, 1), "model.merges[0]"},
	} {
		path := writeFile(t, dir, "tokenizer.json", tc.content)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and containing %q", tc.name, err, path, tc.want)
		}
	}
	writeFile(t, dir, "tokenizer.json", valid)
	writeFile(t, dir, "tokenizer_config.json", `{"bos_token": {"content": "<nope>"}}`)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `bos_token: token "<nope>"`) {
		t.Errorf("unknown BOS: %v", err)
	}
}

func TestChatTemplateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadChatTemplate(dir); err == nil || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("missing tokenizer_config.json: %v", err)
	}
	for _, tc := range []struct{ config, want string }{
		{`{"bos_token": "<s>"}`, "no chat_template"},
		{`{"chat_template": "{% if %}"}`, "does not parse"},
		{`{"chat_template": "{% for m in messages %}"}`, "does not parse"},
		{`{"chat_template": [{"name": "tool_use", "template": "x"}]}`, `without one named "default"`},
		{`{"chat_template": 7}`, "chat_template"},
		{`{"chat_template": "x", "bos_token": 5}`, "bos_token"},
		{`{"chat_template": "x",`, "malformed JSON"},
	} {
		writeFile(t, dir, "tokenizer_config.json", tc.config)
		if _, err := LoadChatTemplate(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.config, err, tc.want)
		}
	}
	writeFile(t, dir, "tokenizer_config.json", `{"chat_template": "{{ raise_exception('no system role') }}"}`)
	tmpl, err := LoadChatTemplate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Render([]Message{{Role: "user", Content: "hi"}}, true); err == nil || !strings.Contains(err.Error(), "no system role") {
		t.Errorf("raise_exception: %v", err)
	}
}

func TestChatTemplateGenerationTags(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "tokenizer_config.json", `{"bos_token": {"content": "<s>"},
		"chat_template": "{{ bos_token }}{% for m in messages %}{%- generation -%}\n  [{{ m.content }}]\n{%- endgeneration %}{% endfor %}"}`)
	tmpl, err := LoadChatTemplate(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render([]Message{{"user", "a"}, {"assistant", "b"}}, false)
	if err != nil || got != "<s>[a][b]" {
		t.Errorf("Render = %q, %v; want %q", got, err, "<s>[a][b]")
	}
}
