package main

import (
	"cmp"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/latentlab/latent/internal/progress"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tasks"
	"github.com/latentlab/latent/train"
	"github.com/spf13/cobra"
)

// trainFlags are the options of `latent train`.
type trainFlags struct {
	config, initFrom, data, out, tokenizer, fixed  string
	task, sizes, layers                            string
	shape                                          tasks.Shape
	resume, force, asJSON                          bool
	steps, evalEvery, evalBatches, ckptEvery, keep int
	valFrac, maxMemoryGiB                          float64
	cfg                                            train.Config
	optimizer                                      string
	lr                                             float64
}

func init() {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a recurrent-depth model on a token stream or a reasoning task (pure Go, CPU)",
		Example: `  latent train --task addition --out runs/addition --steps 2000
  latent train --task addition --out runs/addition --steps 4000 --resume
  latent train --data corpus.txt --config tiny --out runs/tiny --batch 16 --seq 256 --json
  latent train --task parity --out runs/parity --force`,
		Long: `Train a recurrent-depth model with truncated backpropagation through a randomly sampled
recurrence (rate ~ LogNormal(log r̄ − σ²/2, σ), r = Poisson(rate)+1, the last k with gradient).
Checkpoints (Hugging Face layout plus the training state) go to --out/checkpoint-<step>;
--resume continues from the newest one exactly as an uninterrupted run would.

The data is either a token file (--data) or a synthetic task (--task parity|addition|pointer):
a task run draws training instances of --sizes, validates on the held-out split, shapes a
fresh model with --width, --heads, --ffn, --layers and --rope-base, and finally writes the
trained task model (config.json, model.safetensors, vocab.json) to --out itself, ready for
latent eval and latent run.`,
		Args:        cobra.NoArgs,
		Annotations: cancelOnSignal,
		RunE:        func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "tiny", "config.json path or built-in name for a fresh model")
	fl.StringVar(&f.initFrom, "init-from", "", "start from this Hugging Face model folder instead of a fresh model")
	fl.StringVar(&f.data, "data", "", "token file: .txt (bytes), .u16/.bin (uint16 ids) or .u32 (uint32 ids)")
	fl.StringVar(&f.task, "task", "", "train on a synthetic task instead of --data: "+strings.Join(tasks.Names(), ", "))
	fl.StringVar(&f.sizes, "sizes", "", "task instance sizes lo,hi (default: the task's)")
	fl.IntVar(&f.shape.Width, "width", tasks.DefaultShape.Width, "task model: n_embd")
	fl.IntVar(&f.shape.Heads, "heads", tasks.DefaultShape.Heads, "task model: attention heads")
	fl.IntVar(&f.shape.FFN, "ffn", tasks.DefaultShape.FFN, "task model: MLP width")
	fl.StringVar(&f.layers, "layers", "1,2,1", "task model: prelude,core,coda layers")
	fl.Float64Var(&f.shape.RopeBase, "rope-base", tasks.DefaultShape.RopeBase, "task model: rotary base")
	fl.StringVar(&f.out, "out", "", "output folder for checkpoints")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer.json to copy into each checkpoint")
	fl.BoolVar(&f.resume, "resume", false, "resume from the newest checkpoint in --out (the flags given must match the run's)")
	fl.BoolVar(&f.force, "force", false, "start over in a non-empty --out, deleting the previous run's checkpoints and model")
	fl.IntVar(&f.steps, "steps", 1000, "optimizer steps in the whole run")
	fl.IntVar(&f.cfg.Batch, "batch", 8, "sequences per step")
	fl.IntVar(&f.cfg.SeqLen, "seq", 128, "tokens per sequence")
	fl.StringVar(&f.optimizer, "optimizer", "adam-atan2", "adam-atan2 (the paper's) or adamw")
	fl.Float64Var(&f.lr, "lr", 1e-3, "peak learning rate")
	fl.Float64Var(&f.cfg.Optimizer.WeightDecay, "weight-decay", -1, "weight decay (default 0.1 × lr)")
	fl.Float64Var(&f.cfg.Optimizer.GradClip, "grad-clip", 1, "global gradient-norm clip (0 disables)")
	fl.IntVar(&f.cfg.Warmup, "warmup", 100, "linear warmup steps")
	fl.IntVar(&f.cfg.Cooldown, "cooldown", 100, "linear cooldown steps at the end")
	fl.Float64Var(&f.cfg.MinLR, "min-lr", 0, "learning rate at the end of the cooldown")
	fl.IntVar(&f.cfg.MeanRecurrence, "mean-recurrence", 0, "r̄ (default: the config's mean_recurrence)")
	fl.IntVar(&f.cfg.BackpropDepth, "backprop-depth", 0, "k̄ (default: the config's mean_backprop_depth)")
	fl.Float64Var(&f.cfg.Sigma, "sigma", 0.5, "σ of the log-normal recurrence rate")
	fl.StringVar(&f.fixed, "fixed", "", "fixed recurrence n,k instead of sampling")
	fl.Float64Var(&f.cfg.InitScale, "init-scale", 1, "scale of the random initial state (0: zeros)")
	fl.Uint64Var(&f.cfg.Seed, "seed", 0, "random seed (init, recurrences, batches, states)")
	fl.Float64Var(&f.maxMemoryGiB, "max-memory", 0, "refuse to start above this many GiB (default: available memory)")
	fl.Float64Var(&f.valFrac, "val-frac", 0.05, "fraction of the data held out for validation")
	fl.IntVar(&f.evalEvery, "eval-every", 100, "validate every N steps at r = 1, r̄, 4r̄ (0: never)")
	fl.IntVar(&f.evalBatches, "eval-batches", 4, "batches per validation")
	fl.IntVar(&f.ckptEvery, "ckpt-every", 200, "write a checkpoint every N steps (and at the end)")
	fl.IntVar(&f.keep, "keep", 3, "checkpoints to keep (0: all)")
	fl.BoolVar(&f.asJSON, "json", false, `print one JSON object per event: {"event": "start"|"validation"|"checkpoint"|"done", "step", ...}`)
	cmd.MarkFlagRequired("out")
	rootCmd.AddCommand(cmd)
}

