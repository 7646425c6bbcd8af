package generate

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Criterion decides, after a recurrence, whether the token being computed may stop iterating.
// It is the Go form of the reference's PerIterationExitEvaluator: a new criterion is one type
// that implements these three methods (plus a line in the criteria table to reach it by name).
type Criterion interface {
	// Reset starts a new token from the initial raw state s0 of S positions.
	Reset(s0 []float32, S int)
	// NeedsLogits says whether Check reads the logits; the generator then runs the coda (which
	// rewrites the coda KV slots) before each check, as the reference does.
	NeedsLogits() bool
	// Check sees the raw state after a recurrence and, when NeedsLogits, the logits of the last
	// position, and returns whether to exit and the value it tested.
	Check(obs Observation) (exit bool, value float64)
}

// Observation is what a criterion sees after one recurrence.
type Observation struct {
	State  []float32 // raw state s_t [S×h]
	S      int       // positions in State (the whole prompt during prefill, else 1)
	Logits []float32 // logits of the last position; nil unless the criterion NeedsLogits
}

// criterionSpec describes a named criterion: its "auto" threshold, the thresholds it accepts and
// how to build it.
type criterionSpec struct {
	auto  float64
	check func(thr float64) error
	build func(thr float64, vocab int) Criterion
}

// criteria are the exit criteria of the reference's get_adaptive_exit_evaluator, by name.
var criteria = map[string]criterionSpec{
	"entropy-diff": {1e-3, nonNegative, func(thr float64, _ int) Criterion { return &entropyDiff{thr: thr} }},
	"latent-diff":  {0.03, nonNegative, func(thr float64, _ int) Criterion { return &latentDiff{thr: thr} }},
	"cosine":       {1e-3, cosineRange, func(thr float64, _ int) Criterion { return &cosineDiff{thr: thr} }},
	"kl":           {1e-3, nonNegative, func(thr float64, v int) Criterion { return &klDiv{thr: thr, vocab: v} }},
	"minp-kl":      {1e-5, nonNegative, func(thr float64, v int) Criterion { return &klDiv{thr: thr, vocab: v, minP: 0.1} }},
	"argmax-stability": {5, positiveInteger, func(thr float64, _ int) Criterion {
		return &argmaxStability{thr: int(thr)}
	}},
	"none": {0, func(float64) error { return nil }, func(float64, int) Criterion { return never{} }},
}

