package trace

import (
	"fmt"
	"math"

	"github.com/latentlab/latent/safetensors"
)

// StatesTensor is the name of the tensor of a states file: F32 of shape [steps+1, tokens, n_embd].
const StatesTensor = "states"

// States are the recorded trajectories of all tokens: x_t of token i is
// Data[(t·Tokens+i)·Dim : ... +Dim], for t = 0 … Steps.
type States struct {
	Steps, Tokens, Dim int
	Data               []float32
}

// At returns x_t of token i (a view).
func (s *States) At(t, i int) []float32 {
	off := (t*s.Tokens + i) * s.Dim
	return s.Data[off : off+s.Dim]
}

// Token returns the trajectory x_0 … x_Steps of token i in float64.
func (s *States) Token(i int) [][]float64 {
	out := make([][]float64, s.Steps+1)
	for t := range out {
		row := s.At(t, i)
		out[t] = make([]float64, s.Dim)
		for j, v := range row {
			out[t][j] = float64(v)
		}
	}
	return out
}

// ReadStates loads a states file and checks its tensor: rank 3, F32, finite values and at
// least minSteps recurrences. Errors name the file and, for a bad value, the step, token and
// component.
func ReadStates(path string, minSteps int) (*States, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, ok := f.Tensor(StatesTensor)
	if !ok {
		return nil, fmt.Errorf("trace: %s holds no tensor %q", path, StatesTensor)
	}
	if len(t.Shape) != 3 {
		return nil, fmt.Errorf("trace: %s: tensor %q has shape %v, want rank 3 [steps+1, tokens, n_embd]", path, StatesTensor, t.Shape)
	}
	if t.DType != safetensors.F32 {
		return nil, fmt.Errorf("trace: %s: tensor %q is %s, want F32", path, StatesTensor, t.DType)
	}
	s := &States{Steps: t.Shape[0] - 1, Tokens: t.Shape[1], Dim: t.Shape[2]}
	if s.Tokens < 1 || s.Dim < 1 {
		return nil, fmt.Errorf("trace: %s: tensor %q of shape %v holds no trajectory", path, StatesTensor, t.Shape)
	}
	if s.Steps < minSteps {
		return nil, fmt.Errorf("trace: %s records %d steps, the criteria need at least %d", path, s.Steps, minSteps)
	}
	data, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	s.Data = append([]float32(nil), data...)
	if err := s.checkFinite(); err != nil {
		return nil, fmt.Errorf("trace: %s: %w", path, err)
	}
	return s, nil
}

// checkFinite reports the first NaN or infinity.
func (s *States) checkFinite() error {
	for k, v := range s.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t, rest := k/(s.Tokens*s.Dim), k%(s.Tokens*s.Dim)
			return fmt.Errorf("state of token %d at step %d, component %d, is %v", rest/s.Dim, t, rest%s.Dim, v)
		}
	}
	return nil
}
