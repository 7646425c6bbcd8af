package trace

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// synth draws trajectories of a known kind in R^dim: the dynamics live in a few coordinates
// around a base point of norm 1, and the whole trajectory is then rotated by a random
// orthogonal matrix and scaled by a random factor in [1e-3, 1e3].
type synth struct {
	rng      *rand.Rand
	dim, T   int
	rotation [][]float64
}

func newSynth(seed uint64, dim, T int) *synth {
	rng := rand.New(rand.NewPCG(seed, 1))
	return &synth{rng: rng, dim: dim, T: T, rotation: randomOrthogonal(rng, dim)}
}

// randomOrthogonal orthonormalises dim Gaussian vectors (Gram–Schmidt).
func randomOrthogonal(rng *rand.Rand, dim int) [][]float64 {
	q := make([][]float64, dim)
	for i := range q {
		v := make([]float64, dim)
		for j := range v {
			v[j] = rng.NormFloat64()
		}
		for k := 0; k < i; k++ {
			p := dot(v, q[k])
			for j := range v {
				v[j] -= p * q[k][j]
			}
		}
		q[i] = unit(v)
	}
	return q
}

func (s *synth) uniform(lo, hi float64) float64 { return lo + (hi-lo)*s.rng.Float64() }

// noise adds isotropic Gaussian noise of expected norm rel to v.
func (s *synth) noise(v []float64, rel float64) {
	sigma := rel / math.Sqrt(float64(s.dim))
	for j := range v {
		v[j] += sigma * s.rng.NormFloat64()
	}
}

// draw returns a trajectory of kind with its expected label. Coordinate 0 holds the base point;
// the motion uses coordinates 1–4.
func (s *synth) draw(kind string) ([][]float64, string) {
	x := make([][]float64, s.T+1)
	rho, amp := s.uniform(0.5, 0.85), s.uniform(0.1, 1)
	period := s.uniform(6, 14)
	if s.rng.IntN(2) == 0 {
		period = float64(2 + s.rng.IntN(4))
	}
	theta := 2 * math.Pi / period
	v := s.uniform(1e-3, 1e-2)
	walk := make([]float64, s.dim)
	want := map[string]string{"exp": FixedPoint, "damped": FixedPoint, "slow": Converging, "slowspiral": Converging,
		"rotation": Orbit, "drift": Slider, "walk": NotConverged}[kind]
	if kind == "slow" || kind == "slowspiral" {
		rho, amp = s.uniform(0.95, 0.97), s.uniform(0.5, 1)
	}
	if kind == "rotation" {
		amp = s.uniform(0.01, 0.3)
	}
	for t := range x {
		p := make([]float64, s.dim)
		p[0] = 1
		ft := float64(t)
		noise := 1e-6
		switch kind {
		case "exp", "slow":
			p[1] = amp * math.Pow(rho, ft)
		case "damped", "slowspiral", "rotation":
			r := amp
			if kind != "rotation" {
				r *= math.Pow(rho, ft)
			} else {
				noise = 0.05 * amp
			}
			p[1], p[2] = r*math.Cos(theta*ft), r*math.Sin(theta*ft)
			p[3], p[4] = 0.3*r*math.Cos(2*theta*ft), 0.3*r*math.Sin(2*theta*ft)
		case "drift":
			p[1] = v * ft
			p[2] = 0.5 * math.Pow(0.7, ft) // a transient that has died out by the tail
			noise = 0.05 * v
		case "walk":
			if t > 0 {
				s.noise(walk, v)
			}
			copy(p, walk)
			p[0] += 1
		}
		s.noise(p, noise)
		x[t] = p
	}
	return s.embed(x), want
}

// embed rotates and scales a trajectory.
func (s *synth) embed(x [][]float64) [][]float64 {
	scale := math.Pow(10, s.uniform(-3, 3))
	out := make([][]float64, len(x))
	for t, p := range x {
		out[t] = make([]float64, s.dim)
		for i, row := range s.rotation {
			out[t][i] = scale * dot(row, p)
		}
	}
	return out
}

func TestClassifySynthetic(t *testing.T) {
	s := newSynth(7, 96, 128)
	kinds := []string{"exp", "damped", "slow", "slowspiral", "rotation", "drift", "walk"}
	const perKind = 30
	confusion := map[[2]string]int{}
	for _, kind := range kinds {
		for range perKind {
			x, want := s.draw(kind)
			st := DefaultCriteria.Classify(x)
			confusion[[2]string{want, st.Label}]++
			if st.Label != want {
				t.Logf("%s labelled %s: %+v", kind, st.Label, st)
			}
		}
	}
	t.Log("\n" + precisionRecall(confusion))
	for _, l := range AllLabels {
		p, r := score(confusion, l)
		if p < 0.95 || r < 0.95 {
			t.Errorf("%s: precision %.3f recall %.3f, want both ≥ 0.95", l, p, r)
		}
	}
}

func score(confusion map[[2]string]int, label string) (precision, recall float64) {
	var tp, predicted, actual int
	for k, n := range confusion {
		if k[0] == label {
			actual += n
		}
		if k[1] == label {
			predicted += n
		}
		if k[0] == label && k[1] == label {
			tp += n
		}
	}
	return float64(tp) / float64(max(predicted, 1)), float64(tp) / float64(max(actual, 1))
}

func precisionRecall(confusion map[[2]string]int) string {
	var b strings.Builder
	b.WriteString("| label | precision | recall |\n|---|---|---|\n")
	for _, l := range AllLabels {
		p, r := score(confusion, l)
		fmt.Fprintf(&b, "| %s | %.3f | %.3f |\n", l, p, r)
	}
	return b.String()
}

func TestOrbitPeriodAndSliderVelocity(t *testing.T) {
	s := newSynth(3, 64, 128)
	for _, period := range []float64{2, 3, 4, 5, 6.5, 9.3, 14} {
		x := make([][]float64, 129)
		for i := range x {
			a := 2 * math.Pi * float64(i) / period
			x[i] = []float64{1, 0.1 * math.Cos(a), 0.1 * math.Sin(a)}
			x[i] = append(x[i], make([]float64, 61)...)
			s.noise(x[i], 0.005)
		}
		st := DefaultCriteria.Classify(s.embed(x))
		if st.Label != Orbit || math.Abs(st.Period-period) > 0.05*period {
			t.Errorf("rotation of period %g: %s with period %.2f", period, st.Label, st.Period)
		}
	}
	// a pure drift of 1e-2 per step relative to a unit base point, along coordinate 1
	x := make([][]float64, 129)
	for i := range x {
		x[i] = []float64{1, 0.01 * float64(i), 0}
	}
	st := DefaultCriteria.Classify(x)
	if st.Label != Slider {
		t.Fatalf("drift labelled %s", st.Label)
	}
	if d := st.Direction; math.Abs(d[1]-1) > 1e-9 {
		t.Errorf("direction %v, want (0, 1, 0)", d)
	}
	if st.Velocity < 0.005 || st.Velocity > 0.01 {
		t.Errorf("velocity %g, want 0.01 per step over a state norm of 1–1.4", st.Velocity)
	}
}
