package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGemmFewMatchesPacked checks that gemmFew gives gemmNarrow's and gemmWide's bits, storing
// and adding, for fp32 and bf16 weights, on row counts it takes, widths that leave a partial
// tile and depths across the kc slabs and off the kernel's 4-step unrolling.
func TestGemmFewMatchesPacked(t *testing.T) {
	forEachISA(t, func(backend string) {
		s := fast.packedISA()
		if s.fewF32 == nil {
			t.Skipf("%s has no transposed kernels", backend)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		for _, m := range []int{1, s.fewMinF32, s.fewMinBF16, 15, fewRows, fewRows + 1, 3*fewRows - 1, s.fewMaxBF16, s.fewMaxF32} {
			for _, kn := range [][2]int{{1, 7}, {3, 6}, {257, 13}, {600, 45}} {
				k, n := kn[0], kn[1]
				x := randomSlice(rng, m*k, 1)
				for _, bt := range []operand{weightsF32(randomSlice(rng, n*k, 2), k), weightsBF16(randomBF16(rng, n*k, 3), k)} {
					for _, add := range []bool{false, true} {
						c0 := randomSlice(rng, m*n, 0)
						got, narrow, wide := slices.Clone(c0), slices.Clone(c0), slices.Clone(c0)
						gemmFew(s, got, n, m, n, k, rowMajor(x, k), bt, add)
						gemmNarrow(s, narrow, n, m, n, k, rowMajor(x, k), bt, add)
						gemmWide(s, wide, n, m, n, k, rowMajor(x, k), bt, add)
						if !slices.Equal(got, narrow) || !slices.Equal(got, wide) {
							t.Errorf("%s m=%d k=%d n=%d bf16=%v add=%v: gemmFew differs from the packed product",
								backend, m, k, n, bt.bf16 != nil, add)
						}
					}
				}
			}
		}
	})
}

// TestGemmOwnSlabsMatchesShared checks that gemmOwnSlabs gives the bits of gemmWide with one
// shared slab of B and of gemmNarrow, storing and adding, across the kc slabs and the mc blocks.
func TestGemmOwnSlabsMatchesShared(t *testing.T) {
	forEachISA(t, func(backend string) {
		s := *fast.packedISA()
		s.nc = 3 * s.nr // several column blocks too
		shared := s
		shared.ownSlabs = 0
		rng := rand.New(rand.NewPCG(7, 8))
		const m, k, n = 301, 600, 70
		x := randomSlice(rng, m*k, 1)
		for _, bt := range []operand{weightsF32(randomSlice(rng, n*k, 2), k), weightsBF16(randomBF16(rng, n*k, 3), k)} {
			for _, add := range []bool{false, true} {
				c0 := randomSlice(rng, m*n, 0)
				got, want, narrow := slices.Clone(c0), slices.Clone(c0), slices.Clone(c0)
				gemmOwnSlabs(&s, got, n, m, n, k, rowMajor(x, k), bt, add)
				gemmWide(&shared, want, n, m, n, k, rowMajor(x, k), bt, add)
				gemmNarrow(&s, narrow, n, m, n, k, rowMajor(x, k), bt, add)
				if !slices.Equal(got, want) || !slices.Equal(got, narrow) {
					t.Errorf("%s bf16=%v add=%v: gemmOwnSlabs differs from the shared-slab product", backend, bt.bf16 != nil, add)
				}
			}
		}
	})
}
