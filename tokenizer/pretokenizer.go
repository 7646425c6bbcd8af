package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/dlclark/regexp2/v2"
)

// preTokenizer cuts text into pre-tokens, the units BPE works on; it may also rewrite them
// (ByteLevel maps bytes to symbols).
type preTokenizer interface {
	preTokenize(pieces []string) []string
}

// newPreTokenizer builds the pre-tokenizer described at jsonPath; nil raw JSON means none.
func newPreTokenizer(raw json.RawMessage, jsonPath string) (preTokenizer, error) {
	if isNull(raw) {
		return sequence(nil), nil
	}
	var t typed
	if err := decodeComponent(raw, jsonPath, &t); err != nil {
		return nil, err
	}
	switch t.Type {
	case "Sequence":
		return newSequence(raw, jsonPath)
	case "Split":
		return newSplit(raw, jsonPath)
	case "ByteLevel":
		return newByteLevel(raw, jsonPath)
	}
	return nil, fmt.Errorf("%s: unsupported: %s (pre-tokenizer)", jsonPath, t.Type)
}

// sequence applies its pre-tokenizers one after the other.
type sequence []preTokenizer

func newSequence(raw json.RawMessage, jsonPath string) (preTokenizer, error) {
	var s struct {
		PreTokenizers []json.RawMessage `json:"pretokenizers"`
	}
	if err := decodeComponent(raw, jsonPath, &s); err != nil {
		return nil, err
	}
	seq := make(sequence, len(s.PreTokenizers))
	for i, item := range s.PreTokenizers {
		p, err := newPreTokenizer(item, fmt.Sprintf("%s.pretokenizers[%d]", jsonPath, i))
		if err != nil {
			return nil, err
		}
		seq[i] = p
	}
	return seq, nil
}

func (s sequence) preTokenize(pieces []string) []string {
	for _, p := range s {
		pieces = p.preTokenize(pieces)
	}
	return pieces
}

// splitBehavior says what becomes of the delimiters (the pattern's matches) in a Split.
type splitBehavior int

const (
	removed            splitBehavior = iota // delimiters are dropped
	isolated                                // delimiters become pre-tokens of their own
	mergedWithPrevious                      // a delimiter joins the piece before it
	mergedWithNext                          // a delimiter joins the piece after it
	contiguous                              // consecutive delimiters form one pre-token
)

var splitBehaviors = map[string]splitBehavior{
	"Removed": removed, "Isolated": isolated, "MergedWithPrevious": mergedWithPrevious,
	"MergedWithNext": mergedWithNext, "Contiguous": contiguous,
}

// split is Hugging Face's Split pre-tokenizer: the pattern's matches are the delimiters; with
// invert the matches are the pieces and the text between them is the delimiter (so with
// invert and Removed, only text some alternative of the pattern matches survives).
type split struct {
	re       *regexp2.Regexp
	behavior splitBehavior
	invert   bool
	digits   bool // the pattern splits plain digit runs one digit at a time (see ordinalDigits)
}

func newSplit(raw json.RawMessage, jsonPath string) (preTokenizer, error) {
	var s struct {
		Pattern struct {
			Regex  *string `json:"Regex"`
			String *string `json:"String"`
		} `json:"pattern"`
		Behavior string `json:"behavior"`
		Invert   bool   `json:"invert"`
	}
	if err := decodeComponent(raw, jsonPath, &s); err != nil {
		return nil, err
	}
	behavior, ok := splitBehaviors[s.Behavior]
	if !ok {
		return nil, fmt.Errorf("%s.behavior: unsupported: %q", jsonPath, s.Behavior)
	}
	var pattern string
	switch {
	case s.Pattern.Regex != nil:
		pattern = translateOniguruma(*s.Pattern.Regex)
	case s.Pattern.String != nil:
		pattern = regexp2.Escape(*s.Pattern.String)
	default:
		return nil, fmt.Errorf("%s.pattern: want {\"Regex\": ...} or {\"String\": ...}", jsonPath)
	}
	re, err := compileRegex(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s.pattern: %w", jsonPath, err)
	}
	digits := s.Pattern.Regex != nil && strings.Contains(*s.Pattern.Regex, ordinalDigits)
	return &split{re: re, behavior: behavior, invert: s.Invert, digits: digits}, nil
}

