package kernels

import "unsafe"

// The packed GEMM for bf16 weights with VDPBF16PS (AVX512_BF16): the blocked driver of gemm.go
// with a micro-kernel that takes bf16 pairs. Its panels hold 32-bit words, each the bf16 values
// of two consecutive steps of k (step 2q in the low half, 2q+1 in the high half, a zero past
// the end): B's are the weights as they are, two at a time; A's are the fp32 activations in
// parts bf16 parts per pair (splitBF16's split: hi = bf16(x), lo = bf16(x − hi), or hi alone
// where dpParts says round). Sums are fp32 throughout; each element of C is summed in the same
// order whatever m is, as with the fp32 kernels. The split's lo part of an x that is exactly
// a bf16 is 0, and an infinite weight times it is NaN, so gemmDP recomputes NaN outputs in fp32
// as gemvDP does (redoNaNs). Whether this path or an fp32 packed kernel (the weights widened
// while packing) takes bf16 products is measured (see measurePacked).

// dpPacked returns the VDPBF16PS packed GEMM implementation for parts bf16 parts of x, with
// the micro-kernel (8×48: 24 zmm accumulators) and packs of kernels (dpKernel, packF32 for B's
// words, dpPackA for A where it has one). Blocks for Zen 4 (32 KiB L1d, 1 MiB L2 per core): a
// 256-deep B micro-panel is 128 × 48 words, 24 KiB; a 144×256 A block is 144 KiB (split), a
// 256 × 3840 B slab 1.9 MiB. Of kc = 128, 192, 256 and 384, 256 was fastest on the 64-row
// Huginn-0125 shapes (x rounded: 148 % of the FMA peak, against 106–143 %). kc must stay even:
// gemmNarrow places A's slabs at depthA(pc), which adds up only over even slabs.
func dpPacked(parts int, kernels *isa) *isa {
	name := map[int]string{1: "bf16dot-round-8x48", 2: "bf16dot-8x48"}[parts]
	kernel := kernels.dpKernel
	return &isa{
		name: name, gemmName: name, parts: parts,
		dpKernel: kernel, packF32: kernels.packF32, dpPackA: kernels.dpPackA, prefetchBF16: kernels.prefetchBF16,
		kernel: func(kc int, a, b, c *float32, ldc int, add bool) { kernel((kc+1)/2, parts, a, b, c, ldc, add) },
		mr:     8, nr: 48, kc: 256, mc: 144, nc: 3840, narrow: 128 << 10, ownSlabs: 256,
	}
}

// withParts is the VDPBF16PS packed GEMM s for parts bf16 parts of x instead of s.parts.
func (s *isa) withParts(parts int) *isa { return dpPacked(parts, s) }

// gemmDP computes out[m×n] = x[m×k] · w[n×k]ᵀ (w bf16) with the VDPBF16PS packed GEMM s.
func gemmDP(s *isa, out, x []float32, w []uint16, m, k, n int) {
	gemmOn(s, out, n, m, n, k, rowMajor(x, k), weightsBF16(w, k), false)
	if s.parts == 2 { // in parallel: scanning every output costs 5 % of a 512×1024×1024 product
		Parallel(m, func(lo, hi int) { redoNaNs(out[lo*n:hi*n], x[lo*k:hi*k], w, hi-lo, k, n) })
	}
}

