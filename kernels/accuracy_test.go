package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBF16PathAccuracy measures every bf16 path (and both splits of x for VDPBF16PS) against
// the float64 product on Huginn-sized rows (k = 5280, N(0, 1) activations, bf16 weights of
// N(0, 0.02²)), logs the largest error relative to Σ|w·x| and to |w·x|, and checks each
// stays within its bound (gemvBoundPath):
//
//	go test ./kernels -run BF16PathAccuracy -v
func TestBF16PathAccuracy(t *testing.T) {
	if fast == nil {
		t.Skip("no assembly kernels: the portable path is the reference's order")
	}
	const m, k, n = 4, 5280, 64
	rng := rand.New(rand.NewPCG(11, 12))
	x := normals(rng, m*k)
	w := make([]uint16, n*k)
	for i := range w {
		w[i] = Float32ToBF16(float32(rng.NormFloat64() * 0.02))
	}
	saved := dpParts
	defer func() { dpParts = saved }()
	for p := range numPaths {
		if !fast.runs(p, true) {
			continue
		}
		splits := []int{dpParts}
		if p == pathDP {
			splits = []int{2, 1}
		}
		for _, parts := range splits {
			dpParts = parts
			out := make([]float32, m*n)
			linearPath(fast, p, out, rowMajor(x, k), weightsBF16(w, k), m, k, n)
			exact, bound := gemvBoundPath(x, func(j, q int) float32 { return BF16ToFloat32(w[j*k+q]) }, m, k, n, p)
			var maxAbs, maxRel, maxOfSum float64
			for i, e := range exact {
				d := math.Abs(float64(out[i]) - e)
				if !(d <= bound[i]) {
					t.Errorf("%s parts=%d: out[%d] = %g, exact %g, |diff| %g > bound %g", p, parts, i, out[i], e, d, bound[i])
				}
				sumAbs := sumAbsProducts(x[i/n*k:][:k], w[i%n*k:][:k])
				maxAbs, maxRel, maxOfSum = max(maxAbs, d), max(maxRel, d/math.Abs(e)), max(maxOfSum, d/sumAbs)
			}
			label := p.String()
			if p == pathDP {
				label += map[int]string{1: " (x rounded)", 2: " (x split hi/lo)"}[parts]
			}
			t.Logf("%-24s max abs %.3g, max rel %.3g, max error / Σ|w·x| %.3g", label, maxAbs, maxRel, maxOfSum)
		}
	}
}

// sumAbsProducts is Σ|x_p·w_p| in float64.
func sumAbsProducts(x []float32, w []uint16) float64 {
	s := 0.0
	for p, v := range x {
		s += math.Abs(float64(v) * float64(BF16ToFloat32(w[p])))
	}
	return s
}
