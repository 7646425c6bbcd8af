package kernels

import (
	"os"
	"strings"
)

// isa is one assembly implementation of the kernels. fast points at the one in use, or is nil
// when the portable Go code runs everything.
type isa struct {
	name string

	// Packed matrix product: kernel computes an mr×nr tile of C from kc steps of packed A
	// (kc×mr, element (p, r) at a[p*mr+r]) and packed B (kc×nr, element (p, j) at b[p*nr+j]),
	// storing into C (row stride ldc elements) or adding to it. kc, mc and nc are the cache
	// blocks along k, m and n.
	kernel     func(kc int, a, b, c *float32, ldc int, add bool)
	mr, nr     int
	kc, mc, nc int
	// narrow is the most floats a packed kc-deep slab of A may hold for gemm to take gemmNarrow,
	// which reads the slab once per micro-panel of B: about the L2 per core.
	narrow int
	// ownSlabs is the fewest rows for which gemmWide lets each worker pack B itself
	// (gemmOwnSlabs); 0: never.
	ownSlabs int
	// Transposed micro-kernels of gemmFew: a fewCols×fewRows tile of Cᵀ, t[j*fewRows+i] (=|+=)
	// Σ_{p<kc} w[j*ldw+p]·x[p*fewRows+i], from fewCols weight rows read in place (bf16 widened)
	// and kc steps of A packed fewRows wide; nil where there are none.
	fewF32  func(kc int, w *float32, ldw int, x, t *float32, add bool)
	fewBF16 func(kc int, w *uint16, ldw int, x, t *float32, add bool)
	// fewMinF32 and fewMaxF32 are the fewest and the most rows gemm gives gemmFew for fp32
	// weights, fewMinBF16 and fewMaxBF16 for bf16 weights.
	fewMinF32, fewMaxF32, fewMinBF16, fewMaxBF16 int

	// Matrix-vector products over rows×k weights (rows a multiple of 4, k of gemvStep, row
	// stride ldw elements): out[r] = Σ_p w[r*ldw+p]·x[p].
	gemvF32  func(out, x, w *float32, k, ldw, rows int)
	gemvBF16 func(out, x *float32, w *uint16, k, ldw, rows int)
	gemvStep int
	// gemv2BF16 is gemvBF16 for two vectors x0, x1 at once, each output bit for bit as
	// gemvBF16 gives it; nil where there is none.
	gemv2BF16 func(out0, out1, x0, x1 *float32, w *uint16, k, ldw, rows int)

	// Dot-product tiles for gemmDot: sums[4r+i] = Σ_p w[r*ldw+p]·x[i*ldx+p] for 3 weight rows
	// r and 4 rows i of x, k a positive multiple of 16 (x permuted for bf16, see
	// permuteBF16Order); nil where the implementation has none (then pathRows is never taken).
	dotF32  func(sums, x *float32, ldx int, w *float32, ldw, k, pf, groups int)
	dotBF16 func(sums, x *float32, ldx int, w *uint16, ldw, k, pf, groups int)

	// q8Dot is the q8_0 kernel of dotQ8Rows (blocks runs of 32 per row, rows weight rows, both
	// positive); nil where the portable one runs.
	q8Dot func(out *float32, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
	// q8DotN is q8Dot for q8Rows rows of x (back to back), storing row i's out[i·ldo+r], every
	// result bit for bit as q8Dot gives it; nil where q8Dot is. q8Dot2 is q8DotN for two rows,
	// where the implementation has such a kernel besides.
	q8DotN, q8Dot2 func(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
	q8Rows         int
	// q8Layout lays out m rows of quantized activations (qx, dx as QuantizeQ8Activations makes
	// them, blocks runs per row) as q8Dot and q8DotN read them, row i's at q[i·ldq:] and
	// d[i·ldd:]; nil where they read qx and dx as they are.
	q8Layout func(qx []int8, dx []float32, m, blocks int) (q []int8, d []float32, ldq, ldd int)
	// q8ToF32 widens runs (positive) q8_0 runs of weights to fp32: dst[32b+i] = d[b]·q[32b+i],
	// prefetching the quants pf bytes on; nil where the Go loop does it.
	q8ToF32 func(dst *float32, q *int8, d *uint16, runs, pf int)

	// bf16 dot products with VDPBF16PS (see gemvDP): dpBF16Rows1 computes out[r] = x·w[r]
	// over prepared x (splitBF16, parts per chunk of dpStep) for rows (a positive multiple of
	// 4) weight rows of k (a positive multiple of dpStep) steps; dpBF16Rows4 does so for four
	// rows of x at once (row i at x[i·ldx], out[i·ldo]) and dpBF16Rows8 for eight (stretched;
	// rounded x only, parts = 1), each result bit for bit as dpBF16Rows1's. Nil where the CPU
	// has no AVX512_BF16 (then pathDP is never taken); dpBF16Rows8 may be nil alone.
	dpBF16Rows1 func(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts int)
	dpBF16Rows4 func(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts int)
	dpBF16Rows8 stretchKernel[uint16, uint16]
	// The FMA row kernels of pathShared (see gemvShared): like dpBF16Rows1 and dpBF16Rows4, with
	// fp32 x (ldx floats) against bf16 or fp32 weights, k a positive multiple of sharedStep,
	// every result bit for bit as the 1-row kernel's: AVX-512's for 1, 4 and 8 (stretched) rows
	// of x, AVX2's for 1, 2, 4 (stretched) and 6 (stretched); one nil where there are none.
	sharedBF16 rowKernels[float32, uint16]
	sharedF32  rowKernels[float32, float32]
	// dpLoop runs n iterations of independent VDPBF16PS, 1024 flops each (a multiply and an add
	// per bf16 pair); it only serves MeasureDotPeak.
	dpLoop func(n int)

	// Transposing packs: dst[p*width+r] = src[r*rs+p] for r < width, p < kc (both positive
	// multiples of 8), bf16 widened; nil where the Go loops do it.
	packF32  func(dst, src *float32, rs, kc, width int)
	packBF16 func(dst *float32, src *uint16, rs, kc, width int)
	// pack6F32 is packF32 for width 6 (kc a positive multiple of 8); it writes 2 floats past
	// dst[kc*6]. Nil where the micro-kernel is not 6 rows high.
	pack6F32 func(dst, src *float32, rs, kc int)

	// Vector helpers over n elements, n a multiple of vecBlock.
	dot   func(a, b *float32, n int) float32
	axpy  func(y, x *float32, a float32, n int)
	add   func(out, a, b *float32, n int)
	scale func(x *float32, a float32, n int)
	// exp writes dst[i] = Exp(scale·src[i] − shift) bit for bit, n a multiple of expBlock.
	exp func(dst, src *float32, scale, shift float32, n int)
	// sumWords adds n 64-bit words (n a multiple of 16); it only serves MeasureBandwidth.
	sumWords func(w *uint64, n int) uint64
	// fmaLoop runs n iterations of independent FMAs, fmaFlops floating-point operations each;
	// it only serves MeasurePeak.
	fmaLoop  func(n int)
	fmaFlops int

	// gemmName names the packed GEMM kernels (kernel and blocks above); packedAlt is another
	// implementation whose packed GEMM s may use instead, as measured (see packedISA), nil where
	// there is none.
	gemmName  string
	packedAlt *isa
	// parts is, for the VDPBF16PS packed GEMM (gemmdp.go), the bf16 parts per activation its
	// panels of A hold (1 or 2, see dpParts); 0 for the fp32 packed kernels. dpGemm is that
	// GEMM, a candidate for bf16 weights (see bf16Packed), nil where the CPU has none.
	parts  int
	dpGemm *isa
	// dpKernel is the VDPBF16PS GEMM's micro-kernel (see gemmKernelDP8x48), which kernel calls;
	// dpPackA packs the first pairs of a full panel of A for it (rows of x at x[r·rs], kc
	// steps) as packPairs does, returning how many pairs it packed (nil: all in Go).
	dpKernel func(pairs, parts int, a, b, c *float32, ldc int, add bool)
	dpPackA  func(words []uint32, x []float32, rs, kc, width, parts int) int
	// prefetchBF16 asks for rows rows of bytes bytes each, stride bytes apart, from w on (bf16
	// weights gemmNarrow packs next); nil where it does not prefetch.
	prefetchBF16 func(w *uint16, stride, rows, bytes int)

	// choice is the measured path per row count for products with few rows (see pathFor) and
	// the packed GEMM in use.
	choice *choiceState
}

// vecBlock is the element granularity of the vector helpers; callers finish the tail in Go.
const vecBlock = 16

// fast is the implementation in use; nil selects the portable Go code.
var fast = chooseISA(os.Getenv("LATENT_KERNELS"))

// rejected names the implementations skipped because they failed their self-test.
var rejected []string

// chooseISA returns the best implementation that passes its self-test and is not above the
// one named by limit: "go", "avx2", "avx512" (opt-in: the only way to get it); empty or
// unknown means the best of the default ones.
func chooseISA(limit string) *isa {
	candidates := supportedISAs()
	switch limit {
	case "go":
		return nil
	case "avx512":
		candidates = allISAs()
	}
	for _, s := range candidates {
		if err := s.selfTest(); err != nil {
			rejected = append(rejected, s.name+": "+err.Error())
			continue
		}
		if alt := s.packedAlt; alt != nil {
			if err := alt.selfTestGemm(); err != nil {
				rejected = append(rejected, alt.gemmName+" packed kernel: "+err.Error())
				s.packedAlt = nil
			}
		}
		if dp := s.dpGemm; dp != nil {
			if err := dp.selfTestDPGemm(); err != nil {
				rejected = append(rejected, dp.gemmName+" packed kernel: "+err.Error())
				s.dpGemm = nil
			}
		}
		return s
	}
	return nil
}

// Backend names the implementation in use: "avx512", "avx2" or "go", followed by the reason
// in parentheses when a faster one failed its start-up self-test.
func Backend() string {
	name := "go"
	if fast != nil {
		name = fast.name
	}
	if len(rejected) > 0 {
		name += " (rejected " + strings.Join(rejected, "; ") + ")"
	}
	return name
}
