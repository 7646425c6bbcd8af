package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/internal/outdir"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tasks"
	"github.com/latentlab/latent/tokenizer"
	"github.com/latentlab/latent/trace"
	"github.com/spf13/cobra"
)

// traceFlags are the flags of `latent trace`.
type traceFlags struct {
	dir, prompt, ids, state, out, tokens string
	mode, exit, cache                    string
	threshold                            float64
	thresholdGiven, continuous           bool
	ctx                                  context.Context // cancelled by Ctrl-C or SIGTERM
	generate, steps, stride, seeds       int
	exitThreshold                        float64
	initScale                            float64
	seed                                 uint64
	force, asJSON                        bool
}

func init() {
	var fl traceFlags
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Record every token's latent trajectory, label it and draw it",
		Example: `  latent trace --prompt 12345+67890= --out /tmp/trace
  latent trace --model ~/models/huginn-0125-bf16 --prompt "Claire makes a 3 egg omelet" --steps 64 --out /tmp/t --json
  latent trace --ids 1,40,7 --seeds 4 --out /tmp/trace --force
  latent trace --model ~/models/huginn-0125-bf16 --prompt "The capital of France is" --generate 8 --mode replay --exit kl --out /tmp/r`,
		Long: `trace runs one cache-free pass over the prompt (plus --generate greedy tokens) with all
positions in lockstep, as the paper's latent-space analysis does, and writes to --out:
states.safetensors (tensor "states", F32 [steps+1, tokens, n_embd], streamed), trace.json (per
token: step sizes, distance to the final state, readouts, label and statistics, and the PCA),
convergence and stepsize heat maps, PC1–2/3–4/5–6 panels (panels: as the paper draws them;
panels-true-scale: one scale per token), all PNG and SVG, and trace.html, one self-contained page
with a step slider. Without --model it traces the embedded addition model.

--mode replay (language models) records instead the states of a real generation of --generate
tokens, under its exit criterion (--exit, --threshold), cache strategy (--cache) and continuous
compute (--continuous): each token's trajectory is what the generation computed for it, frozen
from the step it stopped, and exit_step says when that was.

Ctrl-C or SIGTERM stops a trace between steps and removes what it had written.`,
		Args:        cobra.NoArgs,
		Annotations: cancelOnSignal,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl.thresholdGiven, fl.ctx = cmd.Flags().Changed("threshold"), cmd.Context()
			return runTrace(&fl, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.dir, "model", "", "model folder (default: the embedded addition model)")
	f.StringVar(&fl.prompt, "prompt", "", "prompt text (a task prompt such as 12345+67890= on task models)")
	f.StringVar(&fl.ids, "ids", "", "comma-separated token ids instead of --prompt")
	f.IntVar(&fl.generate, "generate", 0, "greedy tokens to append before tracing (language models)")
	stepsVar(f, &fl.steps, "steps", 128, "recurrences to record")
	f.StringVar(&fl.state, "state", "normalized", "normalized (ln_f(s_t), as the paper plots) or raw (s_t)")
	f.IntVar(&fl.stride, "readout-stride", 4, "decode with coda and head every this many steps (0: never)")
	f.Float64Var(&fl.initScale, "init-scale", 1, "scale of the random initial state (0: zeros)")
	f.Uint64Var(&fl.seed, "seed", 0, "seed of the initial state")
	f.StringVar(&fl.mode, "mode", "parallel", "parallel (one cache-free lockstep pass, as the paper's analysis) or replay (the states of a real generation of --generate tokens, language models)")
	f.StringVar(&fl.exit, "exit", "", "replay: exit criterion of the generation (kl, entropy-diff, ...; default: fixed --steps)")
	f.Float64Var(&fl.threshold, "threshold", 0, "replay: exit threshold (default: the criterion's reference \"auto\" value)")
	f.StringVar(&fl.cache, "cache", "", "replay: KV cache strategy (default: full, latest-m4 with --exit)")
	f.BoolVar(&fl.continuous, "continuous", false, "replay: warm-start each token from the previous token's final state")
	f.Float64Var(&fl.exitThreshold, "exit-threshold", 0, "KL threshold of the exit step drawn in text.png (default: 1e-5 on task models, the kl criterion's 1e-3 otherwise)")
	f.IntVar(&fl.seeds, "seeds", 1, "also trace seeds seed+1 … seed+K−1 (states-seedN.safetensors) and report each token's seed_spread")
	f.StringVar(&fl.tokens, "tokens", "", "token range a:b (end exclusive) to draw in the PC panels (default: up to 8, unusual labels first)")
	f.StringVar(&fl.out, "out", "", "output folder (must be new or empty unless --force)")
	f.BoolVar(&fl.force, "force", false, "write into a non-empty --out, replacing the files of an earlier trace")
	f.BoolVar(&fl.asJSON, "json", false, `print {"out", "files", "pca_explained", "tokens": [{"label", ...}, ...]}`)
	cmd.MarkFlagRequired("out")
	cmd.AddCommand(classifyCommand())
	rootCmd.AddCommand(cmd)
}

