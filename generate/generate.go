// Package generate turns a recurrent-depth model into a stream of tokens with latent reasoning:
// a fixed number of recurrences per token, per-token adaptive compute with exit criteria, warm
// starts (continuous compute) and self-speculative decoding, with greedy or sampled decoding.
//
// The loops follow the official reference (seal-rg/recurrent-pretraining,
// raven_modeling_minimal.py: generate_minimal, generate_with_adaptive_compute,
// generate_speculative), so that tokens, step counts and exit values match its goldens:
//
//   - During the prefill all prompt positions iterate together and exit as a block: logits-based
//     criteria look at the last position, latent-based ones average over positions.
//   - Logits-based criteria run the coda at every check, so the coda KV slots hold the values of
//     the step that was decoded last.
//
// By default a token is drawn from the logits of the step it reports, continuous compute
// warm-starts every path from the raw final state, and speculative decoding never goes past the
// token limit. Options.ReferenceQuirks turns on the reference's observable deviations from that,
// for parity with its goldens:
//
//   - when no check exits and the check cadence misses the last step, the token is drawn from the
//     logits of the last check (stale by up to CheckEvery−1 steps) while reporting the maximum
//     step count;
//   - continuous compute with a fixed recurrence warm-starts the next token from ln_f(state),
//     while adaptive compute warm-starts from the raw state;
//   - speculative decoding drafts its full lookahead in the last round and so returns more than
//     MaxNew tokens.
//
// Beyond the reference, speculative decoding can reuse the draft's work (its KV slots and
// states) instead of recomputing it during verification.
package generate

import (
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/latentlab/latent/model"
)

// The reference's hard-coded stop tokens: <|begin_text|>, <|end_text|>, <|end_turn|>.
var referenceStops = []int{65504, 65505, 65508}

// DefaultStopTokens returns the reference's stop tokens plus the config's eos_token_id.
func DefaultStopTokens(cfg *model.Config) []int {
	return append(slices.Clone(referenceStops), cfg.EOSTokenID)
}

// nan marks an exit value that was never computed.
var nan = math.NaN()

// MaxSteps bounds the recurrences a request may ask for per token (and every --steps flag).
const MaxSteps = 4096

// ExitOptions turn on per-token adaptive compute.
type ExitOptions struct {
	Criterion       string    // entropy-diff, latent-diff, cosine, kl, minp-kl, argmax-stability or none
	Threshold       *float64  // nil: the criterion's "auto" threshold
	Custom          Criterion // a plug-in criterion; when set, Criterion and Threshold are ignored
	MinSteps        int       // no check before this many recurrences
	CheckEvery      int       // check every N recurrences from MinSteps on (0 means 1)
	NoExitInPrefill bool      // the prompt always runs the full number of steps
}

// SpeculativeOptions turn on self-speculative decoding.
type SpeculativeOptions struct {
	DraftSteps int     // recurrences per drafted token
	Lookahead  int     // tokens drafted per round
	Verify     float64 // 1 (or 0): the verifier's argmax must equal the draft; < 1: p(draft) ≥ Verify · max p
	ReuseDraft bool    // keep the draft's KV slots and states, verify with Steps − DraftSteps more recurrences
}

// Options configure a generation request.
type Options struct {
	MaxNew      int                 // new tokens at most
	Steps       int                 // recurrences per token (the maximum under adaptive compute); 0: mean_recurrence
	InitScale   float64             // scale of the random initial state; 0 gives zeros
	Seed        uint64              // seeds the initial states and the sampler
	Cache       string              // KV lookup strategy; "": full, or latest-m4 with adaptive compute
	Continuous  bool                // warm-start each token from the previous token's final state
	Exit        *ExitOptions        // nil: fixed recurrence
	Speculative *SpeculativeOptions // nil: one token per forward
	Sampling    Sampling
	StopTokens  []int // nil: DefaultStopTokens
	// ReferenceQuirks reproduces the official code's observable quirks (see the package
	// comment): stale logits when the check cadence misses the last step, the ln_f warm start of
	// fixed recurrence, speculative overshoot of MaxNew. For parity tests only.
	ReferenceQuirks bool
	// Observe, when set, is called with the state of every position the request computes: at
	// step 0 with the initial state and after each recurrence t with s_t, for the S positions
	// from pos on that run together (the whole prompt during the prefill, then one token at a
	// time). state is [S × n_embd] and only valid during the call. Not called for speculative
	// drafts and verification.
	Observe     func(pos, S, step int, state []float32)
	Logprobs    bool // report each token's log-probabilities (Token.Logprobs)
	TopLogprobs int  // with Logprobs: the most likely alternatives per token, at most 20
	// Stepper, when set, runs the recurrences (a Batcher shares them across requests).
	Stepper Stepper
	// Context, when set, cancels the request: it is checked between recurrences, and a
	// cancelled request ends its token stream with the context's error.
	Context context.Context
}

