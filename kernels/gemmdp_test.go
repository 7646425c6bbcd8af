package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// dpVariants returns the VDPBF16PS packed GEMM for both splits of x (2 parts, then 1), or
// skips the test where the CPU has none.
func dpVariants(t testing.TB) []*isa {
	if fast == nil || fast.dpGemm == nil {
		t.Skip("no VDPBF16PS packed GEMM on this CPU")
	}
	return []*isa{fast.dpGemm.withParts(2), fast.dpGemm.withParts(1)}
}

// dpBound is the bound on |out − exact| of a k-step product along the VDPBF16PS GEMM with parts
// parts of x, relative to Σ|w·x|: fp32 summation plus the split's error (see dpSlackParts).
func dpBound(k, parts int) float64 { return float64(k)*0x1p-24 + dpSlackParts(k, parts) }

// checkDP runs the product m×k by n×k (bf16 weights) through s and compares every output with
// the float64 product within dpBound.
func checkDP(t *testing.T, s *isa, rng *rand.Rand, m, k, n int) {
	t.Helper()
	x, w := randomSlice(rng, m*k, 1), randomBF16(rng, n*k, 1)
	out := randomSlice(rng, m*n, 1) // stale values must not leak into the result
	gemmDP(s, out, x, w, m, k, n)
	exact, _ := gemvBoundPath(x, func(j, p int) float32 { return BF16ToFloat32(w[j*k+p]) }, m, k, n, pathGemv)
	rel := dpBound(k, s.parts)
	for i, e := range exact {
		bound := rel * sumAbsProducts(x[i/n*k:][:k], w[i%n*k:][:k])
		if d := math.Abs(float64(out[i]) - e); !(d <= bound) {
			t.Fatalf("%s m=%d k=%d n=%d: out(%d, %d) = %g, exact %g, |diff| %.3g > bound %.3g", s.name, m, k, n, i/n, i%n, out[i], e, d, bound)
		}
	}
}

// TestDPGemmMatchesReference checks the VDPBF16PS packed GEMM, x split and rounded, against the
// float64 product on sizes that are not multiples of the 8×48 tile, with odd k (a half-filled
// last pair) and k across slabs, with the blocks in use and with small ones that make small
// products cross every block boundary of gemmNarrow and gemmWide.
func TestDPGemmMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, s := range dpVariants(t) {
		for _, m := range []int{1, 7, 8, 9, 17, 33, 70} {
			for _, k := range []int{1, 2, 3, 31, 33, 300, 513} {
				for _, n := range []int{1, 47, 48, 49, 100} {
					checkDP(t, s, rng, m, k, n)
				}
			}
		}
		checkDP(t, s, rng, 600, 65, 97) // gemmWide, each worker packing its own slabs
		small := *s
		small.kc, small.mc, small.nc = 16, 2*small.mr, 4*small.nr
		small.narrow = small.kc * 4 * small.mr
		small.ownSlabs = 0
		for _, c := range [][3]int{{1, 40, 300}, {32, 50, 150}, {33, 51, 150}, {100, 33, 200}, {100, 7, 9}} {
			checkDP(t, &small, rng, c[0], c[1], c[2])
		}
	}
}

// TestDPGemmRowsDoNotDependOnRowCount checks that each row of an m-row product along the
// VDPBF16PS GEMM is bit for bit the row computed alone, whichever blocking the row count takes.
func TestDPGemmRowsDoNotDependOnRowCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	const k, n = 517, 101
	w := randomBF16(rng, n*k, 0)
	for _, s := range dpVariants(t) {
		for _, m := range []int{2, 17, 64, 600} {
			x := randomSlice(rng, m*k, 0)
			got := make([]float32, m*n)
			gemmDP(s, got, x, w, m, k, n)
			for _, i := range []int{0, m / 2, m - 1} {
				want := make([]float32, n)
				gemmDP(s, want, x[i*k:(i+1)*k], w, 1, k, n)
				if !slices.Equal(got[i*n:(i+1)*n], want) {
					t.Errorf("%s m=%d: row %d differs from the row alone", s.name, m, i)
				}
			}
		}
	}
}

