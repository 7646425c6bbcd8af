// Package kernels holds the hot numeric loops of latent: matrix products with fp32 or bf16
// weights, RMSNorm, RoPE, softmax and SiLU. Weights follow PyTorch's Linear layout, [out, in],
// so Linear computes y = x·Wᵀ. A fast assembly path is chosen once at start-up from the CPU's
// features; a portable Go fallback computes the same results everywhere.
//
// The package imports nothing of the project.
package kernels

import "math"

// Linear computes out[m×n] = x[m×k] · w[n×k]ᵀ for fp32 weights: a matrix-vector product for a
// single row (decode, memory-bound) and a blocked matrix product otherwise (prefill, training).
func Linear(out, x, w []float32, m, k, n int) {
	if m == 1 {
		gemvF32(out[:n], x[:k], w[:n*k], k, n)
		return
	}
	gemmF32(out[:m*n], x[:m*k], w[:n*k], m, k, n)
}

// LinearBF16 computes out[m×n] = x[m×k] · w[n×k]ᵀ where w holds bfloat16 bit patterns; the
// weights are widened to fp32 inside the kernels and never stored wider.
func LinearBF16(out, x []float32, w []uint16, m, k, n int) {
	if m == 1 {
		gemvBF16(out[:n], x[:k], w[:n*k], k, n)
		return
	}
	gemmBF16(out[:m*n], x[:m*k], w[:n*k], m, k, n)
}

// linearGeneric is the portable reference for Linear.
func linearGeneric(out, x, w []float32, m, k, n int) {
	for i := 0; i < m; i++ {
		xi := x[i*k : i*k+k]
		oi := out[i*n : i*n+n]
		for j := 0; j < n; j++ {
			oi[j] = dotGeneric(xi, w[j*k:j*k+k])
		}
	}
}

// linearBF16Generic is the portable reference for LinearBF16.
func linearBF16Generic(out, x []float32, w []uint16, m, k, n int) {
	for i := 0; i < m; i++ {
		xi := x[i*k : i*k+k]
		oi := out[i*n : i*n+n]
		for j := 0; j < n; j++ {
			var s float32
			for p, b := range w[j*k : j*k+k] {
				s += xi[p] * BF16ToFloat32(b)
			}
			oi[j] = s
		}
	}
}

// Dot returns Σ a[i]·b[i] over len(a) elements.
func Dot(a, b []float32) float32 { return dotGeneric(a, b) }

func dotGeneric(a, b []float32) float32 {
	var s float32
	b = b[:len(a)]
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// BF16ToFloat32 widens a bfloat16 bit pattern to float32 exactly.
func BF16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Float32ToBF16 rounds f to the nearest bfloat16, ties to even, as torch's .to(bfloat16) does.
func Float32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 { // NaN: keep it quiet and a NaN
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// RMSNorm writes out[i] = x[i] · rsqrt(mean(x²) + eps) · w[i] for one row.
func RMSNorm(out, x, w []float32, eps float32) {
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	r := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	for i, v := range x {
		out[i] = (v * r) * w[i]
	}
}

// SiLU returns x·sigmoid(x).
func SiLU(x float32) float32 { return x / (1 + float32(math.Exp(float64(-x)))) }

// Softmax replaces x by softmax(x) in place (max-subtracted; -Inf entries become 0).
func Softmax(x []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		if v > mx {
			mx = v
		}
	}
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}
