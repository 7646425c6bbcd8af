package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// gemvCase is one matrix-vector product y = W·x (W is n×k) with m input rows.
type gemvCase struct{ m, k, n int }

// gemvBound returns, for every output, the fp32 rounding bound k·ε·Σ_p|x_p·w_p| around the exact
// value (ε = 2⁻²⁴): any summation order, fused or not, stays within it. exact holds the
// float64 results.
func gemvBound(x []float32, w func(j, p int) float32, m, k, n int) (exact, bound []float64) {
	return gemvBoundPath(x, w, m, k, n, pathGemv)
}

// gemvBoundPath is gemvBound for bf16 weights along path p: for pathDP, dpSlack is added.
func gemvBoundPath(x []float32, w func(j, p int) float32, m, k, n int, path path) (exact, bound []float64) {
	rel := float64(k) * 0x1p-24
	if parts := dpPartsOf(path); parts > 0 {
		rel += dpSlackParts(k, parts)
	}
	exact, bound = make([]float64, m*n), make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s, a float64
			for p := range k {
				v := float64(x[i*k+p]) * float64(w(j, p))
				s += v
				a += math.Abs(v)
			}
			exact[i*n+j], bound[i*n+j] = s, rel*a
		}
	}
	return exact, bound
}

// dpSlack is what pathDP adds to the rounding bound of a k-step bf16 product, relative to
// Σ|w·x| (dpSlackParts for dpParts parts).
func dpSlack(k int) float64 { return dpSlackParts(k, dpParts) }

// dpSlackParts is what a VDPBF16PS product with parts parts of x adds to the rounding bound of a
// k-step bf16 product, relative to Σ|w·x|: x's split error (at most 2⁻¹⁶·|x| split, 2⁻⁸·|x|
// rounded) and the sums of its extra parts.
func dpSlackParts(k, parts int) float64 {
	return float64((parts-1)*k)*0x1p-24*(1+0x1p-8) + map[int]float64{1: 0x1p-8, 2: 0x1p-16}[parts]
}

// dpPartsOf is the number of bf16 parts of x a bf16 product along path p hands to VDPBF16PS:
// dpParts on pathDP, the packed GEMM's on pathPacked where that is the VDPBF16PS one, else 0.
func dpPartsOf(p path) int {
	switch {
	case p == pathDP:
		return dpParts
	case p == pathPacked && fast != nil:
		return fast.bf16Packed().parts
	}
	return 0
}

// bf16PathInUse is the path LinearBF16 takes for m rows (pathGemv for the portable code).
func bf16PathInUse(m int) path {
	if fast == nil {
		return pathGemv
	}
	return fast.pathFor(true, m)
}

// checkGemv compares got with the exact results within bound.
func checkGemv(t *testing.T, name string, got []float32, exact, bound []float64) {
	t.Helper()
	for i, e := range exact {
		if d := math.Abs(float64(got[i]) - e); !(d <= bound[i]) {
			t.Fatalf("%s: out[%d] = %g, exact %g, |diff| %g > bound %g", name, i, got[i], e, d, bound[i])
		}
	}
}

// runGemv computes the case with the implementation in use, through Linear and LinearBF16,
// on slices offset by one element so nothing is 64-byte aligned.
func runGemv(t *testing.T, c gemvCase, rng *rand.Rand) {
	t.Helper()
	x := randomSlice(rng, c.m*c.k, 1)
	wf := randomSlice(rng, c.n*c.k, 1)
	wb := randomBF16(rng, c.n*c.k, 1)
	out := make([]float32, c.m*c.n+1)[1:]

	Linear(out, x, wf, c.m, c.k, c.n)
	exact, bound := gemvBound(x, func(j, p int) float32 { return wf[j*c.k+p] }, c.m, c.k, c.n)
	checkGemv(t, fmt.Sprintf("%s f32 %+v", Backend(), c), out, exact, bound)

	LinearBF16(out, x, wb, c.m, c.k, c.n)
	exact, bound = gemvBoundPath(x, func(j, p int) float32 { return BF16ToFloat32(wb[j*c.k+p]) }, c.m, c.k, c.n, bf16PathInUse(c.m))
	checkGemv(t, fmt.Sprintf("%s bf16 %+v", Backend(), c), out, exact, bound)
}

func TestGemvAwkwardSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	forEachISA(t, func(string) {
		for _, k := range []int{1, 7, 15, 16, 17, 31, 32, 33, 63, 65, 1000, 5280} {
			for _, n := range []int{1, 3, 4, 7, 65, 1000} {
				ms := []int{1, 2, 8}
				if k*n > 1<<20 { // the float64 reference dominates: one batched case suffices
					ms = ms[1:2]
				}
				for _, m := range ms {
					runGemv(t, gemvCase{m, k, n}, rng)
				}
			}
		}
	})
}

// TestGemvMatchesPortable checks the assembly results against the portable path's on the same
// inputs, within the sum of both rounding bounds.
func TestGemvMatchesPortable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const k, n = 1000, 65
	x, w := randomSlice(rng, k, 1), randomBF16(rng, n*k, 1)
	portable := make([]float32, n)
	saved := fast
	fast = nil
	LinearBF16(portable, x, w, 1, k, n)
	fast = saved
	forEachISA(t, func(name string) {
		_, bound := gemvBoundPath(x, func(j, p int) float32 { return BF16ToFloat32(w[j*k+p]) }, 1, k, n, bf16PathInUse(1))
		got := make([]float32, n)
		LinearBF16(got, x, w, 1, k, n)
		for j := range got {
			if d := math.Abs(float64(got[j] - portable[j])); !(d <= 2*bound[j]) {
				t.Fatalf("%s: out[%d] = %g, portable %g, |diff| %g > %g", name, j, got[j], portable[j], d, 2*bound[j])
			}
		}
	})
}

// TestGemvNonFinite checks that NaN and ±Inf reach the outputs they belong to, in the vector
// body and in the tail, and nowhere else; the memory just past x and W holds NaN so that a
// kernel reading beyond its operands would show.
func TestGemvNonFinite(t *testing.T) {
	const k, n = 37, 6
	forEachISA(t, func(name string) {
		for _, p := range []int{0, 20, k - 1} {
			xb := make([]float32, k+16)
			wb := make([]uint16, n*k+16)
			for i := range xb {
				xb[i] = float32(math.NaN())
			}
			for i := range wb {
				wb[i] = Float32ToBF16(float32(math.NaN()))
			}
			x, w := xb[:k], wb[:n*k]
			for i := range x {
				x[i] = 1
			}
			for i := range w {
				w[i] = Float32ToBF16(0.5)
			}
			want := plantNonFinite(w, k, p)
			out := make([]float32, n)
			LinearBF16(out, x, w, 1, k, n)
			for j, v := range out {
				if !(float64(v) == want[j] || math.IsNaN(want[j]) && v != v) {
					t.Fatalf("%s: non-finite weight at column %d: out = %v, want %v", name, p, out, want)
				}
			}
			x[p] = float32(math.NaN())
			LinearBF16(out, x, w, 1, k, n)
			for j, v := range out {
				if v == v {
					t.Fatalf("%s: NaN in x[%d] did not reach out[%d] = %g", name, p, j, v)
				}
			}
		}
	})
}

func TestGemvEmptyRows(t *testing.T) {
	forEachISA(t, func(name string) {
		out := []float32{1, 2, 3}
		Linear(out, nil, nil, 1, 0, 3)
		LinearBF16(out[1:], nil, nil, 1, 0, 2)
		for _, v := range out {
			if v != 0 {
				t.Fatalf("%s: k = 0 must give zeros, got %v", name, out)
			}
		}
	})
}

func FuzzGemv(f *testing.F) {
	f.Add(uint64(1), uint16(5280), uint16(7), uint8(1))
	f.Add(uint64(2), uint16(33), uint16(65), uint8(2))
	f.Fuzz(func(t *testing.T, seed uint64, k, n uint16, m uint8) {
		c := gemvCase{int(m)%(MaxFewRows+1) + 1, int(k) % 3000, int(n)%300 + 1}
		rng := rand.New(rand.NewPCG(seed, 5))
		forEachISA(t, func(string) { runGemv(t, c, rng) })
	})
}

