package kernels

import "golang.org/x/sys/cpu"

// supportedISAs lists the assembly implementations this CPU runs by default, best first.
func supportedISAs() []*isa {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return nil
	}
	// The 6×16 tile keeps 12 ymm accumulators. Blocks for Zen 3 (32 KiB L1d, 512 KiB L2 per
	// core, shared L3): a 256-deep B micro-panel is 16 KiB, half of L1; a 72×256 A block is
	// 72 KiB of L2; a 256×4096 B slab (4 MiB) is shared by the workers through L3 and, wider
	// than most products, lets each worker pack its rows of A once per slab instead of once
	// per nc columns (5–8 % faster than nc = 512 at 2048³, the same at 1024³). narrow is 512 KiB,
	// up to 512 rows at kc = 256: gemmNarrow beat gemmWide by 1.2–2× up to 384 rows, by 5 % at
	// 512, tied at 1024 and lost 15 % at 2048. gemmFew (transposed 6×16 tiles, weights read in
	// place) against gemmNarrow on m×5280 by 5280×15840 on this Zen 3 (EPYC, 2 cores, best of 5
	// by CPU time, both in one run): fp32 1.40× at m = 4, 1.24× at 6, 1.53× at 8, 1.55× at 12,
	// 2.0× at 16, 1.44× at 32, 1.18× at 64, 1.13× at 96, 1.09–1.16× at 128, 0.99–1.09× at 256;
	// bf16 0.84× at 6, 1.04× at 8, 1.07× at 10, 1.04× at 12, 1.34× at 13, 1.41× at 16, 0.86× at
	// 24, 1.15× at 32, 0.85–0.91× at 48, 0.93–0.98× at 64 (each weight is widened once per block
	// of 16 rows; widening a slab once in a separate pass was slower still).
	// ownSlabs: from 256 rows each worker packs B itself (gemmOwnSlabs) instead of waiting for
	// the other at every slab; on this Zen 3, with other load on the machine, the median wall time
	// of 1024³ fell 3–4 % (fp32 and bf16, 20 rounds each, 2–3 % more CPU time for the second
	// packing), of 768×1024×1024 by 9 %, and 2048³ was unchanged.
	s := &isa{
		name:     "avx2",
		gemmName: "avx2-6x16",
		kernel:   gemmKernelAVX2, mr: 6, nr: 16, kc: 256, mc: 72, nc: 4096, narrow: 128 << 10, ownSlabs: 256,
		fewF32: gemmKernelT6F32AVX2, fewBF16: gemmKernelT6BF16AVX2, fewMinF32: 4, fewMaxF32: 128, fewMinBF16: 8, fewMaxBF16: 16,
		gemvF32: gemvF32AVX2, gemvBF16: gemvBF16AVX2, gemv2BF16: gemv2BF16AVX2, gemvStep: 16,
		dotF32: dotTileF32AVX2, dotBF16: dotTileBF16AVX2,
		packF32: packTransposeF32AVX2, packBF16: packTransposeBF16AVX2, pack6F32: packTranspose6F32AVX2,
		dot: dotAVX2, axpy: axpyAVX2, add: addAVX2, scale: scaleAVX2, exp: expAVX2, sumWords: sumWordsAVX2,
		fmaLoop: fmaLoopAVX2, fmaFlops: 192, choice: new(choiceState),
	}
	s.sharedBF16 = rowKernels[float32, uint16]{plain: []rowsPlain[float32, uint16]{
		{6, wideBF16Rows6AVX2}, {4, wideBF16Rows4AVX2}, {2, wideBF16Rows2AVX2}, {1, wideBF16Rows1AVX2}}}
	s.sharedF32 = rowKernels[float32, float32]{plain: []rowsPlain[float32, float32]{
		{6, wideF32Rows6AVX2}, {4, wideF32Rows4AVX2}, {2, wideF32Rows2AVX2}, {1, wideF32Rows1AVX2}}}
	if cpu.X86.HasF16C {
		setAVX2Q8(s)
	}
	addAVX512Extensions(s)
	return []*isa{s}
}

