//go:build !amd64

package kernels

// avx2Q8 is nil: there are no AVX2 kernels to compare with.
func avx2Q8(*isa) *isa { return nil }
