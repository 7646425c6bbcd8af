// Package kernels holds the hot numeric loops of latent: matrix products with fp32, bf16 or
// q8_0 (int8, see LinearQ8) weights, vector helpers, RMSNorm, RoPE, softmax, exp and SwiGLU. Weights follow PyTorch's Linear
// layout, [out, in], so Linear computes y = x·Wᵀ.
//
// On amd64 an assembly path (AVX2 with FMA) is chosen once at start-up from the CPU's
// features, after a self-test of its kernels; a portable Go fallback computes the same
// results (up to the order of floating-point additions) everywhere. Its FMA row kernels for few
// rows (1, 2, 4 and 6 rows of x sharing each weight load) have AVX-512 versions for 1, 4 and 8
// rows; with AVX-512 the path also gains VDPBF16PS kernels for bf16 weights (with
// AVX512_BF16) and VNNI kernels for q8_0 (with AVX512_VNNI, bit for bit as the AVX2 ones);
// Backend names what is in use, e.g. "avx2+bf16dot+vnni". LATENT_KERNELS=go forces the
// fallback; LATENT_KERNELS=avx512 opts in to the AVX-512 packed GEMM, slower than AVX2's on the
// CPUs measured so far. Products with 1–16 rows (decode) take the path a measurement at first
// use (on weights beyond the caches, about 2 s) found fastest on this CPU, cached in the user's
// cache folder (see RowPaths); up to
// MaxRowwise rows that is one path, so that every row is computed as it would be alone.
//
// The VDPBF16PS path hands x to the kernels as two bf16 halves by default (each product within
// 2⁻¹⁶ of exact; it passes the fp32 parity tolerances); LATENT_KERNELS_BF16DOT=round rounds x
// to bf16 instead (within 2⁻⁸: beyond those tolerances, so only by this explicit choice), =off
// drops the path. Products of bf16 weights with more rows (prefill, training) take a packed
// GEMM too, VDPBF16PS's (gemmdp.go, x split or rounded the same way) or an fp32 one, whichever
// the same measurement at first use found faster (see RowChoice.PackedBF16). Work is spread
// over a persistent pool of GOMAXPROCS workers (see Parallel).
//
// The package imports nothing of the project.
package kernels

import "math"

// Linear computes out[m×n] = x[m×k] · w[n×k]ᵀ for fp32 weights. Products with few rows
// (decode: memory-bound, the weights should stream once) take the path chosen for m on this
// CPU (see pathFor); more rows a packed, blocked matrix product (prefill, training:
// compute-bound).
func Linear(out, x, w []float32, m, k, n int) {
	out, x, w = out[:m*n], x[:m*k], w[:n*k]
	if fast == nil {
		Parallel(n, func(lo, hi int) { linearColumnsGeneric(out, x, w, m, k, n, lo, hi) })
		return
	}
	linearPath(fast, fast.pathFor(false, m), out, rowMajor(x, k), weightsF32(w, k), m, k, n)
}

// LinearBF16 computes out[m×n] = x[m×k] · w[n×k]ᵀ where w holds bfloat16 bit patterns; the
// weights are widened to fp32 inside the kernels (or into cache-sized packs) and never stored
// wider.
func LinearBF16(out, x []float32, w []uint16, m, k, n int) {
	out, x, w = out[:m*n], x[:m*k], w[:n*k]
	if fast == nil {
		Parallel(n, func(lo, hi int) { linearBF16ColumnsGeneric(out, x, w, m, k, n, lo, hi) })
		return
	}
	linearPath(fast, fast.pathFor(true, m), out, rowMajor(x, k), weightsBF16(w, k), m, k, n)
}

// MatMul computes out[m×n] = a[m×k] · b[k×n] (all row-major).
func MatMul(out, a, b []float32, m, k, n int) {
	out, a, b = out[:m*n], a[:m*k], b[:k*n]
	if fast == nil {
		Parallel(m, func(lo, hi int) { matMulGeneric(out[lo*n:hi*n], a[lo*k:hi*k], b, hi-lo, k, n) })
		return
	}
	gemm(out, n, m, n, k, rowMajor(a, k), colMajor(b, n), false)
}

