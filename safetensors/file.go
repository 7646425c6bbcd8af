package safetensors

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// File is one open .safetensors file, mapped into memory. Its tensors' Data view the mapping,
// so they are valid until Close. The methods may be called concurrently, except Close.
type File struct {
	path     string
	tensors  []Tensor // sorted by name
	byName   map[string]int
	metadata map[string]string

	closeOnce sync.Once
	unmap     func() error
	closeErr  error
}

// Open maps the file at path and validates its header: every tensor's dtype, shape and byte
// range. Errors name the file and, where one is at fault, the tensor.
func Open(path string) (*File, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := newFile(path, data)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	f.unmap = unmap
	return f, nil
}

// newFile parses the bytes of a whole safetensors file; tensors view data.
func newFile(path string, data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length (truncated?)", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte limit", n, maxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d reaches past the end of the %d-byte file (truncated?)", n, len(data))
	}
	start := 8 + int(n)
	h, err := parseHeader(data[8:start], len(data)-start)
	if err != nil {
		return nil, err
	}
	f := &File{path: path, byName: make(map[string]int, len(h.entries)), metadata: h.metadata}
	for i, e := range h.entries {
		f.tensors = append(f.tensors, Tensor{
			Name: e.name, DType: e.dtype, Shape: e.shape, File: path,
			Data: data[start+e.begin : start+e.end : start+e.end],
		})
		f.byName[e.name] = i
	}
	return f, nil
}

// Path is the path the file was opened with.
func (f *File) Path() string { return f.path }

// Tensors lists the file's tensors sorted by name.
func (f *File) Tensors() []Tensor { return slices.Clone(f.tensors) }

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := f.byName[name]
	if !ok {
		return Tensor{}, false
	}
	return f.tensors[i], true
}

// Metadata returns a copy of the header's __metadata__ strings (empty when absent).
func (f *File) Metadata() map[string]string { return maps.Clone(f.metadata) }

// Close unmaps the file; the Data of its tensors must not be used afterwards. Closing twice is
// safe and returns the first result.
func (f *File) Close() error {
	f.closeOnce.Do(func() {
		if f.unmap != nil {
			f.closeErr = f.unmap()
		}
		f.tensors, f.byName = nil, nil
	})
	if f.closeErr != nil {
		return fmt.Errorf("safetensors: close %s: %w", f.path, f.closeErr)
	}
	return nil
}
