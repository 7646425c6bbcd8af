package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

// goldenEncoding is one line of golden_encodings.jsonl.
type goldenEncoding struct {
	ID                 int      `json:"id"`
	Category           string   `json:"category"`
	Text               string   `json:"text"`
	IDs                []int    `json:"ids"`
	IDsNoSpecial       []int    `json:"ids_no_special"`
	PreTokens          []string `json:"pre_tokens"`
	Decoded            string   `json:"decoded"`
	DecodedWithSpecial string   `json:"decoded_with_special"`
	Roundtrip          bool     `json:"roundtrip"`
	EngineSensitive    bool     `json:"engine_sensitive"`
}

var (
	huginnOnce sync.Once
	huginnTok  *Tokenizer
	huginnErr  error
)

// huginn loads the real Huginn-0125 tokenizer once per test binary.
func huginn(tb testing.TB) (*Tokenizer, string) {
	tb.Helper()
	dir := fixtures.Path(tb, "huginn-0125", "tokenizer.json")
	dir = filepath.Dir(dir)
	huginnOnce.Do(func() { huginnTok, huginnErr = Load(dir) })
	if huginnErr != nil {
		tb.Fatal(huginnErr)
	}
	return huginnTok, dir
}

// readJSONL decodes every line of a JSON-lines fixture.
func readJSONL[T any](tb testing.TB, path string) []T {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("%s:%d: %v", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestGoldenEncodings(t *testing.T) {
	tok, dir := huginn(t)
	cases := readJSONL[goldenEncoding](t, filepath.Join(dir, "golden_encodings.jsonl"))
	if len(cases) != 435 {
		t.Fatalf("golden_encodings.jsonl: %d lines, want 435", len(cases))
	}
	sensitive, sensitiveOK := 0, 0
	for _, c := range cases {
		got, gotNoSpecial := tok.Encode(c.Text, true), tok.Encode(c.Text, false)
		same := slices.Equal(got, c.IDs) && slices.Equal(gotNoSpecial, c.IDsNoSpecial)
		if c.EngineSensitive {
			sensitive++
			if same {
				sensitiveOK++
			} else {
				t.Logf("engine-sensitive line %d (%q): ids %v, golden %v", c.ID, c.Text, gotNoSpecial, c.IDsNoSpecial)
			}
			continue
		}
		if !same {
			t.Errorf("line %d %s %q:\n got  %v\n want %v\n pre-tokens want %q", c.ID, c.Category, c.Text, gotNoSpecial, c.IDsNoSpecial, c.PreTokens)
			continue
		}
		if d := tok.Decode(c.IDsNoSpecial, false); d != c.Decoded {
			t.Errorf("line %d: Decode = %q, want %q", c.ID, d, c.Decoded)
		}
		if d := tok.Decode(c.IDs, false); d != c.DecodedWithSpecial {
			t.Errorf("line %d: Decode with special = %q, want %q", c.ID, d, c.DecodedWithSpecial)
		}
		// The README lists the special tokens as ids 65504-65535.
		plain := slices.DeleteFunc(slices.Clone(c.IDs), func(id int) bool { return id >= 65504 })
		if d, want := tok.Decode(c.IDs, true), tok.Decode(plain, false); d != want {
			t.Errorf("line %d: Decode skipping special = %q, want %q", c.ID, d, want)
		}
		if c.Roundtrip != (c.Decoded == c.Text) {
			t.Errorf("line %d: fixture says roundtrip=%v but decoded %q vs text %q", c.ID, c.Roundtrip, c.Decoded, c.Text)
		}
	}
	t.Logf("engine-sensitive lines: %d of %d identical (%.1f %%)", sensitiveOK, sensitive, 100*float64(sensitiveOK)/float64(sensitive))
}
