package model

import (
	"math"

	"github.com/latentlab/latent/kernels"
)

// rmsNormRows applies RMSNorm with weight w to each of the rows of x, writing into out.
func rmsNormRows(out, x, w []float32, rows int, eps float32) {
	h := len(w)
	for i := 0; i < rows; i++ {
		kernels.RMSNorm(out[i*h:(i+1)*h], x[i*h:(i+1)*h], w, eps)
	}
}

// segment is a run of consecutive rows of a block's input that belong to one sequence: n
// positions from pos, whose keys and values go to slot of cache (without a cache, attention
// covers the segment alone).
type segment struct {
	n, pos, slot int
	cache        *Cache
}

// pass is one application of a block to the rows of one or more segments. With rowwise every
// matrix product runs row by row (Matrix.ApplyRows), so that each segment's rows come out
// bitwise as they would alone, as long as no segment exceeds kernels.MaxRowwise rows.
type pass struct {
	segs    []segment
	rows    int
	rowwise bool
}

func single(S, pos, slot int, cache *Cache) *pass {
	return &pass{segs: []segment{{n: S, pos: pos, slot: slot, cache: cache}}, rows: S}
}

// apply computes out = x · wᵀ over the pass's rows.
func (p *pass) apply(w *Matrix, out, x []float32) {
	if p.rowwise {
		w.ApplyRows(out, x, p.rows)
		return
	}
	w.Apply(out, x, p.rows)
}

// blockForward runs one sandwich block on x [S×h] in place:
//
//	x = norm_2(x + Attn(norm_1(x)));  x = norm_4(x + MLP(norm_3(x)))
//
// Positions are pos..pos+S-1; the block's keys and values go to the cache slot when a cache is given.
func (m *Model) blockForward(b *Block, x []float32, S, pos, slot int, cache *Cache) {
	m.blockPass(b, x, single(S, pos, slot, cache))
}

// blockPass runs one sandwich block in place on x, the rows of p's segments.
func (m *Model) blockPass(b *Block, x []float32, p *pass) {
	h := m.Config.NEmbd
	eps := float32(m.Config.NormEps)
	normed := make([]float32, p.rows*h)
	rmsNormRows(normed, x, b.Norm1, p.rows, eps)
	attn := m.attention(b, normed, p)
	for i := range attn {
		attn[i] += x[i]
	}
	rmsNormRows(x, attn, b.Norm2, p.rows, eps)

	rmsNormRows(normed, x, b.Norm3, p.rows, eps)
	mlp := m.mlp(b, normed, p)
	for i := range mlp {
		mlp[i] += x[i]
	}
	rmsNormRows(x, mlp, b.Norm4, p.rows, eps)
}

// mlp computes proj(silu(gate) · up) where fc gives [gate | up].
func (m *Model) mlp(b *Block, x []float32, p *pass) []float32 {
	ffn, S := m.Config.IntermediateSize, p.rows
	fc := make([]float32, S*2*ffn)
	p.apply(&b.FC, fc, x)
	act := make([]float32, S*ffn)
	for i := 0; i < S; i++ {
		gate, up := fc[i*2*ffn:i*2*ffn+ffn], fc[i*2*ffn+ffn:(i+1)*2*ffn]
		kernels.SwiGLU(act[i*ffn:(i+1)*ffn], gate, up)
	}
	out := make([]float32, S*m.Config.NEmbd)
	p.apply(&b.MLPProj, out, act)
	return out
}

// attention computes proj(SDPA(q, k, v)) for x already normed, each segment against its own
// keys. q and k get qk_bias and then RoPE at their absolute positions. Query i of a segment of
// S rows attends to key j of Sk iff j ≤ i + (Sk − S): causal for a fresh sequence, lower-right
// causal against a longer cache, everything for a single query.
func (m *Model) attention(b *Block, x []float32, p *pass) []float32 {
	h, heads, hd := m.Config.NEmbd, m.Config.NHeads, m.Config.HeadSize()
	qkv := make([]float32, p.rows*3*h)
	p.apply(&b.Wqkv, qkv, x)
	keys := make([][][]float32, len(p.segs))
	values := make([][][]float32, len(p.segs))
	first := make([]int, len(p.segs)) // each segment's first row
	row := 0
	for si, seg := range p.segs {
		first[si] = row
		keys[si], values[si] = m.segmentKV(b, qkv[row*3*h:(row+seg.n)*3*h], seg)
		row += seg.n
	}
	y := make([]float32, p.rows*h)
	scale := float32(1 / math.Sqrt(float64(hd)))
	kernels.Parallel(len(p.segs)*heads, func(lo, hi int) {
		var scores []float32
		for task := lo; task < hi; task++ {
			si, hh := task/heads, task%heads
			S, ks, vs := p.segs[si].n, keys[si], values[si]
			if cap(scores) < len(ks) {
				scores = make([]float32, len(ks))
			}
			for i := 0; i < S; i++ {
				r := first[si] + i
				q := qkv[r*3*h+hh*hd : r*3*h+(hh+1)*hd]
				visible := min(i+len(ks)-S+1, len(ks))
				attendHead(y[r*h+hh*hd:r*h+(hh+1)*hd], q, ks[:visible], vs[:visible], hh*hd, scale, scores[:visible])
			}
		}
	})
	out := make([]float32, p.rows*h)
	p.apply(&b.Proj, out, y)
	return out
}

// segmentKV adds qk_bias and RoPE to the queries and keys of one segment's rows of qkv (in
// place) and returns the keys and values its queries attend to: the cache's, when it has one.
func (m *Model) segmentKV(b *Block, qkv []float32, seg segment) ([][]float32, [][]float32) {
	h, heads, hd := m.Config.NEmbd, m.Config.NHeads, m.Config.HeadSize()
	keys := make([][]float32, seg.n)
	values := make([][]float32, seg.n)
	for i := 0; i < seg.n; i++ {
		q, k := qkv[i*3*h:i*3*h+h], qkv[i*3*h+h:i*3*h+2*h]
		for hh := 0; hh < heads; hh++ {
			qh, kh := q[hh*hd:(hh+1)*hd], k[hh*hd:(hh+1)*hd]
			if b.QKBias != nil {
				addInPlace(qh, b.QKBias[hh*hd:(hh+1)*hd])
				addInPlace(kh, b.QKBias[(heads+hh)*hd:(heads+hh+1)*hd])
			}
			m.rope.Apply(qh, seg.pos+i)
			m.rope.Apply(kh, seg.pos+i)
		}
		keys[i], values[i] = k, qkv[i*3*h+2*h:(i+1)*3*h]
	}
	if seg.cache != nil {
		return seg.cache.Update(seg.slot, seg.pos, keys, values)
	}
	return keys, values
}

// attendHead writes softmax(q·Kᵀ·scale)·V for one head of one query into out.
func attendHead(out, q []float32, keys, values [][]float32, off int, scale float32, scores []float32) {
	hd := len(q)
	for j, k := range keys {
		scores[j] = kernels.Dot(q, k[off:off+hd]) * scale
	}
	kernels.Softmax(scores)
	clear(out)
	for j, v := range values {
		p := scores[j]
		vh := v[off : off+hd]
		for d := range out {
			out[d] += p * vh[d]
		}
	}
}

func addInPlace(dst, src []float32) {
	for i := range dst {
		dst[i] += src[i]
	}
}