func (s *split) preTokenize(pieces []string) []string {
	var out []string
	for _, piece := range pieces {
		spans := findMatches(s.re, piece, s.digits)
		if s.invert {
			for i := range spans {
				spans[i].match = !spans[i].match
			}
		}
		for _, sp := range applyBehavior(spans, s.behavior) {
			if !sp.match && sp.end > sp.start {
				out = append(out, piece[sp.start:sp.end])
			}
		}
	}
	return out
}

// span is a byte range of a piece; match marks a delimiter (or, after applyBehavior, a range
// to drop).
type span struct {
	start, end int
	match      bool
}

// ordinalDigits is the alternation of Huginn-0125's split pattern that, left to the
// backtracking engine, makes long digit runs quadratic: at each digit of a run that no ordinal
// suffix follows, \p{N}+ scans to the end of the run, fails on the suffix, and \p{N}{1,1} then
// takes the one digit. In that pattern no earlier alternative can start at a \p{N} character,
// so every digit of such a run is a match of its own; findMatches emits those matches itself.
const ordinalDigits = `\p{N}+(?:st|nd|rd|th)|\p{N}{1,1}`

// findMatches covers s with alternating gaps and matches of re, in byte offsets. With digits
// (re contains ordinalDigits) it takes each plain digit run one digit per match without
// running the engine over it, which keeps the cost linear in the run's length.
func findMatches(re *regexp2.Regexp, s string, digits bool) []span {
	runes := []rune(s)
	offsets := make([]int, len(runes)+1) // rune index → byte offset
	for i, r := range runes {
		offsets[i+1] = offsets[i] + len(string(r))
	}
	var plainEnd []int
	if digits {
		plainEnd = plainDigitRuns(runes)
	}
	var spans []span
	prev := 0
	add := func(from, to int) {
		start, end := offsets[from], offsets[to]
		if start > prev {
			spans = append(spans, span{prev, start, false})
		}
		spans = append(spans, span{start, end, true})
		prev = end
	}
	m, err := re.FindRunesMatch(runes)
	for m != nil && err == nil {
		at := m.RuneIndex + m.RuneLength
		add(m.RuneIndex, at)
		if plainEnd == nil || m.RuneLength == 0 || at == len(runes) || plainEnd[at] == 0 {
			m, err = re.FindNextMatch(m)
			continue
		}
		for end := plainEnd[at]; at < end; at++ {
			add(at, at+1)
		}
		m, err = re.FindRunesMatchStartingAt(runes, at)
	}
	// err can only report a timeout or a backtracking limit, and compileRegex sets neither: the
	// text after a failure would be treated as a gap.
	if prev < len(s) {
		spans = append(spans, span{prev, len(s), false})
	}
	return spans
}

// plainDigitRuns marks the runs of \p{N} characters that no ordinal suffix (st, nd, rd, th)
// follows: for a rune index inside such a run (after its first digit) it holds the run's end,
// elsewhere 0.
func plainDigitRuns(runes []rune) []int {
	out := make([]int, len(runes))
	for i := 0; i < len(runes); {
		if !unicode.IsNumber(runes[i]) {
			i++
			continue
		}
		j := i
		for j < len(runes) && unicode.IsNumber(runes[j]) {
			j++
		}
		if !ordinalSuffix(runes[j:]) {
			for k := i + 1; k < j; k++ {
				out[k] = j
			}
		}
		i = j
	}
	return out
}

func ordinalSuffix(r []rune) bool {
	if len(r) < 2 {
		return false
	}
	switch string(r[:2]) {
	case "st", "nd", "rd", "th":
		return true
	}
	return false
}

