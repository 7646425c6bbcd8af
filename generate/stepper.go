package generate

import (
	"context"

	"github.com/latentlab/latent/model"
)

// Stepper runs the model passes of generators: the prelude, the recurrences, and the coda with
// the head. Left nil in Options, each generator runs them on its own (direct); a Batcher shared
// by concurrent generators runs them together. Each method may stop early, with the context's
// error, once ctx has ended.
type Stepper interface {
	// Prelude is model.Prelude of row.IDs at row.Pos into row.Cache.
	Prelude(ctx context.Context, m *model.Model, row model.Row) ([]float32, error)
	// Step is model.Step of the row.
	Step(ctx context.Context, m *model.Model, row model.Row) ([]float32, error)
	// LastLogits is the head's logits of the row's last position after the coda.
	LastLogits(ctx context.Context, m *model.Model, row model.Row) ([]float32, error)
	// Logits runs the coda over the row and the head over all its positions, handing use the
	// logits [n×padded_vocab] of consecutive runs of n positions from lo, in order, each equal
	// bitwise to those rows of the head over all positions at once.
	Logits(ctx context.Context, m *model.Model, row model.Row, use func(lo int, logits []float32)) error
}

// direct is the Stepper of a generator without one: every pass runs at once on the caller's
// goroutine, the head over all positions in chunks of DefaultPrefillChunk (model.ChunkBounds:
// products of the same bits as one over all positions, with less memory held).
type direct struct{}

func (direct) Prelude(_ context.Context, m *model.Model, row model.Row) ([]float32, error) {
	return m.Prelude(row.IDs, row.Pos, row.Cache)
}

func (direct) Step(_ context.Context, m *model.Model, row model.Row) ([]float32, error) {
	return m.Step(row.S, row.E, row.N, row.Pos, row.T, row.Cache), nil
}

func (direct) LastLogits(_ context.Context, m *model.Model, row model.Row) ([]float32, error) {
	return m.Head(lastRow(m.Coda(row.S, row.N, row.Pos, row.Cache), row.N), 1), nil
}

func (direct) Logits(_ context.Context, m *model.Model, row model.Row, use func(lo int, logits []float32)) error {
	h := m.Config.NEmbd
	hidden := m.Coda(row.S, row.N, row.Pos, row.Cache)
	bounds := model.ChunkBounds(row.N, DefaultPrefillChunk)
	for i := 1; i < len(bounds); i++ {
		lo, hi := bounds[i-1], bounds[i]
		use(lo, m.Head(hidden[lo*h:hi*h], hi-lo))
	}
	return nil
}

// stepper is the request's Stepper.
func (g *Generator) stepper() Stepper {
	if g.opt.Stepper == nil {
		return direct{}
	}
	return g.opt.Stepper
}

// ctx is the request's context (Background without one).
func (g *Generator) ctx() context.Context {
	if g.opt.Context == nil {
		return context.Background()
	}
	return g.opt.Context
}

// prelude runs the prelude of ids at positions pos.. through the request's stepper.
func (g *Generator) prelude(ids []int, pos int) ([]float32, error) {
	return g.stepper().Prelude(g.ctx(), g.m, model.Row{IDs: ids, N: len(ids), Pos: pos, Cache: g.cache})
}

// step runs recurrence t on s [S×h] through the request's stepper.
func (g *Generator) step(s, e []float32, S, pos, t int) ([]float32, error) {
	return g.stepper().Step(g.ctx(), g.m, model.Row{S: s, E: e, N: S, Pos: pos, T: t, Cache: g.cache})
}

// lastLogits runs the coda over all S positions (writing their coda KV) and the head over the
// last one.
func (g *Generator) lastLogits(s []float32, S, pos int) ([]float32, error) {
	return g.stepper().LastLogits(g.ctx(), g.m, model.Row{S: s, N: S, Pos: pos, Cache: g.cache})
}

// allLogits runs the coda over all S positions and hands use the head's logits of every
// position, a run at a time (Stepper.Logits).
func (g *Generator) allLogits(s []float32, S, pos int, use func(lo int, logits []float32)) error {
	return g.stepper().Logits(g.ctx(), g.m, model.Row{S: s, N: S, Pos: pos, Cache: g.cache}, use)
}
