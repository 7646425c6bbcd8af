package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/latentlab/latent/internal/outdir"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tasks"
	"github.com/latentlab/latent/train"
)

// checkRun applies the output rule to a training run before any work: --steps must be positive,
// and a non-empty --out is refused unless --resume continues the run there or --force starts over.
func (f *trainFlags) checkRun() error {
	switch {
	case f.steps < 1:
		return fmt.Errorf("train: --steps %d: want at least 1 optimizer step", f.steps)
	case f.resume && f.force:
		return fmt.Errorf("train: --resume continues the run in --out and --force deletes it: give only one")
	case f.resume:
		return nil
	}
	if err := outdir.Check("--out", f.out, f.force); err != nil {
		return fmt.Errorf("train: %w, or --resume to continue the run there", err)
	}
	return nil
}

// clearRun deletes what an earlier run left in dir (its checkpoints and final model), so that a
// later --resume cannot pick up a checkpoint of the old run. Other files are kept.
func clearRun(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("train: --force: %w", err)
	}
	runFiles := map[string]bool{"config.json": true, "model.safetensors": true, "model.safetensors.index.json": true,
		tasks.VocabFile: true, "tokenizer.json": true}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "checkpoint-") || runFiles[e.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("train: --force: %w", err)
			}
		}
	}
	return nil
}

// shapeFlags are the flags that shape a fresh model.
var shapeFlags = []string{"config", "init-from", "width", "heads", "ffn", "layers", "rope-base"}

// sameTaskAndShape refuses to resume the checkpoint ckpt (of config cfg) with a task, or with a
// model shape given on the command line, other than the run's own.
func (f *trainFlags) sameTaskAndShape(changed func(string) bool, ckpt string, cfg *model.Config, task tasks.Task) error {
	saved, isTask, err := tasks.LoadVocab(ckpt)
	if err != nil {
		return err
	}
	switch {
	case isTask && task == nil:
		return fmt.Errorf("train: --resume: the run in %s trains the %s task, not a token file (--task %s)", f.out, saved.Name(), saved.Name())
	case !isTask && task != nil:
		return fmt.Errorf("train: --resume: the run in %s trains on a token file, not --task %s", f.out, task.Name())
	case isTask && saved.Name() != task.Name():
		return fmt.Errorf("train: --resume: the run in %s trains the %s task, not --task %s", f.out, saved.Name(), task.Name())
	}
	var given []string
	for _, name := range shapeFlags {
		if changed(name) {
			given = append(given, "--"+name)
		}
	}
	if len(given) == 0 || f.initFrom != "" {
		return nil
	}
	want, err := f.freshConfig(task)
	if err != nil {
		return err
	}
	if diff := shapeDiff(want, cfg); diff != "" {
		return fmt.Errorf("train: --resume: %s describe another model than the run in %s (%s)", strings.Join(given, ", "), f.out, diff)
	}
	return nil
}

// freshConfig is the config of the fresh model the flags describe.
func (f *trainFlags) freshConfig(task tasks.Task) (*model.Config, error) {
	if task != nil {
		return f.taskConfig(task)
	}
	return model.BuiltinConfig(f.config)
}

// shapeDiff describes how the shapes of two configs differ, or returns "".
func shapeDiff(a, b *model.Config) string {
	fields := []struct {
		name string
		a, b any
	}{
		{"n_embd", a.NEmbd, b.NEmbd}, {"n_heads", a.NHeads, b.NHeads}, {"intermediate_size", a.IntermediateSize, b.IntermediateSize},
		{"layers", [3]int{a.NLayersPrelude, a.NLayersCore, a.NLayersCoda}, [3]int{b.NLayersPrelude, b.NLayersCore, b.NLayersCoda}},
		{"vocab_size", a.VocabSize, b.VocabSize}, {"rope_base", a.RopeBase, b.RopeBase}, {"block_size", a.BlockSize, b.BlockSize},
	}
	var out []string
	for _, fd := range fields {
		if fd.a != fd.b {
			out = append(out, fmt.Sprintf("%s %v, the run has %v", fd.name, fd.a, fd.b))
		}
	}
	return strings.Join(out, "; ")
}

// trainingFlags maps each flag of the training recipe to the field of train.Config it sets.
var trainingFlags = map[string]func(c *train.Config) any{
	"batch": func(c *train.Config) any { return c.Batch }, "seq": func(c *train.Config) any { return c.SeqLen },
	"sigma": func(c *train.Config) any { return c.Sigma }, "warmup": func(c *train.Config) any { return c.Warmup },
	"cooldown": func(c *train.Config) any { return c.Cooldown }, "min-lr": func(c *train.Config) any { return c.MinLR },
	"seed": func(c *train.Config) any { return c.Seed }, "init-scale": func(c *train.Config) any { return c.InitScale },
	"mean-recurrence": func(c *train.Config) any { return c.MeanRecurrence },
	"backprop-depth":  func(c *train.Config) any { return c.BackpropDepth },
	"fixed":           func(c *train.Config) any { return c.Fixed },
	"optimizer":       func(c *train.Config) any { return c.Optimizer.Kind },
	"lr":              func(c *train.Config) any { return c.Optimizer.LR },
	"weight-decay":    func(c *train.Config) any { return c.Optimizer.WeightDecay },
	"grad-clip":       func(c *train.Config) any { return c.Optimizer.GradClip },
}

// sameTraining refuses to resume with a training flag given on the command line that differs
// from the run's saved recipe, and with --steps the run has already reached.
func (f *trainFlags) sameTraining(changed func(string) bool, cfg *model.Config, tr *train.Trainer) error {
	if f.steps <= tr.Opt.Step {
		return fmt.Errorf("train: --resume: --steps %d: the run in %s is already at step %d", f.steps, f.out, tr.Opt.Step)
	}
	want, err := f.trainConfig(cfg)
	if err != nil {
		return err
	}
	var diff []string
	for _, flag := range slices.Sorted(maps.Keys(trainingFlags)) {
		get := trainingFlags[flag]
		if changed(flag) && !reflect.DeepEqual(get(&want), get(&tr.Cfg)) {
			diff = append(diff, fmt.Sprintf("--%s %v, the run has %v", flag, show(get(&want)), show(get(&tr.Cfg))))
		}
	}
	if len(diff) > 0 {
		return fmt.Errorf("train: --resume: the run in %s was trained with other settings: %s", f.out, strings.Join(diff, "; "))
	}
	return nil
}

// show prints a *train.Recurrence as n,k and anything else as %v.
func show(v any) any {
	if r, ok := v.(*train.Recurrence); ok {
		if r == nil {
			return "none"
		}
		return fmt.Sprintf("%d,%d", r.N, r.K)
	}
	return v
}

// trainLog prints the events of a run: lines of text, or with --json one JSON object per line
// with its "event" name and fields.
type trainLog struct {
	w      io.Writer
	asJSON bool
}

func (l trainLog) event(name string, fields map[string]any, format string, args ...any) {
	if !l.asJSON {
		fmt.Fprintf(l.w, format, args...)
		return
	}
	fields["event"] = name
	json.NewEncoder(l.w).Encode(fields)
}
