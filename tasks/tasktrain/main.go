// Command tasktrain trains a small recurrent-depth model on a synthetic task with the train
// package and writes a task model folder (config.json, model.safetensors, vocab.json,
// train_report.json) that `latent eval` and `latent run` read.
//
//	go run ./tasks/tasktrain --task parity --out /tmp/parity --steps 2000 --seed 1
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/latentlab/latent/tasks"
	"github.com/latentlab/latent/train"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tasktrain:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tasktrain", flag.ContinueOnError)
	name := fs.String("task", "parity", "task: "+strings.Join(tasks.Names(), ", "))
	out := fs.String("out", "", "model folder to write")
	lo := fs.Int("min", 0, "smallest instance size (default: the task's)")
	hi := fs.Int("max", 0, "largest instance size (default: the task's)")
	shape := tasks.DefaultShape
	fs.IntVar(&shape.Width, "width", shape.Width, "n_embd")
	fs.IntVar(&shape.Heads, "heads", shape.Heads, "attention heads")
	fs.IntVar(&shape.FFN, "ffn", shape.FFN, "MLP width")
	layers := fs.String("layers", "1,2,1", "prelude,core,coda layers")
	fs.IntVar(&shape.MeanRecurrence, "mean-recurrence", shape.MeanRecurrence, "r̄")
	fs.IntVar(&shape.Backprop, "backprop", shape.Backprop, "k̄, recurrences with gradient")
	fs.Float64Var(&shape.RopeBase, "rope-base", shape.RopeBase, "rotary base")
	fixed := fs.String("fixed", "", "fixed recurrence n,k instead of sampling (e.g. 0,1 for a plain transformer)")
	var tc train.Config
	fs.IntVar(&tc.Batch, "batch", 32, "sequences per step")
	fs.IntVar(&tc.Steps, "steps", 1000, "optimizer steps")
	fs.Float64Var(&tc.Sigma, "sigma", 0.5, "σ of the log-normal recurrence rate")
	fs.Float64Var(&tc.InitScale, "init-scale", 1, "scale of the random initial state")
	kind := fs.String("optimizer", "adamw", "adamw or adam-atan2")
	lr := fs.Float64("lr", 3e-3, "peak learning rate")
	wd := fs.Float64("weight-decay", 0.01, "weight decay")
	fs.IntVar(&tc.Warmup, "warmup", 100, "warmup steps")
	fs.IntVar(&tc.Cooldown, "cooldown", 200, "cooldown steps")
	fs.Uint64Var(&tc.Seed, "seed", 1, "seed of the weights, recurrences, batches and states")
	logEvery := fs.Int("log-every", 50, "progress line every N steps")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t, err := tasks.ByName(*name)
	if err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("--out is required")
	}
	if err := parseLayers(*layers, &shape); err != nil {
		return err
	}
	min, max := t.TrainSizes()
	if *lo > 0 {
		min = *lo
	}
	if *hi > 0 {
		max = *hi
	}
	tc.MeanRecurrence, tc.BackpropDepth = shape.MeanRecurrence, shape.Backprop
	if *fixed != "" {
		n, k, err := parsePair(*fixed)
		if err != nil {
			return fmt.Errorf("--fixed: %w", err)
		}
		tc.Fixed = &train.Recurrence{N: n, K: k}
	}
	tc.Optimizer = train.DefaultOptimizer(*kind, *lr)
	tc.Optimizer.WeightDecay = *wd
	rep, err := tasks.TrainModel(tasks.TrainOptions{Task: t, Shape: shape, Min: min, Max: max, Train: tc,
		Out: *out, LogEvery: *logEvery}, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("trained %s: %d parameters, %d steps in %.1fs, final loss %.4f → %s\n",
		rep.Task, rep.Parameters, rep.Steps, rep.Seconds, rep.FinalLoss, *out)
	return nil
}

func parseLayers(s string, shape *tasks.Shape) error {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return fmt.Errorf("--layers %q: want prelude,core,coda", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return fmt.Errorf("--layers %q: %q is not a layer count", s, p)
		}
		v[i] = n
	}
	shape.Prelude, shape.Core, shape.Coda = v[0], v[1], v[2]
	return nil
}

func parsePair(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, ",")
	x, err1 := strconv.Atoi(strings.TrimSpace(a))
	y, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%q: want two integers n,k", s)
	}
	return x, y, nil
}
