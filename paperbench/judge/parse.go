package judge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
)

// Verdict is the structured grade of one leaf: the official {valid_score, score,
// explanation}.
type Verdict struct {
	Valid       bool    `json:"valid_score"`
	Score       float64 `json:"score"`
	Explanation string  `json:"explanation"`
}

// verdictSchema returns the JSON schema of a [Verdict] for structured output; score is an
// integer for binary leaves and a number for continuous ones.
func verdictSchema(continuous bool) map[string]any {
	scoreType := "integer"
	if continuous {
		scoreType = "number"
	}
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"valid_score": map[string]any{"type": "boolean"},
			"score":       map[string]any{"type": scoreType},
			"explanation": map[string]any{"type": "string"},
		},
		"required":             []string{"valid_score", "score", "explanation"},
		"additionalProperties": false,
	}
}

// ParseVerdict reads a verdict from a model's answer, tolerantly: the answer may wrap the
// JSON object in prose or a ``` fence, carry unescaped backslashes (LaTeX), give booleans
// and numbers as strings, or leave out the explanation. The score must lie in [0, 1] and,
// unless continuous, be 0 or 1. A verdict marked invalid gets score 0, as the official
// parser is told to do.
func ParseVerdict(answer string, continuous bool) (Verdict, error) {
	obj, err := findObject(answer)
	if err != nil {
		return Verdict{}, err
	}
	var v Verdict
	valid, ok := obj["valid_score"]
	if !ok {
		return Verdict{}, errors.New("the answer has no valid_score")
	}
	if v.Valid, err = asBool(valid); err != nil {
		return Verdict{}, fmt.Errorf("valid_score: %w", err)
	}
	score, ok := obj["score"]
	if !ok {
		return Verdict{}, errors.New("the answer has no score")
	}
	if v.Score, err = asNumber(score); err != nil {
		return Verdict{}, fmt.Errorf("score: %w", err)
	}
	if e, ok := obj["explanation"].(string); ok {
		v.Explanation = e
	}
	if !v.Valid {
		v.Score = 0
		return v, nil
	}
	switch {
	case v.Score < 0 || v.Score > 1:
		return Verdict{}, fmt.Errorf("score %v is not between 0 and 1", v.Score)
	case !continuous && v.Score != 0 && v.Score != 1:
		return Verdict{}, fmt.Errorf("score %v is neither 0 nor 1", v.Score)
	}
	return v, nil
}

// findObject returns the first JSON object in s that decodes and has a valid_score (else
// the first that decodes): s itself, the body of a ``` fence, or a balanced {...} span,
// each also tried with stray backslashes escaped.
func findObject(s string) (map[string]any, error) {
	candidates := []string{strings.TrimSpace(s)}
	if body, ok := fenceBody(s); ok {
		candidates = append(candidates, body)
	}
	for start := strings.IndexByte(s, '{'); start >= 0; {
		if end := matchingBrace(s, start); end > start {
			candidates = append(candidates, s[start:end+1])
		}
		next := strings.IndexByte(s[start+1:], '{')
		if next < 0 || len(candidates) > 16 {
			break
		}
		start += 1 + next
	}
	var first map[string]any
	for _, c := range candidates {
		for _, text := range []string{c, escapeStrayBackslashes(c)} {
			var obj map[string]any
			d := json.NewDecoder(strings.NewReader(text))
			d.UseNumber()
			if d.Decode(&obj) != nil || obj == nil {
				continue
			}
			if _, ok := obj["valid_score"]; ok {
				return obj, nil
			}
			if first == nil {
				first = obj
			}
		}
	}
	if first != nil {
		return first, nil
	}
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return nil, fmt.Errorf("no JSON object in the answer %q", s)
}

// fenceBody returns the text between the first ``` fence (with an optional language tag)
// and the next one.
func fenceBody(s string) (string, bool) {
	_, rest, ok := strings.Cut(s, "```")
	if !ok {
		return "", false
	}
	if nl := strings.IndexByte(rest, '\n'); nl >= 0 && !strings.ContainsAny(rest[:nl], "{\"") {
		rest = rest[nl+1:]
	}
	body, _, ok := strings.Cut(rest, "```")
	return strings.TrimSpace(body), ok
}

