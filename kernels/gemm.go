package kernels

// gemmF32 computes out[m×n] = x[m×k] · w[n×k]ᵀ; rows of x are split across the pool.
func gemmF32(out, x, w []float32, m, k, n int) {
	Parallel(m, func(lo, hi int) { linearGeneric(out[lo*n:hi*n], x[lo*k:hi*k], w, hi-lo, k, n) })
}

// gemmBF16 computes out[m×n] = x[m×k] · w[n×k]ᵀ for bf16 weights.
func gemmBF16(out, x []float32, w []uint16, m, k, n int) {
	Parallel(m, func(lo, hi int) { linearBF16Generic(out[lo*n:hi*n], x[lo*k:hi*k], w, hi-lo, k, n) })
}
