package kernels

import (
	"os"
	"unsafe"
)

// bf16 weights against fp32 activations with VDPBF16PS (AVX512_BF16), which multiplies bf16
// pairs exactly and accumulates in fp32. The activations must be bf16 too, so each x is handed
// over in dpParts bf16 parts (splitBF16):
//   - split, the default (2 parts): hi = bf16(x) and lo = bf16(x − hi); hi + lo holds 16 of x's
//     24 significant bits, so each product is off by at most 2⁻¹⁷ of |w·x|;
//   - round (1 part, LATENT_KERNELS_BF16DOT=round, an explicit choice): bf16(x) alone, off by up
//     to 2⁻⁹ of |w·x|, half the instructions;
//   - off: no VDPBF16PS path.
//
// The kernels also flush denormals (below 2⁻¹²⁶) to zero, and an x past bf16's largest finite
// value (about 3.39e38) becomes ±Inf. Sums are fp32 throughout.

// dpStep is the k granularity of the VDPBF16PS kernels: 32 bf16, one zmm.
const dpStep = 32

// dpParts is the number of bf16 parts per activation (see above), 0 for off.
var dpParts = bf16DotParts(os.Getenv("LATENT_KERNELS_BF16DOT"))

// bf16DotParts reads LATENT_KERNELS_BF16DOT: "round" 1, "off" 0, anything else 2 (split).
func bf16DotParts(mode string) int {
	switch mode {
	case "round":
		return 1
	case "off":
		return 0
	}
	return 2
}

// splitBF16 writes x (a multiple of dpStep long) to dst as the kernels read it: per chunk of
// dpStep elements, parts chunks of bf16, the first bf16(x), the second (parts = 2) the bf16
// rounding of x minus the first (zero where that is not finite: x NaN or ±Inf).
func splitBF16(dst []uint16, x []float32, parts int) {
	dst = dst[:parts*len(x)]
	for c := 0; c < len(x); c += dpStep {
		hi := dst[c*parts:][:dpStep]
		for j, v := range x[c : c+dpStep] {
			var lo uint16
			hi[j], lo = splitPart(v)
			if parts == 2 {
				dst[c*parts+dpStep+j] = lo
			}
		}
	}
}

// gemvDP computes out = x·wᵀ (m×k by n×k bf16) with s's VDPBF16PS kernels, x split in parts
// (see splitBF16), through gemvRows.
func gemvDP(s *isa, out, x []float32, w []uint16, m, k, n, parts int) {
	body := k &^ (dpStep - 1)
	ldx := parts * body
	xs := make([]uint16, max(m*ldx, 1))
	for i := range m {
		splitBF16(xs[i*ldx:(i+1)*ldx], x[i*k:i*k+body], parts)
	}
	kernels := rowKernels[uint16, uint16]{plain: []rowsPlain[uint16, uint16]{{4, s.dpBF16Rows4}, {1, s.dpBF16Rows1}}}
	// The 8-row kernel takes rounded x only: on Zen 4 (EPYC, 2 cores, BenchmarkRows, 15840×5280)
	// an 8-row kernel for split x took 8.4 ms for 8 rows and 14.8 for 16 where the 4-row one takes
	// 7.2 and 13.0 (at 0.85 of the VDPBF16PS peak already), while rounded x takes 5.4 and 8.6
	// with it, 6.8 and 10.3 without.
	if s.dpBF16Rows8 != nil && parts == 1 {
		kernels.stretched = []rowsStretched[uint16, uint16]{{8, s.dpBF16Rows8}}
	}
	gemvRows(out, xs, ldx, x, w, m, k, n, body, parts, kernels, dotBF16Generic)
	if parts == 2 {
		redoNaNs(out, x, w, m, k, n)
	}
}

// redoNaNs recomputes in fp32 each output of a split product that came out NaN. The lo part of
// an x that is exactly a bf16 is 0, and an infinite weight times that 0 is NaN, so a sum that
// is ±Inf comes out NaN; a true NaN stays NaN. Only NaN outputs pay, so finite products do not.
func redoNaNs(out, x []float32, w []uint16, m, k, n int) {
	for i := range m {
		for j, v := range out[i*n : (i+1)*n] {
			if v != v {
				out[i*n+j] = dotBF16Generic(x[i*k:(i+1)*k], w[j*k:(j+1)*k])
			}
		}
	}
}

// rowKernel is a kernel of gemvRows: out[i·ldo + r] = x_i · w[r] for r < rows (a positive
// multiple of 4) over k steps (a positive multiple of the kernel's step), for one row of x
// (the 1-row kernel), two or four (row i at x[i·ldx]).
type rowKernel[X, W float32 | uint16] func(out *float32, ldo int, x *X, ldx int, w *W, k, ldw, rows, parts int)

// stretchKernel is a kernel of gemvRows for several rows of x (rowKernel's product, x in parts
// per step as there) that can cover k steps of a longer product, as mode says: rowsResume
// starts from the accumulators in acc (at most 1 KiB per pair of weight rows) instead of zero,
// rowsFinish stores the sums to out, and without it the accumulators go back to acc, so a
// product split along k keeps its bits.
type stretchKernel[X, W float32 | uint16] func(out *float32, ldo int, x *X, ldx int, w *W, k, ldw, rows, parts, mode int, acc *float32)

// The modes of a stretchKernel call.
const (
	rowsResume = 1 << iota
	rowsFinish
)

