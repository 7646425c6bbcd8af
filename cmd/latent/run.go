package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/model/defaultmodel"
	"github.com/latentlab/latent/tasks"
	"github.com/latentlab/latent/tokenizer"
	"github.com/spf13/cobra"
)

// runFlags are the command line of `latent run`.
type runFlags struct {
	dir, exit       string
	threshold       float64
	steps, maxSteps int
	maxNew          int
	maxNewGiven     bool // --max-new was typed
	initScale       float64
	seed            uint64
	asJSON          bool
}

func init() {
	var fl runFlags
	cmd := &cobra.Command{
		Use:   `run [--model DIR] "prompt"`,
		Short: "Answer a prompt, showing the recurrence steps each token used",
		Example: `  latent run 12345+87655=
  latent run --steps 8 99999+1=
  latent run --json 3141592653+2718281828=
  latent run --model ~/models/huginn-0125-bf16 --max-new 32 "The capital of France is"`,
		Long: `Run answers one prompt. Without --model it uses the embedded default model, a small addition
model trained by latent itself: "latent run 12345+67890=" prints the sum and the steps each answer
digit used. A folder with vocab.json is a task model (parity, addition, pointer) and reads the
prompt in the task's own notation; any other folder is a language model whose tokenizer.json
encodes the prompt, and the generated text is streamed.

By default every token stops on its own once the exit criterion (--exit, kl) says its prediction
has settled, after at most --max-steps recurrences; --steps N runs exactly N instead.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrompt(&fl, cmd.Flags().Changed, args[0], cmd.OutOrStdout(), os.Stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.dir, "model", "", "model folder (default: the embedded addition model)")
	f.StringVar(&fl.exit, "exit", "kl", "per-token exit criterion (kl, entropy-diff, latent-diff, cosine, minp-kl, argmax-stability)")
	f.Float64Var(&fl.threshold, "threshold", 0, "exit threshold (default: 1e-5 for kl on task models, else the criterion's reference \"auto\" value)")
	stepsVar(f, &fl.steps, "steps", 0, "run exactly this many recurrences per token instead of exiting adaptively")
	stepsVar(f, &fl.maxSteps, "max-steps", 0, "most recurrences per token (default: 4 × mean_recurrence for task models, mean_recurrence for language models)")
	f.IntVar(&fl.maxNew, "max-new", defaultMaxNew, "language models: new tokens at most")
	f.Float64Var(&fl.initScale, "init-scale", 1, "task models: scale of the random initial state (0: zeros)")
	f.Uint64Var(&fl.seed, "seed", 0, "seed of the initial states (and the sampler)")
	f.BoolVar(&fl.asJSON, "json", false, `print {"answer", "tokens", "steps", "mean_steps", "mode", "correct", "expected"} (language models: {"text", "tokens", "steps"})`)
	cmd.MarkFlagsMutuallyExclusive("steps", "max-steps")
	cmd.MarkFlagsMutuallyExclusive("steps", "threshold")
	rootCmd.AddCommand(cmd)
}

func runPrompt(fl *runFlags, changed func(string) bool, prompt string, stdout, stderr io.Writer) error {
	if fl.maxNew < 1 {
		return fmt.Errorf("--max-new %d must be at least 1", fl.maxNew)
	}
	fl.maxNewGiven = changed("max-new")
	var threshold *float64
	if changed("threshold") {
		threshold = &fl.threshold
	}
	if fl.dir != "" {
		if _, isTask, err := tasks.LoadVocab(fl.dir); err != nil {
			return err
		} else if !isTask {
			return runLanguageModel(fl, threshold, prompt, stdout, stderr)
		}
	}
	m, task, cleanup, err := openTaskModel(fl.dir, "")
	if err != nil {
		return err
	}
	defer cleanup()
	return runTask(fl, threshold, m, task, prompt, stdout)
}

// openTaskModel loads a task model folder, or the embedded default model when dir is empty. A
// task name, when given, must be the model's own.
func openTaskModel(dir, taskName string) (*model.Model, tasks.Task, func(), error) {
	load := func() (*model.Model, tasks.Task, error) { return tasks.LoadModel(dir) }
	if dir == "" {
		load, dir = defaultmodel.Load, defaultmodel.Name
	}
	m, task, err := load()
	if err != nil {
		return nil, nil, nil, err
	}
	cleanup := func() { m.Close() }
	if taskName != "" && taskName != task.Name() {
		cleanup()
		return nil, nil, nil, fmt.Errorf("--task %s: the model in %s was trained on %s", taskName, dir, task.Name())
	}
	return m, task, cleanup, nil
}

// runTask answers a task prompt in one forward pass and prints the answer and the recurrences
// of every answer token.
func runTask(fl *runFlags, threshold *float64, m *model.Model, task tasks.Task, prompt string, w io.Writer) error {
	ex, err := task.Parse(prompt)
	if err != nil {
		return err
	}
	if len(ex.Inputs) > m.Config.BlockSize {
		return fmt.Errorf("run: the prompt takes %d tokens, beyond the model's context of %d", len(ex.Inputs), m.Config.BlockSize)
	}
	start := tasks.InitState{Scale: fl.initScale, Seed: fl.seed}
	opt := tasks.AdaptiveOptions{Criterion: fl.exit, Threshold: taskThreshold(fl.exit, threshold), MaxSteps: fl.maxSteps, Init: start}
	if fl.steps > 0 {
		opt = tasks.AdaptiveOptions{Criterion: "none", MaxSteps: fl.steps, Init: start}
	} else if opt.MaxSteps == 0 {
		opt.MaxSteps = 4 * max(m.Config.MeanRecurrence, 1)
	}
	res, err := tasks.SolveAdaptive(m, ex, opt)
	if err != nil {
		return err
	}
	rep := runReport{Answer: task.Answer(ex, res.Pred), Expected: task.Answer(ex, ex.Labels)}
	rep.Correct = rep.Answer == rep.Expected
	total := 0
	for _, p := range task.ReadingOrder(ex) {
		rep.Tokens = append(rep.Tokens, task.Vocab().Name(res.Pred[p]))
		rep.Steps = append(rep.Steps, res.ExitSteps[p])
		total += res.ExitSteps[p]
	}
	rep.MeanSteps = float64(total) / float64(max(len(rep.Steps), 1))
	rep.Mode = fmt.Sprintf("exit %s, at most %d steps", opt.Criterion, opt.MaxSteps)
	if opt.Threshold != nil {
		rep.Mode = fmt.Sprintf("exit %s < %g, at most %d steps", opt.Criterion, *opt.Threshold, opt.MaxSteps)
	}
	if fl.steps > 0 {
		rep.Mode = "fixed recurrence"
	}
	if fl.asJSON {
		return writeJSON(w, rep)
	}
	rep.print(w)
	return nil
}

// runReport is what run prints for a task model.
type runReport struct {
	Answer    string   `json:"answer"`
	Tokens    []string `json:"tokens"` // the answer tokens in reading order
	Steps     []int    `json:"steps"`  // the recurrence steps each used
	MeanSteps float64  `json:"mean_steps"`
	Mode      string   `json:"mode"`
	Correct   bool     `json:"correct"`
	Expected  string   `json:"expected"`
}

func (r runReport) print(w io.Writer) {
	fmt.Fprintln(w, r.Answer)
	var toks, steps []string
	for i, name := range r.Tokens {
		width := max(len(name), len(fmt.Sprint(r.Steps[i])))
		toks = append(toks, fmt.Sprintf("%*s", width, name))
		steps = append(steps, fmt.Sprintf("%*d", width, r.Steps[i]))
	}
	fmt.Fprintf(w, "answer tokens: %s\nsteps:         %s\n", strings.Join(toks, " "), strings.Join(steps, " "))
	verdict := "correct"
	if !r.Correct {
		verdict = "wrong, the answer is " + r.Expected
	}
	fmt.Fprintf(w, "%.1f steps per answer token (%s); %s\n", r.MeanSteps, r.Mode, verdict)
}

// taskThreshold is the exit threshold on task models: the one given, else tasks.DefaultKLThreshold
// for kl, else the criterion's "auto" value (nil).
func taskThreshold(criterion string, given *float64) *float64 {
	if given == nil && criterion == "kl" {
		v := tasks.DefaultKLThreshold
		return &v
	}
	return given
}

// runLanguageModel encodes the prompt with the folder's tokenizer, generates with the generate
// package and streams the decoded text; the steps per token go to stderr at the end.
func runLanguageModel(fl *runFlags, threshold *float64, prompt string, stdout, stderr io.Writer) error {
	tok, err := tokenizer.Load(fl.dir)
	if err != nil {
		return fmt.Errorf("run: %s is neither a task model (no %s) nor a language model with a tokenizer: %w", fl.dir, tasks.VocabFile, err)
	}
	m, err := model.Load(fl.dir)
	if err != nil {
		return err
	}
	defer m.Close()
	ids := tok.Encode(prompt, true)
	opt := generate.Options{Steps: fl.steps, Seed: fl.seed}
	if opt.MaxNew, err = newTokens(fl.maxNewGiven, fl.maxNew, len(ids), m.Config.BlockSize); err != nil {
		return err
	}
	if fl.steps == 0 {
		opt.Steps = fl.maxSteps
		opt.Exit = &generate.ExitOptions{Criterion: fl.exit, Threshold: threshold}
	}
	g, err := generate.New(m, ids, opt)
	if err != nil {
		return err
	}
	toks, err := newTokenPrinter(stdout, tok, fl.asJSON).print(g)
	if err != nil || fl.asJSON {
		return err
	}
	steps := make([]string, len(toks))
	for i, t := range toks {
		steps[i] = fmt.Sprint(t.Steps)
	}
	fmt.Fprintf(stderr, "steps per token: %s\n", strings.Join(steps, " "))
	return nil
}
