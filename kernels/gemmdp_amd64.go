package kernels

import "unsafe"

//go:noescape
func gemmKernelDP8x48(pairs, parts int, a, b, c *float32, ldc int, add bool)

//go:noescape
func prefetchRows(w *uint16, stride, rows, bytes int)

//go:noescape
func dpSplitBF16(hi, lo *uint16, x *float32, n, parts int)

// dpPackA is the VDPBF16PS GEMM's dpPackA: it packs the first ⌊kc/32⌋·16 pairs of width rows
// of x (row r at x[r·rs]) by splitting each row into bf16 hi (and lo) rows (dpSplitBF16) and
// transposing their words, the parts·width rows as one panel (packTransposeF32AVX2), so that
// word (q·parts + part)·width + r is part part of pair q of row r. It takes panels of up to 16
// rows of parts and 256 steps (its buffer is on the stack), and returns 0 for others.
func dpPackA(words []uint32, x []float32, rs, kc, width, parts int) int {
	body := kc &^ 31
	if body == 0 || kc > 256 || parts*width > 16 || width%8 != 0 {
		return 0
	}
	half := body / 2
	var buf [16 * 128]uint32
	_, _ = words[half*parts*width-1], x[(width-1)*rs+body-1]
	for r := range width {
		hi := (*uint16)(unsafe.Pointer(&buf[r*half]))
		lo := hi
		if parts == 2 {
			lo = (*uint16)(unsafe.Pointer(&buf[(width+r)*half]))
		}
		dpSplitBF16(hi, lo, &x[r*rs], body, parts)
	}
	packTransposeF32AVX2((*float32)(unsafe.Pointer(&words[0])), (*float32)(unsafe.Pointer(&buf[0])), half, half, parts*width)
	return half
}
