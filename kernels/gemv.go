package kernels

import "unsafe"

// gemvBlockBytes bounds the weights one block of rows spans: about half of a core's L2, so
// that with several input rows the block is read from memory once and then from cache.
const gemvBlockBytes = 512 << 10

// gemvRowsBlockBytes is gemvBlockBytes for several input rows, which all pass over each block
// (the block size changes no result): with 512 KiB blocks the later rows find the block
// evicted and read it from memory again. Measured on
// 17920×5280 bf16 weights (EPYC, 2 shared cores, ms for 4 / 8 / 16 rows): 512 KiB blocks
// 75 / 193 / 279; 32 to 256 KiB 40–50 / 81–86 / 156–161, against 22 for one row.
const gemvRowsBlockBytes = 128 << 10

// gemv computes out[i*n+r] = x[i*k : i*k+k] · w[r*k : r*k+k] for every input row i < m and
// weight row r < n. The weight rows are split over the pool in groups of four and visited in
// blocks, each block serving all m input rows before the next is read; with kernel2 (two input
// rows per pass over the block, bit for bit as kernel) rows go in pairs. Every output row is
// bitwise the same whatever m is.
func gemv[W float32 | uint16](s *isa, out, x []float32, w []W, m, k, n int,
	kernel func(out, x *float32, w *W, k, ldw, rows int),
	kernel2 func(out0, out1, x0, x1 *float32, w *W, k, ldw, rows int),
	tail func(x []float32, w []W) float32) {
	var zero W
	bytes := gemvBlockBytes
	if m > 1 {
		bytes = gemvRowsBlockBytes
	}
	block := max(bytes/max(k*int(unsafe.Sizeof(zero)), 1)&^3, 4)
	Parallel((n+3)/4, func(lo, hi int) {
		end := min(4*hi, n)
		for r0 := 4 * lo; r0 < end; r0 += block {
			r1 := min(r0+block, end)
			wb := w[r0*k : r1*k]
			i := 0
			for ; kernel2 != nil && i+1 < m; i += 2 {
				o0, o1 := out[i*n+r0:i*n+r1], out[(i+1)*n+r0:(i+1)*n+r1]
				x0, x1 := x[i*k:i*k+k], x[(i+1)*k:(i+1)*k+k]
				body, groups := gemvBody(s, k, len(o0))
				if body > 0 && groups > 0 {
					kernel2(&o0[0], &o1[0], &x0[0], &x1[0], &wb[0], body, k, groups)
				}
				gemvTail(o0, x0, wb, k, body, groups, tail)
				gemvTail(o1, x1, wb, k, body, groups, tail)
			}
			for ; i < m; i++ {
				gemvBlock(s, out[i*n+r0:i*n+r1], x[i*k:i*k+k], wb, k, kernel, tail)
			}
		}
	})
}

// gemvBody returns the k steps and the rows of an out block the assembly kernels cover: k
// rounded down to s.gemvStep, rows to a multiple of four.
func gemvBody(s *isa, k, rows int) (body, groups int) {
	return k &^ (s.gemvStep - 1), rows &^ 3
}

// gemvBlock computes out[r] = x · w[r*k : r*k+k] for r < len(out). The assembly kernel covers
// the rows in whole groups of four and the first k rounded down to s.gemvStep elements;
// gemvTail finishes the rest of each row and the rows left over.
func gemvBlock[W float32 | uint16](s *isa, out, x []float32, w []W, k int,
	kernel func(out, x *float32, w *W, k, ldw, rows int), tail func(x []float32, w []W) float32) {
	body, groups := gemvBody(s, k, len(out))
	if body > 0 && groups > 0 {
		kernel(&out[0], &x[0], &w[0], body, k, groups)
	}
	gemvTail(out, x, w, k, body, groups, tail)
}

// gemvTail finishes what the kernel left of out: the steps past body of its first groups rows
// (or, without a body, those rows whole) and the rows after them.
func gemvTail[W float32 | uint16](out, x []float32, w []W, k, body, groups int, tail func(x []float32, w []W) float32) {
	if body == 0 || groups == 0 {
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
