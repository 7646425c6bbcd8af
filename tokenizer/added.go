package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// segment is a piece of the input: either an added token (id >= 0) or text still to be
// pre-tokenized (id < 0).
type segment struct {
	text string
	id   int
}

// addedMatcher finds added tokens in text, leftmost first and longest among those starting at
// the same place (Hugging Face's Aho-Corasick LeftmostLongest).
type addedMatcher struct {
	byFirstByte [256][]*addedToken // candidates by first byte, longest first
}

func newAddedMatcher(tokens []*addedToken) *addedMatcher {
	m := &addedMatcher{}
	for _, t := range tokens {
		if t.Content == "" {
			continue
		}
		m.byFirstByte[t.Content[0]] = append(m.byFirstByte[t.Content[0]], t)
	}
	for i := range m.byFirstByte {
		sort.SliceStable(m.byFirstByte[i], func(a, b int) bool {
			return len(m.byFirstByte[i][a].Content) > len(m.byFirstByte[i][b].Content)
		})
	}
	return m
}

// find returns the leftmost-longest added token in s at or after from, and its start.
func (m *addedMatcher) find(s string, from int) (*addedToken, int) {
	for i := from; i < len(s); i++ {
		for _, t := range m.byFirstByte[s[i]] {
			if strings.HasPrefix(s[i:], t.Content) {
				return t, i
			}
		}
	}
	return nil, -1
}

// split cuts the text segments of segs around added tokens, honouring single_word (the match
// must not touch a letter or digit), lstrip and rstrip (the token swallows neighbouring
// whitespace), as Hugging Face's AddedVocabulary::find_matches does.
func (m *addedMatcher) split(segs []segment) []segment {
	var out []segment
	for _, seg := range segs {
		if seg.id >= 0 {
			out = append(out, seg)
			continue
		}
		out = m.splitText(out, seg.text)
	}
	return out
}

func (m *addedMatcher) splitText(out []segment, s string) []segment {
	emitted := 0 // s[:emitted] is already in out
	for search := 0; search < len(s); {
		tok, start := m.find(s, search)
		if tok == nil {
			break
		}
		stop := start + len(tok.Content)
		search = stop
		if tok.SingleWord && (endsWithWordChar(s[:start]) || startsWithWordChar(s[stop:])) {
			continue
		}
		if tok.LStrip {
			start = max(len(strings.TrimRightFunc(s[:start], unicode.IsSpace)), emitted)
		}
		if tok.RStrip {
			stop = len(s) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
			search = stop
		}
		if emitted < start {
			out = append(out, segment{text: s[emitted:start], id: -1})
		}
		out = append(out, segment{text: s[start:stop], id: tok.ID})
		emitted = stop
	}
	if emitted < len(s) {
		out = append(out, segment{text: s[emitted:], id: -1})
	}
	return out
}

func isWordChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }

func endsWithWordChar(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isWordChar(r)
}

func startsWithWordChar(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isWordChar(r)
}
