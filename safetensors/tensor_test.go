package safetensors

import (
	"math"
	"strings"
	"testing"
	"unsafe"
)

// TestF16ToFloat32 compares every half-precision bit pattern with the IEEE 754 definition
// evaluated in float64: (-1)^s · 2^(e-15) · (1 + m/1024), or 2^-14 · m/1024 when e = 0.
func TestF16ToFloat32(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		sign, exp, mant := h>>15, (h>>10)&0x1f, h&0x3ff
		got := f16ToFloat32(uint16(h))
		var want float64
		switch {
		case exp == 0x1f && mant != 0:
			if !math.IsNaN(float64(got)) {
				t.Fatalf("f16 %#04x: got %v, want NaN", h, got)
			}
			continue
		case exp == 0x1f:
			want = math.Inf(1)
		case exp == 0:
			want = math.Ldexp(float64(mant)/1024, -14)
		default:
			want = math.Ldexp(1+float64(mant)/1024, exp-15)
		}
		if sign == 1 {
			want = -want
		}
		if float64(got) != want || math.Signbit(float64(got)) != (sign == 1) {
			t.Fatalf("f16 %#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestBF16ToFloat32(t *testing.T) {
	for _, c := range []struct {
		bits uint16
		want float64
	}{{0x3f80, 1}, {0xc020, -2.5}, {0x7f80, math.Inf(1)}, {0x0001, math.Ldexp(1, -133)}, {0x8000, math.Copysign(0, -1)}} {
		got := bf16ToFloat32(c.bits)
		if float64(got) != c.want || math.Signbit(float64(got)) != math.Signbit(c.want) {
			t.Errorf("bf16 %#04x = %v, want %v", c.bits, got, c.want)
		}
	}
}

func TestBytesViewsAreLittleEndianAndZeroCopy(t *testing.T) {
	f := []float32{1, -2}
	b := Float32Bytes(f)
	want := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}
	if string(b) != string(want) {
		t.Errorf("Float32Bytes = % x, want % x", b, want)
	}
	if littleEndian && unsafe.Pointer(&b[0]) != unsafe.Pointer(&f[0]) {
		t.Error("Float32Bytes copied on a little-endian machine")
	}
	if got := BF16Bytes([]uint16{0x3f80, 0xc000}); string(got) != "\x80\x3f\x00\xc0" {
		t.Errorf("BF16Bytes = % x", got)
	}
	if n := len(Float32Bytes(nil)); n != 0 {
		t.Errorf("Float32Bytes(nil) has %d bytes", n)
	}
}

func TestAccessorsRefuseWrongDTypes(t *testing.T) {
	i64 := Tensor{Name: "ids", DType: I64, Shape: []int{2}, Data: make([]byte, 16), File: "f.safetensors"}
	bf := Tensor{Name: "w", DType: BF16, Shape: []int{2}, Data: make([]byte, 4), File: "f.safetensors"}
	short := Tensor{Name: "s", DType: F32, Shape: []int{3}, Data: make([]byte, 8), File: "f.safetensors"}
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"Float32s of I64", func() error { _, err := i64.Float32s(); return err }, `tensor "ids" in f.safetensors: dtype I64 is not F32`},
		{"BF16s of I64", func() error { _, err := i64.BF16s(); return err }, `dtype I64 is not BF16`},
		{"ToFloat32 of I64", func() error { _, err := i64.ToFloat32(); return err }, `dtype I64 cannot be read as numbers`},
		{"Float32s of BF16", func() error { _, err := bf.Float32s(); return err }, `dtype BF16 is not F32`},
		{"short data", func() error { _, err := short.ToFloat32(); return err }, `8 data bytes do not hold 3 F32 elements`},
	}
	for _, c := range cases {
		if err := c.call(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestNumElements(t *testing.T) {
	for _, c := range []struct {
		shape []int
		want  int
	}{{nil, 1}, {[]int{0, 5}, 0}, {[]int{2, 3, 4}, 24}} {
		if got := (Tensor{Shape: c.shape}).NumElements(); got != c.want {
			t.Errorf("NumElements(%v) = %d, want %d", c.shape, got, c.want)
		}
	}
}