func runTrain(cmd *cobra.Command, f *trainFlags) error {
	tr, data, err := setupTrainer(cmd, f)
	if err != nil {
		return err
	}
	cfg := tr.Model.Config
	est := train.EstimateMemory(cfg, tr.Cfg.Batch, tr.Cfg.SeqLen, tr.Graph.MaxK())
	log := trainLog{cmd.OutOrStdout(), f.asJSON}
	log.event("start", map[string]any{"parameters": cfg.ParameterCount(), "memory_bytes": est.Total(), "step": tr.Opt.Step, "steps": tr.Cfg.Steps},
		"model: %d parameters; memory estimate %s; starting at step %d of %d\n", cfg.ParameterCount(), est, tr.Opt.Step, tr.Cfg.Steps)
	bar := progress.New(os.Stderr, int64(tr.Cfg.Steps), "train", false)
	bar.Set(int64(tr.Opt.Step))
	start, startTokens := time.Now(), tr.TokensSeen
	for tr.Opt.Step < tr.Cfg.Steps {
		if err := cmd.Context().Err(); err != nil {
			return fmt.Errorf("train: stopped before step %d; the checkpoints in %s are kept (continue with --resume): %w", tr.Opt.Step+1, f.out, err)
		}
		res, err := tr.Step()
		if err != nil {
			return err
		}
		tokPerSec := float64(tr.TokensSeen-startTokens) / time.Since(start).Seconds()
		bar.Describe(fmt.Sprintf("loss %.4f | %.0f tok/s | r %d (%d+%d) | lr %.2e", res.Loss, tokPerSec,
			res.Recurrence.Total(), res.Recurrence.N, res.Recurrence.K, res.LR))
		bar.Set(int64(res.Step))
		if f.evalEvery > 0 && (res.Step%f.evalEvery == 0 || res.Step == tr.Cfg.Steps) {
			if err := validate(log, tr, data.val, f.evalBatches); err != nil {
				return err
			}
		}
		if res.Step%f.ckptEvery == 0 || res.Step == tr.Cfg.Steps {
			path, err := data.checkpoint(tr, f)
			if err != nil {
				return err
			}
			bar.Clear()
			log.event("checkpoint", map[string]any{"step": res.Step, "path": path}, "step %d: checkpoint %s\n", res.Step, path)
		}
	}
	bar.Finish()
	if data.task == nil {
		log.event("done", map[string]any{"step": tr.Opt.Step, "out": f.out, "seconds": time.Since(start).Seconds()}, "")
		return nil
	}
	if err := data.saveTaskModel(tr, f); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	log.event("done", map[string]any{"task": data.task.Name(), "step": tr.Opt.Step, "out": f.out, "seconds": secs},
		"%s model after step %d written to %s (this run: %.1fs)\n", data.task.Name(), tr.Opt.Step, f.out, secs)
	return nil
}