// BenchmarkGemv streams Huginn-sized weights (≈ 189 MB in bf16, out of cache) through the
// decode GEMV. Each iteration also reads the same weight bytes with the bandwidth kernel that
// MeasureBandwidth uses, so both see the same load: it reports the GEMV's weight GB/s, the plain
// read's GB/s and their ratio. On a shared machine, where other processes take turns on the
// cores, the same figures per CPU-second (cpu-GB/s: bytes over process CPU time, times the
// worker count) are steadier. The m2 cases run two input rows over the same weights.
func BenchmarkGemv(b *testing.B) {
	const h, f = 5280, 17920
	b.Logf("backend %s", Backend())
	rng := rand.New(rand.NewPCG(6, 7))
	for _, s := range []struct{ n, k int }{{f, h}, {h, f}} {
		x := randomSlice(rng, 2*s.k, 0)
		out := make([]float32, 2*s.n)
		wb := randomBF16(rng, s.n*s.k, 0)
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&wb[0])), len(wb)/4)
		for m := 1; m <= 2; m++ {
			b.Run(fmt.Sprintf("bf16/m%d/%dx%d", m, s.n, s.k), func(b *testing.B) {
				benchmarkWeights(b, words, func() { LinearBF16(out, x, wb, m, s.k, s.n) })
			})
		}
		wb = nil
		wf := randomSlice(rng, s.n*s.k, 0)
		b.Run(fmt.Sprintf("f32/m1/%dx%d", s.n, s.k), func(b *testing.B) {
			benchmarkWeights(b, unsafe.Slice((*uint64)(unsafe.Pointer(&wf[0])), len(wf)/2),
				func() { Linear(out, x, wf, 1, s.k, s.n) })
		})
	}
}

// benchmarkWeights alternates fn, which reads the weights, with a plain parallel read of the
// same memory (words) and reports the GB/s of each and their ratio, by wall and by CPU time.
func benchmarkWeights(b *testing.B, words []uint64, fn func()) {
	fn()
	var gemv, read, gemvCPU, readCPU time.Duration
	for b.Loop() {
		gemv, gemvCPU = timed(gemv, gemvCPU, fn)
		read, readCPU = timed(read, readCPU, func() {
			Parallel(len(words)/16, func(lo, hi int) { bandwidthSink.Add(sumWords(words[16*lo : 16*hi])) })
		})
	}
	gb := float64(8*len(words)) * float64(b.N) / 1e9
	b.ReportMetric(gb/gemv.Seconds(), "GB/s")
	b.ReportMetric(gb/read.Seconds(), "read-GB/s")
	b.ReportMetric(read.Seconds()/gemv.Seconds(), "of-read")
	if gemvCPU > 0 && readCPU > 0 {
		workers := float64(min(Workers(), runtime.NumCPU()))
		b.ReportMetric(workers*gb/gemvCPU.Seconds(), "cpu-GB/s")
		b.ReportMetric(workers*gb/readCPU.Seconds(), "cpu-read-GB/s")
		b.ReportMetric(readCPU.Seconds()/gemvCPU.Seconds(), "cpu-of-read")
	}
}

// timed runs fn and adds its wall and process CPU time to the totals.
func timed(wall, cpu time.Duration, fn func()) (time.Duration, time.Duration) {
	start, startCPU := time.Now(), processCPUTime()
	fn()
	return wall + time.Since(start), cpu + processCPUTime() - startCPU
}

// BenchmarkMeasureBandwidth reports MeasureBandwidth on 1 GiB, what `latent bench` prints.
func BenchmarkMeasureBandwidth(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(MeasureBandwidth(1<<30), "GB/s")
	}
}

// plantNonFinite puts +Inf, −Inf, NaN and +Inf beside −Inf at step p of weight rows 1 to 4 of
// w (six rows of k, all else 0.5, to be multiplied by x of ones) and returns what each of the
// six outputs must then be.
func plantNonFinite(w []uint16, k, p int) []float64 {
	w[1*k+p] = Float32ToBF16(float32(math.Inf(1)))
	w[2*k+p] = Float32ToBF16(float32(math.Inf(-1)))
	w[3*k+p] = Float32ToBF16(float32(math.NaN()))
	w[4*k+p], w[4*k+(p+1)%k] = Float32ToBF16(float32(math.Inf(1))), Float32ToBF16(float32(math.Inf(-1)))
	return []float64{float64(k) * 0.5, math.Inf(1), math.Inf(-1), math.NaN(), math.NaN(), float64(k) * 0.5}
}
