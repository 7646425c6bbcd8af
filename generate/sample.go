package generate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Sampling chooses how the next token is drawn from the logits. The zero value is greedy
// decoding. Filters apply in the reference's order: repetition penalty → temperature → softmax →
// top-k → top-p → min-p → renormalise → draw.
type Sampling struct {
	Temperature       float64 // 0: greedy (argmax); otherwise logits are divided by it
	TopK              int     // keep the K most likely tokens (0: off)
	TopP              float64 // keep the smallest prefix whose mass exceeds P, at least one (0 or 1: off)
	MinP              float64 // drop tokens below MinP × the top probability (0: off)
	RepetitionPenalty float64 // divide positive / multiply negative logits of seen tokens (0 or 1: off)
}

// Greedy reports whether tokens are chosen by argmax.
func (s Sampling) Greedy() bool { return s.Temperature == 0 }

func (s Sampling) validate() error {
	switch {
	case math.IsNaN(s.Temperature) || s.Temperature < 0 || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("sampling: temperature %v must be a finite number ≥ 0 (0 = greedy)", s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("sampling: top-k %d must not be negative", s.TopK)
	case !(s.TopP >= 0 && s.TopP <= 1):
		return fmt.Errorf("sampling: top-p %v must lie in [0, 1]", s.TopP)
	case !(s.MinP >= 0 && s.MinP < 1):
		return fmt.Errorf("sampling: min-p %v must lie in [0, 1)", s.MinP)
	case math.IsNaN(s.RepetitionPenalty) || s.RepetitionPenalty < 0 || math.IsInf(s.RepetitionPenalty, 0):
		return fmt.Errorf("sampling: repetition penalty %v must be a finite number ≥ 0 (0 or 1 = off)", s.RepetitionPenalty)
	}
	return nil
}

// sampler draws tokens with a Sampling and its own random stream.
type sampler struct {
	Sampling
	rng *rand.Rand
}

// penalized returns logits as float64 with the repetition penalty applied to every token in
// context (the Hugging Face rule).
func (s *sampler) penalized(logits []float32, context []int) []float64 {
	out := make([]float64, len(logits))
	for i, l := range logits {
		out[i] = float64(l)
	}
	p := s.RepetitionPenalty
	if p == 0 || p == 1 {
		return out
	}
	seen := make(map[int]bool, len(context))
	for _, id := range context {
		if id < 0 || id >= len(out) || seen[id] {
			continue
		}
		seen[id] = true
		if out[id] > 0 {
			out[id] /= p
		} else {
			out[id] *= p
		}
	}
	return out
}

// next draws the token that follows context from logits.
func (s *sampler) next(logits []float32, context []int) int {
	l := s.penalized(logits, context)
	if s.Greedy() {
		return argmax(l)
	}
	for i := range l {
		l[i] /= s.Temperature
	}
	p := softmax(l)
	if s.TopK > 0 && s.TopK < len(p) {
		sorted := append([]float64(nil), p...)
		sort.Sort(sort.Reverse(sort.Float64Slice(sorted)))
		zeroBelow(p, sorted[s.TopK-1])
	}
	if s.TopP > 0 && s.TopP < 1 {
		keepNucleus(p, s.TopP)
	}
	if s.MinP > 0 {
		hi := 0.0
		for _, x := range p {
			hi = max(hi, x)
		}
		zeroBelow(p, s.MinP*hi)
	}
	return draw(p, s.rng.Float64())
}

// zeroBelow sets every probability below cut to zero.
func zeroBelow(p []float64, cut float64) {
	for i := range p {
		if p[i] < cut {
			p[i] = 0
		}
	}
}

// keepNucleus zeroes the tokens outside the nucleus: walking down from the most likely, a token
// is dropped once the cumulative mass (itself included) exceeds topP; the first is always kept.
func keepNucleus(p []float64, topP float64) {
	order := make([]int, len(p))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return p[order[a]] > p[order[b]] })
	cum := 0.0
	for rank, i := range order {
		cum += p[i]
		if rank > 0 && cum > topP {
			p[i] = 0
		}
	}
}

// draw picks an index with probability proportional to p, using u ∈ [0, 1).
func draw(p []float64, u float64) int {
	sum := 0.0
	for _, x := range p {
		sum += x
	}
	target := u * sum
	last := 0
	for i, x := range p {
		if x <= 0 {
			continue
		}
		last = i
		if target < x {
			return i
		}
		target -= x
	}
	return last
}
