package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// fileJSON is the part of a Hugging Face tokenizer.json this package reads. The polymorphic
// components stay raw until their "type" is known.
type fileJSON struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

// addedToken is a token of tokenizer.json's "added_tokens": matched in the raw text before
// pre-tokenization and never split.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// typed reads only the "type" field of a component.
type typed struct {
	Type string `json:"type"`
}

// isNull reports whether a raw component is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// readJSON reads and decodes a JSON file, naming the file, line and column of a syntax or type
// error.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("tokenizer: %s: %w", path, describeJSONError(data, err))
	}
	return nil
}

// decodeComponent decodes a raw component, naming its JSON path on failure.
func decodeComponent(raw json.RawMessage, jsonPath string, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, describeJSONError(raw, err))
	}
	return nil
}

// describeJSONError adds the line and column to encoding/json's byte offsets.
func describeJSONError(data []byte, err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		at := max(syntaxErr.Offset-1, 0) // Offset counts the bytes read, the bad one included
		line, col := lineCol(data, at)
		return fmt.Errorf("malformed JSON at line %d, column %d (byte %d): %v", line, col, at, err)
	case errors.As(err, &typeErr):
		line, col := lineCol(data, typeErr.Offset)
		return fmt.Errorf("bad JSON value at line %d, column %d (byte %d): %v", line, col, typeErr.Offset, err)
	}
	return err
}

// lineCol converts a byte offset to a 1-based line and column.
func lineCol(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// tokenConfigJSON is the part of tokenizer_config.json and special_tokens_map.json this package
// reads. Token fields are strings or {"content": ...} objects.
type tokenConfigJSON struct {
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
	Pad          json.RawMessage `json:"pad_token"`
	Unk          json.RawMessage `json:"unk_token"`
	ChatTemplate json.RawMessage `json:"chat_template"`
}

// tokenContent extracts a special token's text from a string or a {"content": ...} object; ""
// when absent or null.
func tokenContent(raw json.RawMessage, jsonPath string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Content == nil {
		return "", fmt.Errorf("%s: want a string or an object with \"content\", got %.60s", jsonPath, raw)
	}
	return *obj.Content, nil
}
