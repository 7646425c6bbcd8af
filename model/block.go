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

// blockForward runs one sandwich block on x [S×h] in place:
//
//	x = norm_2(x + Attn(norm_1(x)));  x = norm_4(x + MLP(norm_3(x)))
//
// Positions are pos..pos+S-1; the block's keys and values go to the cache slot when a cache is given.
func (m *Model) blockForward(b *Block, x []float32, S, pos, slot int, cache *Cache) {
	h := m.Config.NEmbd
	eps := float32(m.Config.NormEps)
	normed := make([]float32, S*h)
	rmsNormRows(normed, x, b.Norm1, S, eps)
	attn := m.attention(b, normed, S, pos, slot, cache)
	for i := range attn {
		attn[i] += x[i]
	}
	rmsNormRows(x, attn, b.Norm2, S, eps)

	rmsNormRows(normed, x, b.Norm3, S, eps)
	mlp := m.mlp(b, normed, S)
	for i := range mlp {
		mlp[i] += x[i]
	}
	rmsNormRows(x, mlp, b.Norm4, S, eps)
}

// mlp computes proj(silu(gate) · up) where fc gives [gate | up].
func (m *Model) mlp(b *Block, x []float32, S int) []float32 {
	ffn := m.Config.IntermediateSize
	fc := make([]float32, S*2*ffn)
	b.FC.Apply(fc, x, S)
	act := make([]float32, S*ffn)
	for i := 0; i < S; i++ {
		gate, up := fc[i*2*ffn:i*2*ffn+ffn], fc[i*2*ffn+ffn:(i+1)*2*ffn]
		kernels.SwiGLU(act[i*ffn:(i+1)*ffn], gate, up)
	}
	out := make([]float32, S*m.Config.NEmbd)
	b.MLPProj.Apply(out, act, S)
	return out
}

// attention computes proj(SDPA(q, k, v)) for x [S×h] already normed. q and k get qk_bias and then
// RoPE at their absolute positions. Query i of S attends to key j of Sk iff j ≤ i + (Sk − S): causal
// for a fresh sequence, lower-right causal against a longer cache, everything for a single query.
func (m *Model) attention(b *Block, x []float32, S, pos, slot int, cache *Cache) []float32 {
	h, heads, hd := m.Config.NEmbd, m.Config.NHeads, m.Config.HeadSize()
	qkv := make([]float32, S*3*h)
	b.Wqkv.Apply(qkv, x, S)
	keys := make([][]float32, S)
	values := make([][]float32, S)
	for i := 0; i < S; i++ {
		q, k := qkv[i*3*h:i*3*h+h], qkv[i*3*h+h:i*3*h+2*h]
		for hh := 0; hh < heads; hh++ {
			qh, kh := q[hh*hd:(hh+1)*hd], k[hh*hd:(hh+1)*hd]
			if b.QKBias != nil {
				addInPlace(qh, b.QKBias[hh*hd:(hh+1)*hd])
				addInPlace(kh, b.QKBias[(heads+hh)*hd:(heads+hh+1)*hd])
			}
			m.rope.Apply(qh, pos+i)
			m.rope.Apply(kh, pos+i)
		}
		keys[i], values[i] = k, qkv[i*3*h+2*h:(i+1)*3*h]
	}
	if cache != nil {
		keys, values = cache.Update(slot, pos, keys, values)
	}
	y := make([]float32, S*h)
	scale := float32(1 / math.Sqrt(float64(hd)))
	kernels.Parallel(heads, func(lo, hi int) {
		scores := make([]float32, len(keys))
		for hh := lo; hh < hi; hh++ {
			for i := 0; i < S; i++ {
				q := qkv[i*3*h+hh*hd : i*3*h+(hh+1)*hd]
				visible := min(i+len(keys)-S+1, len(keys))
				attendHead(y[i*h+hh*hd:i*h+(hh+1)*hd], q, keys[:visible], values[:visible], hh*hd, scale, scores[:visible])
			}
		}
	})
	out := make([]float32, S*h)
	b.Proj.Apply(out, y, S)
	return out
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
