package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// Tensor is one named tensor of a safetensors file. Data views the mapped file: it is read-only
// (writing to it faults) and valid only until the File or Checkpoint it came from is closed.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte // little-endian, row-major; a zero-copy view into the mapped file
	File  string // path of the file it came from, for error messages
}

// NumElements is the product of the shape (1 for a scalar of shape []).
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32s returns the elements of an F32 tensor: a zero-copy view of Data when it is 4-byte
// aligned (read-only, like Data), otherwise a copy.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.check(F32); err != nil {
		return nil, err
	}
	return viewOrDecode(t.Data, decodeF32), nil
}

// BF16s returns the raw bfloat16 bit patterns of a BF16 tensor: a zero-copy view of Data when it
// is 2-byte aligned (read-only, like Data), otherwise a copy.
func (t Tensor) BF16s() ([]uint16, error) {
	if err := t.check(BF16); err != nil {
		return nil, err
	}
	return viewOrDecode(t.Data, binary.LittleEndian.Uint16), nil
}

// F16Bits returns the raw IEEE half-precision bit patterns of an F16 tensor: a zero-copy view of
// Data when it is 2-byte aligned (read-only, like Data), otherwise a copy.
func (t Tensor) F16Bits() ([]uint16, error) {
	if err := t.check(F16); err != nil {
		return nil, err
	}
	return viewOrDecode(t.Data, binary.LittleEndian.Uint16), nil
}

// Int8s returns the elements of an I8 tensor, a zero-copy view of Data (read-only, like Data).
func (t Tensor) Int8s() ([]int8, error) {
	if err := t.check(I8); err != nil {
		return nil, err
	}
	if len(t.Data) == 0 {
		return []int8{}, nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(t.Data))), len(t.Data)), nil
}

// ToFloat32 returns the elements of an F32, BF16 or F16 tensor as float32. BF16 and F16 are
// widened exactly into a new slice; F32 is returned as by Float32s (a view when aligned).
func (t Tensor) ToFloat32() ([]float32, error) {
	switch t.DType {
	case F32:
		return t.Float32s()
	case BF16, F16:
		if err := t.check(t.DType); err != nil {
			return nil, err
		}
		widen := bf16ToFloat32
		if t.DType == F16 {
			widen = f16ToFloat32
		}
		out := make([]float32, len(t.Data)/2)
		for i := range out {
			out[i] = widen(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
		return out, nil
	}
	return nil, t.errorf("dtype %s cannot be read as numbers (want F32, BF16 or F16)", t.DType)
}

// check verifies that t has dtype want and that Data holds exactly its shape's bytes.
func (t Tensor) check(want DType) error {
	if t.DType != want {
		return t.errorf("dtype %s is not %s", t.DType, want)
	}
	if elems := t.NumElements(); len(t.Data) != elems*want.Size() {
		return t.errorf("%d data bytes do not hold %d %s elements of shape %v", len(t.Data), elems, want, t.Shape)
	}
	return nil
}

func (t Tensor) errorf(format string, args ...any) error {
	return fmt.Errorf("safetensors: tensor %q in %s: %s", t.Name, t.File, fmt.Sprintf(format, args...))
}

// bf16ToFloat32 widens one bfloat16 bit pattern exactly.
func bf16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// f16ToFloat32 widens one IEEE 754 half-precision bit pattern exactly (subnormals, infinities
// and NaN payloads included).
func f16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	}
	v := float32(mant) * (1.0 / (1 << 24)) // zero or subnormal: mant · 2⁻²⁴, exact in float32
	if sign != 0 {
		v = -v
	}
	return v
}

// Float32Bytes returns v's bytes in little-endian order for a writer: a zero-copy view on
// little-endian machines, a copy elsewhere.
func Float32Bytes(v []float32) []byte {
	return bytesOf(v, func(b []byte, x float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(x)) })
}

// BF16Bytes returns the bytes of bfloat16 bit patterns in little-endian order for a writer: a
// zero-copy view on little-endian machines, a copy elsewhere.
func BF16Bytes(v []uint16) []byte {
	return bytesOf(v, binary.LittleEndian.PutUint16)
}

// littleEndian reports whether this machine stores numbers as the format does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func decodeF32(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// viewOrDecode reinterprets little-endian data as []T when the host is little-endian and the
// data is aligned for T, and decodes a copy otherwise.
func viewOrDecode[T uint16 | float32](data []byte, decode func([]byte) T) []T {
	size := int(unsafe.Sizeof(T(0)))
	n := len(data) / size
	if n == 0 {
		return []T{}
	}
	p := unsafe.Pointer(unsafe.SliceData(data))
	if littleEndian && uintptr(p)%uintptr(size) == 0 {
		return unsafe.Slice((*T)(p), n)
	}
	out := make([]T, n)
	for i := range out {
		out[i] = decode(data[i*size:])
	}
	return out
}

// bytesOf views v as little-endian bytes, or encodes a copy on a big-endian host.
func bytesOf[T uint16 | float32](v []T, put func([]byte, T)) []byte {
	size := int(unsafe.Sizeof(T(0)))
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), size*len(v))
	}
	out := make([]byte, size*len(v))
	for i, x := range v {
		put(out[i*size:], x)
	}
	return out
}
