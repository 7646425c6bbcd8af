package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// eachFastPath runs fn with every assembly implementation this CPU can run (opt-in ones
// included) that passes its self-test, restoring the implementation in use afterwards.
func eachFastPath(t *testing.T, fn func(s *isa)) {
	t.Helper()
	saved := fast
	defer func() { fast = saved }()
	ran := false
	for _, s := range allISAs() {
		if err := s.selfTest(); err != nil {
			t.Errorf("%s fails its self-test: %v", s.name, err)
			continue
		}
		fast, ran = s, true
		fn(s)
	}
	if !ran {
		t.Log("no assembly path on this CPU: only the portable code is exercised")
	}
}

// portable runs fn on the portable Go path.
func portable(fn func()) {
	saved := fast
	defer func() { fast = saved }()
	fast = nil
	fn()
}

func normals(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// sumBound returns, for a dot product computed in fp32 in any order, a bound on the distance
// between two such results: 2·(n+1)·2⁻²⁴·Σ|terms| (each is within (n+1)·ε·Σ|terms| of exact).
func sumBound(n int, absTerms float64) float64 {
	return 2*float64(n+1)*0x1p-24*absTerms + 1e-37
}

var awkwardLengths = []int{0, 1, 7, 15, 16, 17, 31, 63, 65, 1000}

func TestVectorHelpersMatchPortable(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	eachFastPath(t, func(s *isa) {
		for _, n := range awkwardLengths {
			a, b := normals(rng, n+1)[1:], normals(rng, n) // a starts unaligned
			var abs float64
			for i := range a {
				abs += math.Abs(float64(a[i] * b[i]))
			}
			got := Dot(a, b)
			var want float32
			portable(func() { want = Dot(a, b) })
			if d := math.Abs(float64(got - want)); d > sumBound(n, abs) {
				t.Errorf("%s Dot n=%d: %g, portable %g", s.name, n, got, want)
			}

			y1, y2 := normals(rng, n), make([]float32, n)
			copy(y2, y1)
			Axpy(y1, a, 0.37)
			portable(func() { Axpy(y2, a, 0.37) })
			for i := range y1 { // one FMA rounding against a product and a sum rounding
				if d := math.Abs(float64(y1[i] - y2[i])); d > 2*0x1p-24*(math.Abs(float64(y2[i]))+math.Abs(0.37*float64(a[i]))) {
					t.Errorf("%s Axpy n=%d: element %d = %g, portable %g", s.name, n, i, y1[i], y2[i])
				}
			}

			o1, o2 := make([]float32, n), make([]float32, n)
			Add(o1, a, b)
			portable(func() { Add(o2, a, b) })
			Scale(o1, -1.7)
			portable(func() { Scale(o2, -1.7) })
			for i := range o1 { // one rounding each, in the same order: identical
				if o1[i] != o2[i] {
					t.Errorf("%s Add+Scale n=%d: element %d = %g, portable %g", s.name, n, i, o1[i], o2[i])
				}
			}
		}
	})
}

// productCase is one shape for the public matrix products.
type productCase struct{ m, k, n int }

func (c productCase) String() string { return fmt.Sprintf("m=%d k=%d n=%d", c.m, c.k, c.n) }

// checkClose compares got and want elementwise, each element's bound given by bound(i).
func checkClose(t *testing.T, what string, got, want []float32, bound func(i int) float64) {
	t.Helper()
	bad := 0
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= bound(i)) {
			if bad++; bad <= 3 {
				t.Errorf("%s: element %d = %g, portable %g (bound %.3g)", what, i, got[i], want[i], bound(i))
			}
		}
	}
}

// TestProductsMatchPortable drives Linear, LinearBF16, MatMul and AccumulateTransposed through
// the public entry points (so the GEMV/GEMM choice by m is covered) on awkward shapes.
func TestProductsMatchPortable(t *testing.T) {
	var cases []productCase
	for _, m := range []int{1, 2, 3, 7, 13} {
		for _, k := range []int{1, 7, 63, 65, 1000} {
			for _, n := range []int{1, 7, 63, 65} {
				cases = append(cases, productCase{m, k, n})
			}
		}
	}
	cases = append(cases, productCase{130, 300, 257}, productCase{1, 5280, 37}, productCase{2, 4099, 9})
	rng := rand.New(rand.NewPCG(1, 9))
	eachFastPath(t, func(s *isa) {
		for _, c := range cases {
			checkProducts(t, s.name+" "+c.String(), rng, c)
		}
	})
}

