package kernels

// MaxRowwise is the most input rows for which Linear and LinearBF16 compute each output row as
// LinearRows does: products of up to MaxRowwise rows take the path chosen for one row, and every
// path computes each row of an m-row product bit for bit as the one-row product
// (TestPathsRowExact), so rows of different sequences can share a read of the weights through
// LinearRows without changing any bit of their results as long as each sequence contributes at
// most MaxRowwise rows. Products of more rows may take other paths (pathFor), whose sums are
// ordered differently.
const MaxRowwise = 16

// LinearRows computes out[m×n] = x[m×k] · w[n×k]ᵀ so that every output row equals Linear's for
// that row alone, bitwise, for any m: all rows go along the one-row path at once, each block of
// weights read from memory once for all of them.
func LinearRows(out, x, w []float32, m, k, n int) {
	out, x, w = out[:m*n], x[:m*k], w[:n*k]
	if fast == nil {
		Parallel(n, func(lo, hi int) { linearColumnsGeneric(out, x, w, m, k, n, lo, hi) })
		return
	}
	linearPath(fast, fast.pathFor(false, 1), out, rowMajor(x, k), weightsF32(w, k), m, k, n)
}

// LinearBF16Rows is LinearRows for bf16 weights (LinearBF16's rows).
func LinearBF16Rows(out, x []float32, w []uint16, m, k, n int) {
	out, x, w = out[:m*n], x[:m*k], w[:n*k]
	if fast == nil {
		Parallel(n, func(lo, hi int) { linearBF16ColumnsGeneric(out, x, w, m, k, n, lo, hi) })
		return
	}
	linearPath(fast, fast.pathFor(true, 1), out, rowMajor(x, k), weightsBF16(w, k), m, k, n)
}
