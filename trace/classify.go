package trace

import (
	"math"
)

// Labels of a trajectory.
const (
	FixedPoint   = "fixed_point"
	Orbit        = "orbit"
	Slider       = "slider"
	Converging   = "converging"
	NotConverged = "not_converged"
)

// AllLabels lists the labels in the order they are reported.
var AllLabels = []string{FixedPoint, Orbit, Slider, Converging, NotConverged}

// Criteria are the thresholds of Classify. All are ratios, cosines or correlations, so a
// trajectory gets the same label after any rotation, translation-free scaling and embedding
// in more dimensions.
type Criteria struct {
	Eps          float64 // fixed point: tail amplitude / state norm below this
	MinTail      int     // tail window W = max(MinTail, steps/4)
	Decay        float64 // converging: the step size shrinks below this factor across the tail
	Grow         float64 // not converged: the step size grows beyond this factor across the tail
	Straightness float64 // slider: net displacement / path length over the tail above this
	Alignment    float64 // slider: mean cosine of consecutive steps above this
	Periodicity  float64 // orbit: autocorrelation at the period above this
}

// DefaultCriteria are the thresholds the package comment justifies.
var DefaultCriteria = Criteria{Eps: 1e-3, MinTail: 16, Decay: 0.5, Grow: 2, Straightness: 0.9, Alignment: 0.8, Periodicity: 0.8}

// MinSteps is the fewest recurrences Classify accepts with the default criteria: the tail must
// hold two periods of the longest orbit it can report, and the head must be as long again.
func (c Criteria) MinSteps() int { return 2 * c.MinTail }

// Stats are the dimensionless statistics of one trajectory's tail and the label they give.
type Stats struct {
	Label        string    `json:"label"`
	Amplitude    float64   `json:"amplitude"`    // max ‖x_t − x̄‖ / ‖x̄‖ over the tail
	DecayRate    float64   `json:"decay_rate"`   // λ: fitted per-step factor of ‖x_t − x_{t−1}‖ over the tail
	TailDecay    float64   `json:"tail_decay"`   // λ^W: the step size's change across the tail
	Straightness float64   `json:"straightness"` // ‖x_T − x_{T−W}‖ / Σ ‖x_t − x_{t−1}‖
	Alignment    float64   `json:"alignment"`    // mean cos(Δ_t, Δ_{t−1})
	Period       float64   `json:"period,omitempty"`
	Correlation  float64   `json:"correlation,omitempty"` // autocorrelation at the period
	Velocity     float64   `json:"velocity,omitempty"`    // slider: mean ‖Δ_t‖ / ‖x_t‖ over the tail
	Direction    []float64 `json:"direction,omitempty"`   // slider: unit vector of the drift
	StepsNeeded  int       `json:"steps_needed,omitempty"`
	Tail         int       `json:"tail"` // W
}

// Classify labels the trajectory x_0 … x_T (T ≥ c.MinSteps(); every x_t of one length).
func (c Criteria) Classify(x [][]float64) Stats {
	T := len(x) - 1
	W := max(c.MinTail, T/4)
	tail := x[T-W:]
	st := Stats{Tail: W}
	mean := meanOf(tail)
	norm := math.Max(l2(mean), math.SmallestNonzeroFloat64)
	for _, v := range tail {
		st.Amplitude = math.Max(st.Amplitude, dist(v, mean)/norm)
	}
	if st.Amplitude < c.Eps {
		st.Label = FixedPoint
		return st
	}
	steps := diffs(tail)
	st.DecayRate = decayRate(steps, norm)
	st.TailDecay = math.Pow(st.DecayRate, float64(W))
	path := 0.0
	for _, d := range steps {
		path += l2(d)
	}
	st.Straightness = dist(tail[W], tail[0]) / math.Max(path, math.SmallestNonzeroFloat64)
	st.Alignment = meanAlignment(steps)
	switch {
	case st.TailDecay < c.Decay:
		st.Label = Converging
		st.StepsNeeded = int(math.Ceil(math.Log(c.Eps/st.Amplitude) / math.Log(st.DecayRate)))
	case st.TailDecay > c.Grow:
		st.Label = NotConverged
	case st.Straightness > c.Straightness && st.Alignment > c.Alignment:
		st.Label = Slider
		st.Velocity = path / float64(W) / norm
		st.Direction = unit(sub(tail[W], tail[0]))
	default:
		st.Label = NotConverged
		if p, corr, ok := period(tail, mean, c.Periodicity); ok {
			st.Label, st.Period, st.Correlation = Orbit, p, corr
		}
	}
	return st
}

