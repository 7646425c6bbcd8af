package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// forEachISA runs fn once with every assembly implementation this CPU can run in use (the
// opt-in AVX-512 one included), restoring the previous choice afterwards. gemm only runs with
// one; without, the public functions take the portable path, which kernels_test.go covers.
func forEachISA(t testing.TB, fn func(name string)) {
	list := allISAs()
	if len(list) == 0 {
		t.Skip("no assembly kernels on this CPU, so gemm is never called")
	}
	saved := fast
	defer func() { fast = saved }()
	for _, s := range list {
		fast = s
		fn(Backend())
	}
}

// at returns element (i, p) of o widened to fp32.
func (o operand) at(i, p int) float32 {
	if o.bf16 != nil {
		return BF16ToFloat32(o.bf16[i*o.rs+p*o.cs])
	}
	return o.f32[i*o.rs+p*o.cs]
}

// randomSlice returns n values from N(0, 1) starting off elements into a fresh buffer, so
// that the data is not 64-byte aligned.
func randomSlice(rng *rand.Rand, n, off int) []float32 {
	buf := make([]float32, n+off)
	for i := range buf {
		buf[i] = float32(rng.NormFloat64())
	}
	return buf[off:]
}

// randomBF16 is randomSlice rounded to bf16 bit patterns.
func randomBF16(rng *rand.Rand, n, off int) []uint16 {
	buf := make([]uint16, n+off)
	for i := range buf {
		buf[i] = Float32ToBF16(float32(rng.NormFloat64()))
	}
	return buf[off:]
}

// checkProduct compares got with want element by element for C = A·B (plus c0 when given), B
// given by its transpose bt. Both were computed in fp32 in different orders, so each is within
// (k+1)·ε·(Σ_p|a(i,p)·bt(j,p)| + |c0(i,j)|) of the exact value (ε = 2⁻²⁴, doubled for safety
// against FMA's and the summation order's differences), and they may differ by twice that.
// The sum is bounded by ‖a(i,·)‖·‖bt(j,·)‖ (Cauchy–Schwarz), which costs O((m+n)·k).
func checkProduct(t *testing.T, name string, got, want, c0 []float32, a, bt operand, m, n, k int) {
	t.Helper()
	aNorm, bNorm := rowNorms(a, m, k), rowNorms(bt, n, k)
	bad := 0
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			mag := aNorm[i] * bNorm[j]
			if c0 != nil {
				mag += math.Abs(float64(c0[i*n+j]))
			}
			tol := 2*float64(k+1)*0x1p-23*mag + 1e-30
			g, w := float64(got[i*n+j]), float64(want[i*n+j])
			if math.Abs(g-w) > tol || math.IsNaN(g) {
				if bad++; bad <= 5 {
					t.Errorf("%s: element (%d, %d) = %g, want %g (tolerance %.3g)", name, i, j, g, w, tol)
				}
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d elements differ in all", name, bad)
	}
}

// rowNorms returns the Euclidean norm of each of the first rows rows of o over k columns.
func rowNorms(o operand, rows, k int) []float64 {
	norms := make([]float64, rows)
	for i := range norms {
		var s float64
		for p := 0; p < k; p++ {
			v := float64(o.at(i, p))
			s += v * v
		}
		norms[i] = math.Sqrt(s)
	}
	return norms
}

// checkAllProducts runs Linear's, LinearBF16's, MatMul's and AccumulateTransposed's GEMMs on
// one shape with the implementation in use and compares them with the portable references.
func checkAllProducts(t *testing.T, backend string, rng *rand.Rand, m, k, n int) {
	t.Helper()
	off := rng.IntN(4)
	x, w := randomSlice(rng, m*k, off), randomSlice(rng, n*k, off+1)
	wb := randomBF16(rng, n*k, 3-off)
	label := func(op string) string { return fmt.Sprintf("%s %s m=%d k=%d n=%d", backend, op, m, k, n) }

	got, want := randomSlice(rng, m*n, off), make([]float32, m*n)
	gemm(got, n, m, n, k, rowMajor(x, k), weightsF32(w, k), false)
	linearGeneric(want, x, w, m, k, n)
	checkProduct(t, label("linear"), got, want, nil, rowMajor(x, k), weightsF32(w, k), m, n, k)

	gemm(got, n, m, n, k, rowMajor(x, k), weightsBF16(wb, k), false)
	linearBF16Generic(want, x, wb, m, k, n)
	checkProduct(t, label("linear-bf16"), got, want, nil, rowMajor(x, k), weightsBF16(wb, k), m, n, k)

	b := w // read as k×n
	gemm(got, n, m, n, k, rowMajor(x, k), colMajor(b, n), false)
	matMulGeneric(want, x, b, m, k, n)
	checkProduct(t, label("matmul"), got, want, nil, rowMajor(x, k), colMajor(b, n), m, n, k)

	// dw[n×k] += dy[m×n]ᵀ · x[m×k]: here dy is got's shape m×n and dw is n×k.
	dy := randomSlice(rng, m*n, 3-off)
	dw0 := randomSlice(rng, n*k, off)
	dwGot, dwWant := append([]float32(nil), dw0...), append([]float32(nil), dw0...)
	gemm(dwGot, k, n, k, m, colMajor(dy, n), colMajor(x, k), true)
	accumulateTransposedGeneric(dwWant, dy, x, m, n, k, 0, n)
	checkProduct(t, label("accumulate-transposed"), dwGot, dwWant, dw0, colMajor(dy, n), colMajor(x, k), n, k, m)
}