func classifyCommand() *cobra.Command {
	var (
		path, tokens string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "classify",
		Short: "Label the trajectories of a states file (fixed_point, orbit, slider, converging, not_converged)",
		Example: `  latent trace classify --states /tmp/trace/states.safetensors
  latent trace classify --states /tmp/trace/states.safetensors --tokens 3:7 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := trace.ReadStates(path, trace.DefaultCriteria.MinSteps())
			if err != nil {
				return err
			}
			lo, hi, err := tokenRange(tokens, s.Tokens)
			if err != nil {
				return err
			}
			stats, err := trace.DefaultCriteria.ClassifyAll(s)
			if err != nil {
				return err
			}
			return printLabels(cmd.OutOrStdout(), stats[lo:hi], lo, asJSON)
		},
	}
	cmd.Flags().StringVar(&path, "states", "", "states file (tensor \"states\", F32 [steps+1, tokens, n_embd])")
	cmd.Flags().StringVar(&tokens, "tokens", "", "token range a:b (end exclusive; default all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"tokens": [{"label": ..., "period": ..., ...}, ...]}`)
	cmd.MarkFlagRequired("states")
	return cmd
}

func printLabels(w io.Writer, stats []trace.Stats, first int, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(map[string][]trace.Stats{"tokens": stats})
	}
	for i, st := range stats {
		fmt.Fprintf(w, "token %3d  %-13s  amplitude %.2e  decay %.3f  straightness %.2f  alignment %+.2f%s\n",
			first+i, st.Label, st.Amplitude, st.DecayRate, st.Straightness, st.Alignment, labelDetail(st))
	}
	fmt.Fprintln(w, countsLine(trace.Counts(stats)))
	return nil
}

func labelDetail(st trace.Stats) string {
	switch st.Label {
	case trace.Orbit:
		return fmt.Sprintf("  period %.1f (C=%.2f)", st.Period, st.Correlation)
	case trace.Slider:
		return fmt.Sprintf("  velocity %.2e/step", st.Velocity)
	case trace.Converging:
		return fmt.Sprintf("  ~%d more steps", st.StepsNeeded)
	}
	return ""
}

func countsLine(n map[string]int) string {
	var parts []string
	for _, l := range trace.AllLabels {
		parts = append(parts, fmt.Sprintf("%s %d", l, n[l]))
	}
	return strings.Join(parts, ", ")
}

// tokenRange parses "a:b" (end exclusive) within [0, n); empty means all.
func tokenRange(s string, n int) (int, int, error) {
	if s == "" {
		return 0, n, nil
	}
	a, b, ok := strings.Cut(s, ":")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("--tokens %q: want a:b, such as 3:7", s)
	}
	if lo < 0 || hi > n || lo >= hi {
		return 0, 0, fmt.Errorf("--tokens %q: the range must be non-empty and within the %d tokens traced [0, %d)", s, n, n)
	}
	return lo, hi, nil
}

func (fl *traceFlags) check() error {
	switch {
	case (fl.prompt == "") == (fl.ids == ""):
		return fmt.Errorf("give exactly one of --prompt and --ids")
	case fl.steps < trace.DefaultCriteria.MinSteps():
		return fmt.Errorf("--steps %d: the labels need at least %d recurrences", fl.steps, trace.DefaultCriteria.MinSteps())
	case fl.state != "normalized" && fl.state != "raw":
		return fmt.Errorf("--state %q: want normalized or raw", fl.state)
	case fl.seeds < 1:
		return fmt.Errorf("--seeds %d must be at least 1", fl.seeds)
	case fl.mode != "parallel" && fl.mode != "replay":
		return fmt.Errorf("--mode %q: want parallel or replay", fl.mode)
	case fl.mode == "parallel" && (fl.exit != "" || fl.cache != "" || fl.continuous):
		return fmt.Errorf("--exit, --cache and --continuous describe a generation: use them with --mode replay")
	case fl.mode == "replay" && fl.seeds > 1:
		return fmt.Errorf("--seeds: path independence is traced in --mode parallel")
	case !(fl.exitThreshold >= 0) || math.IsInf(fl.exitThreshold, 0):
		return fmt.Errorf("--exit-threshold %v must be a finite number ≥ 0", fl.exitThreshold)
	case fl.generate < 0 || fl.stride < 0:
		return fmt.Errorf("--generate and --readout-stride must not be negative")
	}
	return outdir.Check("--out", fl.out, fl.force)
}