// AccumulateTransposed adds dy[m×n]ᵀ · x[m×k] into dw[n×k]: the weight gradient of y = x·wᵀ.
func AccumulateTransposed(dw, dy, x []float32, m, n, k int) {
	dw, dy, x = dw[:n*k], dy[:m*n], x[:m*k]
	if fast == nil {
		Parallel(n, func(lo, hi int) { accumulateTransposedGeneric(dw, dy, x, m, n, k, lo, hi) })
		return
	}
	gemm(dw, k, n, k, m, colMajor(dy, n), colMajor(x, k), true)
}

// Dot returns Σ a[i]·b[i] over len(a) elements.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	if fast == nil {
		return dotGeneric(a, b)
	}
	body := len(a) &^ (vecBlock - 1)
	s := float32(0)
	if body > 0 {
		s = fast.dot(&a[0], &b[0], body)
	}
	return s + dotGeneric(a[body:], b[body:])
}

// Axpy adds a·x to y elementwise over len(y) elements.
func Axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	body := 0
	if fast != nil && len(y) >= vecBlock {
		body = len(y) &^ (vecBlock - 1)
		fast.axpy(&y[0], &x[0], a, body)
	}
	axpyGeneric(y[body:], x[body:], a)
}

// Add writes out[i] = a[i] + b[i] over len(out) elements.
func Add(out, a, b []float32) {
	a, b = a[:len(out)], b[:len(out)]
	body := 0
	if fast != nil && len(out) >= vecBlock {
		body = len(out) &^ (vecBlock - 1)
		fast.add(&out[0], &a[0], &b[0], body)
	}
	addGeneric(out[body:], a[body:], b[body:])
}

// Scale multiplies every element of x by a.
func Scale(x []float32, a float32) {
	body := 0
	if fast != nil && len(x) >= vecBlock {
		body = len(x) &^ (vecBlock - 1)
		fast.scale(&x[0], a, body)
	}
	scaleGeneric(x[body:], a)
}

// MaxIndex returns the index of the largest element (the first on ties; NaN never wins).
func MaxIndex(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// BF16ToFloat32 widens a bfloat16 bit pattern to float32 exactly.
func BF16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Float32ToBF16 rounds f to the nearest bfloat16, ties to even, as torch's .to(bfloat16) does.
// NaNs stay NaNs (quieted, sign kept); values that round past the largest finite bf16 become ±Inf.
func Float32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// RMSNorm writes out[i] = x[i] · rsqrt(mean(x²) + eps) · w[i] for one row. The sum of squares
// is accumulated in float64.
func RMSNorm(out, x, w []float32, eps float32) {
	out, w = out[:len(x)], w[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(x[i])
	}
	r := float32(1 / math.Sqrt((s0+s1+s2+s3)/float64(len(x))+float64(eps)))
	for i, v := range x {
		out[i] = (v * r) * w[i]
	}
}

// RoPEInterleaved rotates adjacent pairs in place: (x[2i], x[2i+1]) becomes
// (x[2i]·cos[i] − x[2i+1]·sin[i], x[2i+1]·cos[i] + x[2i]·sin[i]) for i < len(x)/2.
func RoPEInterleaved(x, cos, sin []float32) {
	half := len(x) / 2
	cos, sin = cos[:half], sin[:half]
	for i := range half {
		x0, x1 := x[2*i], x[2*i+1]
		x[2*i] = x0*cos[i] - x1*sin[i]
		x[2*i+1] = x1*cos[i] + x0*sin[i]
	}
}

// Softmax replaces x by softmax(x) in place (max-subtracted; -Inf entries become 0). It
// returns the maximum it subtracted and the sum of the shifted exponentials, from which a
// caller gets log-probabilities: log softmax(x)[i] = x[i] − shift − log(sum).
func Softmax(x []float32) (shift float32, sum float64) {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		if v > mx {
			mx = v
		}
	}
	ExpScaled(x, x, 1, mx)
	for _, e := range x {
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
	return mx, sum
}