// trainData is where a run's batches come from: a token file or a synthetic task.
type trainData struct {
	task       tasks.Task // nil for a token file
	train, val train.Batcher
	seqLen     int // the sequence length a task's largest instance needs, 0 for a token file
}

// checkpoint writes a checkpoint under --out; a task's vocab.json goes beside its weights so
// that it loads as a task model.
func (d *trainData) checkpoint(tr *train.Trainer, f *trainFlags) (string, error) {
	path, err := tr.Save(f.out, f.tokenizer, f.keep)
	if err != nil || d.task == nil {
		return path, err
	}
	return path, tasks.WriteVocab(path, d.task)
}

// saveTaskModel writes the trained task model into --out itself.
func (d *trainData) saveTaskModel(tr *train.Trainer, f *trainFlags) error {
	if err := train.SaveModel(tr.Model, f.out); err != nil {
		return err
	}
	return tasks.WriteVocab(f.out, d.task)
}

// setupTrainer builds the trainer (fresh, from a model folder, or resumed) and its data.
func setupTrainer(cmd *cobra.Command, f *trainFlags) (*train.Trainer, *trainData, error) {
	if err := f.checkRun(); err != nil {
		return nil, nil, err
	}
	if f.evalEvery < 0 || f.ckptEvery < 1 || f.valFrac < 0 || f.valFrac >= 1 {
		return nil, nil, fmt.Errorf("train: need --eval-every ≥ 0, --ckpt-every ≥ 1 and 0 ≤ --val-frac < 1")
	}
	if (f.data == "") == (f.task == "") {
		return nil, nil, fmt.Errorf("train: give exactly one of --data FILE and --task NAME")
	}
	var task tasks.Task
	if f.task != "" {
		var err error
		if task, err = tasks.ByName(f.task); err != nil {
			return nil, nil, fmt.Errorf("train: --task: %w", err)
		}
	}
	if f.resume {
		return resumeTrainer(cmd, f, task)
	}
	m, err := startModel(f, task)
	if err != nil {
		return nil, nil, err
	}
	data, err := f.loadData(task, m.Config.PaddedVocabSize)
	if err != nil {
		return nil, nil, err
	}
	tc, err := f.trainConfig(m.Config)
	if err != nil {
		return nil, nil, err
	}
	if data.seqLen > 0 && !cmd.Flags().Changed("seq") {
		tc.SeqLen = data.seqLen
	}
	tr, err := train.NewTrainer(m, data.train, tc)
	if err == nil && f.force {
		err = clearRun(f.out)
	}
	return tr, data, err
}

// resumeTrainer continues from the newest checkpoint in --out.
func resumeTrainer(cmd *cobra.Command, f *trainFlags, task tasks.Task) (*train.Trainer, *trainData, error) {
	ckpt, err := train.LatestCheckpoint(f.out)
	if err != nil {
		return nil, nil, err
	}
	if ckpt == "" {
		return nil, nil, fmt.Errorf("train: --resume: no checkpoint in %s", f.out)
	}
	cfg, err := model.LoadConfig(ckpt)
	if err != nil {
		return nil, nil, err
	}
	if err := f.sameTaskAndShape(cmd.Flags().Changed, ckpt, cfg, task); err != nil {
		return nil, nil, err
	}
	data, err := f.loadData(task, cfg.PaddedVocabSize)
	if err != nil {
		return nil, nil, err
	}
	tr, err := train.Resume(ckpt, data.train, f.steps)
	if err != nil {
		return nil, nil, err
	}
	if err := f.sameTraining(cmd.Flags().Changed, cfg, tr); err != nil {
		return nil, nil, err
	}
	return tr, data, nil
}

// startModel returns the model to train: loaded from --init-from, shaped for the task, or a
// fresh model of --config.
func startModel(f *trainFlags, task tasks.Task) (*train.Model, error) {
	if f.initFrom != "" {
		return train.LoadModel(f.initFrom)
	}
	var cfg *model.Config
	var err error
	if task != nil {
		cfg, err = f.taskConfig(task)
	} else {
		cfg, err = model.BuiltinConfig(f.config)
	}
	if err != nil {
		return nil, err
	}
	return train.InitModel(cfg, f.cfg.Seed)
}

