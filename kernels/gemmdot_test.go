package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkDot runs gemmDot on one shape with fp32 and bf16 weights, storing and accumulating,
// and compares it with the portable Linear.
func checkDot(t *testing.T, rng *rand.Rand, m, k, n int) {
	t.Helper()
	off := rng.IntN(4)
	x, w, wb := randomSlice(rng, m*k, off), randomSlice(rng, n*k, off+1), randomBF16(rng, n*k, 3-off)
	c0 := randomSlice(rng, m*n, off)
	for _, bt := range []operand{weightsF32(w, k), weightsBF16(wb, k)} {
		want := make([]float32, m*n)
		if bt.bf16 != nil {
			linearBF16Generic(want, x, wb, m, k, n)
		} else {
			linearGeneric(want, x, w, m, k, n)
		}
		for _, add := range []bool{false, true} {
			got := append([]float32(nil), c0...)
			gemmDot(fast, got, n, m, n, k, rowMajor(x, k), bt, add)
			ref, base := want, []float32(nil)
			if add {
				ref, base = make([]float32, m*n), c0
				for i := range ref {
					ref[i] = want[i] + c0[i]
				}
			}
			name := fmt.Sprintf("gemmDot bf16=%t add=%t m=%d k=%d n=%d", bt.bf16 != nil, add, m, k, n)
			checkProduct(t, name, got, ref, base, rowMajor(x, k), bt, m, n, k)
		}
	}
}

func TestGemmDotMatchesGeneric(t *testing.T) {
	if fast == nil || fast.dotF32 == nil {
		t.Skip("no dot-product tile kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, m := range []int{1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 32, 33} {
		for _, k := range []int{1, 7, 8, 16, 63, 65, 1000} {
			for _, n := range []int{1, 3, 5, 17, 100} {
				checkDot(t, rng, m, k, n)
			}
		}
	}
	checkDot(t, rng, 5, dotBlockK+dotStep+5, 7) // more than one block along k
}

func FuzzGemmDot(f *testing.F) {
	if fast == nil || fast.dotF32 == nil {
		f.Skip("no dot-product tile kernels on this CPU")
	}
	f.Add(uint8(3), uint16(65), uint8(17))
	f.Fuzz(func(t *testing.T, m uint8, k uint16, n uint8) {
		rng := rand.New(rand.NewPCG(uint64(m), uint64(k)))
		checkDot(t, rng, int(m)%40+1, int(k)%3000, int(n)%120+1)
	})
}