func TestGemmMatchesGeneric(t *testing.T) {
	sizes := []int{1, 2, 7, 13, 31, 33, 63, 65, 127, 257}
	forEachISA(t, func(backend string) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, m := range sizes {
			for _, n := range sizes {
				k := sizes[(m+n)%len(sizes)]
				if m*n*k > 1<<20 { // keep the checks cheap: big shapes follow below
					k = 33
				}
				checkAllProducts(t, backend, rng, m, k, n)
			}
		}
		// Shapes that cross the cache blocks (kc, mc and nc) and split over the workers; the
		// last takes gemmNarrow through several chunks of columns per worker.
		for _, s := range [][3]int{{1000, 65, 33}, {13, 1000, 257}, {20, 300, 2100}, {70, 300, 2100}} {
			checkAllProducts(t, backend, rng, s[0], s[1], s[2])
		}
	})
}

// TestGemmSmallBlocks shrinks the cache blocks so that small products cross every block
// boundary of both gemmNarrow and gemmWide, and products just either side of the threshold
// between them take each.
func TestGemmSmallBlocks(t *testing.T) {
	forEachISA(t, func(backend string) {
		small := *fast
		small.kc, small.mc, small.nc = 16, 2*small.mr, 4*small.nr
		small.narrow = small.kc * 4 * small.mr // up to 4 row panels at full depth
		fast = &small
		rng := rand.New(rand.NewPCG(5, 6))
		for _, s := range [][3]int{{1, 40, 300}, {4 * small.mr, 50, 150}, {4*small.mr + 1, 50, 150}, {100, 33, 200}, {100, 7, 9}} {
			checkAllProducts(t, backend+" small blocks", rng, s[0], s[1], s[2])
		}
	})
}

func TestGemmZeroInner(t *testing.T) {
	forEachISA(t, func(backend string) {
		out := []float32{1, 2, 3, 4, 5, 6}
		gemm(out, 3, 2, 3, 0, rowMajor(nil, 0), weightsF32(nil, 0), false)
		for i, v := range out {
			if v != 0 {
				t.Errorf("%s: k=0 left out[%d] = %g, want 0", backend, i, v)
			}
		}
		dw := []float32{1, 2}
		gemm(dw, 2, 1, 2, 0, colMajor(nil, 1), colMajor(nil, 2), true)
		if dw[0] != 1 || dw[1] != 2 {
			t.Errorf("%s: accumulating an empty product changed dw to %v", backend, dw)
		}
	})
}

func TestGemmConcurrentCallers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const m, k, n = 70, 300, 90
	x, w := randomSlice(rng, m*k, 0), randomSlice(rng, n*k, 0)
	forEachISA(t, func(backend string) {
		want := make([]float32, m*n)
		gemm(want, n, m, n, k, rowMajor(x, k), weightsF32(w, k), false)
		done := make(chan []float32)
		for range 4 {
			go func() {
				out := make([]float32, m*n)
				gemm(out, n, m, n, k, rowMajor(x, k), weightsF32(w, k), false)
				done <- out
			}()
		}
		for range 4 {
			out := <-done
			for i := range out {
				if out[i] != want[i] {
					t.Fatalf("%s: concurrent gemm: element %d = %g, want %g (same inputs, same blocking)", backend, i, out[i], want[i])
				}
			}
		}
	})
}

func FuzzGemm(f *testing.F) {
	f.Add(uint8(13), uint8(7), uint8(33), uint64(1))
	f.Add(uint8(1), uint8(0), uint8(1), uint64(2))
	f.Add(uint8(64), uint8(255), uint8(65), uint64(3))
	f.Fuzz(func(t *testing.T, m, k, n uint8, seed uint64) {
		if m == 0 || n == 0 {
			return
		}
		forEachISA(t, func(backend string) {
			checkAllProducts(t, backend, rand.New(rand.NewPCG(seed, 5)), int(m), int(k), int(n))
		})
	})
}

