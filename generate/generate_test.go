package generate

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

var tinyPrompt = []int{1, 357, 109, 160, 502, 62, 304, 165, 222, 476, 100, 404}

func ptr(v float64) *float64 { return &v }

func TestBadRequestsFail(t *testing.T) {
	m := loadTinyModel(t)
	ok := Options{MaxNew: 4, Steps: 4}
	with := func(edit func(*Options)) Options {
		o := ok
		edit(&o)
		return o
	}
	cases := []struct {
		name   string
		prompt []int
		opt    Options
		want   string
	}{
		{"empty prompt", nil, ok, "empty prompt"},
		{"negative id", []int{1, -3}, ok, "index 1 is outside the vocabulary"},
		{"id beyond vocab", []int{512}, ok, "outside the vocabulary [0, 512)"},
		{"no new tokens", tinyPrompt, with(func(o *Options) { o.MaxNew = 0 }), "at least 1"},
		{"beyond context", tinyPrompt, with(func(o *Options) { o.MaxNew = 245 }), "exceeds the context of 256"},
		{"negative steps", tinyPrompt, with(func(o *Options) { o.Steps = -1 }), "steps -1"},
		{"unknown cache", tinyPrompt, with(func(o *Options) { o.Cache = "latest-m5" }), "unknown lookup"},
		{"bad compression", tinyPrompt, with(func(o *Options) { o.Cache = "compress-x3" }), "unknown compression"},
		{"unknown criterion", tinyPrompt, with(func(o *Options) { o.Exit = &ExitOptions{Criterion: "entropy"} }), `exit criterion "entropy" is unknown`},
		{"negative kl", tinyPrompt, with(func(o *Options) { o.Exit = &ExitOptions{Criterion: "kl", Threshold: ptr(-1e-4)} }), "must not be negative"},
		{"nan threshold", tinyPrompt, with(func(o *Options) { o.Exit = &ExitOptions{Criterion: "latent-diff", Threshold: ptr(math.NaN())} }), "not a finite number"},
		{"cosine above 2", tinyPrompt, with(func(o *Options) { o.Exit = &ExitOptions{Criterion: "cosine", Threshold: ptr(3)} }), "[0, 2]"},
		{"fractional argmax", tinyPrompt, with(func(o *Options) { o.Exit = &ExitOptions{Criterion: "argmax-stability", Threshold: ptr(2.5)} }), "whole number"},
		{"min steps too large", tinyPrompt, with(func(o *Options) { o.Exit = &ExitOptions{Criterion: "kl", MinSteps: 4} }), "min steps 4"},
		{"negative check cadence", tinyPrompt, with(func(o *Options) { o.Exit = &ExitOptions{Criterion: "kl", CheckEvery: -2} }), "check every -2"},
		{"adaptive without lookup", tinyPrompt, with(func(o *Options) { o.Cache = "compress-s8"; o.Exit = &ExitOptions{Criterion: "kl"} }), "latest-m4-compress-s8"},
		{"adaptive and speculative", tinyPrompt, with(func(o *Options) {
			o.Exit = &ExitOptions{Criterion: "kl"}
			o.Speculative = &SpeculativeOptions{DraftSteps: 1, Lookahead: 2}
		}), "cannot be combined"},
		{"speculative continuous", tinyPrompt, with(func(o *Options) {
			o.Continuous = true
			o.Speculative = &SpeculativeOptions{DraftSteps: 1, Lookahead: 2}
		}), "continuous compute is not supported"},
		{"zero draft steps", tinyPrompt, with(func(o *Options) { o.Speculative = &SpeculativeOptions{Lookahead: 2} }), "draft steps 0"},
		{"verify above 1", tinyPrompt, with(func(o *Options) { o.Speculative = &SpeculativeOptions{DraftSteps: 1, Lookahead: 2, Verify: 1.5} }), "(0, 1]"},
		{"reuse without remaining steps", tinyPrompt, with(func(o *Options) { o.Speculative = &SpeculativeOptions{DraftSteps: 4, Lookahead: 2, ReuseDraft: true} }), "draft steps 4 < steps 4"},
		{"reuse across shared slots", tinyPrompt, with(func(o *Options) {
			o.Cache = "compress-s4"
			o.Speculative = &SpeculativeOptions{DraftSteps: 2, Lookahead: 2, ReuseDraft: true}
		}), "8 (step, layer) KV entries into only 4 slots"},
		{"negative temperature", tinyPrompt, with(func(o *Options) { o.Sampling.Temperature = -1 }), "temperature -1"},
		{"top-p above 1", tinyPrompt, with(func(o *Options) { o.Sampling = Sampling{Temperature: 1, TopP: 1.2} }), "top-p 1.2"},
		{"negative top-k", tinyPrompt, with(func(o *Options) { o.Sampling = Sampling{Temperature: 1, TopK: -1} }), "top-k -1"},
		{"min-p of 1", tinyPrompt, with(func(o *Options) { o.Sampling = Sampling{Temperature: 1, MinP: 1} }), "min-p 1"},
		{"infinite init scale", tinyPrompt, with(func(o *Options) { o.InitScale = math.Inf(1) }), "init scale"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Generate(m, c.prompt, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// A plain compress-sK strategy (no lookup fallback) works while every token runs the same steps.
func TestCompressWithoutLookupNeedsEqualSteps(t *testing.T) {
	m := loadTinyModel(t)
	toks, err := Generate(m, tinyPrompt, Options{MaxNew: 3, Steps: 4, Cache: "compress-s8"})
	if err != nil || len(toks) != 3 {
		t.Fatalf("fixed steps under compress-s8: %d tokens, error %v", len(toks), err)
	}
}

func TestStreamingResumesWhereItPaused(t *testing.T) {
	m := loadTinyModel(t)
	opt := Options{MaxNew: 9, Steps: 6, Speculative: &SpeculativeOptions{DraftSteps: 2, Lookahead: 4}}
	want, err := Generate(m, tinyPrompt, opt)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(m, tinyPrompt, opt)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for len(got) < len(want) {
		for tok, err := range g.Tokens() {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, tok.ID)
			break // pause after every token, even inside a speculative run of several
		}
	}
	if !slices.Equal(got, ids(want)) {
		t.Fatalf("paused stream %v, uninterrupted %v", got, ids(want))
	}
	if !slices.Equal(g.IDs(), append(slices.Clone(tinyPrompt), got...)) {
		t.Fatalf("IDs() = %v", g.IDs())
	}
}

// Speculative decoding stops at the token limit (the reference overshoots) and, with greedy
// verification, reproduces plain greedy generation whatever the draft, lookahead or reuse.
func TestSpeculativeMatchesPlainAndHonoursLimit(t *testing.T) {
	m := loadTinyModel(t)
	for _, maxNew := range []int{1, 3, 6, 11} {
		plain, err := Generate(m, tinyPrompt, Options{MaxNew: maxNew, Steps: 8, Cache: "latest-m4"})
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range []SpeculativeOptions{{DraftSteps: 1, Lookahead: 3}, {DraftSteps: 3, Lookahead: 5, ReuseDraft: true}, {DraftSteps: 8, Lookahead: 2}} {
			toks, err := Generate(m, tinyPrompt, Options{MaxNew: maxNew, Steps: 8, Cache: "latest-m4", Speculative: &sp})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(toks), ids(plain)) {
				t.Errorf("max %d, %+v: %v, plain greedy %v", maxNew, sp, ids(toks), ids(plain))
			}
		}
	}
}

func TestStopTokenEndsGeneration(t *testing.T) {
	m := loadTinyModel(t)
	all, err := Generate(m, tinyPrompt, Options{MaxNew: 8, Steps: 8})
	if err != nil {
		t.Fatal(err)
	}
	stop := all[3].ID
	for _, spec := range []*SpeculativeOptions{nil, {DraftSteps: 2, Lookahead: 4}} {
		toks, err := Generate(m, tinyPrompt, Options{MaxNew: 8, Steps: 8, StopTokens: []int{stop}, Speculative: spec})
		if err != nil {
			t.Fatal(err)
		}
		first := slices.Index(ids(all), stop)
		if !slices.Equal(ids(toks), ids(all)[:first+1]) {
			t.Errorf("speculative %v: stop at %d gave %v, want %v", spec != nil, stop, ids(toks), ids(all)[:first+1])
		}
	}
}

func TestSeededSamplingIsReproducible(t *testing.T) {
	m := loadTinyModel(t)
	opt := Options{MaxNew: 12, Steps: 4, InitScale: 1, Seed: 7,
		Sampling: Sampling{Temperature: 1.5, TopK: 50, TopP: 0.95, MinP: 0.01, RepetitionPenalty: 1.1}}
	a, err := Generate(m, tinyPrompt, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(m, tinyPrompt, opt)
	if !slices.Equal(ids(a), ids(b)) {
		t.Fatalf("same seed: %v then %v", ids(a), ids(b))
	}
	differ := false
	for seed := uint64(8); seed < 12 && !differ; seed++ {
		opt.Seed = seed
		c, _ := Generate(m, tinyPrompt, opt)
		differ = !slices.Equal(ids(a), ids(c))
	}
	if !differ {
		t.Fatalf("seeds 7..11 all gave %v", ids(a))
	}
}

// A plug-in criterion needs one type: this one exits after a fixed number of checks, like the
// reference's NumStepsGenerator.
type exitAfter struct{ n, seen int }

func (c *exitAfter) Reset([]float32, int) { c.seen = 0 }
func (c *exitAfter) NeedsLogits() bool    { return false }
func (c *exitAfter) Check(Observation) (bool, float64) {
	c.seen++
	return c.seen >= c.n, float64(c.seen)
}

func TestCustomCriterionAndCadence(t *testing.T) {
	m := loadTinyModel(t)
	ex := &ExitOptions{Custom: &exitAfter{n: 2}, MinSteps: 1, CheckEvery: 3}
	toks, err := Generate(m, tinyPrompt, Options{MaxNew: 3, Steps: 10, Exit: ex})
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		// checks after recurrences 2 and 5 (0-based steps 1 and 4): exit at 5
		if tok.Steps != 5 || !tok.Exited || len(tok.Checks) != 2 || tok.Checks[0].Step != 2 || tok.ExitValue != 2 {
			t.Errorf("token %d: %+v, want an exit after 5 steps at the second check", i, tok)
		}
	}
	if ex.CheckEvery != 3 {
		t.Errorf("options were modified: %+v", ex)
	}
}

// With no_exit_in_prefill the prompt runs every step; the reference's fallback then evaluates
// the final state.
func TestNoExitInPrefill(t *testing.T) {
	m := loadTinyModel(t)
	toks, err := Generate(m, tinyPrompt, Options{MaxNew: 2, Steps: 12, Exit: &ExitOptions{Criterion: "kl", NoExitInPrefill: true}})
	if err != nil {
		t.Fatal(err)
	}
	fixed, _ := Generate(m, tinyPrompt, Options{MaxNew: 1, Steps: 12})
	if toks[0].Steps != 12 || toks[0].Exited || len(toks[0].Checks) != 0 || toks[0].ID != fixed[0].ID {
		t.Errorf("prefill token %+v, want 12 steps, no checks, token %d", toks[0], fixed[0].ID)
	}
	if len(toks[1].Checks) == 0 {
		t.Errorf("decode token was not checked: %+v", toks[1])
	}
}

// When no check exits and the cadence misses the last step, the token is drawn from the logits
// of the last step, which it reports; with ReferenceQuirks, as the reference does, from the last
// check's (stale) logits while still reporting the full step count.
func TestNoExitFallbackLogits(t *testing.T) {
	m := loadTinyModel(t)
	never := ptr(1 << 20)       // argmax-stability that cannot be reached
	prompt := []int{5, 6, 7, 8} // its first token changes with r (95, 455, 325, 325, 437, 325, …)
	discriminating := false
	for r := 2; r <= 10; r += 2 {
		stale, _ := Generate(m, prompt, Options{MaxNew: 1, Steps: r - 1})
		fresh, _ := Generate(m, prompt, Options{MaxNew: 1, Steps: r})
		discriminating = discriminating || stale[0].ID != fresh[0].ID
		for _, quirks := range []bool{false, true} {
			// checks after recurrences 1, 3, …, r−1
			ex := &ExitOptions{Criterion: "argmax-stability", Threshold: never, CheckEvery: 2}
			toks, err := Generate(m, prompt, Options{MaxNew: 1, Steps: r, Exit: ex, ReferenceQuirks: quirks})
			if err != nil {
				t.Fatal(err)
			}
			want, wantFrom := fresh[0].ID, r
			if quirks {
				want, wantFrom = stale[0].ID, r-1
			}
			if toks[0].ID != want || toks[0].Steps != r || toks[0].Exited {
				t.Errorf("quirks %v, r=%d: token %d after %d steps (exited %v), want the %d-step token %d reported as %d steps",
					quirks, r, toks[0].ID, toks[0].Steps, toks[0].Exited, wantFrom, want, r)
			}
		}
	}
	if !discriminating {
		t.Fatal("no r in 2..10 where r−1 and r steps give different tokens: the test cannot tell stale from fresh logits")
	}
}

// Speculative decoding stops at MaxNew; with ReferenceQuirks its last round drafts the full
// lookahead and returns more tokens than asked for, as the reference does.
func TestSpeculativeOvershootOnlyWithQuirks(t *testing.T) {
	m := loadTinyModel(t)
	overshot := false
	for maxNew := 2; maxNew <= 12; maxNew++ {
		for _, quirks := range []bool{false, true} {
			sp := &SpeculativeOptions{DraftSteps: 2, Lookahead: 4}
			toks, err := Generate(m, tinyPrompt, Options{MaxNew: maxNew, Steps: 8, Speculative: sp, ReferenceQuirks: quirks})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case !quirks && len(toks) != maxNew:
				t.Errorf("max new %d: %d tokens by default, want exactly %d", maxNew, len(toks), maxNew)
			case quirks && (len(toks) < maxNew || len(toks) > maxNew+sp.Lookahead-1):
				t.Errorf("max new %d with quirks: %d tokens, want %d to %d", maxNew, len(toks), maxNew, maxNew+sp.Lookahead-1)
			}
			overshot = overshot || (quirks && len(toks) > maxNew)
		}
	}
	if !overshot {
		t.Error("with ReferenceQuirks no max new in 2..12 overshot: the quirk is not reproduced")
	}
}

// A verification threshold below 1 accepts at least the drafts exact verification accepts.
func TestRatioVerificationAcceptsMore(t *testing.T) {
	m := loadTinyModel(t)
	accepted := func(verify float64) int {
		g, err := New(m, tinyPrompt, Options{MaxNew: 5, Steps: 8, Speculative: &SpeculativeOptions{DraftSteps: 1, Lookahead: 4, Verify: verify}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, err := range g.Tokens() { // the prefill token, then the first round's first token
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 2 {
				break
			}
		}
		return g.Stats().Accepted
	}
	exact, loose, all := accepted(1), accepted(0.3), accepted(1e-9)
	if exact > loose || loose > all || all != 4 {
		t.Fatalf("accepted drafts: %d at 1, %d at 0.3, %d at 1e-9 (want nondecreasing, all 4 at 1e-9)", exact, loose, all)
	}
}

// Draft reuse is exact where checkDraftReuse allows it, also under KV compression (where
// batched verification itself already differs from one-token-at-a-time decoding).
func TestDraftReuseIsExactUnderCompression(t *testing.T) {
	m := loadTinyModel(t)
	for _, cache := range []string{"latest-m4-compress-s8", "compress-anchor", "latest-m4"} {
		opt := func(reuse bool) Options {
			return Options{MaxNew: 14, Steps: 12, Cache: cache, Speculative: &SpeculativeOptions{DraftSteps: 2, Lookahead: 3, ReuseDraft: reuse}}
		}
		plain, err := Generate(m, tinyPrompt, opt(false))
		if err != nil {
			t.Fatal(err)
		}
		reused, err := Generate(m, tinyPrompt, opt(true))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(plain), ids(reused)) {
			t.Errorf("%s: reuse %v, recompute %v", cache, ids(reused), ids(plain))
		}
	}
}

// TestContextCancels checks that a cancelled Options.Context ends the stream with its error.
func TestContextCancels(t *testing.T) {
	m := loadTinyModel(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	toks, err := Generate(m, []int{1, 2, 3}, Options{MaxNew: 4, Steps: 4, Context: ctx})
	if !errors.Is(err, context.Canceled) || len(toks) != 0 {
		t.Errorf("got %d tokens, error %v; want none and context.Canceled", len(toks), err)
	}
}

// By default continuous compute warm-starts every path from the raw final state, so a fixed
// recurrence and an adaptive one whose criterion never exits give the same tokens; with
// ReferenceQuirks the fixed path warm-starts from ln_f(state), as the reference's
// generate_minimal does, and the two differ.
func TestContinuousWarmStartIsRawByDefault(t *testing.T) {
	m := loadTinyModel(t)
	run := func(quirks bool, exit *ExitOptions) []int {
		toks, err := Generate(m, tinyPrompt, Options{MaxNew: 10, Steps: 4, Continuous: true, Exit: exit,
			Cache: "latest-m4", ReferenceQuirks: quirks})
		if err != nil {
			t.Fatal(err)
		}
		return ids(toks)
	}
	never := &ExitOptions{Criterion: "none"}
	if fixed, adaptive := run(false, nil), run(false, never); !slices.Equal(fixed, adaptive) {
		t.Errorf("continuous compute: fixed r gives %v, adaptive without exit %v; want the same tokens", fixed, adaptive)
	}
	if fixed, adaptive := run(true, nil), run(true, never); slices.Equal(fixed, adaptive) {
		t.Errorf("with ReferenceQuirks the ln_f warm start gave the raw warm start's tokens %v: the test cannot tell them apart", fixed)
	}
}
