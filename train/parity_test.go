package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/safetensors"
)

type gradStat struct {
	L2     float64 `json:"l2"`
	MaxAbs float64 `json:"max_abs"`
}

// gradCase is one recorded (n, k) case: the loss and per-tensor gradient statistics.
type gradCase struct {
	NumSteps [2]int              `json:"num_steps"`
	Loss     float64             `json:"loss"`
	Stats    map[string]gradStat `json:"stats"`
}

// golden is the part of huginn-tiny/golden.json the gradient parity test reads.
type golden struct {
	Inputs struct {
		PromptIDs []int `json:"prompt_ids"`
		Labels    []int `json:"labels"`
	} `json:"inputs"`
	Item7 struct {
		Cases map[string]gradCase `json:"cases"`
	} `json:"item7_gradients"`
}

func loadGolden(t *testing.T) (*golden, string) {
	t.Helper()
	dir := filepath.Dir(fixtures.Path(t, "huginn-tiny", "golden.json"))
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return &g, dir
}

// gradTolerance is the README's per-tensor tolerance: max abs diff ≤ 1e-5 or ≤ 1e-4 × max|grad|.
func gradTolerance(maxAbs float64) float64 { return max(1e-5, 1e-4*maxAbs) }

func maxAbsDiff(a, b []float32) (diff, maxRef float64) {
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
		maxRef = max(maxRef, math.Abs(float64(b[i])))
	}
	return diff, maxRef
}

// referenceGradients runs the fixture's training call on the huginn-tiny checkpoint: batch 1,
// zero initial state, n steps without and k with gradient; it returns the model and the loss.
func referenceGradients(t *testing.T, g *golden, dir string, n, k int) (*Model, float64) {
	t.Helper()
	m, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	S := len(g.Inputs.PromptIDs)
	graph, err := NewGraph(m, 1, S, k)
	if err != nil {
		t.Fatal(err)
	}
	loss, count, err := graph.Forward(g.Inputs.PromptIDs, g.Inputs.Labels, make([]float32, S*m.Config.NEmbd), n, k)
	if err != nil {
		t.Fatal(err)
	}
	if count != 10 {
		t.Fatalf("labelled tokens = %d, want 10", count)
	}
	graph.Backward()
	return m, loss
}

// gradientCase computes one recorded (n, k) case's loss and gradients, checks the loss against
// the reference and opens the reference gradients.
func gradientCase(t *testing.T, g *golden, dir string, c gradCase) (*Model, float64, *safetensors.File) {
	t.Helper()
	m, loss := referenceGradients(t, g, dir, c.NumSteps[0], c.NumSteps[1])
	if math.Abs(loss-c.Loss) > 1e-5 {
		t.Errorf("loss = %.9f, reference %.9f", loss, c.Loss)
	}
	f, err := safetensors.Open(filepath.Join(dir, "grads.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return m, loss, f
}

func TestGradientParityN2K2(t *testing.T) {
	g, dir := loadGolden(t)
	c := g.Item7.Cases["n2k2"]
	m, loss, f := gradientCase(t, g, dir, c)
	defer f.Close()
	var worst float64
	for _, p := range m.Tensors {
		ref := readTensor(t, f, p.Name)
		diff, maxRef := maxAbsDiff(m.Gradient(p), ref)
		worst = max(worst, diff/gradTolerance(maxRef))
		if diff > gradTolerance(maxRef) {
			t.Errorf("%s: max abs diff %.3g > tolerance %.3g (max|grad| %.3g)", p.Name, diff, gradTolerance(maxRef), maxRef)
		}
	}
	t.Logf("loss %.9f (reference %.9f); worst gradient diff = %.3g × tolerance", loss, c.Loss, worst)
}

func TestGradientParityN0K3(t *testing.T) {
	g, dir := loadGolden(t)
	c := g.Item7.Cases["n0k3"]
	m, _, f := gradientCase(t, g, dir, c)
	defer f.Close()
	for _, p := range m.Tensors {
		grad := m.Gradient(p)
		stat, ok := c.Stats[p.Name]
		if !ok {
			t.Errorf("%s: no reference stats", p.Name)
			continue
		}
		tol := gradTolerance(stat.MaxAbs)
		ours := gradStat{L2: l2(grad), MaxAbs: maxAbs(grad)}
		// The l2 of a tensor moves by at most the l2 of the difference ≤ √size × max diff.
		if d := math.Abs(ours.MaxAbs - stat.MaxAbs); d > tol {
			t.Errorf("%s: max|grad| %.6g, reference %.6g", p.Name, ours.MaxAbs, stat.MaxAbs)
		}
		if d := math.Abs(ours.L2 - stat.L2); d > tol*math.Sqrt(float64(p.Size)) {
			t.Errorf("%s: l2 %.6g, reference %.6g", p.Name, ours.L2, stat.L2)
		}
		if len(p.Shape) == 2 {
			ref := readTensor(t, f, "n0k3."+p.Name+".flat_stride32")
			sub := make([]float32, 0, len(ref))
			for i := 0; i < len(grad); i += 32 {
				sub = append(sub, grad[i])
			}
			compareWithin(t, p.Name+" (every 32nd)", sub, ref, tol)
			continue
		}
		compareWithin(t, p.Name, grad, readTensor(t, f, "n0k3."+p.Name), tol)
	}
}

func compareWithin(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, reference %d", name, len(got), len(want))
		return
	}
	if diff, _ := maxAbsDiff(got, want); diff > tol {
		t.Errorf("%s: max abs diff %.3g > tolerance %.3g", name, diff, tol)
	}
}

func readTensor(t *testing.T, f *safetensors.File, name string) []float32 {
	t.Helper()
	tensor, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("grads.safetensors lacks %q", name)
	}
	v, err := tensor.ToFloat32()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func l2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}