// A stretchKernel call covers stretchSteps steps of k when k is longer, for stretchBlock
// weight rows at a time: that stretch of the rows of x, at most 16 KiB (8 rows in fp32 or in two
// bf16 parts), stays in L1 while the weight rows pass over it, and their accumulators fill at
// most stretchAcc floats.
const (
	stretchSteps = 512
	stretchBlock = 8
	stretchAcc   = stretchBlock / 2 * 256
)

// rowKernels are the kernels of one path, each giving the 1-row kernel's bits: stretched ones
// (stretchKernel) for several rows of x, most rows first, then plain ones (rowKernel), most
// rows first, the last for one row; plain empty where the path has none.
type rowKernels[X, W float32 | uint16] struct {
	stretched []rowsStretched[X, W]
	plain     []rowsPlain[X, W]
}

// rowsStretched is a stretchKernel for rows rows of x.
type rowsStretched[X, W float32 | uint16] struct {
	rows int
	run  stretchKernel[X, W]
}

// rowsPlain is a rowKernel for rows rows of x.
type rowsPlain[X, W float32 | uint16] struct {
	rows int
	run  rowKernel[X, W]
}

// ok reports whether there are kernels.
func (k rowKernels[X, W]) ok() bool { return len(k.plain) > 0 }

// gemvRowsStretched runs kernel over weight rows b…b+rows (the block of gemvRows) for x rows
// i…i+kernel.rows-1 (parts elements of xs per step), in stretches of stretchSteps where body
// is longer, acc (stretchAcc floats) holding the accumulators.
func gemvRowsStretched[X, W float32 | uint16](kernel rowsStretched[X, W], out []float32, xs []X, ldx int, w []W, i, b, rows, k, n, body, parts int, acc []float32) {
	_ = out[(i+kernel.rows-1)*n+b+rows-1]
	if body <= stretchSteps {
		kernel.run(&out[i*n+b], n, &xs[i*ldx], ldx, &w[b*k], body, k, rows, parts, rowsFinish, &acc[0])
		return
	}
	for r := b; r < b+rows; r += stretchBlock {
		for c := 0; c < body; c += stretchSteps {
			mode := 0
			if c > 0 {
				mode |= rowsResume
			}
			if c+stretchSteps >= body {
				mode |= rowsFinish
			}
			kernel.run(&out[i*n+r], n, &xs[i*ldx+parts*c], ldx, &w[r*k+c], min(stretchSteps, body-c), k, min(stretchBlock, b+rows-r), parts, mode, &acc[0])
		}
	}
}

// gemvRows computes out[i*n+r] = x[i*k : i*k+k] · w[r*k : r*k+k] for i < m, r < n with row
// kernels over xs (x as they read it, row stride ldx) for the first body steps: weight rows
// split over the pool in groups of four and visited in blocks, each block serving every row
// of x, as many at a time as the first of kernels.stretched takes, sharing each weight load,
// then the next, then the plain kernels likewise, the last one row at a time (bit for bit as
// the others). The steps
// past body and the last n mod 4 weight rows are added in Go with tail. Every output is
// bitwise the same whatever m is: the m-row product equals m one-row products.
func gemvRows[X, W float32 | uint16](out []float32, xs []X, ldx int, x []float32, w []W, m, k, n, body, parts int,
	kernels rowKernels[X, W], tail func(x []float32, w []W) float32) {
	groups := n &^ 3
	if body == 0 {
		groups = 0
	}
	var zero W
	bytes := gemvBlockBytes
	if m > 1 {
		bytes = gemvRowsBlockBytes
	}
	block := max(bytes/max(int(unsafe.Sizeof(zero))*k, 1)&^3, 4)
	Parallel((n+3)/4, func(lo, hi int) {
		r0, end := 4*lo, min(4*hi, n)
		full := min(end, groups)
		var acc []float32 // gemvRowsStretched's
		for b := r0; b < full; b += block {
			rows := min(block, full-b)
			i := 0
			for _, kernel := range kernels.stretched {
				for ; i+kernel.rows <= m; i += kernel.rows {
					if acc == nil {
						acc = make([]float32, stretchAcc)
					}
					gemvRowsStretched(kernel, out, xs, ldx, w, i, b, rows, k, n, body, parts, acc)
				}
			}
			for _, kernel := range kernels.plain {
				for ; i+kernel.rows <= m; i += kernel.rows {
					_ = out[(i+kernel.rows-1)*n+b+rows-1]
					kernel.run(&out[i*n+b], n, &xs[i*ldx], ldx, &w[b*k], body, k, rows, parts)
				}
			}
		}
		for i := range m {
			xi, o := x[i*k:(i+1)*k], out[i*n:(i+1)*n]
			for r := r0; r < end; r++ {
				wr := w[r*k : (r+1)*k]
				if r < full {
					if body < k {
						o[r] += tail(xi[body:], wr[body:])
					}
				} else {
					o[r] = tail(xi, wr)
				}
			}
		}
	})
}

// gemvShared computes out = x·wᵀ (m×k by n×k, bf16 or fp32 weights) with s's FMA row kernels
// (pathShared: AVX-512's or AVX2's) through gemvRows.
func gemvShared(s *isa, out, x []float32, bt operand, m, k, n int) {
	body := k &^ (sharedStep - 1)
	xs := x
	if len(xs) == 0 {
		xs = make([]float32, 1)
	}
	if bt.bf16 != nil {
		gemvRows(out, xs, k, x, bt.bf16, m, k, n, body, 1, s.sharedBF16, dotBF16Generic)
		return
	}
	gemvRows(out, xs, k, x, bt.f32, m, k, n, body, 1, s.sharedF32, dotGeneric)
}

// sharedStep is the k granularity of the FMA row kernels: 16 floats, one zmm or two ymm.
const sharedStep = 16
