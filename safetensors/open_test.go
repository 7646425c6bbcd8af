package safetensors

import (
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"
)

// TestOpenRejectsBadInput feeds crafted files to Open; every error must name the file and,
// where a tensor is at fault, the tensor.
func TestOpenRejectsBadInput(t *testing.T) {
	f32 := func(name, offsets string) string {
		return `"` + name + `":{"dtype":"F32","shape":[2],"data_offsets":` + offsets + `}`
	}
	lengthOnly := func(n uint64, extra int) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, n), make([]byte, extra)...)
	}
	cases := []struct {
		name   string
		data   []byte
		tensor string // "" when no tensor is at fault
		want   string
	}{
		{"empty file", nil, "", "file is 0 bytes, too short"},
		{"short file", []byte{1, 2, 3, 4, 5}, "", "file is 5 bytes, too short"},
		{"header over 100 MiB", lengthOnly(100<<20+1, 16), "", "exceeds the 104857600-byte limit"},
		{"header beyond the file", lengthOnly(64, 16), "", "header length 64 reaches past the end of the 24-byte file"},
		{"malformed JSON", craft(`{"a":`, 0), "", "malformed JSON"},
		{"not an object", craft(`[1,2]`, 0), "", "expected a JSON object"},
		{"trailing data", craft(`{} {}`, 0), "", `unexpected "{" after the object`},
		{"trailing garbage", craft(`{} x`, 0), "", "malformed JSON after the object"},
		{"duplicate tensor", craft(`{`+f32("a", "[0,8]")+`,`+f32("a", "[8,16]")+`}`, 16), "", `header: duplicate key "a"`},
		{"duplicate entry key", craft(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8), "a", `duplicate key "dtype"`},
		{"unknown dtype", craft(`{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, 8), "a", `unknown dtype "F33"`},
		{"absent dtype", craft(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, 8), "a", "no dtype"},
		{"dtype not a string", craft(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, 8), "a", "dtype:"},
		{"absent shape", craft(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, 8), "a", "no shape"},
		{"negative dim", craft(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), "a", "negative dimension"},
		{"fractional dim", craft(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, 8), "a", "shape:"},
		{"shape overflow", craft(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}`, 8), "a", "overflows"},
		{"byte size overflow", craft(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, 8), "a", "byte size overflows"},
		{"offsets not a pair", craft(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, 8), "a", "is not a [begin, end] pair"},
		{"offsets absent", craft(`{"a":{"dtype":"F32","shape":[2]}}`, 8), "a", "is not a [begin, end] pair"},
		{"begin after end", craft(`{`+f32("a", "[8,0]")+`}`, 8), "a", "begin must lie in [0, end]"},
		{"negative begin", craft(`{`+f32("a", "[-8,0]")+`}`, 8), "a", "begin must lie in [0, end]"},
		{"offset beyond data", craft(`{`+f32("a", "[8,16]")+`}`, 8), "a", "reach past the 8-byte data section"},
		{"fractional offset", craft(`{`+f32("a", "[0,8.0]")+`}`, 8), "a", "data_offsets:"},
		{"size mismatch", craft(`{`+f32("a", "[0,4]")+`}`, 8), "a", "span 4 bytes, but 2 F32 elements of shape [2] need 8"},
		{"overlap", craft(`{`+f32("a", "[0,8]")+`,`+f32("b", "[4,12]")+`}`, 12), "b", `overlap tensor "a" [0, 8]`},
		{"overlap unsorted", craft(`{`+f32("z", "[0,8]")+`,`+f32("b", "[0,8]")+`}`, 8), "", "overlap tensor"},
		{"metadata not string", craft(`{"__metadata__":{"format":1}}`, 0), "", `key "format": value must be a string`},
		{"metadata duplicate", craft(`{"__metadata__":{"k":"a","k":"b"}}`, 0), "", `__metadata__: duplicate key "k"`},
		{"metadata not object", craft(`{"__metadata__":[]}`, 0), "", "__metadata__: expected a JSON object"},
		{"entry not object", craft(`{"a":[]}`, 0), "a", "entry: expected a JSON object"},
	}
	for _, c := range cases {
		path := writeTemp(t, c.data)
		f, err := Open(path)
		if err == nil {
			f.Close()
			t.Errorf("%s: Open succeeded, want error %q", c.name, c.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || !strings.Contains(msg, path) {
			t.Errorf("%s: error %q, want one naming %s and containing %q", c.name, msg, path, c.want)
		}
		if c.tensor != "" && !strings.Contains(msg, `tensor "`+c.tensor+`"`) {
			t.Errorf("%s: error %q does not name tensor %q", c.name, msg, c.tensor)
		}
	}
}

// TestOpenTruncatedFile cuts a valid file short at every length: each cut must fail cleanly.
func TestOpenTruncatedFile(t *testing.T) {
	path := writeTemp(t, nil)
	tensors := []WriteTensor{
		{Name: "a", DType: F32, Shape: []int{3}, Data: Float32Bytes([]float32{1, 2, 3})},
		{Name: "b", DType: BF16, Shape: []int{2}, Data: BF16Bytes([]uint16{1, 2})},
	}
	if err := WriteFile(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
	whole := readFile(t, path)
	for n := 0; n < len(whole); n++ {
		if f, err := openTemp(t, whole[:n]); err == nil {
			t.Fatalf("file cut to %d of %d bytes opened with %d tensors", n, len(whole), len(f.Tensors()))
		}
	}
	if _, err := openTemp(t, whole); err != nil {
		t.Fatalf("the whole file: %v", err)
	}
}

func TestOpenAcceptsEdgeCases(t *testing.T) {
	cases := []struct {
		name    string
		data    []byte
		tensors int
	}{
		{"empty header", craft(`{}`, 0), 0},
		{"null metadata", craft(`{"__metadata__":null}`, 0), 0},
		{"padding and gap", craft(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}        `, 8), 1},
		{"scalar and empty tensors", craft(`{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]},"f":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, 8), 3},
		{"unknown members ignored", craft(`{"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1],"note":{"x":[1]}}}`, 1), 1},
	}
	for _, c := range cases {
		f, err := openTemp(t, c.data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if n := len(f.Tensors()); n != c.tensors {
			t.Errorf("%s: %d tensors, want %d", c.name, n, c.tensors)
		}
	}
}

// TestMisalignedF32IsCopied stores an F32 tensor at an odd offset: Float32s must copy it and
// still return the right values, while an aligned one is a view of the mapping.
func TestMisalignedF32IsCopied(t *testing.T) {
	header := `{"pad":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"x":{"dtype":"F32","shape":[2],"data_offsets":[2,10]},"y":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}`
	header += strings.Repeat(" ", (8-len(header)%8)%8)
	data := craft(header, 16)
	base := 8 + len(header)
	copy(data[base+2:], Float32Bytes([]float32{1.5, -3}))
	copy(data[base+12:], Float32Bytes([]float32{7}))
	f, err := openTemp(t, data)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := f.Tensor("x")
	got, err := x.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1.5 || got[1] != -3 {
		t.Errorf("misaligned x = %v, want [1.5 -3]", got)
	}
	if unsafe.Pointer(&got[0]) == unsafe.Pointer(&x.Data[0]) {
		t.Error("misaligned x was not copied")
	}
	y, _ := f.Tensor("y")
	gy, _ := y.Float32s()
	if gy[0] != 7 || unsafe.Pointer(&gy[0]) != unsafe.Pointer(&y.Data[0]) {
		t.Errorf("aligned y = %v, want a view holding [7]", gy)
	}
}

func TestCloseTwiceAndAfter(t *testing.T) {
	f, err := Open(writeTemp(t, craft(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 8)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Tensor("a"); !ok {
		t.Fatal("tensor a missing")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, ok := f.Tensor("a"); ok {
		t.Error("Tensor found after Close")
	}
}