// Token is one generated token and how it was computed.
type Token struct {
	ID        int
	Steps     int     // recurrences behind the logits it was drawn from (as the reference counts them)
	Exited    bool    // the exit criterion fired
	ExitValue float64 // the criterion's value at the last check; NaN when nothing was checked
	Checks    []Check // every checked value, in order
	Drafted   bool    // speculative: a drafted token the verifier accepted

	// Logprobs (with Options.Logprobs) are the token's log-probabilities.
	Logprobs *TokenLogprobs
}

// Check is a criterion value computed after Step recurrences.
type Check struct {
	Step  int
	Value float64
}

// Stats count the work a generation did.
type Stats struct {
	StepCalls     int // recurrences run (each over all positions of its batch)
	PositionSteps int // recurrences × positions
	DraftRounds   int // speculative rounds
	DraftTokens   int // tokens drafted
	Accepted      int // drafted tokens the verifier accepted
}

// Generator produces the tokens of one request. It is not safe for concurrent use.
type Generator struct {
	m       *model.Model
	opt     Options
	crit    Criterion
	samp    sampler
	initRNG *rand.Rand
	cache   *model.Cache
	stops   map[int]bool
	ids     []int // prompt followed by the generated tokens
	prompt  int
	warm    []float32 // continuous compute: the next token's initial state
	pending []Token   // produced but not yet yielded
	done    bool
	stats   Stats
}

// New validates a request and prepares its generator.
func New(m *model.Model, prompt []int, opt Options) (*Generator, error) {
	cfg := m.Config
	if err := checkPrompt(cfg, prompt, opt.MaxNew); err != nil {
		return nil, err
	}
	if opt.Steps == 0 {
		opt.Steps = cfg.MeanRecurrence
	}
	if opt.Steps < 1 || opt.Steps > MaxSteps {
		return nil, fmt.Errorf("generate: steps %d must lie in [1, %d]", opt.Steps, MaxSteps)
	}
	if math.IsNaN(opt.InitScale) || math.IsInf(opt.InitScale, 0) || opt.InitScale < 0 {
		return nil, fmt.Errorf("generate: init scale %v must be a finite number ≥ 0", opt.InitScale)
	}
	if err := opt.Sampling.validate(); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	if opt.TopLogprobs < 0 || opt.TopLogprobs > maxTopLogprobs {
		return nil, fmt.Errorf("generate: top logprobs %d must lie in [0, %d]", opt.TopLogprobs, maxTopLogprobs)
	}
	if opt.Exit != nil { // private copies: setup fills in defaults
		ex := *opt.Exit
		opt.Exit = &ex
	}
	if opt.Speculative != nil {
		sp := *opt.Speculative
		opt.Speculative = &sp
	}
	g := &Generator{m: m, opt: opt, ids: slices.Clone(prompt), prompt: len(prompt),
		samp:    sampler{Sampling: opt.Sampling, rng: rand.New(rand.NewPCG(opt.Seed, 0x73616d706c65))},
		initRNG: rand.New(rand.NewPCG(opt.Seed, 0x6c6174656e74))}
	if err := g.setup(); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	stops := opt.StopTokens
	if stops == nil {
		stops = DefaultStopTokens(cfg)
	}
	g.stops = map[int]bool{}
	for _, id := range stops {
		g.stops[id] = true
	}
	return g, nil
}

// checkPrompt rejects empty prompts, ids outside the vocabulary and requests beyond the context.
func checkPrompt(cfg *model.Config, prompt []int, maxNew int) error {
	if len(prompt) == 0 {
		return fmt.Errorf("generate: empty prompt")
	}
	for i, id := range prompt {
		if id < 0 || id >= cfg.PaddedVocabSize {
			return fmt.Errorf("generate: prompt token %d at index %d is outside the vocabulary [0, %d)", id, i, cfg.PaddedVocabSize)
		}
	}
	if maxNew < 1 {
		return fmt.Errorf("generate: max new tokens %d must be at least 1", maxNew)
	}
	if len(prompt)+maxNew > cfg.BlockSize {
		return fmt.Errorf("generate: prompt of %d tokens + %d new tokens exceeds the context of %d (block_size)", len(prompt), maxNew, cfg.BlockSize)
	}
	return nil
}

// setup checks the mode options and builds the cache and criterion.
func (g *Generator) setup() error {
	opt := &g.opt
	strategy := opt.Cache
	if strategy == "" {
		strategy = "full"
		if opt.Exit != nil {
			strategy = "latest-m4"
		}
	}
	cache, err := model.NewCache(g.m.Config, strategy)
	if err != nil {
		return err
	}
	g.cache = cache
	if opt.Exit != nil {
		if err := g.setupExit(); err != nil {
			return err
		}
	}
	if opt.Speculative != nil {
		return g.setupSpeculative()
	}
	return nil
}