func runTrace(fl *traceFlags, stdout, stderr io.Writer) error {
	if err := fl.check(); err != nil {
		return err
	}
	m, in, cleanup, err := traceInput(fl)
	if err != nil {
		return err
	}
	defer cleanup()
	ids := in.ids
	lo, hi := -1, -1
	if fl.tokens != "" {
		if lo, hi, err = tokenRange(fl.tokens, len(ids)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(fl.out, 0o755); err != nil {
		return err
	}
	statesPath := filepath.Join(fl.out, "states.safetensors")
	positions := len(ids)
	if fl.mode == "replay" {
		positions += fl.generate
	}
	fmt.Fprintf(stderr, "trace: %d × %d × %d F32 states (%.1f MB) → %s\n", fl.steps+1, positions, m.Config.NEmbd,
		float64(trace.StatesBytes(fl.steps, positions, m.Config.NEmbd))/1e6, statesPath)
	written := []string{statesPath}
	err = writeTrace(fl, m, in, lo, hi, &written, stdout)
	if err != nil {
		for _, p := range written {
			os.Remove(p)
		}
	}
	return err
}

// writeTrace records, analyses and draws; every file it writes is added to written first.
func writeTrace(fl *traceFlags, m *model.Model, in *traceTokens, lo, hi int, written *[]string, stdout io.Writer) error {
	statesPath := (*written)[0]
	rec, ran, err := fl.record(m, in, statesPath)
	if err != nil {
		return err
	}
	ids, text := in.ids, in.text
	s, err := trace.ReadStates(statesPath, trace.DefaultCriteria.MinSteps())
	if err != nil {
		return err
	}
	rep, err := trace.DefaultCriteria.Analyze(s, rec)
	if err != nil {
		return err
	}
	rep.Mode, rep.State, rep.Seed, rep.InitScale, rep.ReadoutStride = fl.mode, fl.state, fl.seed, fl.initScale, fl.stride
	rep.ExitThreshold = fl.exitThreshold
	if rep.ExitThreshold == 0 {
		rep.ExitThreshold = 1e-3 // the kl criterion's "auto" value
		if in.task {
			rep.ExitThreshold = tasks.DefaultKLThreshold
		}
	}
	out := func(name string) string {
		p := filepath.Join(fl.out, name)
		*written = append(*written, p+".png", p+".svg")
		return p
	}
	if err := seedSpread(fl, m, ids, s, rep, written, out); err != nil {
		return err
	}
	dist, steps := make([][]float64, len(ids)), make([][]float64, len(ids))
	for i := range rep.Tokens {
		rep.Tokens[i].ID, rep.Tokens[i].Text, rep.Tokens[i].Generated = ids[i], text[i], i >= len(ids)-fl.generate
		dist[i], steps[i] = rep.Tokens[i].DistFinal, rep.Tokens[i].StepSize
		rep.Tokens[i].ExitStep = trace.ExitStep(rep.Tokens[i].Readouts, rep.ExitThreshold)
		if ran != nil {
			rep.Tokens[i].ExitStep = ran[i]
		}
		if in.depth != nil {
			rep.Tokens[i].Depth = in.depth[i]
		}
	}
	chosen := rep.Interesting(8)
	if lo >= 0 {
		chosen = chosen[:0]
		for i := lo; i < hi; i++ {
			chosen = append(chosen, i)
		}
	}
	titles := make([]string, len(chosen))
	for k, i := range chosen {
		titles[k] = fmt.Sprintf("%d %q %s", i, text[i], rep.Tokens[i].Label)
	}
	if err := trace.TextPicture(rep.Tokens, fl.steps, rep.ExitThreshold, out("text")); err != nil {
		return err
	}
	if err := trace.Heatmap(dist, 0, text, "‖x_t − x_T‖", out("convergence")); err != nil {
		return err
	}
	if err := trace.Heatmap(steps, 1, text, "‖x_t − x_{t−1}‖ / ‖x_t‖", out("stepsize")); err != nil {
		return err
	}
	if err := trace.Panels(s, rep.PCA, chosen, titles, false, out("panels")); err != nil {
		return err
	}
	if err := trace.Panels(s, rep.PCA, chosen, titles, true, out("panels-true-scale")); err != nil {
		return err
	}
	if err := writePage(fl.out, fl.seeds, rep, s, written); err != nil {
		return err
	}
	jsonPath := filepath.Join(fl.out, "trace.json")
	*written = append(*written, jsonPath)
	if err := rep.WriteJSON(jsonPath); err != nil {
		return err
	}
	if fl.asJSON {
		return writeJSON(stdout, struct {
			Out       string        `json:"out"`
			Files     []string      `json:"files"`
			Explained []float64     `json:"pca_explained"`
			Tokens    []trace.Stats `json:"tokens"`
		}{fl.out, *written, rep.PCA.Explained, statsOf(rep)})
	}
	fmt.Fprintf(stdout, "PCA explained variance: %s\n", fmtFloats(rep.PCA.Explained))
	return printLabels(stdout, statsOf(rep), 0, false)
}

// record writes the states file: one lockstep pass over the tokens (parallel), or the states of
// a real generation of --generate tokens after the prompt, whose tokens then join in (replay,
// which also returns the recurrences every position ran).
func (fl *traceFlags) record(m *model.Model, in *traceTokens, path string) (*trace.Recorded, []int, error) {
	if fl.mode == "parallel" {
		opt := trace.Options{Steps: fl.steps, Raw: fl.state == "raw", InitScale: fl.initScale, Seed: fl.seed,
			ReadoutStride: fl.stride, Context: fl.ctx}
		rec, err := trace.Record(m, in.ids, opt, path)
		return rec, nil, err
	}
	opt := generate.Options{Steps: fl.steps, InitScale: fl.initScale, Seed: fl.seed, Cache: fl.cache,
		Continuous: fl.continuous, Context: fl.ctx}
	if fl.exit != "" {
		opt.Exit = &generate.ExitOptions{Criterion: fl.exit}
		if fl.thresholdGiven {
			opt.Exit.Threshold = &fl.threshold
		}
	}
	r, err := trace.Replay(m, in.ids, fl.generate, opt, fl.state == "raw", path)
	if err != nil {
		return nil, nil, err
	}
	in.setIDs(r.IDs)
	return &r.Recorded, r.RanSteps, nil
}

// seedSpread traces the extra seeds of --seeds, records each token's largest relative distance
// between the final states and draws the path-independence curves.
func seedSpread(fl *traceFlags, m *model.Model, ids []int, s *trace.States, rep *trace.Report, written *[]string, out func(string) string) error {
	if fl.seeds < 2 {
		return nil
	}
	seeds := []uint64{fl.seed}
	var median, largest [][]float64
	for k := 1; k < fl.seeds; k++ {
		seed := fl.seed + uint64(k)
		path := filepath.Join(fl.out, fmt.Sprintf("states-seed%d.safetensors", seed))
		*written = append(*written, path)
		opt := trace.Options{Steps: fl.steps, Raw: fl.state == "raw", InitScale: fl.initScale, Seed: seed, Context: fl.ctx}
		if _, err := trace.Record(m, ids, opt, path); err != nil {
			return err
		}
		other, err := trace.ReadStates(path, 0)
		if err != nil {
			return err
		}
		d, err := trace.FinalDistance(s, other)
		if err != nil {
			return err
		}
		for i := range rep.Tokens {
			rep.Tokens[i].SeedSpread = max(rep.Tokens[i].SeedSpread, d[i])
		}
		med, big, err := trace.SeedDistances(s, other)
		if err != nil {
			return err
		}
		seeds, median, largest = append(seeds, seed), append(median, med), append(largest, big)
	}
	return trace.PathIndependence(median, largest, seeds, out("path-independence"))
}

// writePage writes OUT/trace.html with the pictures already in OUT inlined.
func writePage(dir string, seeds int, rep *trace.Report, s *trace.States, written *[]string) error {
	var pics []trace.Picture
	for _, p := range []struct{ name, title string }{
		{"text", "Text by label and by kl exit step"},
		{"convergence", "Distance to the final state"},
		{"stepsize", "Relative step size"},
		{"panels", "PC panels"},
		{"path-independence", "Path independence over initial states"},
	} {
		if p.name == "path-independence" && seeds < 2 {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, p.name+".png"))
		if err != nil {
			return err
		}
		pics = append(pics, trace.Picture{Title: p.title, PNG: data})
	}
	path := filepath.Join(dir, "trace.html")
	*written = append(*written, path)
	return trace.WriteHTML(path, rep, s, pics)
}

func statsOf(rep *trace.Report) []trace.Stats {
	out := make([]trace.Stats, len(rep.Tokens))
	for i, t := range rep.Tokens {
		out[i] = t.Stats
	}
	return out
}

func fmtFloats(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(parts, " ")
}

// traceTokens are the traced tokens: ids, texts and, for a task prompt, each position's depth
// (the sequential work its answer needs, tasks.Example.Depth).
type traceTokens struct {
	ids   []int
	text  []string
	depth []int
	task  bool                 // a task model's prompt
	tok   *tokenizer.Tokenizer // a language model's tokenizer, if it has one
}

// setIDs replaces the tokens, spelling each with the tokenizer (or by id without one).
func (in *traceTokens) setIDs(ids []int) {
	in.ids, in.text = ids, make([]string, len(ids))
	for i, id := range ids {
		in.text[i] = fmt.Sprint(id)
		if in.tok != nil {
			in.text[i], _ = in.tok.Token(id)
		}
	}
}

// traceInput loads the model and turns --prompt or --ids (plus --generate) into tokens.
func traceInput(fl *traceFlags) (*model.Model, *traceTokens, func(), error) {
	if fl.dir != "" {
		if _, isTask, err := tasks.LoadVocab(fl.dir); err != nil {
			return nil, nil, nil, err
		} else if !isTask {
			return languageInput(fl)
		}
	}
	if fl.generate > 0 || fl.mode == "replay" {
		return nil, nil, nil, fmt.Errorf("--generate and --mode replay: a task model answers every position in one pass (latent run); trace the prompt alone in --mode parallel")
	}
	m, task, cleanup, err := openTaskModel(fl.dir, "")
	if err != nil {
		return nil, nil, nil, err
	}
	in, err := taskTokens(fl, task)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return m, in, cleanup, nil
}

func taskTokens(fl *traceFlags, task tasks.Task) (*traceTokens, error) {
	in := &traceTokens{task: true}
	if fl.ids != "" {
		var err error
		if in.ids, err = parseIDs(fl.ids); err != nil {
			return nil, err
		}
	} else {
		ex, err := task.Parse(fl.prompt)
		if err != nil {
			return nil, err
		}
		in.ids, in.depth = ex.Inputs, ex.Depth
	}
	for _, id := range in.ids {
		in.text = append(in.text, task.Vocab().Name(id))
	}
	return in, nil
}

// languageInput encodes the prompt with the folder's tokenizer and appends --generate greedy
// tokens, each from a cache-free forward pass of --steps recurrences. With --ids the tokenizer is
// optional; without one the tokens are shown by id.
func languageInput(fl *traceFlags) (*model.Model, *traceTokens, func(), error) {
	tok, err := tokenizer.Load(fl.dir)
	if err != nil && fl.ids == "" {
		return nil, nil, nil, err
	}
	ids := []int(nil)
	if fl.ids != "" {
		if ids, err = parseIDs(fl.ids); err != nil {
			return nil, nil, nil, err
		}
	} else {
		ids = tok.Encode(fl.prompt, true)
	}
	m, err := model.Load(fl.dir)
	if err != nil {
		return nil, nil, nil, err
	}
	V := m.Config.PaddedVocabSize
	if fl.mode == "parallel" { // replay generates while it records
		for range fl.generate {
			out, err := m.Forward(ids, model.ForwardOptions{Steps: fl.steps, InitScale: fl.initScale, Seed: fl.seed})
			if err != nil {
				m.Close()
				return nil, nil, nil, err
			}
			ids = append(ids, model.Argmax(out.Logits[(len(ids)-1)*V:], V)[0])
		}
	}
	in := &traceTokens{tok: tok}
	in.setIDs(ids)
	return m, in, func() { m.Close() }, nil
}
