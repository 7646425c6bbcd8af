package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPathsRowExact checks, for every path and weight type this CPU has (pathDP with x split
// and rounded), that an m-row product equals m one-row products along the same path bit for
// bit (m = 2…17, awkward k and n): what lets rows of different sequences share one product.
func TestPathsRowExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	saved := dpParts
	defer func() { dpParts = saved }()
	forEachISA(t, func(name string) {
		for _, p := range rowExactPaths(saved) {
			dpParts = p.parts
			for _, kn := range [][2]int{{5, 7}, {67, 13}, {517, 67}, {1000, 40}} {
				k, n := kn[0], kn[1]
				w, wb := randomSlice(rng, n*k, 1), randomBF16(rng, n*k, 1)
				for _, bf16 := range []bool{false, true} {
					if !fast.runs(p.path, bf16) {
						continue
					}
					bt := weightsF32(w, k)
					if bf16 {
						bt = weightsBF16(wb, k)
					}
					for m := 2; m <= MaxFewRows+1; m++ {
						x := randomSlice(rng, m*k, 1)
						got := make([]float32, m*n)
						linearPath(fast, p.path, got, rowMajor(x, k), bt, m, k, n)
						for i := range m {
							want := make([]float32, n)
							linearPath(fast, p.path, want, rowMajor(x[i*k:(i+1)*k], k), bt, 1, k, n)
							if !slices.Equal(got[i*n:(i+1)*n], want) {
								t.Errorf("%s %s (%d parts) bf16=%v k=%d n=%d m=%d: row %d differs from the row alone", name, p.path, dpParts, bf16, k, n, m, i)
							}
						}
					}
				}
			}
		}
	})
}

// rowExactPath is a path of TestPathsRowExact with the parts of x pathDP takes along it.
type rowExactPath struct {
	path
	parts int
}

// rowExactPaths lists every path with parts (the package's), pathDP also with the other
// split of x where parts is not 0 (off).
func rowExactPaths(parts int) []rowExactPath {
	var list []rowExactPath
	for p := range numPaths {
		list = append(list, rowExactPath{p, parts})
		if p == pathDP && parts > 0 {
			list = append(list, rowExactPath{p, 3 - parts})
		}
	}
	return list
}

// TestQ8RowExact checks that LinearQ8's m-row product (LinearQ8Rows' for m = MaxFewRows+1)
// equals m one-row products bit for bit
// (m = 2…17, odd and even run counts, more runs than the AVX2 kernels' chunk), with each implementation and the portable path, and
// that the VNNI kernels, where the CPU has them, give the AVX2 kernel's bits.
func TestQ8RowExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 3))
	impls := append([]*isa{nil}, allISAs()...)
	saved := fast
	defer func() { fast = saved }()
	for _, k := range []int{32, 96, 160, 1024, 131 * Q8Block} { // 131 runs: two chunks of the AVX2 kernels, the second odd
		const n = 45
		c := newQ8Case(rng, MaxFewRows+1, k, n)
		var reference []float32 // the first assembly implementation's
		for _, s := range impls {
			fast = s
			name := Backend()
			for m := 1; m <= MaxFewRows+1; m++ {
				got := make([]float32, m*n)
				if m <= MaxFewRows {
					LinearQ8(got, c.x[:m*k], c.q, c.d, m, k, n)
				} else {
					LinearQ8Rows(got, c.x[:m*k], c.q, c.d, m, k, n)
				}
				for i := range m {
					want := make([]float32, n)
					LinearQ8(want, c.x[i*k:(i+1)*k], c.q, c.d, 1, k, n)
					if !slices.Equal(got[i*n:(i+1)*n], want) {
						t.Errorf("%s k=%d m=%d: row %d differs from the row alone", name, k, m, i)
					}
				}
				if s == nil || s.q8Dot == nil || m != MaxFewRows+1 {
					continue
				}
				if reference == nil {
					reference = got
				} else if !slices.Equal(got, reference) {
					t.Errorf("%s k=%d: q8_0 results differ from %s's", name, k, impls[1].name)
				}
			}
		}
	}
}