func (g *Generator) setupExit() error {
	ex := g.opt.Exit
	if g.opt.Speculative != nil {
		return fmt.Errorf("adaptive compute (exit criterion) and speculative decoding cannot be combined")
	}
	if g.cache.Strategy().Lookup == model.LookupNoneRequired {
		return fmt.Errorf("cache strategy %q has no lookup for tokens that exited early; use latest-m4-%s with adaptive compute", g.opt.Cache, g.opt.Cache)
	}
	if ex.MinSteps < 0 || ex.MinSteps >= g.opt.Steps {
		return fmt.Errorf("min steps %d must lie in [0, steps %d)", ex.MinSteps, g.opt.Steps)
	}
	if ex.CheckEvery == 0 {
		ex.CheckEvery = 1
	}
	if ex.CheckEvery < 1 {
		return fmt.Errorf("check every %d steps: must be at least 1", ex.CheckEvery)
	}
	if ex.Custom != nil {
		g.crit = ex.Custom
		return nil
	}
	crit, err := NewCriterion(ex.Criterion, ex.Threshold, g.m.Config.PaddedVocabSize)
	g.crit = crit
	return err
}

func (g *Generator) setupSpeculative() error {
	sp := g.opt.Speculative
	switch {
	case g.opt.Continuous:
		return fmt.Errorf("continuous compute is not supported with speculative decoding")
	case sp.DraftSteps < 1 || sp.DraftSteps > MaxSteps:
		return fmt.Errorf("draft steps %d must lie in [1, %d]", sp.DraftSteps, MaxSteps)
	case sp.Lookahead < 1 || sp.Lookahead > g.m.Config.BlockSize:
		return fmt.Errorf("lookahead %d must lie in [1, %d]", sp.Lookahead, g.m.Config.BlockSize)
	case sp.Verify == 0:
		sp.Verify = 1
	case !(sp.Verify > 0 && sp.Verify <= 1):
		return fmt.Errorf("verification threshold %v must lie in (0, 1]", sp.Verify)
	}
	if sp.ReuseDraft {
		return checkDraftReuse(g.m.Config, g.cache.Strategy().Name, sp.DraftSteps, g.opt.Steps)
	}
	return nil
}

// Generate runs a request to the end and returns its tokens.
func Generate(m *model.Model, prompt []int, opt Options) ([]Token, error) {
	g, err := New(m, prompt, opt)
	if err != nil {
		return nil, err
	}
	var out []Token
	for tok, err := range g.Tokens() {
		if err != nil {
			return out, err
		}
		out = append(out, tok)
	}
	return out, nil
}

// Tokens streams the generated tokens as they are decided. Breaking out of the loop pauses the
// generation; ranging again resumes it. An error ends the stream.
func (g *Generator) Tokens() iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		for {
			for len(g.pending) > 0 {
				tok := g.pending[0]
				g.pending = g.pending[1:]
				if !yield(tok, nil) {
					return
				}
			}
			if g.done {
				return
			}
			if err := g.advance(); err != nil {
				g.done = true
				yield(Token{}, err)
				return
			}
		}
	}
}

// IDs returns the prompt followed by the tokens generated so far.
func (g *Generator) IDs() []int { return slices.Clone(g.ids) }

// Cache returns the request's KV cache (for its size and entry counts).
func (g *Generator) Cache() *model.Cache { return g.cache }

// Stats returns the work done so far.
func (g *Generator) Stats() Stats { return g.stats }

func (g *Generator) generated() int { return len(g.ids) - g.prompt }

// advance computes the next token (or, speculating, the next accepted run of tokens).
func (g *Generator) advance() error {
	var toks []Token
	var err error
	if g.opt.Speculative != nil && g.generated() > 0 {
		toks, err = g.speculativeRound()
	} else {
		var tok Token
		tok, err = g.nextToken()
		toks = []Token{tok}
	}
	if err == nil {
		err = g.cancelled()
	}
	if err != nil {
		return err
	}
	for _, tok := range toks {
		g.ids = append(g.ids, tok.ID)
		g.pending = append(g.pending, tok)
		if g.stops[tok.ID] {
			g.done = true
			break
		}
	}
	// A round never drafts past MaxNew, except the reference's (ReferenceQuirks), whose rounds
	// run to their end past the limit.
	g.done = g.done || g.generated() >= g.opt.MaxNew
	return nil
}