// CriterionNames lists the exit criteria known by name, sorted.
func CriterionNames() []string {
	names := make([]string, 0, len(criteria))
	for n := range criteria {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NewCriterion builds the named exit criterion. threshold nil means the reference's "auto"
// value; vocab is the logits width (padded vocabulary).
func NewCriterion(name string, threshold *float64, vocab int) (Criterion, error) {
	spec, ok := criteria[name]
	if !ok {
		return nil, fmt.Errorf("exit criterion %q is unknown (want one of %v)", name, CriterionNames())
	}
	thr := spec.auto
	if threshold != nil {
		thr = *threshold
		if math.IsNaN(thr) || math.IsInf(thr, 0) {
			return nil, fmt.Errorf("exit criterion %q: threshold %v is not a finite number", name, thr)
		}
		if err := spec.check(thr); err != nil {
			return nil, fmt.Errorf("exit criterion %q: threshold %v %w", name, thr, err)
		}
	}
	return spec.build(thr, vocab), nil
}

func nonNegative(thr float64) error {
	if thr < 0 {
		return fmt.Errorf("must not be negative")
	}
	return nil
}

func cosineRange(thr float64) error {
	if thr < 0 || thr > 2 {
		return fmt.Errorf("must lie in [0, 2] (1 − cosine similarity)")
	}
	return nil
}

func positiveInteger(thr float64) error {
	if thr < 1 || thr != math.Trunc(thr) || thr > 1<<20 {
		return fmt.Errorf("must be a whole number of steps ≥ 1")
	}
	return nil
}

// never is the "none" criterion: it checks and never exits.
type never struct{}

func (never) Reset([]float32, int)              {}
func (never) NeedsLogits() bool                 { return false }
func (never) Check(Observation) (bool, float64) { return false, 0 }

// entropyDiff exits when the entropy of the next-token distribution changes by less than thr
// between checks; the first check compares against an entropy of 100.
type entropyDiff struct {
	thr, prev float64
}

func (c *entropyDiff) Reset([]float32, int) { c.prev = 100 }
func (c *entropyDiff) NeedsLogits() bool    { return true }

func (c *entropyDiff) Check(obs Observation) (bool, float64) {
	p := softmax(obs.Logits)
	h := 0.0
	for _, pi := range p {
		h -= pi * math.Log(pi+1e-10)
	}
	v := math.Abs(h - c.prev)
	c.prev = h
	return v < c.thr, v
}

// latentDiff exits when the relative change ‖s_t − s_{t−1}‖/‖s_t‖ of the raw state, averaged
// over positions, falls below thr; the first check compares against s0.
type latentDiff struct {
	thr  float64
	prev []float32
}

func (c *latentDiff) Reset(s0 []float32, _ int) { c.prev = slices.Clone(s0) }
func (c *latentDiff) NeedsLogits() bool         { return false }

func (c *latentDiff) Check(obs Observation) (bool, float64) {
	h := len(obs.State) / obs.S
	sum := 0.0
	for i := range obs.S {
		cur, prev := obs.State[i*h:(i+1)*h], c.prev[i*h:(i+1)*h]
		var diff, norm float64
		for j := range cur {
			d := float64(cur[j]) - float64(prev[j])
			diff += d * d
			norm += float64(cur[j]) * float64(cur[j])
		}
		sum += math.Sqrt(diff) / math.Sqrt(norm)
	}
	c.prev = slices.Clone(obs.State)
	v := sum / float64(obs.S)
	return v < c.thr, v
}

// cosineDiff exits when 1 − cos(s_t, s_{t−1}), with the cosine averaged over positions, falls
// below thr. From a zero s0 the first value is 0/0 = NaN, which never exits (as in the reference).
type cosineDiff struct {
	thr  float64
	prev []float32
}

func (c *cosineDiff) Reset(s0 []float32, _ int) { c.prev = slices.Clone(s0) }
func (c *cosineDiff) NeedsLogits() bool         { return false }

func (c *cosineDiff) Check(obs Observation) (bool, float64) {
	h := len(obs.State) / obs.S
	sum := 0.0
	for i := range obs.S {
		cur, prev := obs.State[i*h:(i+1)*h], c.prev[i*h:(i+1)*h]
		var dot, nc, np float64
		for j := range cur {
			dot += float64(cur[j]) * float64(prev[j])
			nc += float64(cur[j]) * float64(cur[j])
			np += float64(prev[j]) * float64(prev[j])
		}
		sum += dot / math.Sqrt(nc) / math.Sqrt(np)
	}
	c.prev = slices.Clone(obs.State)
	v := 1 - sum/float64(obs.S)
	return v < c.thr, v
}

// klDiv exits when KL(p_{t−1} ‖ p_t) of the last position's next-token distribution falls below
// thr (the direction of the reference's F.kl_div(log p_t, log p_{t−1}, log_target=True)); the
// first check compares against the uniform distribution. With minP > 0 (minp-kl) probabilities
// below minP·max are first replaced by 1/V and the distribution renormalised.
type klDiv struct {
	thr   float64
	vocab int
	minP  float64
	prev  []float64 // log-probabilities of the previous check
}

func (c *klDiv) NeedsLogits() bool { return true }

func (c *klDiv) Reset([]float32, int) {
	c.prev = make([]float64, c.vocab)
	for i := range c.prev {
		c.prev[i] = math.Log(1 / float64(c.vocab))
	}
}

func (c *klDiv) Check(obs Observation) (bool, float64) {
	logp := c.logProbs(obs.Logits)
	v := 0.0
	for i, lq := range c.prev {
		v += math.Exp(lq) * (lq - logp[i])
	}
	c.prev = logp
	return v < c.thr, v
}

func (c *klDiv) logProbs(logits []float32) []float64 {
	p := softmax(logits)
	if c.minP > 0 {
		cut := c.minP * slices.Max(p)
		sum := 0.0
		for i := range p {
			if p[i] < cut {
				p[i] = 1 / float64(len(p))
			}
			sum += p[i]
		}
		for i := range p {
			p[i] /= sum
		}
	}
	for i := range p {
		p[i] = math.Log(p[i])
	}
	return p
}

// argmaxStability exits once the last position's argmax has stayed the same for thr consecutive
// checks; its value is that count.
type argmaxStability struct {
	thr, prev, stable int
}

func (c *argmaxStability) Reset([]float32, int) { c.prev, c.stable = -1, 0 }
func (c *argmaxStability) NeedsLogits() bool    { return true }

func (c *argmaxStability) Check(obs Observation) (bool, float64) {
	cur := argmax(obs.Logits)
	if cur == c.prev {
		c.stable++
	} else {
		c.stable = 0
	}
	c.prev = cur
	return c.stable >= c.thr, float64(c.stable)
}

// softmax returns the float64 probabilities of logits.
func softmax[T float32 | float64](logits []T) []float64 {
	p := make([]float64, len(logits))
	hi := math.Inf(-1)
	for _, l := range logits {
		hi = max(hi, float64(l))
	}
	sum := 0.0
	for i, l := range logits {
		p[i] = math.Exp(float64(l) - hi)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// argmax returns the index of the first largest value.
func argmax[T float32 | float64](v []T) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