func checkProducts(t *testing.T, label string, rng *rand.Rand, c productCase) {
	m, k, n := c.m, c.k, c.n
	x, w, b := normals(rng, m*k), normals(rng, n*k), normals(rng, k*n)
	wb := make([]uint16, len(w))
	wWide := make([]float32, len(w))
	for i, v := range w {
		wb[i] = Float32ToBF16(v)
		wWide[i] = BF16ToFloat32(wb[i])
	}
	// Σ_p |x(i,p)·w(j,p)| bounds the rounding of out(i, j) for Linear.
	linearAbs := func(w []float32) func(int) float64 {
		return func(idx int) float64 {
			i, j := idx/n, idx%n
			var s float64
			for p := range k {
				s += math.Abs(float64(x[i*k+p] * w[j*k+p]))
			}
			return sumBound(k, s)
		}
	}
	got, want := make([]float32, m*n), make([]float32, m*n)
	Linear(got, x, w, m, k, n)
	portable(func() { Linear(want, x, w, m, k, n) })
	checkClose(t, label+" Linear", got, want, linearAbs(w))

	LinearBF16(got, x, wb, m, k, n)
	portable(func() { LinearBF16(want, x, wb, m, k, n) })
	slack := 0.0
	if parts := dpPartsOf(bf16PathInUse(m)); parts > 0 {
		slack = dpSlackParts(k, parts)
	}
	bf16Abs := func(idx int) float64 { return linearAbs(wWide)(idx) * (1 + slack/sumBound(k, 1)) }
	checkClose(t, label+" LinearBF16", got, want, bf16Abs)

	MatMul(got, x, b, m, k, n)
	portable(func() { MatMul(want, x, b, m, k, n) })
	checkClose(t, label+" MatMul", got, want, func(idx int) float64 {
		i, j := idx/n, idx%n
		var s float64
		for p := range k {
			s += math.Abs(float64(x[i*k+p] * b[p*n+j]))
		}
		return sumBound(k, s)
	})

	dy := normals(rng, m*n)
	dw0 := normals(rng, n*k)
	gotW, wantW := append([]float32(nil), dw0...), append([]float32(nil), dw0...)
	AccumulateTransposed(gotW, dy, x, m, n, k)
	portable(func() { AccumulateTransposed(wantW, dy, x, m, n, k) })
	checkClose(t, label+" AccumulateTransposed", gotW, wantW, func(idx int) float64 {
		j, p := idx/k, idx%k
		s := math.Abs(float64(dw0[idx]))
		for i := range m {
			s += math.Abs(float64(dy[i*n+j] * x[i*k+p]))
		}
		return sumBound(m+1, s)
	})
}

func TestFloat32ToBF16Rounding(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want uint16
		why  string
	}{
		{0x3f800000, 0x3f80, "1.0 is exact"},
		{0x3f808000, 0x3f80, "tie rounds to even (down)"},
		{0x3f818000, 0x3f82, "tie rounds to even (up)"},
		{0x3f808001, 0x3f81, "above the tie rounds up"},
		{0x3f807fff, 0x3f80, "below the tie rounds down"},
		{0xbf808000, 0xbf80, "negative tie rounds to even"},
		{0x80000000, 0x8000, "-0 keeps its sign"},
		{0x00018000, 0x0002, "subnormal tie rounds to even"},
		{0x7f7f0000, 0x7f7f, "largest finite bf16 is exact"},
		{0x7f7f8000, 0x7f80, "tie above the largest finite rounds to +Inf"},
		{0x7f7fffff, 0x7f80, "largest finite float32 rounds to +Inf"},
		{0x7f800000, 0x7f80, "+Inf"},
		{0xff800000, 0xff80, "-Inf"},
		{0x7fc00000, 0x7fc0, "quiet NaN"},
		{0x7f800001, 0x7fc0, "signalling NaN whose payload is in the dropped bits stays NaN"},
		{0xff810000, 0xffc1, "negative signalling NaN is quieted, sign and payload kept"},
	} {
		if got := Float32ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x (%s)", c.in, got, c.want, c.why)
		}
	}
}

func TestBF16RoundTrip(t *testing.T) {
	for b := range 1 << 16 {
		f := BF16ToFloat32(uint16(b))
		if math.Float32bits(f) != uint32(b)<<16 {
			t.Fatalf("BF16ToFloat32(%#04x) = %#08x, want %#08x", b, math.Float32bits(f), uint32(b)<<16)
		}
		back := Float32ToBF16(f)
		if f != f { // NaN: must stay NaN
			if g := BF16ToFloat32(back); g == g {
				t.Fatalf("NaN %#04x became %#04x", b, back)
			}
			continue
		}
		if back != uint16(b) {
			t.Fatalf("bf16 %#04x widened and rounded back to %#04x", b, back)
		}
	}
}

func TestRMSNormPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{1, 7, 65, 5280} {
		x, w := normals(rng, n), normals(rng, n)
		for i := range x { // a wide dynamic range, where fp32 sums of squares lose digits
			x[i] *= float32(math.Pow(10, float64(i%7-3)))
		}
		const eps = 1e-6
		out := make([]float32, n)
		RMSNorm(out, x, w, eps)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		r := 1 / math.Sqrt(ss/float64(n)+eps)
		for i := range x {
			want := float64(x[i]) * r * float64(w[i])
			if d := math.Abs(float64(out[i]) - want); d > 4*0x1p-24*math.Abs(want) {
				t.Fatalf("n=%d: out[%d] = %g, want %g (relative error %.2g)", n, i, out[i], want, d/math.Abs(want))
			}
		}
	}
}