// TestDPGemmNonFinite checks that NaN and ±Inf weights and NaN activations reach exactly the
// outputs they belong to, in the kernel's body and in a half-filled last pair (k odd), for
// activations that are exact bf16 (whose split lo part is 0: Inf·0 is NaN until redone).
func TestDPGemmNonFinite(t *testing.T) {
	const m, k, n = 20, 37, 6
	for _, s := range dpVariants(t) {
		for _, p := range []int{0, 20, k - 1} {
			x, w := make([]float32, m*k), make([]uint16, n*k)
			for i := range x {
				x[i] = 1
			}
			for i := range w {
				w[i] = Float32ToBF16(0.5)
			}
			want := plantNonFinite(w, k, p)
			out := make([]float32, m*n)
			gemmDP(s, out, x, w, m, k, n)
			for i, v := range out {
				if e := want[i%n]; !(float64(v) == e || math.IsNaN(e) && v != v) {
					t.Fatalf("%s: non-finite weight at step %d: out(%d, %d) = %g, want %g", s.name, p, i/n, i%n, v, e)
				}
			}
			x[5*k+p] = float32(math.NaN())
			gemmDP(s, out, x, w, m, k, n)
			for i, v := range out {
				if nan := i/n == 5 || i%n == 3 || i%n == 4; nan != (v != v) {
					t.Fatalf("%s: NaN in x(5, %d): out(%d, %d) = %g", s.name, p, i/n, i%n, v)
				}
			}
		}
	}
}

// dpAccuracyLimits are the accuracy TestDPGemmAccuracy requires of each path on Huginn-sized
// rows, about twice what it measured on Zen 4 (see the test): the largest error relative to
// Σ|w·x| and the relative error of all outputs together, ‖out − exact‖₂ / ‖exact‖₂.
var dpAccuracyLimits = map[string][2]float64{
	"fp32 packed":                {6e-8, 8e-7}, // measured 2.6e-8, 3.1e-7
	"VDPBF16PS, x split hi + lo": {5e-7, 6e-6}, // measured 2.1e-7, 2.6e-6
	"VDPBF16PS, x rounded":       {3e-4, 4e-3}, // measured 1.3e-4, 1.7e-3
}

// TestDPGemmAccuracy states the accuracy of the packed products of bf16 weights against the
// float64 product of the same bf16 weights and fp32 activations, on rows of Huginn-0125's
// length (k = 5280, N(0, 1) activations, N(0, 0.02²) weights), and fails if one regresses past
// dpAccuracyLimits:
//
//	go test ./kernels -run DPGemmAccuracy -v
func TestDPGemmAccuracy(t *testing.T) {
	variants := dpVariants(t)
	const m, k, n = 24, 5280, 96
	rng := rand.New(rand.NewPCG(25, 26))
	x := normals(rng, m*k)
	w := make([]uint16, n*k)
	for i := range w {
		w[i] = Float32ToBF16(float32(rng.NormFloat64() * 0.02))
	}
	exact, _ := gemvBoundPath(x, func(j, p int) float32 { return BF16ToFloat32(w[j*k+p]) }, m, k, n, pathGemv)
	runs := []struct {
		label string
		run   func(out []float32)
	}{
		{"fp32 packed", func(out []float32) {
			gemmOn(fast.packedISA(), out, n, m, n, k, rowMajor(x, k), weightsBF16(w, k), false)
		}},
		{"VDPBF16PS, x split hi + lo", func(out []float32) { gemmDP(variants[0], out, x, w, m, k, n) }},
		{"VDPBF16PS, x rounded", func(out []float32) { gemmDP(variants[1], out, x, w, m, k, n) }},
	}
	for _, r := range runs {
		out := make([]float32, m*n)
		r.run(out)
		var ofSum, maxRel, d2, e2 float64
		for i, e := range exact {
			d := math.Abs(float64(out[i]) - e)
			ofSum = max(ofSum, d/sumAbsProducts(x[i/n*k:][:k], w[i%n*k:][:k]))
			maxRel = max(maxRel, d/math.Abs(e))
			d2, e2 = d2+d*d, e2+e*e
		}
		rms := math.Sqrt(d2 / e2)
		t.Logf("%-28s max error / Σ|w·x| %.3g, ‖error‖/‖exact‖ %.3g, max |error|/|exact| %.3g", r.label, ofSum, rms, maxRel)
		if limit := dpAccuracyLimits[r.label]; !(ofSum <= limit[0] && rms <= limit[1]) {
			t.Errorf("%s: accuracy regressed past %v", r.label, limit)
		}
	}
}

