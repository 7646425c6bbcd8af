package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/train"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// trainFlags are the options of `latent train`.
type trainFlags struct {
	config, initFrom, data, out, tokenizer, fixed  string
	resume                                         bool
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
		Short: "Train a recurrent-depth model on a token stream (pure Go, CPU)",
		Long: `Train a recurrent-depth model with truncated backpropagation through a randomly sampled
recurrence (rate ~ LogNormal(log r̄ − σ²/2, σ), r = Poisson(rate)+1, the last k with gradient).
Checkpoints (Hugging Face layout plus the training state) go to --out/checkpoint-<step>;
--resume continues from the newest one exactly as an uninterrupted run would.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "tiny", "config.json path or built-in name for a fresh model")
	fl.StringVar(&f.initFrom, "init-from", "", "start from this Hugging Face model folder instead of a fresh model")
	fl.StringVar(&f.data, "data", "", "token file: .txt (bytes), .u16/.bin (uint16 ids) or .u32 (uint32 ids)")
	fl.StringVar(&f.out, "out", "", "output folder for checkpoints")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer.json to copy into each checkpoint")
	fl.BoolVar(&f.resume, "resume", false, "resume from the newest checkpoint in --out")
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
	cmd.MarkFlagRequired("data")
	cmd.MarkFlagRequired("out")
	rootCmd.AddCommand(cmd)
}

func runTrain(cmd *cobra.Command, f *trainFlags) error {
	tr, val, err := setupTrainer(f)
	if err != nil {
		return err
	}
	cfg := tr.Model.Config
	est := train.EstimateMemory(cfg, tr.Cfg.Batch, tr.Cfg.SeqLen, tr.Graph.MaxK())
	fmt.Fprintf(cmd.OutOrStdout(), "model: %d parameters; memory estimate %s; starting at step %d of %d\n",
		cfg.ParameterCount(), est, tr.Opt.Step, tr.Cfg.Steps)
	bar := progressbar.NewOptions(tr.Cfg.Steps,
		progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(20))
	bar.Set(tr.Opt.Step)
	start, startTokens := time.Now(), tr.TokensSeen
	for tr.Opt.Step < tr.Cfg.Steps {
		res, err := tr.Step()
		if err != nil {
			return err
		}
		tokPerSec := float64(tr.TokensSeen-startTokens) / time.Since(start).Seconds()
		bar.Describe(fmt.Sprintf("loss %.4f | %.0f tok/s | r %d (%d+%d) | lr %.2e", res.Loss, tokPerSec,
			res.Recurrence.Total(), res.Recurrence.N, res.Recurrence.K, res.LR))
		bar.Set(res.Step)
		if f.evalEvery > 0 && (res.Step%f.evalEvery == 0 || res.Step == tr.Cfg.Steps) {
			if err := validate(cmd, tr, val, f.evalBatches); err != nil {
				return err
			}
		}
		if res.Step%f.ckptEvery == 0 || res.Step == tr.Cfg.Steps {
			path, err := tr.Save(f.out, f.tokenizer, f.keep)
			if err != nil {
				return err
			}
			bar.Clear()
			fmt.Fprintf(cmd.OutOrStdout(), "step %d: checkpoint %s\n", res.Step, path)
		}
	}
	bar.Finish()
	fmt.Fprintln(os.Stderr)
	return nil
}

// setupTrainer builds the trainer (fresh, from a model folder, or resumed) and the validation data.
func setupTrainer(f *trainFlags) (*train.Trainer, *train.TokenStream, error) {
	if f.evalEvery < 0 || f.ckptEvery < 1 || f.valFrac < 0 || f.valFrac >= 1 {
		return nil, nil, fmt.Errorf("train: need --eval-every ≥ 0, --ckpt-every ≥ 1 and 0 ≤ --val-frac < 1")
	}
	if f.resume {
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
		trainData, val, err := loadData(f.data, cfg.PaddedVocabSize, f.valFrac)
		if err != nil {
			return nil, nil, err
		}
		tr, err := train.Resume(ckpt, trainData, f.steps)
		return tr, val, err
	}
	m, err := startModel(f)
	if err != nil {
		return nil, nil, err
	}
	trainData, val, err := loadData(f.data, m.Config.PaddedVocabSize, f.valFrac)
	if err != nil {
		return nil, nil, err
	}
	tc, err := f.trainConfig(m.Config)
	if err != nil {
		return nil, nil, err
	}
	tr, err := train.NewTrainer(m, trainData, tc)
	return tr, val, err
}

func startModel(f *trainFlags) (*train.Model, error) {
	if f.initFrom != "" {
		return train.LoadModel(f.initFrom)
	}
	cfg, err := model.BuiltinConfig(f.config)
	if err != nil {
		return nil, err
	}
	return train.InitModel(cfg, f.cfg.Seed)
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
		n, k, ok := strings.Cut(f.fixed, ",")
		nv, err1 := strconv.Atoi(strings.TrimSpace(n))
		kv, err2 := strconv.Atoi(strings.TrimSpace(k))
		if !ok || err1 != nil || err2 != nil {
			return tc, fmt.Errorf("train: --fixed %q: want n,k", f.fixed)
		}
		tc.Fixed = &train.Recurrence{N: nv, K: kv}
	}
	return tc, nil
}

func loadData(path string, vocab int, valFrac float64) (*train.TokenStream, *train.TokenStream, error) {
	stream, err := train.LoadTokens(path, vocab)
	if err != nil {
		return nil, nil, err
	}
	trainData, val := stream.Split(valFrac)
	return trainData, val, nil
}

// validate prints the validation loss at r = 1, r̄ and 4r̄.
func validate(cmd *cobra.Command, tr *train.Trainer, val *train.TokenStream, batches int) error {
	if len(val.Tokens) <= tr.Cfg.SeqLen {
		return nil
	}
	rbar := max(tr.Cfg.MeanRecurrence, 1)
	var parts []string
	for _, r := range []int{1, rbar, 4 * rbar} {
		loss, err := tr.Evaluate(val, r, batches, 1)
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("r=%d %.4f", r, loss))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\nstep %d: validation loss %s\n", tr.Opt.Step, strings.Join(parts, ", "))
	return nil
}
