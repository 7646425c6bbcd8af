package trace

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/safetensors"
)

// Replayed is what Replay measured: the positions traced (the prompt followed by the generated
// tokens fed back into the model), the recurrences each position ran before it stopped, and the
// relative step sizes up to then.
type Replayed struct {
	IDs       []int
	Generated int   // of IDs, the last Generated were generated
	RanSteps  []int // per position: recurrences run (the prompt's positions ran as one block)
	Recorded        // StepSize per position over t = 1 … T, 0 once frozen (Readouts stay empty)
}

// Replay records the states a real generation computes: it runs generate with opt (exit
// criterion, cache strategy, continuous compute as given; opt.Steps recurrences at most per
// token), generating newTokens+1 tokens so that the prompt and newTokens generated tokens pass
// through the model, and writes their states x_0 … x_T as Record does, [T+1, positions, n_embd]
// F32 (ln_f(s_t), or raw s_t). A position that stopped before T keeps its last state, as the
// generation froze it. The states go to a scratch file next to path as they are computed, so
// memory holds one token's states at a time. opt.Context, when set, stops the replay (no file
// is left behind).
func Replay(m *model.Model, prompt []int, newTokens int, opt generate.Options, raw bool, path string) (*Replayed, error) {
	if opt.Speculative != nil {
		return nil, fmt.Errorf("trace: replay of speculative decoding is not supported (drafts and verification recompute positions)")
	}
	if opt.Steps < 1 || newTokens < 0 {
		return nil, fmt.Errorf("trace: replay needs steps ≥ 1 and new tokens ≥ 0, got %d and %d", opt.Steps, newTokens)
	}
	T, P, h := opt.Steps, len(prompt), m.Config.NEmbd
	positions := P + newTokens
	scratch, err := os.CreateTemp(filepath.Dir(path), ".replay-*.f32")
	if err != nil {
		return nil, fmt.Errorf("trace: replay: %w", err)
	}
	defer func() { scratch.Close(); os.Remove(scratch.Name()) }()
	if err := scratch.Truncate(StatesBytes(T, positions, h)); err != nil {
		return nil, fmt.Errorf("trace: replay: %w", err)
	}
	rec := &replayRecorder{m: m, raw: raw, f: scratch, steps: T, tokens: positions, dim: h, last: map[int][]float32{},
		out: &Replayed{RanSteps: make([]int, positions), Recorded: Recorded{StepSize: make([][]float64, positions),
			Readouts: make([][]Readout, positions)}}}
	opt.MaxNew = newTokens + 1
	opt.Observe = rec.observe
	toks, err := generate.Generate(m, prompt, opt)
	if err == nil {
		err = rec.err
	}
	if err != nil {
		return nil, err
	}
	if len(toks) < newTokens+1 { // a stop token came first: trace what went through the model
		positions = P + len(toks) - 1
	}
	if err := rec.freezeTail(positions); err != nil {
		return nil, err
	}
	rec.out.IDs = append(append([]int(nil), prompt...), ids(toks)[:positions-P]...)
	rec.out.Generated = positions - P
	rec.out.RanSteps, rec.out.StepSize = rec.out.RanSteps[:positions], rec.out.StepSize[:positions]
	rec.out.Readouts = rec.out.Readouts[:positions]
	if err := rec.writeStates(opt.Context, path, positions); err != nil {
		return nil, err
	}
	return rec.out, nil
}

func ids(toks []generate.Token) []int {
	out := make([]int, len(toks))
	for i, t := range toks {
		out[i] = t.ID
	}
	return out
}

// replayRecorder receives the generation's states and writes them into the scratch file in
// the states layout (t-major), remembering each position's last state to freeze it.
type replayRecorder struct {
	m                  *model.Model
	raw                bool
	f                  *os.File
	steps, tokens, dim int
	out                *Replayed
	last               map[int][]float32 // position → its latest state, until frozen
	err                error
}

func (r *replayRecorder) observe(pos, S, step int, state []float32) {
	if r.err != nil || pos >= r.tokens {
		return
	}
	S = min(S, r.tokens-pos)
	x := state[:S*r.dim]
	if !r.raw {
		x = r.m.Latents(state, S)[:S*r.dim]
	}
	for i := range S {
		row := x[i*r.dim : (i+1)*r.dim]
		if prev := r.last[pos+i]; prev != nil && step > 0 {
			r.out.StepSize[pos+i] = append(r.out.StepSize[pos+i], relDist(row, prev)) // ‖x_{t−1} − x_t‖/‖x_t‖
		}
		r.last[pos+i] = append(r.last[pos+i][:0], row...)
		r.out.RanSteps[pos+i] = step
		r.err = r.writeRow(step, pos+i, row)
	}
	if step == 0 { // a new token started: the tokens before it are final
		for p := range r.last {
			if p < pos {
				if r.err == nil {
					r.err = r.freeze(p)
				}
				delete(r.last, p)
			}
		}
	}
}

// freezeTail freezes every position still open at the end, then checks each position ran.
func (r *replayRecorder) freezeTail(positions int) error {
	for p := range r.last {
		if p < positions {
			if err := r.freeze(p); err != nil {
				return err
			}
		}
	}
	for p := range positions {
		if len(r.out.StepSize[p]) != r.out.RanSteps[p] {
			return fmt.Errorf("trace: replay: position %d recorded %d step sizes for %d steps", p, len(r.out.StepSize[p]), r.out.RanSteps[p])
		}
		for len(r.out.StepSize[p]) < r.steps { // frozen: it does not move any more
			r.out.StepSize[p] = append(r.out.StepSize[p], 0)
		}
	}
	return nil
}

// freeze repeats position p's last state over the steps it did not run.
func (r *replayRecorder) freeze(p int) error {
	for t := r.out.RanSteps[p] + 1; t <= r.steps; t++ {
		if err := r.writeRow(t, p, r.last[p]); err != nil {
			return err
		}
	}
	return nil
}

func (r *replayRecorder) writeRow(t, p int, row []float32) error {
	off := (int64(t)*int64(r.tokens) + int64(p)) * int64(r.dim) * 4
	if _, err := r.f.WriteAt(safetensors.Float32Bytes(row), off); err != nil {
		return fmt.Errorf("trace: replay: %w", err)
	}
	return nil
}

// writeStates streams the scratch file's first positions of every step into path.
func (r *replayRecorder) writeStates(ctx context.Context, path string, positions int) error {
	if ctx == nil {
		ctx = context.Background()
	}
	rowBytes := int64(r.dim) * 4
	fill := func(w io.Writer) error {
		for t := 0; t <= r.steps; t++ {
			sec := io.NewSectionReader(r.f, int64(t)*int64(r.tokens)*rowBytes, int64(positions)*rowBytes)
			if _, err := io.Copy(w, sec); err != nil {
				return err
			}
		}
		return nil
	}
	meta := map[string]string{"state": stateName(r.raw), "steps": fmt.Sprint(r.steps), "mode": "replay"}
	err := safetensors.WriteFileContext(ctx, path, []safetensors.WriteTensor{{Name: StatesTensor, DType: safetensors.F32,
		Shape: []int{r.steps + 1, positions, r.dim}, Fill: fill}}, meta)
	if err != nil {
		os.Remove(path)
	}
	return err
}
