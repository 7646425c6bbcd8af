package train

import (
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/latentlab/latent/model"
)

// Config is the training recipe; it is saved with each checkpoint.
type Config struct {
	Batch  int `json:"batch"`   // sequences per step
	SeqLen int `json:"seq_len"` // tokens per sequence
	Steps  int `json:"steps"`   // optimizer steps in the whole run

	MeanRecurrence int         `json:"mean_recurrence"` // r̄
	BackpropDepth  int         `json:"backprop_depth"`  // k̄
	Sigma          float64     `json:"sigma"`           // of the log-normal rate; the reference's 0.5
	Fixed          *Recurrence `json:"fixed,omitempty"` // a fixed (n, k) instead of sampling
	// InitScale scales the random initial state (1 is the reference's "like-init"; 0 gives zeros).
	InitScale float64 `json:"init_scale"`

	Optimizer OptimizerConfig `json:"optimizer"`
	Warmup    int             `json:"warmup"`
	Cooldown  int             `json:"cooldown"`
	MinLR     float64         `json:"min_lr"`

	Seed      uint64 `json:"seed"`
	MaxMemory int64  `json:"max_memory,omitempty"` // bytes; 0 means the memory available now
}

// Sampler returns the recurrence sampler the config describes.
func (c *Config) Sampler() RecurrenceSampler {
	return RecurrenceSampler{Mean: c.MeanRecurrence, BackpropDepth: c.BackpropDepth, Sigma: c.Sigma, Fixed: c.Fixed}
}

// maxK is the most recurrences with gradient a step can ask for.
func (c *Config) maxK() int {
	if c.Fixed != nil {
		return c.Fixed.K
	}
	return c.BackpropDepth
}

func (c *Config) validate() error {
	switch {
	case c.Batch < 1 || c.SeqLen < 1:
		return fmt.Errorf("train: batch %d and seq_len %d must be positive", c.Batch, c.SeqLen)
	case c.Fixed != nil && (c.Fixed.N < 0 || c.Fixed.K < 0 || c.Fixed.Total() == 0):
		return fmt.Errorf("train: fixed recurrence (n=%d, k=%d) needs n, k ≥ 0 and n+k ≥ 1", c.Fixed.N, c.Fixed.K)
	case c.Fixed == nil && (c.MeanRecurrence < 1 || c.BackpropDepth < 1 || !(c.Sigma >= 0)):
		return fmt.Errorf("train: mean recurrence %d and backprop depth %d must be positive, sigma %v not negative", c.MeanRecurrence, c.BackpropDepth, c.Sigma)
	case c.InitScale < 0:
		return fmt.Errorf("train: init scale %v must not be negative", c.InitScale)
	}
	return c.Optimizer.validate()
}

// Trainer runs the training loop of one model: it owns the optimizer, the activation graph and
// the random generator from which recurrences, batches and initial states are drawn.
type Trainer struct {
	Cfg        Config
	Model      *Model
	Opt        *Optimizer
	Graph      *Graph
	Data       Batcher
	TokensSeen int64

	src    *rand.PCG
	rng    *rand.Rand
	engine *model.Model // views Model's weights; draws initial states
	s0     []float32
}

// NewTrainer checks that training fits in memory (refusing it, with the estimate, when it does
// not) and allocates everything training needs.
func NewTrainer(m *Model, data Batcher, cfg Config) (*Trainer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	est := EstimateMemory(m.Config, cfg.Batch, cfg.SeqLen, cfg.maxK())
	est.Parameters, est.Gradients = 0, 0 // the model already holds them
	if err := CheckMemory(est, cfg.MaxMemory); err != nil {
		return nil, err
	}
	opt, err := NewOptimizer(cfg.Optimizer, m)
	if err != nil {
		return nil, err
	}
	g, err := NewGraph(m, cfg.Batch, cfg.SeqLen, cfg.maxK())
	if err != nil {
		return nil, err
	}
	src := rand.NewPCG(cfg.Seed, 0x747261696e)
	return &Trainer{
		Cfg: cfg, Model: m, Opt: opt, Graph: g, Data: data, src: src, rng: rand.New(src),
		engine: model.New(m.Config, m.Weights()), s0: make([]float32, g.N*m.Config.NEmbd),
	}, nil
}

// StepResult reports one optimizer step.
type StepResult struct {
	Step       int // updates done after this step
	Loss       float64
	Tokens     int // tokens that carried loss
	Recurrence Recurrence
	LR         float64
	GradNorm   float64 // before clipping
}

// Step draws a recurrence, a batch and an initial state, runs forward and backward and updates
// the parameters.
func (t *Trainer) Step() (StepResult, error) {
	r := t.Cfg.Sampler().Sample(t.rng)
	batch, err := t.Data.Next(t.rng, t.Cfg.Batch, t.Cfg.SeqLen)
	if err != nil {
		return StepResult{}, err
	}
	t.drawState(t.rng, t.Cfg.InitScale)
	t.Model.ZeroGrad()
	loss, count, err := t.Graph.Forward(batch.Inputs, batch.Labels, t.s0, r.N, r.K)
	if err != nil {
		return StepResult{}, err
	}
	t.Graph.Backward()
	lr := t.Schedule().At(t.Opt.Step)
	norm := t.Opt.Update(t.Model, lr)
	t.TokensSeen += int64(len(batch.Inputs))
	return StepResult{Step: t.Opt.Step, Loss: loss, Tokens: count, Recurrence: r, LR: lr, GradNorm: norm}, nil
}

// Schedule is the learning-rate schedule of the run.
func (t *Trainer) Schedule() Schedule {
	return Schedule{Peak: t.Cfg.Optimizer.LR, MinLR: t.Cfg.MinLR, Warmup: t.Cfg.Warmup, Cooldown: t.Cfg.Cooldown, Total: t.Cfg.Steps}
}

// drawState fills s0 with the initial state: truncated normal × embed_scale, or zeros at scale 0.
func (t *Trainer) drawState(rng *rand.Rand, scale float64) {
	copy(t.s0, t.engine.InitialState(t.Graph.N, scale, rng))
}

// Evaluate returns the mean loss over batches drawn from data with r recurrences (no gradient).
// It draws from its own generator seeded with seed, so it neither disturbs training nor varies
// between calls.
func (t *Trainer) Evaluate(data Batcher, r, batches int, seed uint64) (float64, error) {
	rng := rand.New(rand.NewPCG(seed, 0x76616c))
	var sum float64
	var tokens int
	for i := 0; i < batches; i++ {
		batch, err := data.Next(rng, t.Cfg.Batch, t.Cfg.SeqLen)
		if err != nil {
			return 0, err
		}
		t.drawState(rng, t.Cfg.InitScale)
		loss, count, err := t.Graph.Forward(batch.Inputs, batch.Labels, t.s0, r, 0)
		if err != nil {
			return 0, err
		}
		sum += loss * float64(count)
		tokens += count
	}
	if tokens == 0 {
		return 0, fmt.Errorf("train: evaluation batches hold no labelled tokens")
	}
	return sum / float64(tokens), nil
}

// InitModel returns a new model with the reference's "takase" initialisation, drawn from seed:
// the engine's own random-checkpoint writer (model.WriteRandomCheckpoint) makes it, so training
// and `latent init` share one set of rules.
func InitModel(cfg *model.Config, seed uint64) (*Model, error) {
	dir, err := os.MkdirTemp("", "latent-init-")
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer os.RemoveAll(dir)
	c := *cfg
	if err := model.WriteRandomCheckpoint(&c, dir, model.InitOptions{DType: "fp32", Shards: 1, Seed: seed}); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return LoadModel(dir)
}
