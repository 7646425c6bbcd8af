package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// huginnSplit returns the first Split of Huginn-0125's pre-tokenizer, with the digit-run path.
func huginnSplit(tb testing.TB) *split {
	tok, _ := huginn(tb)
	sp := tok.pre.(sequence)[0].(*split)
	if !sp.digits {
		tb.Fatal("the Huginn pattern does not take the digit-run path")
	}
	return sp
}

// digitCases mix plain runs, ordinal runs, other numerals (², ½, Arabic-Indic), letters and
// word boundaries around them.
var digitCases = []string{
	"", "7", "12345", "1st", "21st century", "12345th", "123st4", "2nd3rd", "99 bottles", "a1b22c333",
	"½²³", "١٢٣th", "x" + strings.Repeat("9", 40) + "nd", strings.Repeat("1", 33) + "s", "1s1t", "4th\n5", "\\n123",
	"3.14159e10", "v2.0.1-rc", "$1,000,000", "1\u00a0000", "12ST", "12Th", "0x1F", "12_34", "abc123def",
}

// TestDigitRunsMatchEngine checks that the digit-run path yields exactly the spans the regex
// engine finds on its own.
func TestDigitRunsMatchEngine(t *testing.T) {
	sp := huginnSplit(t)
	for _, c := range digitCases {
		if got, want := findMatches(sp.re, c, true), findMatches(sp.re, c, false); !slices.Equal(got, want) {
			t.Errorf("%q: digit path %v, engine %v", c, got, want)
		}
	}
}

// FuzzDigitRuns compares the digit-run path with the plain engine on arbitrary text.
func FuzzDigitRuns(f *testing.F) {
	sp := huginnSplit(f)
	for _, c := range digitCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 256 {
			return
		}
		s = strings.ToValidUTF8(s, "?")
		if got, want := findMatches(sp.re, s, true), findMatches(sp.re, s, false); !slices.Equal(got, want) {
			t.Errorf("%q: digit path %v, engine %v", s, got, want)
		}
	})
}

// TestLongDigitRun encodes 100,000 digits (quadratic before: 32,000 took 6.3 s) and checks
// that each digit is its own token, as the pattern splits them.
func TestLongDigitRun(t *testing.T) {
	tok, _ := huginn(t)
	ids := tok.Encode(strings.Repeat("7", 100_000), false)
	seven, ok := tok.TokenID("7")
	if !ok || len(ids) != 100_000 || slices.IndexFunc(ids, func(id int) bool { return id != seven }) >= 0 {
		t.Fatalf("100,000 digits gave %d ids (want 100,000 of %d)", len(ids), seven)
	}
}

// BenchmarkDigitRun encodes runs of 1e4 and 1e5 digits; linear time shows as the same ns/op
// per digit (the ratio of the two ns/op near 10).
func BenchmarkDigitRun(b *testing.B) {
	tok, _ := huginn(b)
	for _, n := range []int{10_000, 100_000} {
		text := strings.Repeat("3", n)
		b.Run(map[int]string{10_000: "1e4", 100_000: "1e5"}[n], func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				tok.Encode(text, false)
			}
		})
	}
}
