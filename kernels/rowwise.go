package kernels

// MaxRowwise is the most input rows for which Linear and LinearBF16 compute each output row as
// LinearRows does: a one-row product takes the path chosen for m = 1, and products of more rows
// may take other paths (pathFor) whose sums are ordered differently. Rows of different sequences
// can share a read of the weights through LinearRows without changing any bit of their results
// as long as each sequence contributes at most MaxRowwise rows.
const MaxRowwise = 1

// LinearRows computes out[m×n] = x[m×k] · w[n×k]ᵀ so that every output row equals Linear's for
// that row alone, bitwise, for any m. When the one-row path is the matrix-vector product, every
// block of weights is read from memory once and serves all m rows (batched decoding); otherwise
// the rows go one by one.
func LinearRows(out, x, w []float32, m, k, n int) {
	out, x, w = out[:m*n], x[:m*k], w[:n*k]
	if fast == nil {
		Parallel(n, func(lo, hi int) { linearColumnsGeneric(out, x, w, m, k, n, lo, hi) })
		return
	}
	rowwise(out, x, weightsF32(w, k), fast.pathFor(false, 1), m, k, n)
}

// LinearBF16Rows is LinearRows for bf16 weights (LinearBF16's rows).
func LinearBF16Rows(out, x []float32, w []uint16, m, k, n int) {
	out, x, w = out[:m*n], x[:m*k], w[:n*k]
	if fast == nil {
		Parallel(n, func(lo, hi int) { linearBF16ColumnsGeneric(out, x, w, m, k, n, lo, hi) })
		return
	}
	rowwise(out, x, weightsBF16(w, k), fast.pathFor(true, 1), m, k, n)
}

// rowwise computes the m rows of out along the one-row path p: all rows in one pass over the
// weights when p is the matrix-vector product (each row bitwise as alone), else one by one.
func rowwise(out, x []float32, w operand, p path, m, k, n int) {
	if p == pathGemv {
		linearPath(fast, pathGemv, out, rowMajor(x, k), w, m, k, n)
		return
	}
	for i := range m {
		linearPath(fast, p, out[i*n:(i+1)*n], rowMajor(x[i*k:(i+1)*k], k), w, 1, k, n)
	}
}
