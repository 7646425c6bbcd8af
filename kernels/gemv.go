package kernels

import "unsafe"

// gemvBlockBytes bounds the weights one block of rows spans: about half of a core's L2, so
// that with several input rows the block is read from memory once and then from cache.
const gemvBlockBytes = 512 << 10

// gemv computes out[i*n+r] = x[i*k : i*k+k] · w[r*k : r*k+k] for every input row i < m and
// weight row r < n. The weight rows are split over the pool in groups of four and visited in
// blocks of gemvBlockBytes, each block serving all m input rows before the next is read.
func gemv[W float32 | uint16](s *isa, out, x []float32, w []W, m, k, n int,
	kernel func(out, x *float32, w *W, k, ldw, rows int), tail func(x []float32, w []W) float32) {
	var zero W
	block := max(gemvBlockBytes/max(k*int(unsafe.Sizeof(zero)), 1)&^3, 4)
	Parallel((n+3)/4, func(lo, hi int) {
		end := min(4*hi, n)
		for r0 := 4 * lo; r0 < end; r0 += block {
			r1 := min(r0+block, end)
			for i := range m {
				gemvBlock(s, out[i*n+r0:i*n+r1], x[i*k:i*k+k], w[r0*k:r1*k], k, kernel, tail)
			}
		}
	})
}

// gemvBlock computes out[r] = x · w[r*k : r*k+k] for r < len(out). The assembly kernel covers
// the rows in whole groups of four and the first k rounded down to s.gemvStep elements;
// tail finishes the rest of each row and the rows left over.
func gemvBlock[W float32 | uint16](s *isa, out, x []float32, w []W, k int,
	kernel func(out, x *float32, w *W, k, ldw, rows int), tail func(x []float32, w []W) float32) {
	body := k &^ (s.gemvStep - 1)
	groups := len(out) &^ 3
	if body > 0 && groups > 0 {
		kernel(&out[0], &x[0], &w[0], body, k, groups)
	} else {
		clear(out[:groups])
	}
	for r := range out {
		row := w[r*k : r*k+k]
		if r < groups {
			out[r] += tail(x[body:], row[body:])
		} else {
			out[r] = tail(x, row)
		}
	}
}
