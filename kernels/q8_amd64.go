package kernels

// setAVX2Q8 gives s the AVX2 q8_0 kernels (q8_amd64.s): one, two and four rows of x per read of
// the weights, every row bit for bit as the one-row kernel computes it, and the widening of q8_0
// weights to fp32 that packs them for the blocked product.
func setAVX2Q8(s *isa) {
	s.q8Dot, s.q8Dot2, s.q8DotN, s.q8Rows, s.q8Layout = q8DotAVX2, q8Dot2AVX2, q8Dot4AVX2, 4, nil
	s.q8ToF32 = q8ToF32AVX2
}

//go:noescape
func q8DotAVX2(out *float32, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)

//go:noescape
func q8Dot2AVX2(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)

//go:noescape
func q8Dot4AVX2(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)

//go:noescape
func q8ToF32AVX2(dst *float32, q *int8, d *uint16, runs, pf int)
