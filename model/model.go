// Package model is the recurrent-depth ("latent reasoning") transformer of Geiping et al. 2025
// (Huginn-0125): its config, weights, KV cache and forward pass. The forward pass reads like the
// paper's figure:
//
//	e      = Prelude(ids)                         embed, scale, prelude blocks
//	s₀     = InitialState(...)                    truncated normal × embed_scale, or zeros, or given
//	sₜ₊₁   = Step(sₜ, e)                          adapter(concat(sₜ, e)) → core blocks, r times
//	hidden = Coda(s_r)                            ln_f → coda blocks → ln_f
//	logits = Head(hidden)                         hidden · wteᵀ (tied)
//
// Activations are row-major []float32 with one row of n_embd values per token position.
package model

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/latentlab/latent/kernels"
)

// Model is a loaded recurrent-depth model ready to run. It is safe for concurrent use by
// several sequences as long as each uses its own Cache.
type Model struct {
	Config  *Config
	Weights *Weights
	rope    *Rope
	closer  io.Closer
}

// New wraps weights that match cfg into a runnable model.
func New(cfg *Config, w *Weights) *Model {
	return &Model{Config: cfg, Weights: w, rope: NewRope(cfg.HeadSize(), cfg.BlockSize, cfg.RopeBase)}
}

// Close releases the checkpoint files the weights are mapped from.
func (m *Model) Close() error {
	if m.closer == nil {
		return nil
	}
	err := m.closer.Close()
	m.closer = nil
	return err
}

// CheckInput validates token ids and that positions pos..pos+len(ids)-1 fit the context: the
// checks Prelude makes.
func (m *Model) CheckInput(ids []int, pos int) error {
	if len(ids) == 0 {
		return fmt.Errorf("model: no input tokens")
	}
	if pos < 0 || pos+len(ids) > m.rope.MaxPositions() {
		return fmt.Errorf("model: positions %d..%d exceed the context of %d (block_size)", pos, pos+len(ids)-1, m.rope.MaxPositions())
	}
	for i, id := range ids {
		if id < 0 || id >= m.Config.PaddedVocabSize {
			return fmt.Errorf("model: token %d at index %d is outside the vocabulary [0, %d)", id, i, m.Config.PaddedVocabSize)
		}
	}
	return nil
}

// Prelude embeds ids (placed at positions pos, pos+1, ...), scales them by embed_scale and runs
// the prelude blocks, returning e [S×h].
func (m *Model) Prelude(ids []int, pos int, cache *Cache) ([]float32, error) {
	if err := m.CheckInput(ids, pos); err != nil {
		return nil, err
	}
	return m.preludePass([]Row{{IDs: ids, N: len(ids), Pos: pos, Cache: cache}}, false), nil
}

// embed writes the scaled embeddings of ids into e [len(ids)×h].
func (m *Model) embed(e []float32, ids []int) {
	h := m.Config.NEmbd
	scale := m.Config.EmbedScale()
	for i, id := range ids {
		row := e[i*h : (i+1)*h]
		m.Weights.Embedding.Row(row, id)
		for j := range row {
			row[j] *= scale
		}
	}
}

// InitialState returns s₀ for S positions: a truncated normal (std = init std × scale, cut at ±3
// std) times embed_scale, or zeros when scale is 0, drawn from rng.
func (m *Model) InitialState(S int, scale float64, rng *rand.Rand) []float32 {
	s := make([]float32, S*m.Config.NEmbd)
	std := m.Config.InitStd() * scale
	if std <= 0 {
		return s
	}
	es := m.Config.EmbedScale()
	for i := range s {
		s[i] = float32(truncatedNormal(rng, std)) * es
	}
	return s
}

// truncatedNormal draws from N(0, std²) restricted to [−3 std, 3 std] by inverting the CDF.
func truncatedNormal(rng *rand.Rand, std float64) float64 {
	lo, hi := normalCDF(-3), normalCDF(3)
	u := lo + (hi-lo)*rng.Float64()
	return std * math.Sqrt2 * math.Erfinv(2*u-1)
}

