package kernels

// MatMul computes out[m×n] = a[m×k] · b[k×n].
func MatMul(out, a, b []float32, m, k, n int) {
	Parallel(m, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := out[i*n : (i+1)*n]
			clear(row)
			for p, av := range a[i*k : (i+1)*k] {
				Axpy(row, b[p*n:(p+1)*n], av)
			}
		}
	})
}

// AccumulateTransposed adds dy[m×n]ᵀ · x[m×k] into dw[n×k] (the weight gradient of y = x·wᵀ).
func AccumulateTransposed(dw, dy, x []float32, m, n, k int) {
	Parallel(n, func(lo, hi int) {
		for i := 0; i < m; i++ {
			xi := x[i*k : (i+1)*k]
			for j := lo; j < hi; j++ {
				if g := dy[i*n+j]; g != 0 {
					Axpy(dw[j*k:(j+1)*k], xi, g)
				}
			}
		}
	})
}

// Axpy adds a·x to y elementwise over len(y) elements.
func Axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}
