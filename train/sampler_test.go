package train

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// TestSamplerStatistics checks the recurrence sampler against the reference's distribution
// (fixture README item 9): r̄ = 32, k̄ = 8, 100 000 seeded draws.
func TestSamplerStatistics(t *testing.T) {
	s := RecurrenceSampler{Mean: 32, BackpropDepth: 8, Sigma: 0.5}
	rng := rand.New(rand.NewPCG(2024, 0))
	const draws = 100000
	totals := make([]int, draws)
	var sumR, sumK float64
	for i := range totals {
		r := s.Sample(rng)
		if r.K < 1 || r.K > 8 || r.N < 0 || (r.N > 0 && r.K != 8) {
			t.Fatalf("draw %d: invalid recurrence %+v", i, r)
		}
		totals[i] = r.Total()
		sumR += float64(r.Total())
		sumK += float64(r.K)
	}
	sort.Ints(totals)
	mean, meanK := sumR/draws, sumK/draws
	median, p99 := totals[draws/2], totals[int(math.Ceil(0.99*draws))-1]
	t.Logf("mean(n+k) %.3f, median %d, p99 %d, mean(k) %.4f", mean, median, p99, meanK)
	if math.Abs(mean-33) > 0.25 {
		t.Errorf("mean(n+k) = %.3f, want 33 ± 0.25", mean)
	}
	if abs(median-29) > 1 {
		t.Errorf("median(n+k) = %d, want 29 ± 1", median)
	}
	if abs(p99-94) > 3 {
		t.Errorf("p99(n+k) = %d, want 94 ± 3", p99)
	}
	if math.Abs(meanK-7.982) > 0.003 {
		t.Errorf("mean(k) = %.4f, want 7.982 ± 0.003", meanK)
	}
}

func abs(x int) int { return max(x, -x) }

// TestPoissonMoments checks both branches of the Poisson sampler: mean and variance equal λ.
func TestPoissonMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, lambda := range []float64{0.5, 3, 9.9, 10, 32, 400} {
		const n = 50000
		var s, ss float64
		for i := 0; i < n; i++ {
			k := float64(poisson(rng, lambda))
			s += k
			ss += k * k
		}
		mean := s / n
		variance := ss/n - mean*mean
		se := math.Sqrt(lambda / n)
		if math.Abs(mean-lambda) > 5*se || math.Abs(variance-lambda) > 0.05*lambda+5*se {
			t.Errorf("Poisson(%v): mean %.4f, variance %.4f", lambda, mean, variance)
		}
	}
}

func TestFixedRecurrence(t *testing.T) {
	s := RecurrenceSampler{Mean: 32, BackpropDepth: 8, Sigma: 0.5, Fixed: &Recurrence{N: 3, K: 2}}
	if r := s.Sample(rand.New(rand.NewPCG(1, 1))); r != (Recurrence{3, 2}) {
		t.Errorf("fixed sampler drew %+v", r)
	}
}
