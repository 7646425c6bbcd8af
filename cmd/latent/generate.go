package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tokenizer"
	"github.com/spf13/cobra"
)

// generateFlags are the command line of `latent generate`.
type generateFlags struct {
	dir, tokDir, ids, prompt string
	maxNew, steps            int
	exit                     string
	threshold                float64
	cache                    string
	continuous, noPrefill    bool
	minSteps, checkEvery     int
	draftSteps, lookahead    int
	verify                   float64
	reuseDraft               bool
	greedy                   bool
	sampling                 generate.Sampling
	initScale                float64
	seed                     uint64
	asJSON, stats, quirks    bool
}

func init() {
	var fl generateFlags
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate tokens with latent reasoning: fixed or adaptive recurrence, warm starts, self-speculation",
		Example: `  latent generate --model ~/models/huginn-0125-bf16 --prompt "The capital of France is" --max-new 16
  latent generate --model ~/models/huginn-0125-bf16 --prompt "2+2=" --exit kl --steps 64 --stats
  latent generate --model testdata/fixtures/huginn-tiny --ids 1,2,3 --steps 8 --json`,
		Long: `Generate continues a prompt. Every token runs --steps recurrences of the core block, or,
with --exit, stops early when the criterion says the latent state has settled. --draft-steps
turns on self-speculative decoding: --lookahead tokens are drafted with few recurrences and
verified together with --steps.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGenerate(cmd.Flags().Changed, &fl, os.Stdout, os.Stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.dir, "model", "", "model folder (config.json + safetensors)")
	f.StringVar(&fl.tokDir, "tokenizer", "", "tokenizer.json or its folder for --prompt (default: the model folder)")
	f.StringVar(&fl.ids, "ids", "", "prompt as comma-separated token ids")
	f.StringVar(&fl.prompt, "prompt", "", "prompt text (needs a tokenizer)")
	f.IntVar(&fl.maxNew, "max-new", defaultMaxNew, "new tokens at most (fewer where the context ends first)")
	stepsVar(f, &fl.steps, "steps", 0, "recurrences per token, the maximum with --exit (default: the config's mean_recurrence)")
	f.StringVar(&fl.exit, "exit", "", "adaptive compute exit criterion: entropy-diff, latent-diff, cosine, kl, minp-kl, argmax-stability, none")
	f.Float64Var(&fl.threshold, "threshold", 0, "exit threshold (default: the criterion's reference \"auto\" value)")
	f.StringVar(&fl.cache, "cache", "", "KV cache strategy, e.g. full, latest-m4, latest-m4-compress-s16 (default: full, latest-m4 with --exit)")
	f.BoolVar(&fl.continuous, "continuous", false, "warm-start each token from the previous token's final latent state")
	f.IntVar(&fl.minSteps, "min-steps", 0, "no exit check before this many recurrences")
	f.IntVar(&fl.checkEvery, "check-every", 1, "check the exit criterion every N recurrences")
	f.BoolVar(&fl.noPrefill, "no-exit-in-prefill", false, "run the prompt for the full --steps")
	stepsVar(f, &fl.draftSteps, "draft-steps", 0, "self-speculative decoding: recurrences per drafted token (default: off)")
	f.IntVar(&fl.lookahead, "lookahead", 8, "self-speculative decoding: tokens drafted per round")
	f.Float64Var(&fl.verify, "verify", 1, "verification threshold: 1 = exact argmax, < 1 accepts p(draft) ≥ X·max p")
	f.BoolVar(&fl.reuseDraft, "reuse-draft", false, "verify from the draft's states and KV instead of recomputing them")
	f.BoolVar(&fl.greedy, "greedy", false, "argmax decoding (the default unless a sampling flag is given)")
	f.Float64Var(&fl.sampling.Temperature, "temperature", 0, "sampling temperature (default 1 when --top-k/--top-p/--min-p are given)")
	f.IntVar(&fl.sampling.TopK, "top-k", 0, "sample among the K most likely tokens")
	f.Float64Var(&fl.sampling.TopP, "top-p", 0, "nucleus sampling mass")
	f.Float64Var(&fl.sampling.MinP, "min-p", 0, "drop tokens below X × the top probability")
	f.Float64Var(&fl.sampling.RepetitionPenalty, "repetition-penalty", 0, "penalise tokens already in the context (1: off)")
	f.Float64Var(&fl.initScale, "init-scale", 0, "scale of the random initial state (0: zeros; the reference defaults to 1)")
	f.Uint64Var(&fl.seed, "seed", 0, "seed of the initial states and the sampler")
	f.BoolVar(&fl.asJSON, "json", false, `print {"tokens": [...new ids...], "steps": [...steps per new token...]}`)
	f.BoolVar(&fl.quirks, "reference-quirks", false, "reproduce the official code's observable quirks, for parity tests: stale logits when --check-every misses the last step, the ln_f warm start of --continuous, speculative overshoot of --max-new")
	f.BoolVar(&fl.stats, "stats", false, "print tokens/s, steps per token, KV memory and speculation figures to stderr")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagsMutuallyExclusive("ids", "prompt")
	cmd.MarkFlagsOneRequired("ids", "prompt")
	cmd.MarkFlagsMutuallyExclusive("greedy", "temperature")
	rootCmd.AddCommand(cmd)
}

// options turns the flags into a generation request.
func (fl *generateFlags) options(changed func(string) bool) generate.Options {
	opt := generate.Options{MaxNew: fl.maxNew, Steps: fl.steps, InitScale: fl.initScale, Seed: fl.seed,
		Cache: fl.cache, Continuous: fl.continuous, Sampling: fl.sampling, ReferenceQuirks: fl.quirks}
	sampled := changed("top-k") || changed("top-p") || changed("min-p")
	if !fl.greedy && sampled && !changed("temperature") {
		opt.Sampling.Temperature = 1
	}
	if fl.exit != "" {
		opt.Exit = &generate.ExitOptions{Criterion: fl.exit, MinSteps: fl.minSteps, CheckEvery: fl.checkEvery,
			NoExitInPrefill: fl.noPrefill}
		if changed("threshold") {
			opt.Exit.Threshold = &fl.threshold
		}
	}
	if fl.draftSteps != 0 {
		opt.Speculative = &generate.SpeculativeOptions{DraftSteps: fl.draftSteps, Lookahead: fl.lookahead,
			Verify: fl.verify, ReuseDraft: fl.reuseDraft}
	}
	return opt
}

// checkModeFlags rejects flags that belong to a mode that is not turned on.
func checkModeFlags(changed func(string) bool, fl *generateFlags) error {
	for _, name := range []string{"threshold", "min-steps", "check-every", "no-exit-in-prefill"} {
		if changed(name) && fl.exit == "" {
			return fmt.Errorf("--%s needs --exit CRITERION", name)
		}
	}
	for _, name := range []string{"lookahead", "verify", "reuse-draft"} {
		if changed(name) && fl.draftSteps == 0 {
			return fmt.Errorf("--%s needs --draft-steps N", name)
		}
	}
	if fl.maxNew < 1 {
		return fmt.Errorf("--max-new %d must be at least 1", fl.maxNew)
	}
	if fl.greedy && (changed("top-k") || changed("top-p") || changed("min-p")) {
		return fmt.Errorf("--greedy cannot be combined with --top-k, --top-p or --min-p")
	}
	return nil
}

func runGenerate(changed func(string) bool, fl *generateFlags, stdout, stderr io.Writer) error {
	if err := checkModeFlags(changed, fl); err != nil {
		return err
	}
	var tok *tokenizer.Tokenizer
	var prompt []int
	var err error
	if changed("prompt") {
		if tok, prompt, err = encodePrompt(fl); err != nil {
			return err
		}
	} else if prompt, err = parseIDs(fl.ids); err != nil {
		return err
	}
	m, err := model.Load(fl.dir)
	if err != nil {
		return err
	}
	defer m.Close()
	opt := fl.options(changed)
	if opt.MaxNew, err = newTokens(changed("max-new"), fl.maxNew, len(prompt), m.Config.BlockSize); err != nil {
		return err
	}
	g, err := generate.New(m, prompt, opt)
	if err != nil {
		return err
	}
	start := time.Now()
	toks, err := newTokenPrinter(stdout, tok, fl.asJSON).print(g)
	if err != nil {
		return err
	}
	if fl.stats {
		printStats(stderr, g, toks, time.Since(start), len(prompt))
	}
	return nil
}

// encodePrompt loads the tokenizer and encodes --prompt with the special tokens the tokenizer
// adds (BOS for Huginn).
func encodePrompt(fl *generateFlags) (*tokenizer.Tokenizer, []int, error) {
	if fl.prompt == "" {
		return nil, nil, fmt.Errorf("--prompt: empty prompt")
	}
	dir := fl.tokDir
	if dir == "" {
		dir = fl.dir
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("--prompt needs a tokenizer (--tokenizer PATH): %w", err)
	}
	return tok, tok.Encode(fl.prompt, true), nil
}

// tokenPrinter streams tokens as text (with a tokenizer) or as "id (steps)" lines, or collects
// them for JSON.
type tokenPrinter struct {
	w      io.Writer
	stream *tokenizer.StreamDecoder
	asJSON bool
	text   strings.Builder // the decoded text, for JSON
}

func newTokenPrinter(w io.Writer, tok *tokenizer.Tokenizer, asJSON bool) *tokenPrinter {
	p := &tokenPrinter{w: w, asJSON: asJSON}
	if tok != nil {
		p.stream = tok.NewStreamDecoder()
	}
	return p
}

func (p *tokenPrinter) add(t generate.Token) {
	switch {
	case p.asJSON && p.stream != nil:
		p.text.WriteString(p.stream.Add(t.ID))
	case p.asJSON:
	case p.stream != nil:
		fmt.Fprint(p.w, p.stream.Add(t.ID))
	default:
		fmt.Fprintf(p.w, "%d\t%d steps%s\n", t.ID, t.Steps, exitNote(t))
	}
}

func exitNote(t generate.Token) string {
	switch {
	case t.Drafted:
		return "\tdrafted"
	case t.Exited:
		return "\texit " + strconv.FormatFloat(t.ExitValue, 'g', 4, 64)
	}
	return ""
}

// print prints the generator's tokens as they come and returns them.
func (p *tokenPrinter) print(g *generate.Generator) ([]generate.Token, error) {
	var toks []generate.Token
	for t, err := range g.Tokens() {
		if err != nil {
			return toks, err
		}
		toks = append(toks, t)
		p.add(t)
	}
	return toks, p.finish(toks)
}

func (p *tokenPrinter) finish(toks []generate.Token) error {
	if !p.asJSON {
		if p.stream != nil {
			fmt.Fprintln(p.w, p.stream.Flush())
		}
		return nil
	}
	doc := struct {
		Text   string `json:"text,omitempty"` // with a tokenizer
		Tokens []int  `json:"tokens"`
		Steps  []int  `json:"steps"`
	}{Tokens: []int{}, Steps: []int{}}
	if p.stream != nil {
		doc.Text = p.text.String() + p.stream.Flush()
	}
	for _, t := range toks {
		doc.Tokens = append(doc.Tokens, t.ID)
		doc.Steps = append(doc.Steps, t.Steps)
	}
	return json.NewEncoder(p.w).Encode(doc)
}

// printStats reports speed, compute and memory of the finished request.
func printStats(w io.Writer, g *generate.Generator, toks []generate.Token, elapsed time.Duration, promptLen int) {
	steps := 0
	for _, t := range toks {
		steps += t.Steps
	}
	n := max(len(toks), 1)
	c := g.Cache()
	positions := max(c.Len(), 1)
	st := g.Stats()
	fmt.Fprintf(w, "tokens %d in %.2fs: %.2f tokens/s, %.2f steps/token, %d recurrence calls over %d position-steps\n",
		len(toks), elapsed.Seconds(), float64(len(toks))/elapsed.Seconds(), float64(steps)/float64(n), st.StepCalls, st.PositionSteps)
	fmt.Fprintf(w, "KV cache %q: %d positions (prompt %d), %.1f entries/position, %.1f KiB/position (fp32)\n",
		c.Strategy().Name, c.Len(), promptLen, float64(c.Entries())/float64(positions), float64(c.Bytes())/float64(positions)/1024)
	if st.DraftRounds > 0 {
		fmt.Fprintf(w, "speculation: %d rounds, %d of %d drafted tokens accepted (%.0f%%)\n",
			st.DraftRounds, st.Accepted, st.DraftTokens, 100*float64(st.Accepted)/float64(max(st.DraftTokens, 1)))
	}
}
