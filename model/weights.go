package model

import "github.com/latentlab/latent/kernels"

// Matrix is a weight matrix in PyTorch Linear layout [Rows = out, Cols = in], held as fp32, as
// bf16 bit patterns (widened inside the kernels, never stored wider) or as q8_0 (int8 quants
// with one fp16 scale per run of 32 along a row; see q8.go).
type Matrix struct {
	Rows, Cols int
	F32        []float32
	BF16       []uint16
	Q8         []int8   // q8_0 quants [Rows×Cols]
	Q8Scales   []uint16 // q8_0 fp16 scales [Rows×Cols/32]
}

// Apply computes out[m×Rows] = x[m×Cols] · Wᵀ.
func (w *Matrix) Apply(out, x []float32, m int) {
	if w.Q8 != nil {
		kernels.LinearQ8(out[:m*w.Rows], x[:m*w.Cols], w.Q8, w.Q8Scales, m, w.Cols, w.Rows)
		return
	}
	if w.BF16 != nil {
		kernels.LinearBF16(out[:m*w.Rows], x[:m*w.Cols], w.BF16, m, w.Cols, w.Rows)
		return
	}
	kernels.Linear(out[:m*w.Rows], x[:m*w.Cols], w.F32, m, w.Cols, w.Rows)
}

// ApplyRows is Apply computed row by row (kernels.LinearRows): each output row equals Apply's
// for that row alone when Apply is given at most kernels.MaxRowwise rows. q8_0 products are
// row-exact for any row count (TestQ8ProductsRowExact), so they run as Apply does.
func (w *Matrix) ApplyRows(out, x []float32, m int) {
	if w.Q8 != nil {
		w.Apply(out, x, m)
		return
	}
	if w.BF16 != nil {
		kernels.LinearBF16Rows(out[:m*w.Rows], x[:m*w.Cols], w.BF16, m, w.Cols, w.Rows)
		return
	}
	kernels.LinearRows(out[:m*w.Rows], x[:m*w.Cols], w.F32, m, w.Cols, w.Rows)
}

// Row copies row i, widened to fp32, into dst.
func (w *Matrix) Row(dst []float32, i int) {
	if w.Q8 != nil {
		for j, q := range w.Q8[i*w.Cols : (i+1)*w.Cols] {
			dst[j] = kernels.F16ToFloat32(w.Q8Scales[(i*w.Cols+j)/kernels.Q8Block]) * float32(q)
		}
		return
	}
	if w.BF16 != nil {
		for j, b := range w.BF16[i*w.Cols : (i+1)*w.Cols] {
			dst[j] = kernels.BF16ToFloat32(b)
		}
		return
	}
	copy(dst, w.F32[i*w.Cols:(i+1)*w.Cols])
}

// Bytes is the memory the matrix occupies.
func (w *Matrix) Bytes() int64 {
	if w.Q8 != nil {
		return int64(len(w.Q8)) + int64(len(w.Q8Scales))*2
	}
	if w.BF16 != nil {
		return int64(len(w.BF16)) * 2
	}
	return int64(len(w.F32)) * 4
}

// Block is one "sandwich" transformer block: four RMSNorms around attention and a gated MLP.
type Block struct {
	Norm1, Norm2, Norm3, Norm4 []float32
	Wqkv                       Matrix    // [3h, h]: q rows, then k, then v; head-major inside each
	QKBias                     []float32 // [2, heads, head_dim]: q bias then k bias; nil without qk_bias
	Proj                       Matrix    // [h, h]
	FC                         Matrix    // [2·ffn, h]: gate rows then up rows
	MLPProj                    Matrix    // [h, ffn]
}

// Weights holds every parameter of a recurrent-depth model.
type Weights struct {
	Embedding Matrix // wte [padded_vocab, h]; also the output head when embeddings are tied
	Head      Matrix // the output head; the same storage as Embedding when tied
	Prelude   []Block
	Adapter   Matrix // [h, 2h]: columns [0,h) read the state, [h,2h) the embedded input
	Core      []Block
	Coda      []Block
	LnF       []float32
}

// Bytes is the memory held by all weights (the tied head counted once).
func (w *Weights) Bytes() int64 {
	n := w.Embedding.Bytes() + w.Adapter.Bytes() + int64(len(w.LnF))*4
	if w.Head.F32 != nil && &w.Head.F32[0] != &w.Embedding.F32[0] || w.Head.BF16 != nil && &w.Head.BF16[0] != &w.Embedding.BF16[0] {
		n += w.Head.Bytes()
	}
	for _, stage := range [][]Block{w.Prelude, w.Core, w.Coda} {
		for i := range stage {
			n += stage[i].bytes()
		}
	}
	return n
}

func (b *Block) bytes() int64 {
	return b.Wqkv.Bytes() + b.Proj.Bytes() + b.FC.Bytes() + b.MLPProj.Bytes() +
		int64(len(b.QKBias)+len(b.Norm1)+len(b.Norm2)+len(b.Norm3)+len(b.Norm4))*4
}
