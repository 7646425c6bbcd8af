package kernels

// The portable Go versions of every kernel that has an assembly fast path. They are the
// reference the fast paths are tested against and the path taken where no fast path exists.

// linearGeneric computes out[m×n] = x[m×k] · w[n×k]ᵀ one dot product at a time.
func linearGeneric(out, x, w []float32, m, k, n int) { linearColumnsGeneric(out, x, w, m, k, n, 0, n) }

// linearColumnsGeneric computes columns lo..hi of linearGeneric's product.
func linearColumnsGeneric(out, x, w []float32, m, k, n, lo, hi int) {
	for i := range m {
		xi := x[i*k : i*k+k]
		for j := lo; j < hi; j++ {
			out[i*n+j] = dotGeneric(xi, w[j*k:j*k+k])
		}
	}
}

// linearBF16Generic computes out[m×n] = x[m×k] · w[n×k]ᵀ with bf16 weights.
func linearBF16Generic(out, x []float32, w []uint16, m, k, n int) {
	linearBF16ColumnsGeneric(out, x, w, m, k, n, 0, n)
}

// linearBF16ColumnsGeneric computes columns lo..hi of linearBF16Generic's product.
func linearBF16ColumnsGeneric(out, x []float32, w []uint16, m, k, n, lo, hi int) {
	for i := range m {
		xi := x[i*k : i*k+k]
		for j := lo; j < hi; j++ {
			out[i*n+j] = dotBF16Generic(xi, w[j*k:j*k+k])
		}
	}
}

// matMulGeneric computes out[m×n] = a[m×k] · b[k×n] row by row.
func matMulGeneric(out, a, b []float32, m, k, n int) {
	for i := 0; i < m; i++ {
		row := out[i*n : i*n+n]
		clear(row)
		for p, av := range a[i*k : i*k+k] {
			axpyGeneric(row, b[p*n:p*n+n], av)
		}
	}
}

// accumulateTransposedGeneric adds rows lo..hi of dy[m×n]ᵀ · x[m×k] into the same rows of dw[n×k].
func accumulateTransposedGeneric(dw, dy, x []float32, m, n, k, lo, hi int) {
	for i := 0; i < m; i++ {
		xi := x[i*k : i*k+k]
		for j := lo; j < hi; j++ {
			axpyGeneric(dw[j*k:j*k+k], xi, dy[i*n+j])
		}
	}
}

func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func dotBF16Generic(x []float32, w []uint16) float32 {
	x = x[:len(w)]
	var s float32
	for i, b := range w {
		s += x[i] * BF16ToFloat32(b)
	}
	return s
}

func axpyGeneric(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

func addGeneric(out, a, b []float32) {
	a, b = a[:len(out)], b[:len(out)]
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

func scaleGeneric(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}
