package generate

import (
	"fmt"
	"slices"

	"github.com/latentlab/latent/model"
)

// speculativeRound drafts up to Lookahead tokens with DraftSteps recurrences each, verifies them
// in one batched pass with Steps recurrences and keeps the longest agreeing prefix, followed by
// the verifier's own token at the first disagreement (the reference's generate_speculative).
//
// The verifier reads positions start … start+L−1: the last accepted token and the first L−1
// drafted ones; its row i predicts drafted token i. Without reuse the draft's KV is discarded
// and the verifier recomputes everything from fresh initial states, as the reference does.
// With ReuseDraft the verifier starts from the draft's states after DraftSteps recurrences and
// keeps the draft's prelude and core KV slots: the draft computed exactly what the verifier's
// first DraftSteps recurrences would (same inputs, same initial states, same slots), so only
// Steps − DraftSteps recurrences remain. checkDraftReuse refuses cache strategies where that
// equality does not hold.
func (g *Generator) speculativeRound() ([]Token, error) {
	sp := g.opt.Speculative
	base := len(g.ids)
	start := base - 1
	L := min(sp.Lookahead, g.opt.MaxNew-g.generated())
	if g.opt.ReferenceQuirks { // the reference drafts the full lookahead, past the limit
		L = min(sp.Lookahead, g.m.Config.BlockSize-base)
	}

	drafted := slices.Clone(g.ids)
	var draftE, draftS []float32 // prelude outputs and states of the drafted positions (reuse)
	for i := range L {
		pos := start + i
		e, err := g.prelude(drafted[pos:pos+1], pos)
		if err != nil {
			return nil, err
		}
		s, err := g.iterate(g.initialState(1), e, 1, pos, 0, sp.DraftSteps)
		if err != nil {
			return nil, err
		}
		logits, err := g.lastLogits(s, 1, pos)
		if err != nil {
			return nil, err
		}
		drafted = append(drafted, g.samp.next(logits, drafted))
		if sp.ReuseDraft {
			draftE, draftS = append(draftE, e...), append(draftS, s...)
		}
	}

	e, s, from := draftE, draftS, sp.DraftSteps
	var err error
	if !sp.ReuseDraft {
		g.cache.Truncate(start)
		if e, err = g.prelude(drafted[start:start+L], start); err != nil {
			return nil, err
		}
		s, from = g.initialState(L), 0
	}
	if s, err = g.iterate(s, e, L, start, from, g.opt.Steps); err != nil {
		return nil, err
	}
	V := g.m.Config.PaddedVocabSize
	logits := make([]float32, L*V)
	if err := g.allLogits(s, L, start, func(lo int, part []float32) { copy(logits[lo*V:], part) }); err != nil {
		return nil, err
	}
	if err := g.cache.Err(); err != nil {
		return nil, err
	}

	row := func(i int) []float32 { return logits[i*V : (i+1)*V] }
	accepted := 0
	for accepted < L && g.verifies(row(accepted), drafted[:base+accepted], drafted[base+accepted]) {
		accepted++
	}
	g.stats.DraftRounds++
	g.stats.DraftTokens += L
	g.stats.Accepted += accepted

	toks := make([]Token, 0, accepted+1)
	for i, id := range drafted[base : base+accepted] {
		toks = append(toks, Token{ID: id, Steps: g.opt.Steps, ExitValue: nan, Drafted: true, Logprobs: g.logprobs(row(i), id)})
	}
	if accepted < L {
		id, lp := g.draw(row(accepted), drafted[:base+accepted])
		toks = append(toks, Token{ID: id, Steps: g.opt.Steps, ExitValue: nan, Logprobs: lp})
		g.cache.Truncate(base + accepted)
	}
	return toks, nil
}

// verifies reports whether the verifier's logits (given context) accept the drafted token:
// its argmax when Verify is 1, else p(drafted) ≥ Verify · max p.
func (g *Generator) verifies(logits []float32, context []int, drafted int) bool {
	l := g.samp.penalized(logits, context)
	if g.opt.Speculative.Verify >= 1 {
		return argmax(l) == drafted
	}
	p := softmax(l)
	return p[drafted] >= g.opt.Speculative.Verify*slices.Max(p)
}

// checkDraftReuse refuses draft reuse where the draft's KV would differ from the verifier's:
// when no recurrences remain to verify, or when the cache's compression maps two of the draft's
// (step, core layer) slots onto one slot, so that a later draft step overwrites keys an earlier
// step of the next drafted position reads (the verifier, running positions together, reads the
// unshared values). It probes a throwaway cache with one position to count distinct slots.
func checkDraftReuse(cfg *model.Config, strategy string, draftSteps, steps int) error {
	if draftSteps >= steps {
		return fmt.Errorf("draft reuse needs draft steps %d < steps %d", draftSteps, steps)
	}
	probe, err := model.NewCache(cfg, strategy)
	if err != nil {
		return err
	}
	one := [][]float32{{0}}
	probe.Update(probe.PreludeSlot(0), 0, one, one)
	for t := range draftSteps {
		for j := range cfg.NLayersCore {
			probe.Update(probe.CoreSlot(t, j), 0, one, one)
		}
	}
	if got, want := probe.Entries()-1, draftSteps*cfg.NLayersCore; got != want {
		return fmt.Errorf("draft reuse with cache strategy %q: the draft's %d steps write %d (step, layer) KV entries into only %d slots (compression), so its keys differ from the verifier's; draft fewer steps or drop the compression",
			strategy, draftSteps, want, got)
	}
	return nil
}
