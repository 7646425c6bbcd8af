package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ulpDiff is how many float32 steps apart got is from the correctly rounded e^x.
func ulpDiff(got float32, x float32) float64 {
	want := float32(math.Exp(float64(x)))
	ulp := math.Nextafter32(want, float32(math.Inf(1))) - want
	return math.Abs(float64(got-want)) / float64(ulp)
}

func TestExpAccuracy(t *testing.T) {
	worst, at := 0.0, float32(0)
	// Every 97th float32 bit pattern of the valid range, both signs.
	for bits := uint32(0); bits <= 0x42b17217; bits += 97 {
		for _, x := range []float32{math.Float32frombits(bits), -math.Float32frombits(bits)} {
			if x < expMin || x > expMax {
				continue
			}
			if d := ulpDiff(Exp(x), x); d > worst {
				worst, at = d, x
			}
		}
	}
	if worst > 2 {
		t.Errorf("Exp is %.2f ulp off at x = %v", worst, at)
	}
	t.Logf("worst error %.2f ulp at x = %v", worst, at)
}

func TestExpSpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	for x, want := range map[float32]float32{0: 1, -inf: 0, inf: inf, 89: inf, -88: 0, -1e30: 0, 1e30: inf} {
		if got := Exp(x); got != want {
			t.Errorf("Exp(%v) = %v, want %v", x, got, want)
		}
	}
	if got := Exp(float32(math.NaN())); got == got {
		t.Errorf("Exp(NaN) = %v", got)
	}
	if got := Exp(expMax); math.IsInf(float64(got), 0) || ulpDiff(got, expMax) > 2 {
		t.Errorf("Exp(%v) = %v, want the largest finite powers", float32(expMax), got)
	}
}

// TestExpScaledMatchesScalar checks that the assembly path gives Exp's bits, on awkward lengths
// and on values that hit every branch: the range ends, both sides of them, infinities, NaN, and
// halfway points of the rounding of x·log2 e.
func TestExpScaledMatchesScalar(t *testing.T) {
	inf := float32(math.Inf(1))
	special := []float32{0, -0.0, 1, -1, expMax, expMin, 88.5, 88.72, 88.73, -87.3, -87.34, -103, -104,
		inf, -inf, float32(math.NaN()), 0.5 * 0.6931472, -1.5 * 0.6931472, 1e-30, -1e-30, 1e30, -1e30}
	rng := rand.New(rand.NewPCG(3, 3))
	eachFastPath(t, func(s *isa) {
		for _, n := range []int{1, 7, 8, 9, 15, 16, 63, 65, 1000} {
			src := make([]float32, n)
			for i := range src {
				if i%3 == 0 {
					src[i] = special[(i/3)%len(special)]
				} else {
					src[i] = float32(rng.NormFloat64() * 40)
				}
			}
			for _, c := range []struct{ scale, shift float32 }{{1, 0}, {-1, 0}, {1, 3.5}, {0.125, -2}} {
				got := make([]float32, n)
				ExpScaled(got, src, c.scale, c.shift)
				for i, v := range src {
					want := Exp(float32(c.scale*v) - c.shift)
					if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
						t.Fatalf("%s n=%d scale %g shift %g: exp of element %d (%g) = %g, scalar %g",
							s.name, n, c.scale, c.shift, i, v, got[i], want)
					}
				}
			}
		}
	})
}

func BenchmarkExp(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i)/256 - 8
	}
	out := make([]float32, len(x))
	b.Run("kernels.Exp", func(b *testing.B) {
		for range b.N {
			for i, v := range x {
				out[i] = Exp(v)
			}
		}
	})
	b.Run("kernels.ExpScaled", func(b *testing.B) {
		for range b.N {
			ExpScaled(out, x, 1, 0)
		}
	})
	b.Run("math.Exp", func(b *testing.B) {
		for range b.N {
			for i, v := range x {
				out[i] = float32(math.Exp(float64(v)))
			}
		}
	})
}
