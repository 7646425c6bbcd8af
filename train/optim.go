package train

import (
	"fmt"
	"math"
)

// OptimizerConfig chooses and tunes the optimizer.
type OptimizerConfig struct {
	// Kind is "adamw" (decoupled weight decay, as torch.optim.AdamW) or "adam-atan2", the
	// reference's ELLISAdam with atan_adam, update_clipping, running_init and decoupled decay.
	Kind        string  `json:"kind"`
	LR          float64 `json:"lr"` // peak learning rate
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"` // AdamW only
	WeightDecay float64 `json:"weight_decay"`
	GradClip    float64 `json:"grad_clip"` // clip the global gradient norm to this; 0 disables
}

// DefaultOptimizer returns the huginn run's settings for kind, with the given peak rate.
func DefaultOptimizer(kind string, lr float64) OptimizerConfig {
	return OptimizerConfig{Kind: kind, LR: lr, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1 * lr, GradClip: 1}
}

func (c OptimizerConfig) validate() error {
	switch {
	case c.Kind != "adamw" && c.Kind != "adam-atan2":
		return fmt.Errorf("optimizer %q: want adamw or adam-atan2", c.Kind)
	case !(c.LR > 0):
		return fmt.Errorf("optimizer: learning rate %v must be positive", c.LR)
	case !(c.Beta1 >= 0 && c.Beta1 < 1 && c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("optimizer: betas (%v, %v) must lie in [0, 1)", c.Beta1, c.Beta2)
	case c.WeightDecay < 0 || c.GradClip < 0 || c.Eps < 0:
		return fmt.Errorf("optimizer: weight decay, grad clip and eps must not be negative")
	}
	return nil
}

// Optimizer updates a model's parameters from its gradients. Its state (the two moments and the
// step count) is part of the resumable training state.
type Optimizer struct {
	Config OptimizerConfig
	M, V   []float32 // first and second moments, laid out like the model's parameters
	Step   int       // updates done
}

// NewOptimizer returns an optimizer with zero moments for m.
func NewOptimizer(c OptimizerConfig, m *Model) (*Optimizer, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &Optimizer{Config: c, M: make([]float32, len(m.Data)), V: make([]float32, len(m.Data))}, nil
}

// Update clips the gradient's global norm, applies one step at learning rate lr and returns the
// norm before clipping.
func (o *Optimizer) Update(m *Model, lr float64) float64 {
	norm := clipGradNorm(m.Grad, o.Config.GradClip)
	o.Step++
	for _, t := range m.Tensors {
		sl := t.Offset
		p, g := m.Data[sl:sl+t.Size], m.Grad[sl:sl+t.Size]
		mm, vv := o.M[sl:sl+t.Size], o.V[sl:sl+t.Size]
		if o.Config.Kind == "adamw" {
			o.adamw(p, g, mm, vv, lr, t.Decay)
		} else {
			o.adamAtan2(p, g, mm, vv, lr, t.Decay)
		}
	}
	return norm
}

// clipGradNorm scales g so that its l2 norm is at most maxNorm (when positive) and returns the
// norm before scaling.
func clipGradNorm(g []float32, maxNorm float64) float64 {
	var ss float64
	for _, v := range g {
		ss += float64(v) * float64(v)
	}
	norm := math.Sqrt(ss)
	if maxNorm > 0 && norm > maxNorm {
		s := float32(maxNorm / (norm + 1e-6))
		for i := range g {
			g[i] *= s
		}
	}
	return norm
}

// adamw is torch.optim.AdamW: p ← p·(1 − lr·wd), then the bias-corrected Adam step.
func (o *Optimizer) adamw(p, g, m, v []float32, lr float64, decay bool) {
	c := o.Config
	b1, b2 := float32(c.Beta1), float32(c.Beta2)
	bc1 := 1 - math.Pow(c.Beta1, float64(o.Step))
	bc2 := math.Sqrt(1 - math.Pow(c.Beta2, float64(o.Step)))
	stepSize, eps := float32(lr/bc1), float32(c.Eps)
	shrink := float32(1)
	if decay {
		shrink = float32(1 - lr*c.WeightDecay)
	}
	for i, gi := range g {
		m[i] = b1*m[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		p[i] = p[i]*shrink - stepSize*m[i]/(float32(math.Sqrt(float64(v[i])))/float32(bc2)+eps)
	}
}

// adamAtan2 is the reference's ELLISAdam as the huginn run configures it:
//   - running_init: the first step sets m = g and v = g² (so no bias correction is needed);
//   - update clipping: per tensor, lr_t = lr / max(1, √mean(g²/v)) with v already updated;
//   - atan_adam: Δp = −lr_t · atan2(m, √v), which needs no ε;
//   - decoupled decay relative to the peak rate: p ← p·(1 − lr/peak·wd).
func (o *Optimizer) adamAtan2(p, g, m, v []float32, lr float64, decay bool) {
	c := o.Config
	b1, b2 := float32(c.Beta1), float32(c.Beta2)
	for i, gi := range g {
		if o.Step == 1 {
			m[i], v[i] = gi, gi*gi
		} else {
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
		}
	}
	var ratio float64
	for i, gi := range g {
		if v[i] > 0 {
			ratio += float64(gi) * float64(gi) / float64(v[i])
		}
	}
	lrT := lr / max(1, math.Sqrt(ratio/float64(len(g))))
	shrink := float32(1)
	if decay {
		shrink = float32(1 - lr/c.LR*c.WeightDecay)
	}
	for i := range p {
		p[i] = p[i]*shrink - float32(lrT*math.Atan2(float64(m[i]), math.Sqrt(float64(v[i]))))
	}
}

// Schedule is the reference's "trapezoid" learning-rate schedule: linear warmup from 0 over
// Warmup steps, constant, then linear cooldown to MinLR over the last Cooldown of Total steps.
type Schedule struct {
	Peak, MinLR             float64
	Warmup, Cooldown, Total int
}

// At returns the learning rate of update number step (0-based).
func (s Schedule) At(step int) float64 {
	lr := s.Peak
	if s.Warmup > 0 && step < s.Warmup {
		lr = s.Peak * float64(step+1) / float64(s.Warmup)
	}
	if start := s.Total - s.Cooldown; s.Cooldown > 0 && step >= start {
		frac := float64(step-start+1) / float64(s.Cooldown)
		lr = min(lr, s.Peak+(s.MinLR-s.Peak)*min(frac, 1))
	}
	return lr
}