// addAVX512Extensions gives s the kernels of the AVX-512 extensions this CPU has and names
// them in s.name: the AVX-512 packed GEMM as a candidate the measurement weighs against s's own
// (see packedISA; on the Xeon of DESIGN.md it was 1.2–1.3× faster than AVX2's 6×16, on Zen 4
// slower), the zmm FMA row kernels of pathShared (AVX-512F, for 1, 4 and 8 rows, in place of
// the AVX2 ones for 1, 2, 4 and 6), VDPBF16PS products for bf16 weights (AVX512_BF16; one more path the
// measurement of pathFor weighs against the others, and a packed GEMM that measurePacked weighs
// against the fp32 ones, unless LATENT_KERNELS_BF16DOT=off) and the
// VNNI q8_0 kernels (AVX512_VNNI), which compute q8DotAVX2's results bit for bit and replace
// them: on the AVX-512 Xeon of DESIGN.md they took 0.94× the AVX2 kernels' time for one row and
// 0.79× for 16 (BenchmarkQ8Rows, "q8" vs "q8-avx2", 15840×5280).
func addAVX512Extensions(s *isa) {
	if !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512BW || !cpu.X86.HasAVX512VL {
		return
	}
	s.fmaLoop, s.fmaFlops = fmaLoopAVX512, 384 // the CPU's FMA peak is its zmm one
	if s.kernel != nil && s.mr != 12 {
		s.packedAlt = withAVX512Packed(&isa{})
	}
	s.sharedBF16 = rowKernels[float32, uint16]{stretched: []rowsStretched[float32, uint16]{{8, wideBF16Rows8}},
		plain: []rowsPlain[float32, uint16]{{4, wideBF16Rows4}, {1, wideBF16Rows1}}}
	s.sharedF32 = rowKernels[float32, float32]{stretched: []rowsStretched[float32, float32]{{8, wideF32Rows8}},
		plain: []rowsPlain[float32, float32]{{4, wideF32Rows4}, {1, wideF32Rows1}}}
	if cpu.X86.HasAVX512BF16 && dpParts > 0 {
		s.dpBF16Rows1, s.dpBF16Rows4, s.dpBF16Rows8, s.dpLoop = dpBF16Rows1, dpBF16Rows4, dpBF16Rows8, dpLoopBF16
		s.dpGemm = dpPacked(dpParts, &isa{dpKernel: gemmKernelDP8x48, packF32: packTransposeF32AVX2, dpPackA: dpPackA, prefetchBF16: prefetchRows})
		s.name += map[int]string{1: "+bf16dot-round", 2: "+bf16dot"}[dpParts]
	}
	if cpu.X86.HasAVX512VNNI && cpu.X86.HasF16C {
		s.q8Dot, s.q8Dot2, s.q8DotN, s.q8Rows, s.q8Layout = q8DotVNNI, nil, q8Dot4VNNI, 4, q8LayoutVNNI
		s.name += "+vnni"
	}
}

// allISAs is supportedISAs plus the AVX-512 implementation where the CPU has AVX-512F. That
// one is opt-in (LATENT_KERNELS=avx512): it has not yet run on AVX-512 hardware, only passed
// review; the start-up self-test still guards it.
func allISAs() []*isa {
	list := supportedISAs()
	if list == nil || !cpu.X86.HasAVX512F {
		return list
	}
	s := withAVX512Packed(&isa{
		name:    "avx512",
		gemvF32: gemvF32AVX512, gemvBF16: gemvBF16AVX512, gemvStep: 32,
		dot: dotAVX2, axpy: axpyAVX2, add: addAVX2, scale: scaleAVX2, exp: expAVX2, sumWords: sumWordsAVX2,
		fmaLoop: fmaLoopAVX512, fmaFlops: 384, choice: new(choiceState),
	})
	addAVX512Extensions(s)
	return append([]*isa{s}, list...)
}