// matchingBrace returns the index of the brace closing the one at start, skipping braces
// inside JSON strings, or -1.
func matchingBrace(s string, start int) int {
	depth, inString, escaped := 0, false, false
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inString:
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// escapeStrayBackslashes doubles every backslash that does not start a JSON escape, as in
// LaTeX written into a JSON string ("\alpha").
func escapeStrayBackslashes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && strings.IndexByte(`"\/bfnrtu`, s[i+1]) >= 0 {
			b.WriteByte('\\')
			b.WriteByte(s[i+1])
			i++
			continue
		}
		b.WriteString(`\\`)
	}
	return b.String()
}

func asBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
			return b, nil
		}
	case json.Number:
		f, err := x.Float64()
		if err == nil && (f == 0 || f == 1) {
			return f == 1, nil
		}
	}
	return false, fmt.Errorf("%v is not a boolean", v)
}

func asNumber(v any) (float64, error) {
	var f float64
	var err error
	switch x := v.(type) {
	case json.Number:
		f, err = x.Float64()
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
	default:
		return 0, fmt.Errorf("%v is not a number", v)
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%v is not a finite number", v)
	}
	return f, nil
}

// ParseRanking reads the file-ranking answer: one path per line, most relevant first. It
// accepts list markers, numbering, quotes, backticks, tree-drawing prefixes, a leading "./"
// or "/", and prose after the path; it keeps, in order and once each, the paths that name
// one of the known files (a unique file whose path ends with the answer also matches), at
// most max of them (max ≤ 0: no limit).
func ParseRanking(answer string, known []string, max int) []string {
	index := make(map[string]bool, len(known))
	for _, k := range known {
		index[k] = true
	}
	var ranked []string
	seen := map[string]bool{}
	lines := strings.Split(answer, "\n")
	if len(lines) > maxRankingLines {
		lines = lines[:maxRankingLines]
	}
	for _, line := range lines {
		p, ok := resolvePath(line, index, known)
		if !ok || seen[p] {
			continue
		}
		seen[p] = true
		ranked = append(ranked, p)
		if max > 0 && len(ranked) == max {
			break
		}
	}
	return ranked
}

// maxRankingLines bounds the work spent on a runaway ranking answer.
const maxRankingLines = 1000

// resolvePath finds the known file a ranking line names.
func resolvePath(line string, index map[string]bool, known []string) (string, bool) {
	line = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "│├└─┬┼ \t"))
	line = strings.TrimLeft(line, "-*+•>")
	if i := strings.IndexFunc(line, func(r rune) bool { return r < '0' || r > '9' }); i > 0 &&
		(line[i] == '.' || line[i] == ')') && (i+1 == len(line) || line[i+1] == ' ') {
		line = line[i+1:] // "3. path" or "3) path"
	}
	candidates := []string{line}
	if fields := strings.Fields(line); len(fields) > 1 {
		candidates = append(candidates, fields[0])
	}
	for _, c := range candidates {
		c = strings.Trim(strings.TrimSpace(c), "`'\"*,;:")
		if c == "" {
			continue
		}
		c = strings.TrimPrefix(path.Clean("/"+c), "/")
		if index[c] {
			return c, true
		}
		if p, ok := uniqueSuffix(c, known); ok {
			return p, true
		}
	}
	return "", false
}

// uniqueSuffix returns the only known path that ends with "/"+c.
func uniqueSuffix(c string, known []string) (string, bool) {
	found := ""
	for _, k := range known {
		if strings.HasSuffix(k, "/"+c) {
			if found != "" {
				return "", false
			}
			found = k
		}
	}
	return found, found != ""
}

// compactJSON encodes v on one line (for judge metadata).
func compactJSON(v any) json.RawMessage {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
