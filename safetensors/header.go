package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// maxHeaderSize bounds the JSON header, as the reference implementation does (100 MiB).
const maxHeaderSize = 100 << 20

// metadataKey is the reserved header entry holding free-form string metadata.
const metadataKey = "__metadata__"

// entry is one tensor's header record, with byte offsets relative to the start of the data section.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int
}

// header is a parsed and validated safetensors header.
type header struct {
	entries  []entry // sorted by name
	metadata map[string]string
}

// parseHeader decodes the JSON header and checks every entry against a data section of
// dataLen bytes. Errors name the tensor; the caller adds the file.
func parseHeader(js []byte, dataLen int) (*header, error) {
	h := &header{metadata: map[string]string{}}
	err := walkObject(js, "header", func(key string, value json.RawMessage) error {
		if key == metadataKey {
			return parseMetadata(value, h.metadata)
		}
		e, err := parseEntry(key, value, dataLen)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", key, err)
		}
		h.entries = append(h.entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(h.entries, func(i, j int) bool { return h.entries[i].name < h.entries[j].name })
	return h, checkOverlaps(h.entries)
}

// walkObject decodes a JSON object and calls visit for each member in order. Duplicate keys,
// trailing data and a value that is not an object are errors naming where.
func walkObject(js []byte, where string, visit func(key string, value json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s: malformed JSON: %w", where, err)
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%s: expected a JSON object, found %s", where, describeToken(tok))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: malformed JSON: %w", where, err)
		}
		key := tok.(string) // inside an object the decoder yields only string keys
		if seen[key] {
			return fmt.Errorf("%s: duplicate key %q", where, key)
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return fmt.Errorf("%s: key %q: malformed JSON: %w", where, key, err)
		}
		if err := visit(key, value); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%s: malformed JSON: %w", where, err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("%s: malformed JSON after the object: %w", where, err)
		}
		return fmt.Errorf("%s: unexpected %s after the object", where, describeToken(tok))
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", v)
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	}
	return fmt.Sprintf("%T %v", tok, tok)
}

// parseMetadata reads the __metadata__ object (or null) of string values into into.
func parseMetadata(js json.RawMessage, into map[string]string) error {
	if string(js) == "null" {
		return nil
	}
	return walkObject(js, metadataKey, func(key string, value json.RawMessage) error {
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			return fmt.Errorf("%s: key %q: value must be a string: %s", metadataKey, key, value)
		}
		into[key] = s
		return nil
	})
}

// parseEntry reads and validates one tensor record {"dtype", "shape", "data_offsets"}.
// Unknown members are ignored, as by the reference reader.
func parseEntry(name string, js json.RawMessage, dataLen int) (entry, error) {
	e := entry{name: name}
	var dtype *string
	var shape, offsets []int64
	err := walkObject(js, "entry", func(key string, value json.RawMessage) error {
		var err error
		switch key {
		case "dtype":
			err = json.Unmarshal(value, &dtype)
		case "shape":
			err = json.Unmarshal(value, &shape)
		case "data_offsets":
			err = json.Unmarshal(value, &offsets)
		}
		if err != nil {
			return fmt.Errorf("%s: %s", key, err)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	if dtype == nil {
		return e, errors.New("no dtype")
	}
	if e.dtype = DType(*dtype); !e.dtype.Known() {
		return e, fmt.Errorf("unknown dtype %q", *dtype)
	}
	if shape == nil {
		return e, errors.New("no shape")
	}
	elems, err := checkShape(shape, int64(e.dtype.Size()))
	if err != nil {
		return e, err
	}
	e.shape = make([]int, len(shape))
	for i, d := range shape {
		e.shape[i] = int(d)
	}
	if len(offsets) != 2 {
		return e, fmt.Errorf("data_offsets %v is not a [begin, end] pair", offsets)
	}
	begin, end := offsets[0], offsets[1]
	switch {
	case begin < 0 || begin > end:
		return e, fmt.Errorf("data_offsets [%d, %d]: begin must lie in [0, end]", begin, end)
	case end > int64(dataLen):
		return e, fmt.Errorf("data_offsets [%d, %d] reach past the %d-byte data section (file truncated?)", begin, end, dataLen)
	case end-begin != elems*int64(e.dtype.Size()):
		return e, fmt.Errorf("data_offsets [%d, %d] span %d bytes, but %d %s elements of shape %v need %d",
			begin, end, end-begin, elems, e.dtype, shape, elems*int64(e.dtype.Size()))
	}
	e.begin, e.end = int(begin), int(end)
	return e, nil
}

// checkShape returns the number of elements of a shape, refusing negative dims and a byte size
// (elements × elemSize) that overflows int.
func checkShape(shape []int64, elemSize int64) (int64, error) {
	elems := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && elems > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v: element count overflows", shape)
		}
		elems *= d
	}
	if elems > int64(math.MaxInt)/elemSize {
		return 0, fmt.Errorf("shape %v: byte size overflows", shape)
	}
	return elems, nil
}

// checkOverlaps reports the first two tensors whose byte ranges overlap.
func checkOverlaps(entries []entry) error {
	byBegin := make([]entry, 0, len(entries))
	for _, e := range entries {
		if e.end > e.begin { // empty tensors occupy no bytes
			byBegin = append(byBegin, e)
		}
	}
	sort.Slice(byBegin, func(i, j int) bool { return byBegin[i].begin < byBegin[j].begin })
	for i := 1; i < len(byBegin); i++ {
		prev, cur := byBegin[i-1], byBegin[i]
		if cur.begin < prev.end {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q [%d, %d]",
				cur.name, cur.begin, cur.end, prev.name, prev.begin, prev.end)
		}
	}
	return nil
}
