package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// q8Case holds random q8_0 weights n×k (scales of varied size, quants over the full int8
// range, -128 included) and activations m×k.
type q8Case struct {
	m, k, n int
	x       []float32
	q       []int8
	d       []uint16
}

func newQ8Case(rng *rand.Rand, m, k, n int) q8Case {
	c := q8Case{m: m, k: k, n: n, x: normals(rng, m*k), q: make([]int8, n*k), d: make([]uint16, n*k/Q8Block)}
	for i := range c.q {
		c.q[i] = int8(rng.IntN(256) - 128)
	}
	for i := range c.d {
		c.d[i] = Float32ToF16(float32(rng.ExpFloat64()) / 256)
	}
	return c
}

// weight returns weight p of row j widened, d·q.
func (c q8Case) weight(j, p int) float32 {
	return F16ToFloat32(c.d[(j*c.k+p)/Q8Block]) * float32(c.q[j*c.k+p])
}

// exact returns out's float64 value by the definition (activations quantized by
// QuantizeQ8Activations up to MaxFewRows rows, fp32 beyond) and the fp32 rounding bound of
// any summation order.
func (c q8Case) exact() (exact, bound []float64) {
	if c.m > MaxFewRows {
		return gemvBound(c.x, c.weight, c.m, c.k, c.n)
	}
	blocks := c.k / Q8Block
	qx, dx := make([]int8, c.m*c.k), make([]float32, c.m*blocks)
	for i := range c.m {
		QuantizeQ8Activations(qx[i*c.k:(i+1)*c.k], dx[i*blocks:(i+1)*blocks], c.x[i*c.k:(i+1)*c.k])
	}
	exact, bound = make([]float64, c.m*c.n), make([]float64, c.m*c.n)
	for i := range c.m {
		for r := range c.n {
			var s, a float64
			for b := range blocks {
				var si, sa int64
				for p := b * Q8Block; p < (b+1)*Q8Block; p++ {
					v := int64(c.q[r*c.k+p]) * int64(qx[i*c.k+p])
					si += v
					sa += max(v, -v)
				}
				scale := float64(F16ToFloat32(c.d[r*blocks+b])) * float64(dx[i*blocks+b])
				s += scale * float64(si)
				a += math.Abs(scale) * float64(sa)
			}
			exact[i*c.n+r], bound[i*c.n+r] = s, float64(blocks+10)*0x1p-23*a
		}
	}
	return exact, bound
}

// TestLinearQ8MatchesDefinition checks the assembly and portable q8_0 products on awkward
// shapes (one run, odd run counts, n not a multiple of anything, m = 1…17, prefills through
// several k-slabs and both blocked products) against the exact value of what LinearQ8
// documents.
func TestLinearQ8MatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 0))
	for _, s := range []struct{ m, k, n int }{{1, 32, 1}, {2, 64, 3}, {3, 96, 7}, {17, 160, 5}, {5, 5280, 9}, {1, 32 * 33, 65},
		{4, 32 * 131, 6}, {16, 96, 37}, {40, 1120, 45}, {23, 32, 16}, {520, 256, 40}} {
		c := newQ8Case(rng, s.m, s.k, s.n)
		exact, bound := c.exact()
		for _, impl := range []string{"fast", "go"} {
			out := randomSlice(rng, c.m*c.n, 1)
			run := func() { LinearQ8(out, c.x, c.q, c.d, c.m, c.k, c.n) }
			if impl == "go" {
				portable(run)
			} else {
				run()
			}
			checkGemv(t, fmt.Sprintf("%s %s q8_0 %+v", impl, Backend(), s), out, exact, bound)
		}
	}
}

// TestQ8PrefillRowsDoNotDependOnRowCount checks that a q8_0 product of more than MaxFewRows
// rows computes each row bitwise as a product of more rows holding it does, wherever the row
// sits (what chunked prefill rests on), across several k-slabs and a partial panel of weights.
func TestQ8PrefillRowsDoNotDependOnRowCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 5))
	const m, chunk = 3*(MaxFewRows+1) + 7, MaxFewRows + 1
	for _, kn := range [][2]int{{64, 160}, {1120, 45}, {3008, 100}} {
		k, n := kn[0], kn[1]
		c := newQ8Case(rng, m, k, n)
		for _, impl := range []string{"fast", "go"} {
			whole := make([]float32, m*n)
			product := func(out, x []float32, rows int) { LinearQ8(out, x, c.q, c.d, rows, k, n) }
			run := func(f func()) { f() }
			if impl == "go" {
				run = portable
			}
			run(func() { product(whole, c.x, m) })
			for _, span := range [][2]int{{0, chunk}, {5, 5 + chunk}, {chunk, 3 * chunk}, {m - chunk - 1, m}} {
				lo, hi := span[0], span[1]
				part := make([]float32, (hi-lo)*n)
				run(func() { product(part, c.x[lo*k:hi*k], hi-lo) })
				if !slices.Equal(part, whole[lo*n:hi*n]) {
					t.Errorf("%s %d×%d: rows %d..%d alone differ from the same rows of a %d-row product", impl, k, n, lo, hi, m)
				}
			}
		}
	}
}

