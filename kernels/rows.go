package kernels

// MaxRowwise is the most input rows for which Linear and LinearBF16 compute each output row on
// its own (matrix-vector products): for such products LinearRows and LinearBF16Rows give
// bitwise the same rows, whatever the number of rows they are given.
const MaxRowwise = gemvRows

// LinearRows computes out[m×n] = x[m×k] · w[n×k]ᵀ as Linear does for at most MaxRowwise rows,
// for any m: every block of weights is read from memory once and serves all m rows, and each
// output row equals Linear's for that row alone. Rows of different sequences can so share one
// read of the weights (batched decoding) without changing any of their results.
func LinearRows(out, x, w []float32, m, k, n int) {
	out, x, w = out[:m*n], x[:m*k], w[:n*k]
	if fast == nil {
		Parallel(n, func(lo, hi int) { linearColumnsGeneric(out, x, w, m, k, n, lo, hi) })
		return
	}
	gemvRowsF32(out, x, w, m, k, n)
}

// LinearBF16Rows is LinearRows for bf16 weights (LinearBF16's rows).
func LinearBF16Rows(out, x []float32, w []uint16, m, k, n int) {
	out, x, w = out[:m*n], x[:m*k], w[:n*k]
	if fast == nil {
		Parallel(n, func(lo, hi int) { linearBF16ColumnsGeneric(out, x, w, m, k, n, lo, hi) })
		return
	}
	gemvRowsBF16(out, x, w, m, k, n)
}