// packPairs is pack for the VDPBF16PS kernel (s.parts > 0): it writes indices i0..i0+count of
// steps p0..p0+kc (p0 even) as panel words, ⌈kc/2⌉ per index for B (bf16 weights, see
// packPairsBF16) and s.parts·⌈kc/2⌉ for A (fp32): word (q·parts + part)·width + r holds part
// part of steps 2q and 2q+1 of row i0+r. A full panel of A goes through s.dpPackA as far as it
// takes it, the rest in Go.
func (o operand) packPairs(s *isa, panel []float32, i0, count, p0, kc, width int) {
	words := unsafe.Slice((*uint32)(unsafe.Pointer(&panel[0])), len(panel))
	if o.bf16 != nil {
		o.packPairsBF16(s, words, i0, count, p0, kc, width)
		return
	}
	pairs, parts := (kc+1)/2, s.parts
	_ = words[(pairs*parts-1)*width+count-1]
	done := 0
	if s.dpPackA != nil && count == width {
		_ = o.f32[(i0+count-1)*o.rs+p0+kc-1]
		done = s.dpPackA(words, o.f32[i0*o.rs+p0:], o.rs, kc, width, parts)
	}
	for r := range count {
		row := o.f32[(i0+r)*o.rs+p0:][:kc]
		for q := done; q < pairs; q++ {
			hi0, lo0 := splitPart(row[2*q])
			var hi1, lo1 uint16
			if 2*q+1 < kc {
				hi1, lo1 = splitPart(row[2*q+1])
			}
			at := q*parts*width + r
			words[at] = uint32(hi0) | uint32(hi1)<<16
			if parts == 2 {
				words[at+width] = uint32(lo0) | uint32(lo1)<<16
			}
		}
	}
}

// splitPart returns hi = bf16(v) and lo = bf16(v − hi), lo zero where v − hi is not finite
// (v NaN or ±Inf), as splitBF16 splits.
func splitPart(v float32) (hi, lo uint16) {
	hi = Float32ToBF16(v)
	r := v - BF16ToFloat32(hi)
	if r-r != 0 { // NaN or ±Inf
		r = 0
	}
	return hi, Float32ToBF16(r)
}

// packPairsBF16 is packPairs for bf16 weights: word q·width + r holds steps 2q and 2q+1 of
// weight row i0+r, which, where the rows are an even number of bf16 long, is a 32-bit word of
// the row as it lies in memory; full panels of whole 8-word blocks then go through the
// transposing fp32 pack (it only moves bits), the rest in Go.
func (o operand) packPairsBF16(s *isa, words []uint32, i0, count, p0, kc, width int) {
	pairs := (kc + 1) / 2
	_ = words[(pairs-1)*width+count-1]
	src := o.bf16[i0*o.rs+p0:]
	done := 0
	if o.rs%2 == 0 && s.packF32 != nil && count == width && width%8 == 0 {
		done = kc / 2 &^ 7
	}
	if done > 0 {
		_ = src[(count-1)*o.rs+2*done-1]
		s.packF32((*float32)(unsafe.Pointer(&words[0])), (*float32)(unsafe.Pointer(&src[0])), o.rs/2, done, width)
	}
	for r := range count {
		row := src[r*o.rs:][:kc]
		for q := done; q < pairs; q++ {
			w := uint32(row[2*q])
			if 2*q+1 < kc {
				w |= uint32(row[2*q+1]) << 16
			}
			words[q*width+r] = w
		}
	}
}

// bf16Packed is the packed GEMM s uses for bf16 weights, as measured: one of its fp32 packed
// kernels (weights widened while packing) or its VDPBF16PS one.
func (s *isa) bf16Packed() *isa {
	if p := s.choice.packedBF16.Load(); p != nil {
		return p
	}
	s.table()
	return s.choice.packedBF16.Load()
}

// bf16PackedCandidates are the packed GEMM implementations s can use for bf16 weights.
func (s *isa) bf16PackedCandidates() []*isa {
	if s.dpGemm == nil {
		return s.packedCandidates()
	}
	return append(s.packedCandidates(), s.dpGemm)
}

// linearPacked computes out[m×n] = a[m×k] · btᵀ (Linear's weights) with the packed GEMM s
// uses for bt's weight type.
func linearPacked(s *isa, out []float32, a, bt operand, m, k, n int) {
	if bt.bf16 == nil {
		gemmOn(s.packedISA(), out, n, m, n, k, a, bt, false)
		return
	}
	if p := s.bf16Packed(); p.parts > 0 {
		gemmDP(p, out, a.f32, bt.bf16, m, k, n)
	} else {
		gemmOn(p, out, n, m, n, k, a, bt, false)
	}
}
