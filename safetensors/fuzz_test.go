package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

func FuzzOpen(f *testing.F) {
	var valid bytes.Buffer
	tensors := []WriteTensor{
		{Name: "a", DType: F32, Shape: []int{2}, Data: Float32Bytes([]float32{1, 2})},
		{Name: "b", DType: BF16, Shape: []int{1, 3}, Data: BF16Bytes([]uint16{1, 2, 3})},
		{Name: "c", DType: F16, Shape: []int{}, Data: []byte{0, 0x3c}},
		{Name: "d", DType: I64, Shape: []int{0}},
	}
	sizes, _ := byteSizes(tensors)
	header, _ := encodeHeader(tensors, sizes, []int{0, 1, 2, 3}, map[string]string{"format": "pt"})
	valid.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(header))))
	valid.Write(header)
	for _, t := range tensors {
		valid.Write(t.Data)
	}
	f.Add(valid.Bytes())
	f.Add(craft(`{}`, 0))
	f.Add(craft(`{"x":{"dtype":"U8","shape":[2],"data_offsets":[1,3]},"y":{"dtype":"F32","shape":[1],"data_offsets":[3,7]}}`, 8))
	f.Add(craft(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12))
	f.Add(craft(`{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, '{'})
	path := filepath.Join(f.TempDir(), "f.safetensors") // a worker runs its inputs one at a time
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := Open(path)
		inMemory, memErr := newFile("mem", data)
		if (err == nil) != (memErr == nil) {
			t.Fatalf("mapped and in-memory parses disagree: %v vs %v", err, memErr)
		}
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		defer file.Close()
		checkConsistent(t, file, inMemory, data)
		checkReencodes(t, inMemory)
		if err := file.Close(); err != nil {
			t.Fatal(err)
		}
		if err := file.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// checkConsistent verifies an opened file: sorted unique names, each tensor's bytes matching its
// dtype and shape, lying in the data section and overlapping no other tensor, and the numeric
// accessors working exactly for the dtypes they accept.
func checkConsistent(t *testing.T, file, inMemory *File, data []byte) {
	tensors, memTensors := file.Tensors(), inMemory.Tensors()
	if len(tensors) != len(memTensors) {
		t.Fatalf("mapped file has %d tensors, in-memory %d", len(tensors), len(memTensors))
	}
	dataStart := 8 + int(binary.LittleEndian.Uint64(data))
	type span struct{ begin, end int }
	var spans []span
	for i, tt := range tensors {
		if i > 0 && tensors[i-1].Name >= tt.Name {
			t.Fatalf("tensors not sorted and unique: %q then %q", tensors[i-1].Name, tt.Name)
		}
		if got, ok := file.Tensor(tt.Name); !ok || got.Name != tt.Name {
			t.Fatalf("Tensor(%q) not found", tt.Name)
		}
		if len(tt.Data) != tt.NumElements()*tt.DType.Size() || !bytes.Equal(tt.Data, memTensors[i].Data) {
			t.Fatalf("tensor %q: %d bytes for %s %v", tt.Name, len(tt.Data), tt.DType, tt.Shape)
		}
		if len(tt.Data) > 0 {
			off := int(uintptr(unsafe.Pointer(&memTensors[i].Data[0])) - uintptr(unsafe.Pointer(&data[0])))
			if off < dataStart || off+len(tt.Data) > len(data) {
				t.Fatalf("tensor %q: bytes [%d, %d) outside the data section [%d, %d)", tt.Name, off, off+len(tt.Data), dataStart, len(data))
			}
			spans = append(spans, span{off, off + len(tt.Data)})
		}
		checkAccessors(t, tt)
	}
	slices.SortFunc(spans, func(a, b span) int { return a.begin - b.begin })
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			t.Fatalf("tensor bytes overlap: %v and %v", spans[i-1], spans[i])
		}
	}
}

func checkAccessors(t *testing.T, tt Tensor) {
	v, err := tt.ToFloat32()
	numeric := tt.DType == F32 || tt.DType == BF16 || tt.DType == F16
	if numeric != (err == nil) {
		t.Fatalf("tensor %q (%s): ToFloat32 error %v", tt.Name, tt.DType, err)
	}
	if numeric && len(v) != tt.NumElements() {
		t.Fatalf("tensor %q: ToFloat32 gave %d values for %d elements", tt.Name, len(v), tt.NumElements())
	}
	if _, err := tt.Float32s(); (err == nil) != (tt.DType == F32) {
		t.Fatalf("tensor %q (%s): Float32s error %v", tt.Name, tt.DType, err)
	}
	if _, err := tt.BF16s(); (err == nil) != (tt.DType == BF16) {
		t.Fatalf("tensor %q (%s): BF16s error %v", tt.Name, tt.DType, err)
	}
}

// checkReencodes writes the file's tensors back through the writer's encoding (in memory, to
// keep the fuzzer fast) and checks that the result parses to the same tensors and metadata.
func checkReencodes(t *testing.T, file *File) {
	var tensors []WriteTensor
	for _, tt := range file.Tensors() {
		tensors = append(tensors, WriteTensor{Name: tt.Name, DType: tt.DType, Shape: tt.Shape, Data: tt.Data})
	}
	sizes, err := byteSizes(tensors)
	if err != nil {
		t.Fatalf("an opened file's tensors are not writable: %v", err)
	}
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	header, err := encodeHeader(tensors, sizes, order, file.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	out := append(binary.LittleEndian.AppendUint64(nil, uint64(len(header))), header...)
	for _, wt := range tensors {
		out = append(out, wt.Data...)
	}
	again, err := newFile("re-encoded", out)
	if err != nil {
		t.Fatalf("re-encoded file does not open: %v\nheader %s", err, header)
	}
	for i, tt := range again.Tensors() {
		w := tensors[i]
		if tt.Name != w.Name || tt.DType != w.DType || !slices.Equal(tt.Shape, w.Shape) || !bytes.Equal(tt.Data, w.Data) {
			t.Fatalf("re-encoded tensor %d: %s %s %v, want %s %s %v", i, tt.Name, tt.DType, tt.Shape, w.Name, w.DType, w.Shape)
		}
	}
	if len(again.Tensors()) != len(tensors) || !mapsEqual(again.Metadata(), file.Metadata()) {
		t.Fatalf("re-encoded file: %d tensors, metadata %v; want %d, %v", len(again.Tensors()), again.Metadata(), len(tensors), file.Metadata())
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// FuzzIndex opens arbitrary index files beside two fixed shards: OpenCheckpoint must fail with
// an error naming the index, or return tensors that really are in the named shards.
func FuzzIndex(f *testing.F) {
	dir := f.TempDir()
	for file, names := range map[string][]string{"s1.safetensors": {"a", "b"}, "s2.safetensors": {"c"}} {
		var tensors []WriteTensor
		for _, n := range names {
			tensors = append(tensors, WriteTensor{Name: n, DType: U8, Shape: []int{len(n)}, Data: []byte(n)})
		}
		if err := WriteFile(filepath.Join(dir, file), tensors, nil); err != nil {
			f.Fatal(err)
		}
	}
	f.Add([]byte(`{"metadata":{"total_size":3},"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"../s1.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"c":"./s2.safetensors","x":"s3.safetensors"}}`))
	f.Fuzz(func(t *testing.T, index []byte) {
		tmp, err := os.CreateTemp(dir, "*.index.json")
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(tmp.Name())
		tmp.Write(index)
		tmp.Close()
		c, err := OpenCheckpoint(tmp.Name())
		if err != nil {
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q does not name the folder", err)
			}
			return
		}
		defer c.Close()
		for _, name := range c.Names() {
			tt, ok := c.Tensor(name)
			if !ok || string(tt.Data) != name || filepath.Dir(tt.File) != dir {
				t.Fatalf("tensor %q: %+v", name, tt)
			}
		}
		c.Close()
	})
}
