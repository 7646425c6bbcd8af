package train

import (
	"math"

	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/model"
)

// Each op's forward and backward sit side by side. Backward functions add into parameter
// gradients (dw += ...) and say for each input gradient whether they add or overwrite.

// embedForward writes out[i] = wte[ids[i]] · scale for each token.
func embedForward(out []float32, ids []int, wte []float32, h int, scale float32) {
	for i, id := range ids {
		row, src := out[i*h:(i+1)*h], wte[id*h:(id+1)*h]
		for j, v := range src {
			row[j] = v * scale
		}
	}
}

// embedBackward adds dout · scale into the rows of dwte the tokens read.
func embedBackward(dwte, dout []float32, ids []int, h int, scale float32) {
	for i, id := range ids {
		row, src := dwte[id*h:(id+1)*h], dout[i*h:(i+1)*h]
		for j, v := range src {
			row[j] += v * scale
		}
	}
}

// rmsnormForward writes out = x · rstd · w per row of h values and records rstd per row.
func rmsnormForward(out, rstd, x, w []float32, h int, eps float32) {
	kernels.Parallel(len(rstd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi, oi := x[i*h:(i+1)*h], out[i*h:(i+1)*h]
			var ss float64
			for _, v := range xi {
				ss += float64(v) * float64(v)
			}
			r := float32(1 / math.Sqrt(ss/float64(h)+float64(eps)))
			rstd[i] = r
			for j, v := range xi {
				oi[j] = (v * r) * w[j]
			}
		}
	})
}

// rmsnormBackward adds the gradient with respect to x into dx and to w into dw:
//
//	dx = rstd · (dout∘w) − x · rstd³/h · Σ(dout∘w∘x),   dw = Σ_rows dout∘x·rstd
func rmsnormBackward(dx, dw, dout, x, rstd, w []float32, h int) {
	kernels.Parallel(len(rstd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi, gi, dxi := x[i*h:(i+1)*h], dout[i*h:(i+1)*h], dx[i*h:(i+1)*h]
			r := rstd[i]
			var dot float32
			for j, v := range xi {
				dot += gi[j] * w[j] * v
			}
			c := r * r * r * dot / float32(h)
			for j, v := range xi {
				dxi[j] += r*gi[j]*w[j] - v*c
			}
		}
	})
	for i, r := range rstd {
		xi, gi := x[i*h:(i+1)*h], dout[i*h:(i+1)*h]
		for j, v := range xi {
			dw[j] += gi[j] * v * r
		}
	}
}

// linearForward computes out[m×n] = x[m×k] · wᵀ for w [n×k].
func linearForward(out, x, w []float32, m, k, n int) { kernels.Linear(out, x, w, m, k, n) }

// linearBackward overwrites dx[m×k] = dy · w (unless dx is nil) and adds dyᵀ · x into dw[n×k].
func linearBackward(dx, dw, dy, x, w []float32, m, k, n int) {
	if dx != nil {
		kernels.MatMul(dx, dy, w, m, n, k)
	}
	kernels.AccumulateTransposed(dw, dy, x, m, n, k)
}

// swigluForward writes act[i,j] = silu(gate[i,j]) · up[i,j] where fc rows are [gate | up].
func swigluForward(act, fc []float32, ffn int) {
	kernels.Parallel(len(act)/ffn, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.SwiGLU(act[i*ffn:(i+1)*ffn], fc[i*2*ffn:i*2*ffn+ffn], fc[i*2*ffn+ffn:(i+1)*2*ffn])
		}
	})
}

// swigluBackward overwrites dfc with the gradient of the gated activation:
// d gate = dact · up · σ(g)(1 + g(1 − σ(g))),  d up = dact · silu(g).
func swigluBackward(dfc, dact, fc []float32, ffn int) {
	kernels.Parallel(len(dact)/ffn, func(lo, hi int) {
		sig := make([]float32, ffn)
		for i := lo; i < hi; i++ {
			gate, up := fc[i*2*ffn:i*2*ffn+ffn], fc[i*2*ffn+ffn:(i+1)*2*ffn]
			dgate, dup, da := dfc[i*2*ffn:i*2*ffn+ffn], dfc[i*2*ffn+ffn:(i+1)*2*ffn], dact[i*ffn:(i+1)*ffn]
			kernels.Sigmoid(sig, gate)
			for j, g := range gate {
				s := sig[j]
				dgate[j] = da[j] * up[j] * s * (1 + g*(1-s))
				dup[j] = da[j] * g * s
			}
		}
	})
}

