package generate

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// logitsOf returns logits whose softmax is p.
func logitsOf(p ...float64) []float32 {
	out := make([]float32, len(p))
	for i, x := range p {
		out[i] = float32(math.Log(x))
	}
	return out
}

// frequencies draws n tokens and returns their empirical distribution.
func frequencies(s *sampler, logits []float32, n int) []float64 {
	f := make([]float64, len(logits))
	for range n {
		f[s.next(logits, nil)]++
	}
	for i := range f {
		f[i] /= float64(n)
	}
	return f
}

func newSampler(opt Sampling) *sampler {
	return &sampler{Sampling: opt, rng: rand.New(rand.NewPCG(1, 2))}
}

func TestSamplingFilters(t *testing.T) {
	logits := logitsOf(0.5, 0.3, 0.15, 0.05)
	const n = 40000
	cases := []struct {
		name string
		opt  Sampling
		want []float64
	}{
		{"plain", Sampling{Temperature: 1}, []float64{0.5, 0.3, 0.15, 0.05}},
		{"top-k 2", Sampling{Temperature: 1, TopK: 2}, []float64{0.625, 0.375, 0, 0}},
		// the reference drops a token once the cumulative mass including it exceeds top_p
		{"top-p 0.85", Sampling{Temperature: 1, TopP: 0.85}, []float64{0.625, 0.375, 0, 0}},
		{"top-p 0.4 keeps the first", Sampling{Temperature: 1, TopP: 0.4}, []float64{1, 0, 0, 0}},
		{"min-p 0.25", Sampling{Temperature: 1, MinP: 0.25}, []float64{0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
		{"temperature 0.5", Sampling{Temperature: 0.5}, []float64{25 / 36.5, 9 / 36.5, 2.25 / 36.5, 0.25 / 36.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := frequencies(newSampler(c.opt), logits, n)
			for i := range got {
				// 5 standard errors of a binomial proportion
				tol := 5 * math.Sqrt(c.want[i]*(1-c.want[i])/n)
				if math.Abs(got[i]-c.want[i]) > tol || (c.want[i] == 0 && got[i] != 0) {
					t.Fatalf("frequencies %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestGreedyAndRepetitionPenalty(t *testing.T) {
	logits := []float32{2, -1, 1.5, 0.5}
	if got := newSampler(Sampling{}).next(logits, []int{0, 1}); got != 0 {
		t.Fatalf("greedy without penalty picked %d, want 0", got)
	}
	s := newSampler(Sampling{RepetitionPenalty: 2})
	if got := s.next(logits, []int{0, 1, 0}); got != 2 {
		t.Fatalf("greedy with penalty 2 picked %d, want 2 (2/2 = 1 < 1.5)", got)
	}
	if got := s.penalized(logits, []int{1, 1, 99, -5}); !slices.Equal(got, []float64{2, -2, 1.5, 0.5}) {
		t.Fatalf("penalized %v: a negative logit is multiplied once, out-of-range ids ignored", got)
	}
}

func TestDrawNeverPicksZeroMass(t *testing.T) {
	p := []float64{0, 0.25, 0, 0.75, 0}
	for _, u := range []float64{0, 0.2499, 0.25, 0.9999999} {
		if got := draw(p, u); p[got] == 0 {
			t.Fatalf("draw(%v) picked %d with zero mass", u, got)
		}
	}
}