// BenchmarkGemmDP compares, for bf16 weights on the Huginn-0125 prefill shapes and 1024³, the
// fp32 packed GEMM in use (weights widened while packing) with the VDPBF16PS one, x split and
// rounded, each as a share of the FMA and the VDPBF16PS peaks measured in the same run:
//
//	flock /tmp/bench.lock go test ./kernels -run NONE -bench GemmDP -benchtime 5x
func BenchmarkGemmDP(b *testing.B) {
	if fast == nil || fast.dpGemm == nil {
		b.Skip("no VDPBF16PS packed GEMM on this CPU")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range gemmShapes {
		if s.name == "512" {
			continue
		}
		x, out, w := randomSlice(rng, s.m*s.k, 0), make([]float32, s.m*s.n), randomBF16(rng, s.n*s.k, 0)
		for _, p := range []*isa{fast.packedISA(), fast.dpGemm.withParts(2), fast.dpGemm.withParts(1)} {
			b.Run(fmt.Sprintf("%s/%s", s.name, p.gemmName), func(b *testing.B) {
				benchmarkProduct(b, s.m, s.k, s.n, func() {
					if p.parts > 0 {
						gemmDP(p, out, x, w, s.m, s.k, s.n)
					} else {
						gemmOn(p, out, s.n, s.m, s.n, s.k, rowMajor(x, s.k), weightsBF16(w, s.k), false)
					}
				})
			})
		}
	}
}

// BenchmarkGemmDPKernel runs the VDPBF16PS micro-kernel alone (x split and rounded) on packed
// panels that stay in L1, on every worker: the ceiling of the VDPBF16PS GEMM here and now (1024
// calls per worker and iteration: at BenchmarkGemmKernel's 64, handing the work to the pool
// took about a sixth of the time).
func BenchmarkGemmDPKernel(b *testing.B) {
	const kc, reps = 256, 1024
	for _, s := range dpVariants(b) {
		a, bp := make([]float32, s.depthA(kc)*s.mr), make([]float32, s.depthB(kc)*s.nr)
		b.Run(s.gemmName, func(b *testing.B) {
			benchmarkProduct(b, s.mr*Workers()*reps, kc, s.nr, func() {
				Parallel(Workers(), func(lo, hi int) {
					c := make([]float32, s.mr*s.nr)
					for range reps * (hi - lo) {
						s.kernel(kc, &a[0], &bp[0], &c[0], s.nr, true)
					}
				})
			})
		})
	}
}

// TestDPPackAMatchesGo checks the assembly pack of A (where there is one) against packPairs'
// Go loop on both splits of x, values of every kind included: exact bf16 (lo 0), ties, NaN,
// ±Inf, values that round past bf16's largest finite value; denormals, which the assembly makes
// 0 (as VDPBF16PS takes them), are left out.
func TestDPPackAMatchesGo(t *testing.T) {
	for _, s := range dpVariants(t) {
		if s.dpPackA == nil {
			t.Skip("no assembly pack of A")
		}
		rng := rand.New(rand.NewPCG(27, 28))
		const width, kc, rs = 8, 100, 103
		x := randomSlice(rng, width*rs, 0)
		special := []float32{1, -0.5, 1 + 0x1p-8, 1 + 3*0x1p-8, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -3.3961e38, 0, float32(math.Copysign(0, -1))}
		for i, v := range special {
			x[i*37%len(x)] = v
		}
		words := s.depthA(kc) * width
		got, want := make([]uint32, words), make([]uint32, words)
		noAsm := *s
		noAsm.dpPackA = nil
		a := rowMajor(x, rs)
		a.packPairs(s, unsafe.Slice((*float32)(unsafe.Pointer(&got[0])), words), 0, width, 0, kc, width)
		a.packPairs(&noAsm, unsafe.Slice((*float32)(unsafe.Pointer(&want[0])), words), 0, width, 0, kc, width)
		for i := range want {
			if got[i] != want[i] && !(isNaNBF16(uint16(got[i])) && isNaNBF16(uint16(want[i]))) && !(isNaNBF16(uint16(got[i]>>16)) && isNaNBF16(uint16(want[i]>>16))) {
				t.Fatalf("%s: word %d = %#08x, Go %#08x", s.name, i, got[i], want[i])
			}
		}
	}
}

// isNaNBF16 reports whether b is a bf16 NaN.
func isNaNBF16(b uint16) bool { return b&0x7fff > 0x7f80 }