// initialState returns s₀ for S positions: the warm state when continuing, else a fresh draw.
func (g *Generator) initialState(S int) []float32 {
	if g.opt.Continuous && g.warm != nil {
		return g.warm
	}
	return g.m.InitialState(S, g.opt.InitScale, g.initRNG)
}

// iterate runs recurrences from..to-1 on s; it stops with the context's error once the
// request is cancelled.
func (g *Generator) iterate(s, e []float32, S, pos, from, to int) ([]float32, error) {
	for t := from; t < to; t++ {
		if err := g.cancelled(); err != nil {
			return nil, err
		}
		var err error
		if s, err = g.step(s, e, S, pos, t); err != nil {
			return nil, err
		}
		g.stats.StepCalls++
		g.stats.PositionSteps += S
		g.observe(pos, S, t+1, s)
	}
	return s, nil
}

// observe hands a state to Options.Observe outside speculative decoding.
func (g *Generator) observe(pos, S, step int, s []float32) {
	if g.opt.Observe != nil && g.opt.Speculative == nil {
		g.opt.Observe(pos, S, step, s)
	}
}

// cancelled returns the request context's error, if it has one and it is done.
func (g *Generator) cancelled() error {
	if g.opt.Context == nil {
		return nil
	}
	return g.opt.Context.Err()
}

// warmState is the next token's initial state under continuous compute with a fixed recurrence:
// the raw final state of the last position, or ln_f of it under ReferenceQuirks.
func (g *Generator) warmState(s []float32, S int) []float32 {
	if g.opt.ReferenceQuirks {
		s = g.m.Latents(s, S)
	}
	return slices.Clone(lastRow(s, S))
}

// lastRow returns row S−1 of an [S×w] matrix.
func lastRow(x []float32, S int) []float32 { return x[(S-1)*len(x)/S:] }

// nextToken feeds the tokens the cache lacks (the prompt, then the last token) and draws one.
func (g *Generator) nextToken() (Token, error) {
	pos := g.cache.Len()
	input := g.ids[pos:]
	S := len(input)
	e, err := g.prelude(input, pos)
	if err != nil {
		return Token{}, err
	}
	s := g.initialState(S)
	g.observe(pos, S, 0, s)
	var tok Token
	var logits []float32
	if g.crit == nil {
		if s, err = g.iterate(s, e, S, pos, 0, g.opt.Steps); err != nil {
			return Token{}, err
		}
		if logits, err = g.lastLogits(s, S, pos); err != nil {
			return Token{}, err
		}
		tok = Token{Steps: g.opt.Steps, ExitValue: nan}
		if g.opt.Continuous {
			g.warm = g.warmState(s, S)
		}
	} else {
		if tok, s, logits, err = g.adaptive(s, e, S, pos); err != nil {
			return Token{}, err
		}
		if g.opt.Continuous {
			g.warm = slices.Clone(lastRow(s, S))
		}
	}
	if err := g.cache.Err(); err != nil {
		return Token{}, err
	}
	tok.ID, tok.Logprobs = g.draw(logits, g.ids)
	return tok, nil
}

// adaptive iterates until the criterion exits or the step limit is reached and returns the
// token's record, the final raw state and the logits to draw from.
func (g *Generator) adaptive(s, e []float32, S, pos int) (Token, []float32, []float32, error) {
	ex := g.opt.Exit
	prefill := g.generated() == 0
	tok := Token{Steps: g.opt.Steps, ExitValue: nan}
	var logits []float32 // from the last check that ran the coda
	logitsStep, ran := 0, 0
	g.crit.Reset(s, S)
	var err error
	for t := 0; t < g.opt.Steps; t++ {
		if s, err = g.iterate(s, e, S, pos, t, t+1); err != nil {
			return tok, nil, nil, err
		}
		ran = t + 1
		if t < ex.MinSteps || (t-ex.MinSteps)%ex.CheckEvery != 0 || (ex.NoExitInPrefill && prefill) {
			continue
		}
		obs := Observation{State: s, S: S}
		if g.crit.NeedsLogits() {
			if logits, err = g.lastLogits(s, S, pos); err != nil {
				return tok, nil, nil, err
			}
			logitsStep = t + 1
			obs.Logits = logits
		}
		exit, v := g.crit.Check(obs)
		tok.Checks = append(tok.Checks, Check{Step: t + 1, Value: v})
		tok.ExitValue = v
		if exit {
			tok.Steps, tok.Exited = t+1, true
			break
		}
	}
	// Latent criteria, no check, or a last check before the last step: decode the final state
	// (the reference keeps the last check's logits, see ReferenceQuirks).
	if logits == nil || (logitsStep != ran && !g.opt.ReferenceQuirks) {
		logits, err = g.lastLogits(s, S, pos)
	}
	return tok, s, logits, err
}