// taskConfig is the config of a fresh task model of the flags' shape.
func (f *trainFlags) taskConfig(task tasks.Task) (*model.Config, error) {
	shape := f.shape
	layers, err := parseTuple("--layers", f.layers, 3)
	if err != nil {
		return nil, err
	}
	shape.Prelude, shape.Core, shape.Coda = layers[0], layers[1], layers[2]
	shape.MeanRecurrence = cmp.Or(f.cfg.MeanRecurrence, tasks.DefaultShape.MeanRecurrence)
	shape.Backprop = cmp.Or(f.cfg.BackpropDepth, tasks.DefaultShape.Backprop)
	shape.BlockSize = tasks.DefaultShape.BlockSize
	return shape.Config(task.Vocab().Size())
}

// loadData opens the run's data for a model with the given vocabulary: the token file, split
// into training and validation, or the task's training and held-out instances.
func (f *trainFlags) loadData(task tasks.Task, vocab int) (*trainData, error) {
	if task == nil {
		stream, err := train.LoadTokens(f.data, vocab)
		if err != nil {
			return nil, err
		}
		trainPart, val := stream.Split(f.valFrac)
		return &trainData{train: trainPart, val: val}, nil
	}
	if vocab != task.Vocab().Size() {
		return nil, fmt.Errorf("train: the model's vocabulary (%d) is not the %s task's (%d tokens)", vocab, task.Name(), task.Vocab().Size())
	}
	lo, hi := task.TrainSizes()
	if f.sizes != "" {
		v, err := parseTuple("--sizes", f.sizes, 2)
		if err != nil {
			return nil, err
		}
		lo, hi = v[0], v[1]
	}
	b, err := tasks.NewBatcher(task, lo, hi)
	if err != nil {
		return nil, err
	}
	val := *b
	val.Split = tasks.Test
	return &trainData{task: task, train: b, val: &val, seqLen: b.SeqLen()}, nil
}

// parseTuple reads exactly n comma-separated non-negative integers given to flag.
func parseTuple(flag, s string, n int) ([]int, error) {
	v, err := parseInts(flag, s, 0)
	if err == nil && len(v) != n {
		err = fmt.Errorf("%s %q: want %d comma-separated integers", flag, s, n)
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return v, nil
}

// trainConfig completes the flags' config with defaults from the model config.
func (f *trainFlags) trainConfig(cfg *model.Config) (train.Config, error) {
	tc := f.cfg
	tc.Steps = f.steps
	if tc.MeanRecurrence == 0 {
		tc.MeanRecurrence = max(cfg.MeanRecurrence, 1)
	}
	if tc.BackpropDepth == 0 {
		tc.BackpropDepth = max(cfg.MeanBackpropDepth, 1)
	}
	opt := train.DefaultOptimizer(f.optimizer, f.lr)
	if tc.Optimizer.WeightDecay >= 0 {
		opt.WeightDecay = tc.Optimizer.WeightDecay
	}
	opt.GradClip = tc.Optimizer.GradClip
	tc.Optimizer = opt
	tc.MaxMemory = int64(f.maxMemoryGiB * (1 << 30))
	if f.fixed != "" {
		v, err := parseTuple("--fixed", f.fixed, 2)
		if err != nil {
			return tc, err
		}
		tc.Fixed = &train.Recurrence{N: v[0], K: v[1]}
	}
	return tc, nil
}

// validate prints the validation loss at r = 1, r̄ and 4r̄.
func validate(log trainLog, tr *train.Trainer, val train.Batcher, batches int) error {
	if s, ok := val.(*train.TokenStream); ok && len(s.Tokens) <= tr.Cfg.SeqLen {
		return nil
	}
	rbar := max(tr.Cfg.MeanRecurrence, 1)
	var parts []string
	losses := map[string]float64{}
	for _, r := range []int{1, rbar, 4 * rbar} {
		loss, err := tr.Evaluate(val, r, batches, 1)
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("r=%d %.4f", r, loss))
		losses[fmt.Sprint(r)] = loss
	}
	log.event("validation", map[string]any{"step": tr.Opt.Step, "loss": losses},
		"\nstep %d: validation loss %s\n", tr.Opt.Step, strings.Join(parts, ", "))
	return nil
}
