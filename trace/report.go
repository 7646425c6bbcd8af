package trace

import (
	"encoding/json"
	"fmt"
	"github.com/latentlab/latent/internal/atomicfile"
	"math"
	"sort"
)

// Token is one token's trajectory summary in trace.json.
type Token struct {
	Index     int       `json:"index"`
	ID        int       `json:"id"`
	Text      string    `json:"text"`
	Generated bool      `json:"generated,omitempty"` // part of the greedy continuation
	Depth     int       `json:"depth,omitempty"`     // task prompts: the sequential work of the answer here
	StepSize  []float64 `json:"step_size,omitempty"` // ‖x_t − x_{t−1}‖/‖x_t‖, t = 1 … T
	DistFinal []float64 `json:"dist_final"`          // ‖x_t − x_T‖, t = 0 … T
	// SettledAt is the first step from which ‖x_t − x_T‖/‖x_T‖ stays below the criteria's ε.
	SettledAt int       `json:"settled_at"`
	Readouts  []Readout `json:"readouts,omitempty"`
	// ExitStep is, in parallel mode, the first readout step at which the kl exit criterion (KL
	// between consecutive readouts below the trace's exit threshold) would stop the token (0: not
	// within the trace); in replay mode the step at which the generation stopped it.
	ExitStep int `json:"exit_step"`
	// SeedSpread is, over the other initial states traced (--seeds), the largest
	// ‖x_T' − x_T‖/‖x_T‖: near 0 when the token reaches the same state from any s₀.
	SeedSpread float64 `json:"seed_spread,omitempty"`
	Stats
}

// Report is trace.json.
type Report struct {
	Mode          string         `json:"mode"`  // parallel (lockstep, cache-free) or replay (a real generation)
	State         string         `json:"state"` // normalized (ln_f(s_t)) or raw
	Steps         int            `json:"steps"`
	Seed          uint64         `json:"seed"`
	InitScale     float64        `json:"init_scale"`
	ReadoutStride int            `json:"readout_stride"`
	ExitThreshold float64        `json:"exit_threshold"`
	Counts        map[string]int `json:"counts"`
	PCA           *PCA           `json:"pca,omitempty"`
	Tokens        []Token        `json:"tokens"`
}

// ClassifyAll labels every token of s.
func (c Criteria) ClassifyAll(s *States) ([]Stats, error) {
	if s.Steps < c.MinSteps() {
		return nil, fmt.Errorf("trace: %d steps recorded, the criteria need at least %d", s.Steps, c.MinSteps())
	}
	out := make([]Stats, s.Tokens)
	for i := range out {
		out[i] = c.Classify(s.Token(i))
	}
	return out, nil
}

// Counts tallies the labels.
func Counts(stats []Stats) map[string]int {
	n := map[string]int{}
	for _, l := range AllLabels {
		n[l] = 0
	}
	for _, st := range stats {
		n[st.Label]++
	}
	return n
}

// DistFinal returns ‖x_t − x_T‖ of token i for t = 0 … T.
func (s *States) DistFinal(i int) []float64 {
	last := s.At(s.Steps, i)
	out := make([]float64, s.Steps+1)
	for t := range out {
		d := 0.0
		for j, v := range s.At(t, i) {
			dj := float64(v - last[j])
			d += dj * dj
		}
		out[t] = math.Sqrt(d)
	}
	return out
}

// WriteJSON writes r to path atomically.
func (r *Report) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	return nil
}

// Analyze labels every token of s, measures its distance to the final state, fits a 6-component
// PCA and returns the report; rec, when not nil, adds the step sizes and readouts Record
// measured. Token ids and texts are left to the caller.
func (c Criteria) Analyze(s *States, rec *Recorded) (*Report, error) {
	stats, err := c.ClassifyAll(s)
	if err != nil {
		return nil, err
	}
	pca, err := FitPCA(s, 6)
	if err != nil {
		return nil, err
	}
	r := &Report{Steps: s.Steps, Counts: Counts(stats), PCA: pca, Tokens: make([]Token, s.Tokens)}
	for i := range r.Tokens {
		d := s.DistFinal(i)
		r.Tokens[i] = Token{Index: i, DistFinal: d, SettledAt: settledAt(d, l2(s.Token(i)[s.Steps]), c.Eps), Stats: stats[i]}
		if rec != nil {
			r.Tokens[i].StepSize, r.Tokens[i].Readouts = rec.StepSize[i], rec.Readouts[i]
		}
	}
	return r, nil
}

// labelOrder ranks labels for choosing the tokens worth drawing: the unusual ones first.
var labelOrder = map[string]int{Orbit: 0, Slider: 1, NotConverged: 2, Converging: 3, FixedPoint: 4}

// Interesting returns up to n token indices, orbits first, then sliders, not converged,
// converging and fixed points, each group in token order.
func (r *Report) Interesting(n int) []int {
	idx := make([]int, len(r.Tokens))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return labelOrder[r.Tokens[idx[a]].Label] < labelOrder[r.Tokens[idx[b]].Label]
	})
	return idx[:min(n, len(idx))]
}

// settledAt is the first t from which dist[t] < eps·norm holds to the end.
func settledAt(dist []float64, norm, eps float64) int {
	t := len(dist) - 1
	for t > 0 && dist[t-1] < eps*norm {
		t--
	}
	return t
}

// FinalDistance returns, per token, ‖x_T(b) − x_T(a)‖/‖x_T(a)‖ of two traces of the same tokens.
func FinalDistance(a, b *States) ([]float64, error) {
	if err := comparable(a, b); err != nil {
		return nil, err
	}
	out := make([]float64, a.Tokens)
	for i := range out {
		out[i] = relDist(a.At(a.Steps, i), b.At(b.Steps, i))
	}
	return out, nil
}

// SeedDistances returns, per step t = 0 … Steps, the median and the largest over tokens of
// ‖x_t' − x_t‖/‖x_t‖ between two traces of the same tokens from different initial states: the
// path-independence curve, which falls to the noise floor when every token forgets where it
// started.
func SeedDistances(a, b *States) (median, largest []float64, err error) {
	if err := comparable(a, b); err != nil {
		return nil, nil, err
	}
	median, largest = make([]float64, a.Steps+1), make([]float64, a.Steps+1)
	d := make([]float64, a.Tokens)
	for t := range median {
		for i := range d {
			d[i] = relDist(a.At(t, i), b.At(t, i))
		}
		sort.Float64s(d)
		median[t], largest[t] = d[len(d)/2], d[len(d)-1]
	}
	return median, largest, nil
}

func comparable(a, b *States) error {
	if a.Tokens != b.Tokens || a.Dim != b.Dim || a.Steps != b.Steps {
		return fmt.Errorf("trace: traces of %d×%d×%d and %d×%d×%d states cannot be compared",
			a.Steps+1, a.Tokens, a.Dim, b.Steps+1, b.Tokens, b.Dim)
	}
	return nil
}

// relDist is ‖y − x‖/‖x‖.
func relDist(x, y []float32) float64 {
	var d, n float64
	for j := range x {
		dj := float64(y[j] - x[j])
		d += dj * dj
		n += float64(x[j]) * float64(x[j])
	}
	return math.Sqrt(d) / math.Max(math.Sqrt(n), math.SmallestNonzeroFloat64)
}