func normalCDF(x float64) float64 { return 0.5 * (1 + math.Erf(x/math.Sqrt2)) }

// Step runs recurrence t on the state s [S×h] given the prelude output e and returns the new
// state: core blocks applied to adapter(concat(s, e)).
func (m *Model) Step(s, e []float32, S, pos, t int, cache *Cache) []float32 {
	return m.stepPass([]Row{{S: s, E: e, N: S, Pos: pos, T: t, Cache: cache}}, false)
}

// Latents returns ln_f(s), the normalised latent state the reference reports as latent_states.
func (m *Model) Latents(s []float32, S int) []float32 {
	out := make([]float32, len(s))
	rmsNormRows(out, s, m.Weights.LnF, S, float32(m.Config.NormEps))
	return out
}

// Coda maps the final state s [S×h] to the head's input: ln_f → coda blocks → ln_f.
func (m *Model) Coda(s []float32, S, pos int, cache *Cache) []float32 {
	return m.codaPass([]Row{{S: s, N: S, Pos: pos, Cache: cache}}, false)
}

// Head returns the logits [S×padded_vocab] of the coda output hidden [S×h].
func (m *Model) Head(hidden []float32, S int) []float32 {
	logits := make([]float32, S*m.Config.PaddedVocabSize)
	m.Weights.Head.Apply(logits, hidden, S)
	return logits
}

// ForwardOptions configure one forward pass.
type ForwardOptions struct {
	Steps       int       // recurrences r (0 means the config's mean_recurrence)
	InitScale   float64   // scale of the random initial state; 0 gives zeros
	Seed        uint64    // seed of the initial-state RNG
	InputStates []float32 // explicit s₀ [S×h]; overrides InitScale and Seed
	Pos         int       // position of the first id (with a cache holding the earlier ones)
	Cache       *Cache    // optional KV cache
	KeepStates  bool      // record the raw state after every step
}

// Output is what a forward pass returns.
type Output struct {
	Logits  []float32   // [S×padded_vocab]
	Latents []float32   // ln_f(s_r) [S×h]
	State   []float32   // raw s_r [S×h]
	States  [][]float32 // raw state after each step, when KeepStates
}

// Forward runs the whole model on ids: Prelude → Step × r → Coda → Head.
func (m *Model) Forward(ids []int, opt ForwardOptions) (*Output, error) {
	steps := opt.Steps
	if steps == 0 {
		steps = m.Config.MeanRecurrence
	}
	if steps < 0 {
		return nil, fmt.Errorf("model: steps %d must not be negative", steps)
	}
	S, h := len(ids), m.Config.NEmbd
	e, err := m.Prelude(ids, opt.Pos, opt.Cache)
	if err != nil {
		return nil, err
	}
	s := opt.InputStates
	switch {
	case s == nil:
		s = m.InitialState(S, opt.InitScale, rand.New(rand.NewPCG(opt.Seed, 0x6c6174656e74)))
	case len(s) != S*h:
		return nil, fmt.Errorf("model: input states hold %d values, want %d positions × %d", len(s), S, h)
	default:
		s = append([]float32(nil), s...)
	}
	out := &Output{}
	for t := 0; t < steps; t++ {
		s = m.Step(s, e, S, opt.Pos, t, opt.Cache)
		if opt.KeepStates {
			out.States = append(out.States, s)
		}
	}
	out.State = s
	out.Latents = m.Latents(s, S)
	out.Logits = m.Head(m.Coda(s, S, opt.Pos, opt.Cache), S)
	if opt.Cache != nil && opt.Cache.Err() != nil {
		return nil, opt.Cache.Err()
	}
	return out, nil
}

// Argmax returns the index of the largest value of each row of logits [S×V].
func Argmax(logits []float32, V int) []int {
	out := make([]int, len(logits)/V)
	for i := range out {
		out[i] = kernels.MaxIndex(logits[i*V : (i+1)*V])
	}
	return out
}