// attention is causal multi-head self-attention over B sequences of T tokens with H heads of
// size hd, q/k bias before an interleaved RoPE at positions 0..T-1, and scale 1/√hd.
type attention struct {
	B, T, H, hd int
	rope        *model.Rope
}

func (a *attention) h() int { return a.H * a.hd }

// headOffset is where head hh of token t of sequence b starts in a head-major [B,H,T,hd] buffer.
func (a *attention) headOffset(b, hh, t int) int { return ((b*a.H+hh)*a.T + t) * a.hd }

// forward computes y [N×h] from qkv [N×3h] (the raw Wqkv output, which it leaves unchanged). It
// records the biased and rotated q, k and v head-major and the attention probabilities att
// [B,H,T,T] for the backward pass; yh is head-major scratch.
func (a *attention) forward(y, q, k, v, att, yh, qkv, bias []float32) {
	h, hd := a.h(), a.hd
	kernels.Parallel(a.B*a.T, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			b, t := row/a.T, row%a.T
			src := qkv[row*3*h : (row+1)*3*h]
			for hh := 0; hh < a.H; hh++ {
				o := a.headOffset(b, hh, t)
				qh, kh, vh := q[o:o+hd], k[o:o+hd], v[o:o+hd]
				copy(qh, src[hh*hd:])
				copy(kh, src[h+hh*hd:])
				copy(vh, src[2*h+hh*hd:])
				if bias != nil {
					addInto(qh, bias[hh*hd:(hh+1)*hd])
					addInto(kh, bias[h+hh*hd:h+(hh+1)*hd])
				}
				a.rope.Apply(qh, t)
				a.rope.Apply(kh, t)
			}
		}
	})
	scale := float32(1 / math.Sqrt(float64(hd)))
	T := a.T
	kernels.Parallel(a.B*a.H, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			o := bh * T * hd
			p := att[bh*T*T : (bh+1)*T*T]
			kernels.Linear(p, q[o:o+T*hd], k[o:o+T*hd], T, hd, T)
			for t := 0; t < T; t++ {
				row := p[t*T : (t+1)*T]
				for j := 0; j <= t; j++ {
					row[j] *= scale
				}
				kernels.Softmax(row[:t+1])
				clear(row[t+1:])
			}
			kernels.MatMul(yh[o:o+T*hd], p, v[o:o+T*hd], T, T, hd)
		}
	})
	a.fromHeads(y, 0, h, yh)
}

// backward overwrites dqkv [N×3h] with the gradient with respect to the raw Wqkv output, given
// dy [N×h], and adds the q/k bias gradient into dbias. dq, dk, dv, dyh and datt are scratch of
// the sizes of q, k, v, q and att.
func (a *attention) backward(dqkv, dbias, dy, q, k, v, att, dq, dk, dv, dyh, datt []float32) {
	h, hd, T := a.h(), a.hd, a.T
	a.toHeads(dyh, dy, 0, h)
	scale := float32(1 / math.Sqrt(float64(hd)))
	kernels.Parallel(a.B*a.H, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			o, po := bh*T*hd, bh*T*T
			p, dp := att[po:po+T*T], datt[po:po+T*T]
			dyb := dyh[o : o+T*hd]
			kernels.Linear(dp, dyb, v[o:o+T*hd], T, hd, T) // dP = dY · Vᵀ
			clear(dv[o : o+T*hd])
			kernels.AccumulateTransposed(dv[o:o+T*hd], p, dyb, T, T, hd) // dV = Pᵀ · dY
			for t := 0; t < T; t++ {
				pr, dr := p[t*T:t*T+t+1], dp[t*T:(t+1)*T]
				var dot float32
				for j, pj := range pr {
					dot += pj * dr[j]
				}
				for j, pj := range pr {
					dr[j] = pj * (dr[j] - dot) * scale
				}
				clear(dr[t+1:])
			}
			kernels.MatMul(dq[o:o+T*hd], dp, k[o:o+T*hd], T, T, hd) // dQ = dS · K
			clear(dk[o : o+T*hd])
			kernels.AccumulateTransposed(dk[o:o+T*hd], dp, q[o:o+T*hd], T, T, hd) // dK = dSᵀ · Q
		}
	})
	kernels.Parallel(a.B*a.H*T, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			t := i % T
			a.unrotate(dq[i*hd:(i+1)*hd], t)
			a.unrotate(dk[i*hd:(i+1)*hd], t)
		}
	})
	if dbias != nil {
		a.sumHeads(dbias[:h], dq)
		a.sumHeads(dbias[h:2*h], dk)
	}
	a.fromHeads(dqkv, 0, 3*h, dq)
	a.fromHeads(dqkv, h, 3*h, dk)
	a.fromHeads(dqkv, 2*h, 3*h, dv)
}

