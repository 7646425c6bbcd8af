package kernels

// gemvF32 computes out[n] = w[n×k] · x[k]; rows are split across the worker pool.
func gemvF32(out, x, w []float32, k, n int) {
	Parallel(n, func(lo, hi int) { linearGeneric(out[lo:hi], x, w[lo*k:hi*k], 1, k, hi-lo) })
}

// gemvBF16 computes out[n] = w[n×k] · x[k] for bf16 weights; rows are split across the pool.
func gemvBF16(out, x []float32, w []uint16, k, n int) {
	Parallel(n, func(lo, hi int) { linearBF16Generic(out[lo:hi], x, w[lo*k:hi*k], 1, k, hi-lo) })
}
