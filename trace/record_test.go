package trace

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/model/defaultmodel"
	"github.com/latentlab/latent/safetensors"
)

func defaultModel(t *testing.T) *model.Model {
	t.Helper()
	dir, remove, err := defaultmodel.Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestRecordMatchesForward checks the streamed states against a forward pass from the same
// (zero) initial state: the last recorded state is its ln_f(s_T), the last readout its argmax,
// and the step sizes are those of the states in the file.
func TestRecordMatchesForward(t *testing.T) {
	m := defaultModel(t)
	ids := []int{1, 7, 2, 11, 5, 9, 11, 3, 4, 11}
	const T = 40
	path := filepath.Join(t.TempDir(), "states.safetensors")
	rec, err := Record(m, ids, Options{Steps: T, ReadoutStride: 8}, path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadStates(path, T)
	if err != nil {
		t.Fatal(err)
	}
	if s.Steps != T || s.Tokens != len(ids) || s.Dim != m.Config.NEmbd {
		t.Fatalf("states %d×%d×%d, want %d×%d×%d", s.Steps+1, s.Tokens, s.Dim, T+1, len(ids), m.Config.NEmbd)
	}
	if fi, _ := os.Stat(path); fi.Size() < StatesBytes(T, len(ids), s.Dim) {
		t.Errorf("file of %d bytes is smaller than its states", fi.Size())
	}
	out, err := m.Forward(ids, model.ForwardOptions{Steps: T})
	if err != nil {
		t.Fatal(err)
	}
	top := model.Argmax(out.Logits, m.Config.PaddedVocabSize)
	h := s.Dim
	for i := range ids {
		for j, v := range s.At(T, i) {
			if v != out.Latents[i*h+j] {
				t.Fatalf("token %d component %d: recorded %g, forward %g", i, j, v, out.Latents[i*h+j])
			}
		}
		r := rec.Readouts[i]
		if len(r) != 6 || r[5].Step != T || r[5].Top1 != top[i] {
			t.Errorf("token %d: readouts %+v, want steps 0, 8, …, 40 ending on top-1 %d", i, r, top[i])
		}
		x := s.Token(i)
		for k := 1; k <= T; k++ {
			want := dist(x[k], x[k-1]) / l2(x[k])
			if got := rec.StepSize[i][k-1]; math.Abs(got-want) > 1e-6*want+1e-12 {
				t.Fatalf("token %d step %d: step size %g, from the file %g", i, k, got, want)
			}
		}
	}
}

func TestRecordRejectsBadIDsWithoutFile(t *testing.T) {
	m := defaultModel(t)
	path := filepath.Join(t.TempDir(), "states.safetensors")
	if _, err := Record(m, []int{1, 999}, Options{Steps: 4}, path); err == nil {
		t.Fatal("a token outside the vocabulary was accepted")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failed record left %s behind", path)
	}
}

func TestReadStatesRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, tensor safetensors.WriteTensor) string {
		p := filepath.Join(dir, name)
		if err := safetensors.WriteFile(p, []safetensors.WriteTensor{tensor}, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f32 := func(n int) []byte { return safetensors.Float32Bytes(make([]float32, n)) }
	nan := make([]float32, 33*2*3)
	nan[(5*2+1)*3+2] = float32(math.NaN())
	cases := map[string]struct {
		path, want string
	}{
		"rank":     {write("rank.safetensors", safetensors.WriteTensor{Name: "states", DType: safetensors.F32, Shape: []int{33, 6}, Data: f32(33 * 6)}), "rank 3"},
		"dtype":    {write("dtype.safetensors", safetensors.WriteTensor{Name: "states", DType: safetensors.BF16, Shape: []int{33, 2, 3}, Data: make([]byte, 2*33*6)}), "want F32"},
		"name":     {write("name.safetensors", safetensors.WriteTensor{Name: "x", DType: safetensors.F32, Shape: []int{33, 2, 3}, Data: f32(33 * 6)}), `no tensor "states"`},
		"nan":      {write("nan.safetensors", safetensors.WriteTensor{Name: "states", DType: safetensors.F32, Shape: []int{33, 2, 3}, Data: safetensors.Float32Bytes(nan)}), "token 1 at step 5, component 2, is NaN"},
		"short":    {write("short.safetensors", safetensors.WriteTensor{Name: "states", DType: safetensors.F32, Shape: []int{9, 2, 3}, Data: f32(9 * 6)}), "8 steps"},
		"no-file":  {filepath.Join(dir, "absent.safetensors"), "absent.safetensors"},
		"no-token": {write("empty.safetensors", safetensors.WriteTensor{Name: "states", DType: safetensors.F32, Shape: []int{33, 0, 3}, Data: []byte{}}), "holds no trajectory"},
	}
	for name, c := range cases {
		_, err := ReadStates(c.path, DefaultCriteria.MinSteps())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, c.want)
		}
	}
}

func TestSettledAt(t *testing.T) {
	d := []float64{5, 0.5, 0.002, 0.0005, 0.002, 0.0001, 0}
	if got := settledAt(d, 1, 1e-3); got != 5 {
		t.Errorf("settled at %d, want 5 (the excursion at step 4 counts)", got)
	}
	if got := settledAt([]float64{1, 1, 0}, 1, 1e-3); got != 2 {
		t.Errorf("settled at %d, want 2", got)
	}
}