func TestRoPEInterleaved(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5}
	cos := []float32{float32(math.Cos(0.5)), 0}
	sin := []float32{float32(math.Sin(0.5)), 1}
	RoPEInterleaved(x, cos, sin)
	want := []float32{
		1*cos[0] - 2*sin[0], 2*cos[0] + 1*sin[0], // rotated by 0.5 rad
		-4, 3, // rotated by 90°
		5, // odd tail untouched
	}
	for i := range want {
		if math.Abs(float64(x[i]-want[i])) > 1e-6 {
			t.Errorf("x[%d] = %g, want %g", i, x[i], want[i])
		}
	}
}

func TestSoftmax(t *testing.T) {
	x := []float32{1, 2, float32(math.Inf(-1)), 3, 1000}
	Softmax(x)
	if x[2] != 0 {
		t.Errorf("-Inf entry became %g, want 0", x[2])
	}
	if x[4] < 0.999999 {
		t.Errorf("dominant entry %g, want ≈ 1", x[4])
	}
	y := []float32{0.5, -1, 2}
	Softmax(y)
	var z, sum float64
	for _, v := range []float64{0.5, -1, 2} {
		z += math.Exp(v)
	}
	for i, v := range []float64{0.5, -1, 2} {
		sum += float64(y[i])
		if d := math.Abs(float64(y[i]) - math.Exp(v)/z); d > 1e-7 {
			t.Errorf("softmax[%d] = %g, want %g", i, y[i], math.Exp(v)/z)
		}
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("softmax sums to %g", sum)
	}
}

func TestMaxIndex(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		x    []float32
		want int
	}{
		{[]float32{3}, 0},
		{[]float32{1, 5, 5, 2}, 1},
		{[]float32{-2, -1, nan, -3}, 1},
		{[]float32{float32(math.Inf(-1)), -1e30}, 1},
	} {
		if got := MaxIndex(c.x); got != c.want {
			t.Errorf("MaxIndex(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}

func TestSwiGLUAndSigmoid(t *testing.T) {
	gate := []float32{-200, -20, -1, 0, 0.5, 3, 40, 100, -0.25, 7}
	up := []float32{1, 2, -1, 5, 0.5, 1, -2, 1, 3, 0.1}
	act, sig := make([]float32, len(gate)), make([]float32, len(gate))
	SwiGLU(act, gate, up)
	Sigmoid(sig, gate)
	for i, g := range gate {
		s := 1 / (1 + math.Exp(-float64(g)))
		want := float64(g) * s * float64(up[i])
		if d := math.Abs(float64(act[i]) - want); d > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("SwiGLU(%g, %g) = %g, want %g", g, up[i], act[i], want)
		}
		if d := math.Abs(float64(sig[i]) - s); d > 1e-7 {
			t.Errorf("Sigmoid(%g) = %g, want %g", g, sig[i], s)
		}
	}
}

func TestTransposingPacks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	eachFastPath(t, func(s *isa) {
		for _, width := range []int{8, 16, 32} {
			for _, kc := range []int{8, 24, 64} {
				rs := kc + 5
				src := normals(rng, width*rs)
				srcBF16 := make([]uint16, len(src))
				want, wantBF16 := make([]float32, kc*width), make([]float32, kc*width)
				for i, v := range src {
					srcBF16[i] = Float32ToBF16(v)
				}
				for r := range width {
					for p := range kc {
						want[p*width+r] = src[r*rs+p]
						wantBF16[p*width+r] = BF16ToFloat32(srcBF16[r*rs+p])
					}
				}
				got := make([]float32, kc*width)
				s.packF32(&got[0], &src[0], rs, kc, width)
				if err := sameValues(fmt.Sprintf("%s fp32 pack width=%d kc=%d", s.name, width, kc), got, want); err != nil {
					t.Error(err)
				}
				s.packBF16(&got[0], &srcBF16[0], rs, kc, width)
				if err := sameValues(fmt.Sprintf("%s bf16 pack width=%d kc=%d", s.name, width, kc), got, wantBF16); err != nil {
					t.Error(err)
				}
			}
		}
		if s.pack6F32 == nil {
			return
		}
		for _, kc := range []int{8, 24, 64} {
			rs := kc + 3
			src := normals(rng, 6*rs)
			want := make([]float32, kc*6)
			for r := range 6 {
				for p := range kc {
					want[p*6+r] = src[r*rs+p]
				}
			}
			got := make([]float32, kc*6+2)
			got[kc*6], got[kc*6+1] = 7, 7
			s.pack6F32(&got[0], &src[0], rs, kc)
			if err := sameValues(fmt.Sprintf("%s 6-row pack kc=%d", s.name, kc), got[:kc*6], want); err != nil {
				t.Error(err)
			}
		}
	})
}

// BenchmarkMeasurePeak reports the FMA peak of all workers (MeasurePeak), the ceiling the
// GEMM benchmarks are compared against in the same run.
func BenchmarkMeasurePeak(b *testing.B) {
	if fast == nil {
		b.Skip("no assembly path: no FMA peak to measure")
	}
	for b.Loop() {
		b.ReportMetric(MeasurePeak(), "GFLOP/s")
		if fast.dpLoop != nil {
			b.ReportMetric(MeasureDotPeak(), "bf16dot-GFLOP/s")
		}
	}
}
