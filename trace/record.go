package trace

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/safetensors"
)

// Options configure Record.
type Options struct {
	Steps         int     // recurrences T; T+1 states are recorded
	Raw           bool    // record raw s_t instead of ln_f(s_t)
	InitScale     float64 // scale of the random s₀ (0: zeros)
	Seed          uint64  // seed of s₀
	ReadoutStride int     // decode with coda and head every this many steps (0: never)
	// Context, when set, stops the recording between steps; the partial file is removed.
	Context context.Context
}

// Readout is the coda's prediction for one token after one step.
type Readout struct {
	Step    int     `json:"step"`
	Top1    int     `json:"top1"`
	Entropy float64 `json:"entropy"` // nats
	KL      float64 `json:"kl"`      // KL(p_prev ‖ p_t) against the previous readout (uniform before the first)
}

// Recorded is what Record measured while it streamed the states: per token, the relative step
// size ‖x_t − x_{t−1}‖/‖x_t‖ of t = 1 … T and the readouts.
type Recorded struct {
	StepSize [][]float64 // [token][t−1]
	Readouts [][]Readout // [token][k]
}

// StatesBytes is the size of the states tensor Record writes.
func StatesBytes(steps, tokens, dim int) int64 {
	return int64(steps+1) * int64(tokens) * int64(dim) * 4
}

// Record runs the model cache-free over ids with all positions in lockstep, as the paper's
// analysis does, and streams x_0 … x_T (ln_f(s_t), or raw s_t) to path as the tensor "states"
// [T+1, len(ids), n_embd] F32, written atomically. Only two states are held in memory at once.
func Record(m *model.Model, ids []int, opt Options, path string) (*Recorded, error) {
	if opt.Steps < 1 {
		return nil, fmt.Errorf("trace: steps %d must be positive", opt.Steps)
	}
	ctx := opt.Context
	if ctx == nil {
		ctx = context.Background()
	}
	S, h := len(ids), m.Config.NEmbd
	e, err := m.Prelude(ids, 0, nil)
	if err != nil {
		return nil, err
	}
	s := m.InitialState(S, opt.InitScale, rand.New(rand.NewPCG(opt.Seed, 0x7472616365)))
	rec := &Recorded{StepSize: make([][]float64, S), Readouts: make([][]Readout, S)}
	kl := make([]generate.Criterion, S)
	for i := range kl {
		if kl[i], err = generate.NewCriterion("kl", nil, m.Config.PaddedVocabSize); err != nil {
			return nil, err
		}
		kl[i].Reset(nil, 1)
	}
	fill := func(w io.Writer) error {
		var prev []float32
		for t := 0; t <= opt.Steps; t++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if t > 0 {
				s = m.Step(s, e, S, 0, t-1, nil)
			}
			x := s
			if !opt.Raw {
				x = m.Latents(s, S)
			}
			if _, err := w.Write(safetensors.Float32Bytes(x)); err != nil {
				return err
			}
			if prev != nil {
				rec.addStepSizes(prev, x, h)
			}
			if opt.ReadoutStride > 0 && (t%opt.ReadoutStride == 0 || t == opt.Steps) {
				rec.readout(m, s, t, kl)
			}
			prev = append(prev[:0], x...)
		}
		return nil
	}
	meta := map[string]string{"state": stateName(opt.Raw), "steps": fmt.Sprint(opt.Steps), "seed": fmt.Sprint(opt.Seed)}
	err = safetensors.WriteFileContext(ctx, path, []safetensors.WriteTensor{{Name: StatesTensor, DType: safetensors.F32,
		Shape: []int{opt.Steps + 1, S, h}, Fill: fill}}, meta)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return rec, nil
}

func stateName(raw bool) string {
	if raw {
		return "raw"
	}
	return "normalized"
}

func (r *Recorded) addStepSizes(prev, x []float32, h int) {
	for i := range r.StepSize {
		a, b := prev[i*h:(i+1)*h], x[i*h:(i+1)*h]
		var d, n float64
		for j := range a {
			dj := float64(b[j] - a[j])
			d += dj * dj
			n += float64(b[j]) * float64(b[j])
		}
		r.StepSize[i] = append(r.StepSize[i], math.Sqrt(d)/math.Max(math.Sqrt(n), math.SmallestNonzeroFloat64))
	}
}

// readout decodes s with coda and head and records each token's top-1, entropy and KL.
func (r *Recorded) readout(m *model.Model, s []float32, t int, kl []generate.Criterion) {
	S, V := len(r.Readouts), m.Config.PaddedVocabSize
	logits := m.Head(m.Coda(s, S, 0, nil), S)
	for i := range r.Readouts {
		row := logits[i*V : (i+1)*V]
		_, div := kl[i].Check(generate.Observation{S: 1, Logits: row})
		top := kernels.MaxIndex(row)
		p := append([]float32(nil), row...)
		kernels.Softmax(p)
		ent := 0.0
		for _, v := range p {
			if v > 0 {
				ent -= float64(v) * math.Log(float64(v))
			}
		}
		r.Readouts[i] = append(r.Readouts[i], Readout{Step: t, Top1: top, Entropy: ent, KL: div})
	}
}