// benchmarkProduct reports GFLOP/s for an m×k×n product run by fn; GFLOP per CPU-second
// (flops over the process's CPU time), the rate per core the code reached while it ran, which
// other load on a shared machine disturbs far less than wall time; and the rate as a share of
// the FMA peak (MeasurePeak) and of the VDPBF16PS peak (MeasureDotPeak, where there is one)
// measured right after, under the same load.
func benchmarkProduct(b *testing.B, m, k, n int, fn func()) {
	fn() // warm up the pool and the pack buffers
	cpu0 := processCPUTime()
	b.ResetTimer()
	for b.Loop() {
		fn()
	}
	flop := 2 * float64(m) * float64(k) * float64(n) * float64(b.N)
	rate := flop / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(rate, "GFLOP/s")
	if cpu := processCPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(flop/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
	if peak := MeasurePeak(); peak > 0 {
		b.ReportMetric(100*rate/peak, "%peak")
	}
	if peak := MeasureDotPeak(); peak > 0 {
		b.ReportMetric(100*rate/peak, "%bf16dot-peak")
	}
}

// gemmShapes are the benchmarked shapes: squares and Huginn-0125's prefill of 64 and of 16
// tokens through the attention's fused q, k, v projection (n_embd 5280 → 3·5280) and back
// through a projection of the same size the other way (3·5280 → 5280).
var gemmShapes = []struct {
	name    string
	m, k, n int
}{
	{"512", 512, 512, 512},
	{"1024", 1024, 1024, 1024},
	{"huginn-prefill-64x5280x15840", 64, 5280, 15840},
	{"huginn-prefill-16x5280x15840", 16, 5280, 15840},
	{"huginn-prefill-64x15840x5280", 64, 15840, 5280},
	{"huginn-prefill-16x15840x5280", 16, 15840, 5280},
}

func BenchmarkGemm(b *testing.B) {
	if fast == nil {
		b.Skip("no assembly kernels on this CPU, so gemm is never called")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range gemmShapes {
		x, out := randomSlice(rng, s.m*s.k, 0), make([]float32, s.m*s.n)
		b.Run(s.name+"/f32", func(b *testing.B) {
			w := randomSlice(rng, s.n*s.k, 0)
			benchmarkProduct(b, s.m, s.k, s.n, func() { gemm(out, s.n, s.m, s.n, s.k, rowMajor(x, s.k), weightsF32(w, s.k), false) })
		})
		b.Run(s.name+"/bf16", func(b *testing.B) {
			w := randomBF16(rng, s.n*s.k, 0)
			benchmarkProduct(b, s.m, s.k, s.n, func() { gemm(out, s.n, s.m, s.n, s.k, rowMajor(x, s.k), weightsBF16(w, s.k), false) })
		})
		b.Run(s.name+"/linear-bf16", func(b *testing.B) { // the path LinearBF16 takes for m rows
			w := randomBF16(rng, s.n*s.k, 0)
			benchmarkProduct(b, s.m, s.k, s.n, func() { LinearBF16(out, x, w, s.m, s.k, s.n) })
		})
		b.Run(s.name+"/matmul", func(b *testing.B) {
			w := randomSlice(rng, s.n*s.k, 0)
			benchmarkProduct(b, s.m, s.k, s.n, func() { gemm(out, s.n, s.m, s.n, s.k, rowMajor(x, s.k), colMajor(w, s.n), false) })
		})
	}
	b.Run("512/portable-baseline", func(b *testing.B) {
		saved := fast
		defer func() { fast = saved }()
		fast = nil // Linear now takes the portable Go path it takes on CPUs without AVX2
		x, w, out := randomSlice(rng, 512*512, 0), randomSlice(rng, 512*512, 0), make([]float32, 512*512)
		benchmarkProduct(b, 512, 512, 512, func() { Linear(out, x, w, 512, 512, 512) })
	})
	b.Run("1024/accumulate-transposed", func(b *testing.B) {
		x, dy, dw := randomSlice(rng, 1024*1024, 0), randomSlice(rng, 1024*1024, 0), make([]float32, 1024*1024)
		benchmarkProduct(b, 1024, 1024, 1024, func() { gemm(dw, 1024, 1024, 1024, 1024, colMajor(dy, 1024), colMajor(x, 1024), true) })
	})
}

// BenchmarkGemmKernel runs the micro-kernel alone on packed panels that stay in L1, on every
// worker: the ceiling the whole GEMM can reach on this machine at this moment.
func BenchmarkGemmKernel(b *testing.B) {
	if fast == nil {
		b.Skip("no assembly micro-kernel on this CPU")
	}
	const kc, reps = 256, 64
	s := fast
	a, bp := make([]float32, kc*s.mr), make([]float32, kc*s.nr)
	benchmarkProduct(b, s.mr*Workers()*reps, kc, s.nr, func() {
		Parallel(Workers(), func(lo, hi int) {
			c := make([]float32, s.mr*s.nr)
			for range reps * (hi - lo) {
				s.kernel(kc, &a[0], &bp[0], &c[0], s.nr, true)
			}
		})
	})
}