// applyBehavior turns delimiter marks into the final ranges; match=true now means "drop".
func applyBehavior(spans []span, b splitBehavior) []span {
	var out []span
	switch b {
	case removed:
		return spans
	case isolated:
		for _, sp := range spans {
			out = append(out, span{sp.start, sp.end, false})
		}
	case contiguous:
		for i, sp := range spans {
			if i > 0 && sp.match && spans[i-1].match {
				out[len(out)-1].end = sp.end
				continue
			}
			out = append(out, span{sp.start, sp.end, false})
		}
	case mergedWithPrevious:
		for i, sp := range spans {
			if len(out) > 0 && sp.match && !spans[i-1].match {
				out[len(out)-1].end = sp.end
				continue
			}
			out = append(out, span{sp.start, sp.end, false})
		}
	case mergedWithNext:
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if len(out) > 0 && sp.match && !spans[i+1].match {
				out[len(out)-1].start = sp.start
				continue
			}
			out = append(out, span{sp.start, sp.end, false})
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// gpt2Pattern is the pre-tokenizer regex ByteLevel applies when use_regex is true.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// byteLevel is Hugging Face's ByteLevel pre-tokenizer: an optional leading space, an optional
// GPT-2 split, then every byte mapped to its GPT-2 symbol.
type byteLevel struct {
	addPrefixSpace bool
	re             *regexp2.Regexp // nil when use_regex is false
}

func newByteLevel(raw json.RawMessage, jsonPath string) (preTokenizer, error) {
	s := struct {
		AddPrefixSpace *bool `json:"add_prefix_space"`
		UseRegex       *bool `json:"use_regex"`
	}{}
	if err := decodeComponent(raw, jsonPath, &s); err != nil {
		return nil, err
	}
	b := &byteLevel{addPrefixSpace: s.AddPrefixSpace == nil || *s.AddPrefixSpace}
	if s.UseRegex == nil || *s.UseRegex {
		re, err := compileRegex(translateOniguruma(gpt2Pattern))
		if err != nil {
			return nil, fmt.Errorf("%s: GPT-2 pattern: %w", jsonPath, err)
		}
		b.re = re
	}
	return b, nil
}

func (b *byteLevel) preTokenize(pieces []string) []string {
	var out []string
	for _, piece := range pieces {
		if b.addPrefixSpace && !strings.HasPrefix(piece, " ") {
			piece = " " + piece
		}
		if b.re == nil {
			out = append(out, byteLevelEncode(piece))
			continue
		}
		for _, sp := range findMatches(b.re, piece, false) {
			out = append(out, byteLevelEncode(piece[sp.start:sp.end]))
		}
	}
	return out
}

// compileRegex compiles a translated pattern. Ruby syntax, which Hugging Face's Oniguruma uses,
// makes ^ and $ line anchors, hence Multiline. The backtracking stack is unbounded and there is
// no timeout, so matching cannot fail part-way.
func compileRegex(pattern string) (*regexp2.Regexp, error) {
	return regexp2.Compile(pattern, regexp2.Multiline, regexp2.OptionMaxBacktrackingStackSize(-1))
}

// onigWord is Oniguruma's Unicode word class, as the @huggingface/tokenizers port spells it and
// checked against Rust tokenizers on the golden corpus: alphabetic characters, marks, decimal
// digits, connector punctuation, and ² ³ ¹ ¼ ½ ¾ (word characters of its Latin-1 table).
const onigWord = `\p{L}\p{Nl}\p{Other_Alphabetic}\p{M}\p{Nd}\p{Pc}\u00B2\u00B3\u00B9\u00BC-\u00BE`

// Oniguruma escapes whose .NET (regexp2) meaning differs, outside a character class.
var onigEscapes = map[byte]string{
	'w': `[` + onigWord + `]`,
	'W': `[^` + onigWord + `]`,
	'b': `(?:(?<=[` + onigWord + `])(?![` + onigWord + `])|(?<![` + onigWord + `])(?=[` + onigWord + `]))`,
	'B': `(?:(?<=[` + onigWord + `])(?=[` + onigWord + `])|(?<![` + onigWord + `])(?![` + onigWord + `]))`,
	'h': `[0-9a-fA-F]`,
	'H': `[^0-9a-fA-F]`,
}

// translateOniguruma rewrites an Oniguruma (Ruby syntax) pattern for regexp2, whose .NET
// semantics agree on \s (White_Space), \d (Nd) and \p{..} general categories but not on the
// word class: .NET's \w lacks Mc, Me, Nl and other alphabetic characters, so \w, \W, \b and \B
// are spelled out with onigWord. Inside a class only \w is rewritten (\b there is backspace).
func translateOniguruma(pattern string) string {
	var sb strings.Builder
	inClass := false
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern):
			next := pattern[i+1]
			i++
			if rep, ok := onigEscapes[next]; ok && !inClass {
				sb.WriteString(rep)
			} else if next == 'w' && inClass {
				sb.WriteString(onigWord)
			} else {
				sb.WriteByte('\\')
				sb.WriteByte(next)
			}
			continue
		case c == '[' && !inClass:
			inClass = true
			sb.WriteByte(c)
			if strings.HasPrefix(pattern[i+1:], "^") {
				sb.WriteByte('^')
				i++
			}
			if strings.HasPrefix(pattern[i+1:], "]") { // a leading ] is a literal
				sb.WriteString(`\]`)
				i++
			}
			continue
		case c == ']' && inClass:
			inClass = false
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