// unrotate applies the transpose of the RoPE rotation at position t to one head vector. The
// inverse of rotating (a, b) is the swap of rotating (b, a): R(θ)ᵀ = S·R(θ)·S with S the swap.
func (a *attention) unrotate(x []float32, t int) {
	for i := 0; i < len(x); i += 2 {
		x[i], x[i+1] = x[i+1], x[i]
	}
	a.rope.Apply(x, t)
	for i := 0; i < len(x); i += 2 {
		x[i], x[i+1] = x[i+1], x[i]
	}
}

// sumHeads adds the head-major gradient src summed over sequences and positions into dst [H×hd].
func (a *attention) sumHeads(dst, src []float32) {
	for b := 0; b < a.B; b++ {
		for hh := 0; hh < a.H; hh++ {
			d := dst[hh*a.hd : (hh+1)*a.hd]
			for t := 0; t < a.T; t++ {
				addInto(d, src[a.headOffset(b, hh, t):][:a.hd])
			}
		}
	}
}

// toHeads gathers columns [off, off+h) of the row-major dst-stride buffer src into head-major dst.
func (a *attention) toHeads(dst, src []float32, off, stride int) {
	a.moveHeads(dst, src, off, stride, true)
}

// fromHeads scatters head-major src into columns [off, off+h) of the row-major buffer dst.
func (a *attention) fromHeads(dst []float32, off, stride int, src []float32) {
	a.moveHeads(src, dst, off, stride, false)
}

func (a *attention) moveHeads(heads, rows []float32, off, stride int, gather bool) {
	hd := a.hd
	kernels.Parallel(a.B*a.T, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			b, t := row/a.T, row%a.T
			for hh := 0; hh < a.H; hh++ {
				hv := heads[a.headOffset(b, hh, t):][:hd]
				rv := rows[row*stride+off+hh*hd:][:hd]
				if gather {
					copy(hv, rv)
				} else {
					copy(rv, hv)
				}
			}
		}
	})
}

// crossEntropy turns logits [N×V] in place into d loss / d logits and returns the mean loss
// over the tokens whose label is not ignoreIndex, and their count. rowLoss is scratch [N].
func crossEntropy(logits []float32, labels []int, V int, rowLoss []float64) (float64, int) {
	count := 0
	for _, l := range labels {
		if l != ignoreIndex {
			count++
		}
	}
	if count == 0 {
		clear(logits)
		return 0, 0
	}
	inv := float32(1 / float64(count))
	kernels.Parallel(len(labels), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := logits[i*V : (i+1)*V]
			if labels[i] == ignoreIndex {
				clear(row)
				rowLoss[i] = 0
				continue
			}
			rowLoss[i] = softmaxNLL(row, labels[i])
			for j := range row {
				row[j] *= inv
			}
			row[labels[i]] -= inv
		}
	})
	var sum float64
	for _, l := range rowLoss[:len(labels)] {
		sum += l
	}
	return sum / float64(count), count
}

// ignoreIndex marks a label that contributes no loss, as PyTorch's cross_entropy default.
const ignoreIndex = -100

// softmaxNLL replaces row by softmax(row) and returns −log softmax(row)[label].
func softmaxNLL(row []float32, label int) float64 {
	logit := row[label]
	shift, sum := kernels.Softmax(row)
	return math.Log(sum) - float64(logit-shift)
}

func addInto(dst, src []float32) {
	for i := range dst {
		dst[i] += src[i]
	}
}
