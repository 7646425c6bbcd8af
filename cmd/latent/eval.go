package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tasks"
	"github.com/spf13/cobra"
)

// evalFlags are the command line of `latent eval`.
type evalFlags struct {
	dir, task, lengths, plot string
	steps                    []int
	instances, minDifficulty int
	seed                     uint64
	initScale                float64
	asJSON                   bool
	exit                     string
	threshold                float64
	maxSteps                 int
}

func init() {
	var fl evalFlags
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Accuracy of a task model per instance size × recurrence steps, with adaptive compute",
		Example: `  latent eval
  latent eval --lengths 5,10,20 --steps 1,4,16,64 --exit kl --plot none --json
  latent eval --model runs/addition --instances 500 --min-difficulty 8`,
		Long: `Eval scores a task model (a folder with vocab.json, or the embedded default model) on held-out
test instances: exact match per instance and per answer position, for every size in --lengths and
every recurrence count in --steps. Each instance runs once to the largest step count and is decoded
with the coda after each requested step. The table goes to stdout (or JSON with --json) and a plot
of accuracy against recurrence steps to PREFIX.png and PREFIX.svg. --exit adds per-token adaptive
compute: mean steps per answer token, its accuracy against a fixed recurrence of at least the same
mean compute, and the steps spent per answer depth (prefix length, carry chain, hop).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEval(&fl, cmd.Flags().Changed, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.dir, "model", "", "task model folder (default: the embedded default model)")
	f.StringVar(&fl.task, "task", "", "task (default: the one named in the model's vocab.json)")
	f.StringVar(&fl.lengths, "lengths", "", "comma-separated instance sizes: bits, digits or hops (default: the training range's top, 2× and 4×)")
	stepsListVar(f, &fl.steps, "steps", []int{1, 2, 4, 8, 16, 32, 64}, "comma-separated recurrence counts")
	f.IntVar(&fl.instances, "instances", 200, "test instances per size")
	f.IntVar(&fl.minDifficulty, "min-difficulty", 0, "only instances at least this hard (addition: longest carry chain; parity: bits; pointer: hops)")
	f.Uint64Var(&fl.seed, "seed", 1, "seed of the test instances")
	f.Float64Var(&fl.initScale, "init-scale", 1, "scale of the random initial state (0: zeros)")
	f.BoolVar(&fl.asJSON, "json", false, `print {"task", "lengths", "steps", "accuracy": [[per step] per length], ...}`)
	f.StringVar(&fl.plot, "plot", "", `write the plot to PREFIX.png and PREFIX.svg (default "latent-eval-TASK"; "none" to skip)`)
	f.StringVar(&fl.exit, "exit", "", "also measure adaptive compute with this exit criterion (kl, entropy-diff, argmax-stability, ...)")
	f.Float64Var(&fl.threshold, "threshold", 0, "exit threshold (default: 1e-5 for kl, else the criterion's reference \"auto\" value)")
	stepsVar(f, &fl.maxSteps, "max-steps", 0, "adaptive compute: most recurrences per token (default: the largest of --steps)")
	rootCmd.AddCommand(cmd)
}

// evalReport is the JSON document of `latent eval --json`.
type evalReport struct {
	*tasks.Table
	Adaptive *tasks.AdaptiveReport `json:"adaptive,omitempty"`
}

func runEval(fl *evalFlags, changed func(string) bool, stdout io.Writer) error {
	m, task, cleanup, err := openTaskModel(fl.dir, fl.task)
	if err != nil {
		return err
	}
	defer cleanup()
	opt, err := fl.evalOptions(task)
	if err != nil {
		return err
	}
	tab, err := tasks.Evaluate(m, task, opt)
	if err != nil {
		return err
	}
	rep := evalReport{Table: tab}
	if fl.exit != "" {
		if rep.Adaptive, err = fl.adaptive(m, task, opt, changed); err != nil {
			return err
		}
	}
	if prefix := fl.plotPrefix(task); prefix != "" {
		if err := plotAccuracy(tab, rep.Adaptive, task, prefix); err != nil {
			return err
		}
	}
	if fl.asJSON {
		return writeJSON(stdout, rep)
	}
	printTable(stdout, tab, task)
	if rep.Adaptive != nil {
		printAdaptive(stdout, rep.Adaptive, task)
	}
	return nil
}

// evalOptions parses the size and step lists.
func (fl *evalFlags) evalOptions(task tasks.Task) (tasks.EvalOptions, error) {
	var err error
	steps := slices.Clone(fl.steps)
	_, top := task.TrainSizes()
	sizes := []int{top, 2 * top, 4 * top}
	if fl.lengths != "" {
		if sizes, err = parseInts("--lengths", fl.lengths, 1); err != nil {
			return tasks.EvalOptions{}, err
		}
	}
	if fl.instances < 1 {
		return tasks.EvalOptions{}, fmt.Errorf("--instances %d must be positive", fl.instances)
	}
	return tasks.EvalOptions{Sizes: sizes, Steps: steps, Instances: fl.instances, MinDifficulty: fl.minDifficulty, Seed: fl.seed,
		Init: tasks.InitState{Scale: fl.initScale, Seed: fl.seed}}, nil
}

func (fl *evalFlags) adaptive(m *model.Model, task tasks.Task, opt tasks.EvalOptions, changed func(string) bool) (*tasks.AdaptiveReport, error) {
	ao := tasks.AdaptiveOptions{Criterion: fl.exit, MaxSteps: fl.maxSteps, Init: opt.Init}
	if ao.MaxSteps == 0 {
		ao.MaxSteps = slices.Max(opt.Steps)
	}
	if changed("threshold") {
		ao.Threshold = &fl.threshold
	}
	ao.Threshold = taskThreshold(fl.exit, ao.Threshold)
	return tasks.EvaluateAdaptive(m, task, opt, ao)
}

func (fl *evalFlags) plotPrefix(task tasks.Task) string {
	switch fl.plot {
	case "":
		return "latent-eval-" + task.Name()
	case "none":
		return ""
	}
	return fl.plot
}

// parseInts reads a comma-separated list of integers, each at least least.
func parseInts(flag, s string, least int) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || v < least {
			return nil, fmt.Errorf("%s %q: %q is not an integer ≥ %d", flag, s, part, least)
		}
		out = append(out, v)
	}
	return out, nil
}

// printTable writes exact match per instance (and per position) as a size × steps grid.
func printTable(w io.Writer, tab *tasks.Table, task tasks.Task) {
	fmt.Fprintf(w, "task %s: exact match per instance %% (per answer position %%), %d test instances per size\n", tab.Task, tab.Instances)
	fmt.Fprintf(w, "%-8s", task.SizeName())
	for _, s := range tab.Steps {
		fmt.Fprintf(w, " %13s", "r="+strconv.Itoa(s))
	}
	fmt.Fprintln(w)
	for i, size := range tab.Lengths {
		fmt.Fprintf(w, "%-8d", size)
		for j := range tab.Steps {
			fmt.Fprintf(w, " %5.1f (%5.1f)", 100*tab.Accuracy[i][j], 100*tab.PositionAccuracy[i][j])
		}
		fmt.Fprintln(w)
	}
}

func printAdaptive(w io.Writer, rep *tasks.AdaptiveReport, task tasks.Task) {
	thr := "auto"
	if rep.Threshold != nil {
		thr = strconv.FormatFloat(*rep.Threshold, 'g', 4, 64)
	}
	fmt.Fprintf(w, "\nadaptive compute: exit %s (threshold %s), at most %d steps per token\n", rep.Criterion, thr, rep.MaxSteps)
	fmt.Fprintf(w, "%-8s %11s %10s   %s\n", task.SizeName(), "steps/token", "adaptive %", "fixed r: %")
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "%-8d %11.2f %10.1f   r=%d: %.1f, r=%d: %.1f\n", r.Size, r.MeanSteps, 100*r.Accuracy,
			r.FixedSteps[0], 100*r.FixedAccuracy[0], r.FixedSteps[1], 100*r.FixedAccuracy[1])
	}
	fmt.Fprintf(w, "\nsteps per answer token by depth (%s of that token)\n%-6s %9s %11s %10s\n",
		task.DifficultyName(), "depth", "positions", "steps/token", "right %")
	for _, d := range rep.ByDepth {
		fmt.Fprintf(w, "%-6d %9d %11.2f %10.1f\n", d.Depth, d.Positions, d.MeanSteps, 100*d.Accuracy)
	}
}
