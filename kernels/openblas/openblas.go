//go:build openblas

// Package openblas wraps OpenBLAS's cblas_sgemm so that benchmarks can compare it with the
// kernels package in the same run. It is built only with the build tag openblas and needs
// Debian's libopenblas-dev (apt-get install -y libopenblas-dev); nothing else imports it.
package openblas

// #cgo LDFLAGS: -lopenblas
// #include <cblas.h>
import "C"

// Linear computes out[m×n] = x[m×k] · w[n×k]ᵀ (row-major, w in PyTorch's [out, in] layout),
// the product of kernels.Linear, with cblas_sgemm.
func Linear(out, x, w []float32, m, k, n int) {
	out, x, w = out[:m*n], x[:m*k], w[:n*k]
	C.cblas_sgemm(C.CblasRowMajor, C.CblasNoTrans, C.CblasTrans, C.blasint(m), C.blasint(n), C.blasint(k),
		1, (*C.float)(&x[0]), C.blasint(k), (*C.float)(&w[0]), C.blasint(k),
		0, (*C.float)(&out[0]), C.blasint(n))
}
