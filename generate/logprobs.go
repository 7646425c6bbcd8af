package generate

import (
	"math"
	"slices"

	"github.com/latentlab/latent/model"
)

// TokenLogprobs are a token's log-probabilities under the logits it was drawn from: a
// log-softmax over the full (padded) vocabulary of the raw logits, before the repetition
// penalty, the temperature and the filters.
type TokenLogprobs struct {
	Logprob float64
	Top     []TokenLogprob // the TopLogprobs most likely tokens, most likely first
}

// TokenLogprob is one token id and its log-probability.
type TokenLogprob struct {
	ID      int
	Logprob float64
}

// maxTopLogprobs bounds the alternatives a token may report.
const maxTopLogprobs = 20

// Logprobs returns the log-probability of id and of the top most likely tokens under logits.
func Logprobs(logits []float32, id, top int) *TokenLogprobs {
	hi := math.Inf(-1)
	for _, l := range logits {
		hi = max(hi, float64(l))
	}
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(float64(l) - hi)
	}
	norm := hi + math.Log(sum)
	lp := &TokenLogprobs{Logprob: float64(logits[id]) - norm}
	for i, l := range logits {
		n := len(lp.Top)
		if n == top && (n == 0 || l <= float32(lp.Top[n-1].Logprob)) {
			continue
		}
		at, _ := slices.BinarySearchFunc(lp.Top, l, func(t TokenLogprob, l float32) int {
			if float32(t.Logprob) >= l {
				return -1
			}
			return 1
		})
		lp.Top = slices.Insert(lp.Top, at, TokenLogprob{ID: i, Logprob: float64(l)})
		if len(lp.Top) > top {
			lp.Top = lp.Top[:top]
		}
	}
	for i := range lp.Top {
		lp.Top[i].Logprob -= norm
	}
	return lp
}

// draw samples the token that follows context and, when asked, its log-probabilities.
func (g *Generator) draw(logits []float32, context []int) (int, *TokenLogprobs) {
	id := g.samp.next(logits, context)
	return id, g.logprobs(logits, id)
}

// logprobs returns id's log-probabilities under logits when the request asks for them.
func (g *Generator) logprobs(logits []float32, id int) *TokenLogprobs {
	if !g.opt.Logprobs {
		return nil
	}
	return Logprobs(logits, id, g.opt.TopLogprobs)
}

// PromptLogprobs scores a prompt as the fixed-recurrence prefill sees it: every position runs
// opt.Steps recurrences from the request's initial state (its seed and init scale), and entry
// i > 0 holds the log-probabilities of prompt[i] under the logits of position i−1. Entry 0 is
// nil: nothing predicts the first token. Exit criteria and speculation do not apply to the
// prompt; opt.TopLogprobs alternatives are reported per position. The prelude, recurrences,
// coda and head run through opt.Stepper like a prefill (with a Batcher: in chunks, beside the
// other requests), and the logits are those of the head over all positions at once, bitwise.
func PromptLogprobs(m *model.Model, prompt []int, opt Options) ([]*TokenLogprobs, error) {
	opt.MaxNew, opt.Exit, opt.Speculative, opt.Continuous = 1, nil, nil, false
	g, err := New(m, prompt, opt)
	if err != nil {
		return nil, err
	}
	S, V := len(prompt), m.Config.PaddedVocabSize
	e, err := g.prelude(prompt, 0)
	if err != nil {
		return nil, err
	}
	s, err := g.iterate(g.initialState(S), e, S, 0, 0, g.opt.Steps)
	if err != nil {
		return nil, err
	}
	out := make([]*TokenLogprobs, S)
	err = g.allLogits(s, S, 0, func(lo int, logits []float32) {
		for i := range len(logits) / V {
			if next := lo + i + 1; next < S {
				out[next] = Logprobs(logits[i*V:(i+1)*V], prompt[next], opt.TopLogprobs)
			}
		}
	})
	if err == nil {
		err = g.cancelled()
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