// withAVX512Packed gives s the AVX-512 packed GEMM: the 12×32 micro-kernel (24 zmm
// accumulators) and its blocks, and returns s.
func withAVX512Packed(s *isa) *isa {
	s.gemmName, s.kernel, s.mr, s.nr, s.kc, s.mc, s.nc, s.narrow = "avx512-12x32", gemmKernelAVX512, 12, 32, 256, 144, 512, 128<<10
	s.packF32, s.packBF16, s.pack6F32 = packTransposeF32AVX2, packTransposeBF16AVX2, nil
	return s
}

//go:noescape
func gemmKernelAVX512(kc int, a, b, c *float32, ldc int, add bool)

//go:noescape
func gemmKernelAVX2(kc int, a, b, c *float32, ldc int, add bool)

//go:noescape
func gemvF32AVX512(out, x, w *float32, k, ldw, rows int)

//go:noescape
func gemvBF16AVX512(out, x *float32, w *uint16, k, ldw, rows int)

//go:noescape
func gemv2BF16AVX2(out0, out1, x0, x1 *float32, w *uint16, k, ldw, rows int)

//go:noescape
func gemvF32AVX2(out, x, w *float32, k, ldw, rows int)

//go:noescape
func gemvBF16AVX2(out, x *float32, w *uint16, k, ldw, rows int)

//go:noescape
func q8DotVNNI(out *float32, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)

//go:noescape
func q8Dot4VNNI(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)

//go:noescape
func dpBF16Rows1(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts int)

//go:noescape
func dpBF16Rows4(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts int)

//go:noescape
func dpBF16Rows8(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts, mode int, acc *float32)

//go:noescape
func dpLoopBF16(n int)

//go:noescape
func wideBF16Rows1(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)

//go:noescape
func wideBF16Rows4(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)

//go:noescape
func wideBF16Rows8(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts, mode int, acc *float32)

//go:noescape
func wideF32Rows1(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)

//go:noescape
func wideF32Rows4(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)

//go:noescape
func wideF32Rows8(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts, mode int, acc *float32)

//go:noescape
func wideBF16Rows1AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)

//go:noescape
func wideBF16Rows4AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)

//go:noescape
func wideBF16Rows2AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)

//go:noescape
func wideBF16Rows6AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)

//go:noescape
func wideF32Rows1AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)

//go:noescape
func wideF32Rows4AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)

//go:noescape
func wideF32Rows2AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)

//go:noescape
func wideF32Rows6AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX2(y, x *float32, a float32, n int)

//go:noescape
func addAVX2(out, a, b *float32, n int)

//go:noescape
func scaleAVX2(x *float32, a float32, n int)

//go:noescape
func expAVX2(dst, src *float32, scale, shift float32, n int)

//go:noescape
func sumWordsAVX2(w *uint64, n int) uint64

//go:noescape
func fmaLoopAVX2(n int)

//go:noescape
func fmaLoopAVX512(n int)

//go:noescape
func packTransposeF32AVX2(dst, src *float32, rs, kc, width int)

//go:noescape
func packTransposeBF16AVX2(dst *float32, src *uint16, rs, kc, width int)

//go:noescape
func packTranspose6F32AVX2(dst, src *float32, rs, kc int)

//go:noescape
func dotTileF32AVX2(sums, x *float32, ldx int, w *float32, ldw, k, pf, groups int)

//go:noescape
func dotTileBF16AVX2(sums, x *float32, ldx int, w *uint16, ldw, k, pf, groups int)

//go:noescape
func gemmKernelT6F32AVX2(kc int, w *float32, ldw int, x, t *float32, add bool)

//go:noescape
func gemmKernelT6BF16AVX2(kc int, w *uint16, ldw int, x, t *float32, add bool)