// decayRate fits log ‖Δ_t‖ = a + t·log λ by least squares and returns λ; a zero step counts
// as 1e-12 of the state norm, the floor of float64 rounding.
func decayRate(steps [][]float64, norm float64) float64 {
	n := float64(len(steps))
	var st, sy, stt, sty float64
	for t, d := range steps {
		y := math.Log(math.Max(l2(d), 1e-12*norm))
		ft := float64(t)
		st, sy, stt, sty = st+ft, sy+y, stt+ft*ft, sty+ft*y
	}
	return math.Exp((n*sty - st*sy) / (n*stt - st*st))
}

// meanAlignment is the mean cosine between consecutive steps.
func meanAlignment(steps [][]float64) float64 {
	sum := 0.0
	for t := 1; t < len(steps); t++ {
		sum += cosine(steps[t-1], steps[t])
	}
	return sum / float64(len(steps)-1)
}

// period finds an orbit in the centred tail y_t = x_t − x̄: the normalised autocorrelation
// C(τ) = mean⟨y_t, y_{t+τ}⟩ / mean‖y_t‖² must fall below zero (the state swings to the other
// side of its centre) and then rise to a local maximum above minCorr at some τ ≤ W/2 (it comes
// back, twice within the tail). The period is refined between lags by a parabola through the
// peak and its neighbours.
func period(tail [][]float64, mean []float64, minCorr float64) (float64, float64, bool) {
	y := make([][]float64, len(tail))
	for t, v := range tail {
		y[t] = sub(v, mean)
	}
	maxLag := len(y) / 2
	c := make([]float64, maxLag+2)
	var power float64
	for _, v := range y {
		power += dot(v, v)
	}
	power /= float64(len(y))
	for tau := range c {
		s := 0.0
		for t := 0; t+tau < len(y); t++ {
			s += dot(y[t], y[t+tau])
		}
		c[tau] = s / float64(len(y)-tau) / power
	}
	dipped := false
	for tau := 1; tau <= maxLag; tau++ {
		dipped = dipped || c[tau] < 0
		if dipped && c[tau] > minCorr && c[tau] >= c[tau-1] && c[tau] >= c[tau+1] {
			return float64(tau) + parabolaPeak(c[tau-1], c[tau], c[tau+1]), c[tau], true
		}
	}
	return 0, 0, false
}

// parabolaPeak is the offset in (−½, ½) of the vertex of the parabola through (−1, a), (0, b), (1, c).
func parabolaPeak(a, b, c float64) float64 {
	den := a - 2*b + c
	if den >= 0 {
		return 0
	}
	return math.Max(-0.5, math.Min(0.5, 0.5*(a-c)/den))
}

func meanOf(xs [][]float64) []float64 {
	m := make([]float64, len(xs[0]))
	for _, x := range xs {
		for j, v := range x {
			m[j] += v
		}
	}
	for j := range m {
		m[j] /= float64(len(xs))
	}
	return m
}

func diffs(xs [][]float64) [][]float64 {
	out := make([][]float64, len(xs)-1)
	for t := range out {
		out[t] = sub(xs[t+1], xs[t])
	}
	return out
}

func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for j := range a {
		out[j] = a[j] - b[j]
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for j := range a {
		s += a[j] * b[j]
	}
	return s
}

func l2(a []float64) float64 { return math.Sqrt(dot(a, a)) }

func dist(a, b []float64) float64 {
	s := 0.0
	for j := range a {
		d := a[j] - b[j]
		s += d * d
	}
	return math.Sqrt(s)
}

func cosine(a, b []float64) float64 {
	n := l2(a) * l2(b)
	if n == 0 {
		return 0
	}
	return dot(a, b) / n
}

func unit(a []float64) []float64 {
	n := l2(a)
	out := make([]float64, len(a))
	for j, v := range a {
		if n > 0 {
			out[j] = v / n
		}
	}
	return out
}
