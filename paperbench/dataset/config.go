package dataset

import (
	"fmt"
	"strconv"
	"strings"
)

// Config is a paper's config.yaml: `id: <paper-id>` and `title: "..."`.
type Config struct {
	ID    string
	Title string
}

// ParseConfig reads config.yaml. It understands the flat YAML the official files use: one
// `key: value` per line, the value plain, "double-quoted" or 'single-quoted', with blank
// lines and # comments. Anything else (nesting, lists, block scalars) is an error naming
// the line. Unknown keys are ignored; id and title are required.
func ParseConfig(data []byte) (Config, error) {
	values := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		key, value, err := parseYAMLLine(strings.TrimRight(line, "\r"))
		if err != nil {
			return Config{}, fmt.Errorf("line %d: %w", i+1, err)
		}
		if key == "" {
			continue
		}
		if _, dup := values[key]; dup {
			return Config{}, fmt.Errorf("line %d: duplicate key %q", i+1, key)
		}
		values[key] = value
	}
	c := Config{ID: values["id"], Title: values["title"]}
	for key, v := range map[string]string{"id": c.ID, "title": c.Title} {
		if v == "" {
			return Config{}, fmt.Errorf("missing or empty key %q", key)
		}
	}
	return c, nil
}

// parseYAMLLine splits one flat `key: value` line; it returns an empty key for blank and
// comment lines.
func parseYAMLLine(line string) (key, value string, err error) {
	trimmed := strings.TrimSpace(line)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") || trimmed == "---" {
		return "", "", nil
	}
	if line[0] == ' ' || line[0] == '\t' {
		return "", "", fmt.Errorf("indented line: only flat `key: value` lines are supported")
	}
	key, raw, ok := strings.Cut(trimmed, ":")
	if !ok || key == "" || strings.ContainsAny(key, " \t\"'#{}[]") {
		return "", "", fmt.Errorf("expected `key: value`, got %q", trimmed)
	}
	value, err = yamlScalar(strings.TrimSpace(raw))
	if err != nil {
		return "", "", fmt.Errorf("key %q: %w", key, err)
	}
	return key, value, nil
}

// yamlScalar decodes a flat scalar: plain, double- or single-quoted.
func yamlScalar(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, `"`):
		end := closingDoubleQuote(s)
		if end < 0 {
			return "", fmt.Errorf("unterminated double-quoted value")
		}
		if err := onlyComment(s[end+1:]); err != nil {
			return "", err
		}
		v, err := strconv.Unquote(s[:end+1])
		if err != nil {
			return "", fmt.Errorf("unsupported escape in %s", s[:end+1])
		}
		return v, nil
	case strings.HasPrefix(s, "'"):
		body := s[1:]
		var b strings.Builder
		for {
			i := strings.IndexByte(body, '\'')
			if i < 0 {
				return "", fmt.Errorf("unterminated single-quoted value")
			}
			b.WriteString(body[:i])
			if strings.HasPrefix(body[i+1:], "'") {
				b.WriteByte('\'')
				body = body[i+2:]
				continue
			}
			return b.String(), onlyComment(body[i+1:])
		}
	case s == "" || strings.ContainsAny(s[:1], "|>[{&*!%@`"):
		return "", fmt.Errorf("unsupported value %q: only plain or quoted scalars", s)
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if strings.Contains(s, ": ") {
		return "", fmt.Errorf("plain value %q contains \": \"; quote it", s)
	}
	return s, nil
}

// closingDoubleQuote returns the index of the quote that ends the double-quoted s, or -1.
func closingDoubleQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func onlyComment(rest string) error {
	rest = strings.TrimSpace(rest)
	if rest != "" && !strings.HasPrefix(rest, "#") {
		return fmt.Errorf("unexpected %q after the quoted value", rest)
	}
	return nil
}
