package trace

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestExitStep(t *testing.T) {
	r := []Readout{{Step: 4, KL: 0.3}, {Step: 8, KL: 2e-4}, {Step: 12, KL: 1e-6}}
	for thr, want := range map[float64]int{1e-3: 8, 1e-5: 12, 1e-9: 0} {
		if got := ExitStep(r, thr); got != want {
			t.Errorf("threshold %g: exit step %d, want %d", thr, got, want)
		}
	}
}

// Two traces whose difference halves every step: the median and largest relative distances
// fall by 2 per step, and the largest belongs to the token that started furthest away.
func TestSeedDistances(t *testing.T) {
	const steps, tokens, dim = 10, 3, 4
	a := &States{Steps: steps, Tokens: tokens, Dim: dim, Data: make([]float32, (steps+1)*tokens*dim)}
	b := &States{Steps: steps, Tokens: tokens, Dim: dim, Data: make([]float32, len(a.Data))}
	for ti := 0; ti <= steps; ti++ {
		for i := range tokens {
			x, y := a.At(ti, i), b.At(ti, i)
			x[0] = 1
			copy(y, x)
			y[1] = float32(float64(i+1) * math.Pow(0.5, float64(ti)))
		}
	}
	median, largest, err := SeedDistances(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for ti := range median {
		wantMed, wantMax := 2*math.Pow(0.5, float64(ti)), 3*math.Pow(0.5, float64(ti))
		if math.Abs(median[ti]-wantMed) > 1e-6*wantMed || math.Abs(largest[ti]-wantMax) > 1e-6*wantMax {
			t.Errorf("step %d: median %g largest %g, want %g and %g", ti, median[ti], largest[ti], wantMed, wantMax)
		}
	}
	if err := PathIndependence([][]float64{median}, [][]float64{largest}, []uint64{0, 1}, filepath.Join(t.TempDir(), "pi")); err != nil {
		t.Fatal(err)
	}
	other := &States{Steps: steps, Tokens: tokens + 1, Dim: dim}
	if _, _, err := SeedDistances(a, other); err == nil {
		t.Error("traces of different shapes were compared")
	}
}

func TestTextPictureWritesBothFormats(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "text")
	toks := []Token{{Text: "a b", ExitStep: 3, Stats: Stats{Label: FixedPoint}}, {Text: "\n", Stats: Stats{Label: Orbit}}}
	if err := TextPicture(toks, 32, 1e-3, prefix); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".png", ".svg"} {
		if fi, err := os.Stat(prefix + ext); err != nil || fi.Size() == 0 {
			t.Errorf("%s%s: %v", prefix, ext, err)
		}
	}
}
