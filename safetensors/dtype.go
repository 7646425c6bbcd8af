// Package safetensors reads and writes the safetensors checkpoint format of Hugging Face: an
// 8-byte little-endian header length, a JSON header naming every tensor's dtype, shape and byte
// range, then the raw little-endian tensor data.
//
// Reading maps the file into memory (mmap) and hands out zero-copy, read-only views of the
// tensor bytes; every header is validated on Open so a bad file fails early with an error naming
// the file and the tensor. A Checkpoint is a model folder: one model.safetensors, or shards listed
// by model.safetensors.index.json. Writing is atomic (temporary file, fsync, rename) and streams
// tensors through producers so checkpoints larger than memory can be written.
package safetensors

// DType names a tensor's element type as the safetensors header spells it ("F32", "BF16", ...).
// F32, BF16 and F16 can be read as numbers; the other known dtypes are listed by Open but
// refused by the numeric accessors.
type DType string

// The dtypes the header may name.
const (
	F64    DType = "F64"
	F32    DType = "F32"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I64    DType = "I64"
	I32    DType = "I32"
	I16    DType = "I16"
	I8     DType = "I8"
	U64    DType = "U64"
	U32    DType = "U32"
	U16    DType = "U16"
	U8     DType = "U8"
	Bool   DType = "BOOL"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
	F8E8M0 DType = "F8_E8M0"
	C64    DType = "C64"
)

var dtypeSizes = map[DType]int{
	F64: 8, F32: 4, F16: 2, BF16: 2,
	I64: 8, I32: 4, I16: 2, I8: 1,
	U64: 8, U32: 4, U16: 2, U8: 1,
	Bool: 1, F8E4M3: 1, F8E5M2: 1, F8E8M0: 1, C64: 8,
}

// Size is the number of bytes of one element, or 0 for a dtype this package does not know.
func (d DType) Size() int { return dtypeSizes[d] }

// Known reports whether d is a dtype this package can lay out (its element size is known).
func (d DType) Known() bool { return d.Size() > 0 }