// TestLinearQ8NonFinite checks that a NaN or an infinity in a row of x makes that row's
// outputs NaN and leaves the other rows exact.
func TestLinearQ8NonFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 1))
	c := newQ8Case(rng, 3, 96, 5)
	c.x[40] = float32(math.NaN())
	c.x[2*96+95] = float32(math.Inf(-1))
	for _, impl := range []string{"fast", "go"} {
		out := make([]float32, 15)
		run := func() { LinearQ8(out, c.x, c.q, c.d, 3, 96, 5) }
		if impl == "go" {
			portable(run)
		} else {
			run()
		}
		for i, v := range out {
			if row := i / 5; (row != 1) != math.IsNaN(float64(v)) {
				t.Fatalf("%s: out[%d] = %g (row %d has a non-finite input: %v)", impl, i, v, row, row != 1)
			}
		}
	}
}

// TestQuantizeQ8 checks llama.cpp's weight quantization: every weight within half a step (of
// the fp32 scale, plus the fp16 rounding of the scale) of d·q, and non-finite runs refused.
func TestQuantizeQ8(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 2))
	w, q := normals(rng, Q8Block), make([]int8, Q8Block)
	w[3] = -4 // the largest magnitude: quantized to -127 exactly
	d, ok := QuantizeQ8(q, w)
	if !ok || q[3] != -127 {
		t.Fatalf("QuantizeQ8: ok %v, q[3] = %d", ok, q[3])
	}
	step := float64(F16ToFloat32(d))
	for i, v := range w {
		if e := math.Abs(float64(v) - step*float64(q[i])); e > step/2+127*step*0x1p-11 {
			t.Fatalf("w[%d] = %g quantized to %d × %g, error %g", i, v, q[i], step, e)
		}
	}
	if _, ok := QuantizeQ8(q, make([]float32, Q8Block)); !ok || q[0] != 0 {
		t.Fatal("an all-zero run must quantize to zeros")
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), 1e9} {
		w[5] = bad
		if _, ok := QuantizeQ8(q, w); ok {
			t.Fatalf("QuantizeQ8 accepted a run holding %g", bad)
		}
	}
}

// TestF16 checks the half-precision conversions: every half survives a round trip, and
// rounding is to nearest, ties to even, with overflow to infinity.
func TestF16(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToFloat32(uint16(h))
		back := Float32ToF16(f)
		if f == f && back != uint16(h) || f != f && back&0x7c00 != 0x7c00 {
			t.Fatalf("half %#04x → %g → %#04x", h, f, back)
		}
	}
	for _, c := range []struct {
		f float32
		h uint16
	}{{1 + 0x1p-11, 0x3c00}, {1 + 3*0x1p-11, 0x3c02}, {65504, 0x7bff}, {65519, 0x7bff}, {65520, 0x7c00},
		{-1e6, 0xfc00}, {0x1p-25, 0}, {0x1p-25 * 1.5, 1}, {0x1p-24, 1}, {-0x1p-14, 0x8400}} {
		if got := Float32ToF16(c.f); got != c.h {
			t.Fatalf("Float32ToF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
}

// BenchmarkQ8Rows reports the aggregate rows per second of q8_0 products with m = 1, 2, 4, 8,
// 16 rows through Huginn-0125's fused q, k, v weights (15840×5280), as a ratio to m = 1, with
// the multi-row kernel ("q8"), without it ("q8-1row") and, where the VNNI kernels are in use,
// with the AVX2 ones instead ("q8-avx2"), and m = 1's time against the bf16
// product's on the same shape, all interleaved in one run (times: workTime's, see BenchmarkRows).
func BenchmarkQ8Rows(b *testing.B) {
	if fast == nil {
		b.Skip("no assembly kernels")
	}
	const n, k = 15840, 5280
	rng := rand.New(rand.NewPCG(6, 8))
	c := newQ8Case(rng, MaxFewRows, k, n)
	wb := randomBF16(rng, n*k, 0)
	out := make([]float32, MaxFewRows*n)
	ms := []int{1, 2, 4, 8, 16}
	saved := fast
	defer func() { fast = saved }()
	oneRow := *fast
	oneRow.q8DotN = nil
	impls := map[string]*isa{"q8": saved, "q8-1row": &oneRow}
	if other := avx2Q8(saved); other != nil {
		impls["q8-avx2"] = other
	}
	best := map[string][]float64{}
	keep := func(name string, i int, s float64) {
		if best[name] == nil {
			best[name] = make([]float64, len(ms))
		}
		if best[name][i] == 0 || s < best[name][i] {
			best[name][i] = s
		}
	}
	for b.Loop() {
		for name, impl := range impls {
			fast = impl
			for i, m := range ms {
				keep(name, i, workTime(func() { LinearQ8(out, c.x, c.q, c.d, m, k, n) }))
			}
		}
		fast = saved
		keep("bf16", 0, workTime(func() { LinearBF16(out, c.x, wb, 1, k, n) }))
	}
	for name := range impls {
		for i, m := range ms[1:] {
			b.ReportMetric(float64(m)*best[name][0]/best[name][i+1], fmt.Sprintf("%s-m%d/m1", name, m))
		}
		b.ReportMetric(best[name][0]*1e3, name+"-m1-ms")
		b.ReportMetric(best[name][len(ms)-1]*1e3, name+"-m16-ms")
	}
	b.ReportMetric(best["bf16"][0]*1e3, "bf16-m1-ms")
	b.ReportMetric(best["q8"][0]/best["bf16"][0], "q8/bf16-m1")
}
