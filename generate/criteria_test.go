package generate

import (
	"math"
	"testing"
)

func TestCriterionNamesAndAutoThresholds(t *testing.T) {
	auto := map[string]float64{"entropy-diff": 1e-3, "latent-diff": 0.03, "cosine": 1e-3, "kl": 1e-3, "minp-kl": 1e-5, "argmax-stability": 5, "none": 0}
	for _, name := range CriterionNames() {
		want, ok := auto[name]
		if !ok {
			t.Errorf("criterion %q has no reference auto threshold", name)
			continue
		}
		if got := criteria[name].auto; got != want {
			t.Errorf("%s: auto threshold %g, reference %g", name, got, want)
		}
		if _, err := NewCriterion(name, nil, 8); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(CriterionNames()) != len(auto) {
		t.Errorf("criteria %v, want %d", CriterionNames(), len(auto))
	}
}

// KL is KL(previous ‖ current), starting from the uniform distribution.
func TestKLDirectionAndUniformStart(t *testing.T) {
	c, _ := NewCriterion("kl", ptr(0.01), 4)
	c.Reset(nil, 1)
	p := []float64{0.7, 0.1, 0.1, 0.1}
	q := []float64{0.4, 0.3, 0.2, 0.1}
	_, v1 := c.Check(Observation{Logits: logitsOf(p...), S: 1})
	if want := kl([]float64{0.25, 0.25, 0.25, 0.25}, p); math.Abs(v1-want) > 1e-6 {
		t.Fatalf("first value %g, want KL(uniform‖p) = %g", v1, want)
	}
	exit, v2 := c.Check(Observation{Logits: logitsOf(q...), S: 1})
	if want := kl(p, q); math.Abs(v2-want) > 1e-6 || exit != (want < 0.01) {
		t.Fatalf("second value %g (exit %v), want KL(p‖q) = %g (KL(q‖p) = %g)", v2, exit, want, kl(q, p))
	}
}

// minp-kl replaces probabilities below 0.1·max by 1/V before the KL.
func TestMinPKLMasksSmallProbabilities(t *testing.T) {
	c, _ := NewCriterion("minp-kl", nil, 4)
	c.Reset(nil, 1)
	_, v := c.Check(Observation{Logits: logitsOf(0.91, 0.05, 0.03, 0.01), S: 1})
	masked := []float64{0.91, 0.25, 0.25, 0.25}
	for i := range masked {
		masked[i] /= 1.66
	}
	if want := kl([]float64{0.25, 0.25, 0.25, 0.25}, masked); math.Abs(v-want) > 1e-6 {
		t.Fatalf("value %g, want %g", v, want)
	}
}

func kl(p, q []float64) float64 {
	s := 0.0
	for i := range p {
		s += p[i] * math.Log(p[i]/q[i])
	}
	return s
}

func TestLatentCriteria(t *testing.T) {
	s0 := []float32{0, 0, 0, 0}
	s1 := []float32{3, 4, 1, 0}
	s2 := []float32{3, 4, 1, 0.1}

	cos, _ := NewCriterion("cosine", nil, 0)
	cos.Reset(s0, 2)
	if exit, v := cos.Check(Observation{State: s1, S: 2}); !math.IsNaN(v) || exit {
		t.Fatalf("cosine from a zero state: %g (exit %v), want NaN and no exit", v, exit)
	}
	_, v := cos.Check(Observation{State: s2, S: 2})
	want := 1 - (1+1/math.Sqrt(1.01))/2 // position 0 unchanged, position 1 rotated
	if math.Abs(v-want) > 1e-7 {
		t.Fatalf("cosine value %g, want %g", v, want)
	}

	ld, _ := NewCriterion("latent-diff", ptr(0.04), 0)
	ld.Reset(s1, 2)
	exit, v := ld.Check(Observation{State: s2, S: 2})
	if want := (0 + 0.1/math.Sqrt(1.01)) / 2; math.Abs(v-want) > 1e-7 || exit {
		t.Fatalf("latent-diff %g (exit %v), want %g and no exit at 0.04", v, exit, want)
	}
}

func TestArgmaxStabilityCounts(t *testing.T) {
	c, _ := NewCriterion("argmax-stability", ptr(2), 3)
	c.Reset(nil, 1)
	seq := [][]float32{{1, 0, 0}, {2, 0, 0}, {0, 3, 0}, {0, 4, 0}, {0, 5, 0}}
	wantValues := []float64{0, 1, 0, 1, 2}
	for i, l := range seq {
		exit, v := c.Check(Observation{Logits: l, S: 1})
		if v != wantValues[i] || exit != (v >= 2) {
			t.Fatalf("check %d: %g (exit %v), want %g", i, v, exit, wantValues[i])
		}
	}
}

func TestEntropyDiffStartsFrom100(t *testing.T) {
	c, _ := NewCriterion("entropy-diff", nil, 2)
	c.Reset(nil, 1)
	_, v := c.Check(Observation{Logits: []float32{0, 0}, S: 1})
	if want := 100 - math.Log(2); math.Abs(v-want) > 1e-6 {
		t.Fatalf("first value %g, want %g", v, want)
	}
	exit, v := c.Check(Observation{Logits: []float32{0, 0}, S: 1})
	if v > 1e-12 || !exit {
		t.Fatalf("unchanged distribution: %g (exit %v)", v, exit)
	}
}
