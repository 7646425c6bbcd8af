package model

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/safetensors"
)

// q8_0 checkpoints. `latent convert --dtype q8_0` stores each Linear weight of the blocks and
// the adapter (quantizable) as two safetensors tensors:
//
//	<name>             I8  [rows, cols]          the int8 quants q, row by row
//	<name>.q8_0_scale  F16 [rows, cols/32]       the fp16 scale d of each run of 32 along a row
//
// so weight (r, c) is d[r][c/32]·q[r][c]: llama.cpp's Q8_0 (blocks of 32 int8 and one fp16
// scale, 34 bytes per 32 weights), with the quants and the scales in separate tensors. The
// embedding (also the tied output head), the norms and the biases keep their dtype (bf16 after
// conversion). A scale tensor whose shape implies runs of another length, a column count that
// is not a multiple of 32, or a scale that is NaN or ±Inf is refused at load.

// q8ScaleSuffix names a quantized weight's scale tensor.
const q8ScaleSuffix = ".q8_0_scale"

// quantizable reports whether the tensor name is one that q8_0 conversion quantizes.
func quantizable(name string) bool {
	if name == "transformer.adapter.weight" {
		return true
	}
	for _, s := range []string{".attn.Wqkv.weight", ".attn.proj.weight", ".mlp.fc.weight", ".mlp.proj.weight"} {
		if strings.HasSuffix(name, s) && strings.HasPrefix(name, "transformer.") {
			return true
		}
	}
	return false
}

// q8Problems checks the I8 weight t (of config shape [rows, cols]) and its scale tensor.
func q8Problems(ckpt *safetensors.Checkpoint, t safetensors.Tensor, shape []int) []string {
	if !quantizable(t.Name) {
		return []string{fmt.Sprintf("tensor %q in %s: dtype I8 (q8_0) is only for the Linear weights of the blocks and the adapter", t.Name, t.File)}
	}
	rows, cols := shape[0], shape[1]
	if cols%kernels.Q8Block != 0 {
		return []string{fmt.Sprintf("tensor %q in %s: q8_0 needs a multiple of %d columns, it has %d", t.Name, t.File, kernels.Q8Block, cols)}
	}
	name := t.Name + q8ScaleSuffix
	s, ok := ckpt.Tensor(name)
	switch {
	case !ok:
		return []string{fmt.Sprintf("q8_0 tensor %q in %s: missing its scales %q", t.Name, t.File, name)}
	case s.DType != "F16":
		return []string{fmt.Sprintf("tensor %q in %s: dtype %s, want F16", name, s.File, s.DType)}
	case len(s.Shape) != 2 || s.Shape[0] != rows:
		return []string{fmt.Sprintf("tensor %q in %s: shape %v, want [%d %d]", name, s.File, s.Shape, rows, cols/kernels.Q8Block)}
	case s.Shape[1] != cols/kernels.Q8Block:
		return []string{fmt.Sprintf("tensor %q in %s: shape %v gives runs of %.4g weights per scale, q8_0 has runs of %d (want [%d %d])",
			name, s.File, s.Shape, float64(cols)/float64(max(s.Shape[1], 1)), kernels.Q8Block, rows, cols/kernels.Q8Block)}
	}
	return nil
}

// q8Matrix binds a checked I8 weight and its scales, refusing non-finite scales.
func q8Matrix(ckpt *safetensors.Checkpoint, t safetensors.Tensor) (Matrix, error) {
	m := Matrix{Rows: t.Shape[0], Cols: t.Shape[1]}
	var err error
	if m.Q8, err = t.Int8s(); err != nil {
		return m, err
	}
	s, _ := ckpt.Tensor(t.Name + q8ScaleSuffix)
	if m.Q8Scales, err = s.F16Bits(); err != nil {
		return m, err
	}
	for i, d := range m.Q8Scales {
		if d&0x7c00 == 0x7c00 {
			return m, fmt.Errorf("tensor %q in %s: scale %d (row %d, run %d) is %g; q8_0 scales must be finite",
				s.Name, s.File, i, i/s.Shape[1], i%s.Shape[1], kernels.F16ToFloat32(d))
		}
	}
	return m, nil
}

// q8Tensors returns the two tensors q8_0 conversion writes for the weight t.
func q8Tensors(t safetensors.Tensor, progress func(int)) []safetensors.WriteTensor {
	rows, cols := t.Shape[0], numElements(t.Shape)/t.Shape[0]
	quants := safetensors.WriteTensor{Name: t.Name, DType: "I8", Shape: []int{rows, cols},
		Fill: func(w io.Writer) error { return fillQ8(w, t, false, progress) }}
	scales := safetensors.WriteTensor{Name: t.Name + q8ScaleSuffix, DType: "F16", Shape: []int{rows, cols / kernels.Q8Block},
		Fill: func(w io.Writer) error { return fillQ8(w, t, true, progress) }}
	return []safetensors.WriteTensor{quants, scales}
}

// fillQ8 quantizes t row by row and writes its quants, or its scales.
func fillQ8(w io.Writer, t safetensors.Tensor, scales bool, progress func(int)) error {
	rows, cols := t.Shape[0], numElements(t.Shape)/t.Shape[0]
	if cols%kernels.Q8Block != 0 {
		return fmt.Errorf("convert: tensor %q: q8_0 needs a multiple of %d columns, it has %d", t.Name, kernels.Q8Block, cols)
	}
	rowBytes := t.DType.Size() * cols
	q := make([]int8, cols)
	buf := make([]byte, 0, cols)
	for r := range rows {
		part := t
		part.Shape = []int{cols}
		part.Data = t.Data[r*rowBytes : (r+1)*rowBytes]
		vals, err := part.ToFloat32()
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		buf = buf[:0]
		for b := 0; b < cols; b += kernels.Q8Block {
			d, ok := kernels.QuantizeQ8(q[b:], vals[b:])
			if !ok {
				return fmt.Errorf("convert: tensor %q row %d columns %d…%d: not finite, or too large for an fp16 q8_0 scale (max |w| %g)",
					t.Name, r, b, b+kernels.Q8Block-1, maxAbs(vals[b:b+kernels.Q8Block]))
			}
			if scales {
				buf = binary.LittleEndian.AppendUint16(buf, d)
			}
		}
		if !scales {
			for _, v := range q {
				buf = append(buf, byte(v))
			}
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if progress != nil {
			progress(len(buf))
		}
	}
	return nil
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}
