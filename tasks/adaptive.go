package tasks

import (
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/model"
)

// DefaultKLThreshold is the kl exit threshold the command line uses on task models. Their answers
// are nearly deterministic, so a digit waiting for a carry can sit still for a step or two before
// the carry arrives: the reference's "auto" 1e-3 (and the paper's 5e-4) exits it too early (the
// default model answers 12345+67890 with 70235 at 1e-3, with 80235 at 1e-5).
const DefaultKLThreshold = 1e-5

// AdaptiveOptions configure per-token adaptive compute on a task instance.
type AdaptiveOptions struct {
	Criterion string   // an exit criterion of the generate package, e.g. "kl"
	Threshold *float64 // nil: the criterion's reference "auto" value
	MaxSteps  int
	Init      InitState
	// IndependentExit lets every answer position exit as soon as its own criterion fires, even
	// while positions before it are still moving. The default (false) is the causal exit rule.
	// It exists to measure what the causal rule buys.
	IndependentExit bool
}

// Solved is the outcome of one adaptive run: the prediction and the recurrences of every answer
// position (ExitSteps is 0 where there is no answer).
type Solved struct {
	Pred      []int
	ExitSteps []int
}

// SolveAdaptive runs all positions together and gives every answer position its own exit
// criterion, checked after each recurrence on that position's logits. A position that exits keeps
// the prediction of that step and its state is frozen from then on, so later positions attend to
// it as it was when it stopped (the "deepest available" rule of the reference's cache); a
// position that never exits stops at MaxSteps.
//
// Exits are causal by default: an answer position may exit only at a step where every answer
// position before it has exited (at that step or earlier). A causal model's position reads the
// positions before it, so until they are final its own settled-looking prediction can still
// change: a digit waiting for a carry sits still until the carry arrives. Autoregressive decoding
// obeys the same order for free, since a token is computed only after the tokens it reads are
// final; this rule gives the one-pass solver that order.
func SolveAdaptive(m *model.Model, ex Example, opt AdaptiveOptions) (Solved, error) {
	if opt.MaxSteps < 1 {
		return Solved{}, fmt.Errorf("tasks: adaptive: max steps %d must be positive", opt.MaxSteps)
	}
	S, h, V := len(ex.Inputs), m.Config.NEmbd, m.Config.PaddedVocabSize
	e, err := m.Prelude(ex.Inputs, 0, nil)
	if err != nil {
		return Solved{}, err
	}
	s := opt.Init.draw(m, S)
	out := Solved{Pred: make([]int, S), ExitSteps: make([]int, S)}
	pending := ex.AnswerPositions() // ascending, the positions that have not exited
	crit := make(map[int]generate.Criterion, len(pending))
	for _, i := range pending {
		if crit[i], err = generate.NewCriterion(opt.Criterion, opt.Threshold, V); err != nil {
			return Solved{}, err
		}
		crit[i].Reset(s[i*h:(i+1)*h], 1)
	}
	for t := 1; len(pending) > 0; t++ {
		next := m.Step(s, e, S, 0, t-1, nil)
		for i := range S {
			if out.ExitSteps[i] > 0 {
				copy(next[i*h:(i+1)*h], s[i*h:(i+1)*h])
			}
		}
		s = next
		logits := m.Head(m.Coda(s, S, 0, nil), S)
		blocked, still := false, pending[:0]
		for _, i := range pending {
			row := logits[i*V : (i+1)*V]
			exit, _ := crit[i].Check(generate.Observation{State: s[i*h : (i+1)*h], S: 1, Logits: row})
			if (exit && (!blocked || opt.IndependentExit)) || t == opt.MaxSteps {
				out.Pred[i], out.ExitSteps[i] = model.Argmax(row, V)[0], t
				continue
			}
			blocked = true
			still = append(still, i)
		}
		pending = still
	}
	return out, nil
}

// AdaptiveRow compares adaptive compute with a fixed recurrence on the instances of one size.
type AdaptiveRow struct {
	Size             int     `json:"size"`
	MeanSteps        float64 `json:"mean_steps"` // recurrences per answer token
	Accuracy         float64 `json:"accuracy"`   // exact match per instance
	PositionAccuracy float64 `json:"position_accuracy"`
	// FixedSteps brackets the adaptive compute with fixed recurrences, ⌊MeanSteps⌋ and ⌈MeanSteps⌉
	// (at least 1), and FixedAccuracy is the exact match of each.
	FixedSteps    [2]int     `json:"fixed_steps"`
	FixedAccuracy [2]float64 `json:"fixed_accuracy"`
}

// DepthRow is the mean number of recurrences the answer positions of one depth used.
type DepthRow struct {
	Depth     int     `json:"depth"`
	Positions int     `json:"positions"`
	MeanSteps float64 `json:"mean_steps"`
	Accuracy  float64 `json:"accuracy"` // share of these positions answered right
}

// AdaptiveReport is adaptive compute measured on the test instances of several sizes.
type AdaptiveReport struct {
	Task      string        `json:"task"`
	Criterion string        `json:"criterion"`
	Threshold *float64      `json:"threshold,omitempty"`
	MaxSteps  int           `json:"max_steps"`
	Rows      []AdaptiveRow `json:"rows"`
	ByDepth   []DepthRow    `json:"by_depth"` // over all sizes, by Example.Depth
}

// EvaluateAdaptive runs SolveAdaptive on opt.Instances test instances of every size of eo (the
// same instances Evaluate uses) and compares each size with the fixed recurrences that bracket its
// mean steps.
func EvaluateAdaptive(m *model.Model, t Task, eo EvalOptions, ao AdaptiveOptions) (*AdaptiveReport, error) {
	if err := checkSizes(m, t, eo.Sizes); err != nil {
		return nil, err
	}
	rep := &AdaptiveReport{Task: t.Name(), Criterion: ao.Criterion, Threshold: ao.Threshold, MaxSteps: ao.MaxSteps}
	depth := map[int]*depthSum{}
	for _, size := range eo.Sizes {
		set, err := TestSet(t, size, eo.Instances, eo.Seed, eo.MinDifficulty)
		if err != nil {
			return nil, err
		}
		row, err := adaptiveRow(m, set, ao, eo.Workers, depth)
		if err != nil {
			return nil, err
		}
		row.Size = size
		rep.Rows = append(rep.Rows, row)
	}
	for d, sum := range depth {
		rep.ByDepth = append(rep.ByDepth, DepthRow{Depth: d, Positions: sum.n,
			MeanSteps: float64(sum.steps) / float64(sum.n), Accuracy: ratio(sum.right, sum.n)})
	}
	sort.Slice(rep.ByDepth, func(i, j int) bool { return rep.ByDepth[i].Depth < rep.ByDepth[j].Depth })
	return rep, nil
}

type depthSum struct{ n, steps, right int }

// adaptiveRow solves set adaptively, adds its answer positions to depth and scores the fixed
// recurrences that bracket its mean compute.
func adaptiveRow(m *model.Model, set []Example, ao AdaptiveOptions, workers int, depth map[int]*depthSum) (AdaptiveRow, error) {
	var (
		mu         sync.Mutex
		score      Score
		steps, pos int
	)
	err := forEach(len(set), workers, func(i int) error {
		res, err := SolveAdaptive(m, set[i], ao)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		score.Add(set[i], res.Pred)
		for _, p := range set[i].AnswerPositions() {
			d := depth[set[i].Depth[p]]
			if d == nil {
				d = &depthSum{}
				depth[set[i].Depth[p]] = d
			}
			d.n++
			d.steps += res.ExitSteps[p]
			if res.Pred[p] == set[i].Labels[p] {
				d.right++
			}
			steps += res.ExitSteps[p]
			pos++
		}
		return nil
	})
	if err != nil {
		return AdaptiveRow{}, err
	}
	row := AdaptiveRow{MeanSteps: float64(steps) / float64(max(pos, 1)), Accuracy: score.Accuracy(),
		PositionAccuracy: score.PositionAccuracy()}
	row.FixedSteps = [2]int{max(int(math.Floor(row.MeanSteps)), 1), max(int(math.Ceil(row.MeanSteps)), 1)}
	var fixed [2]Score
	err = forEach(len(set), workers, func(i int) error {
		preds, err := Trajectory(m, set[i].Inputs, row.FixedSteps[:], ao.Init)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for j := range fixed {
			fixed[j].Add(set[i], preds[j])
		}
		return nil
	})
	row.FixedAccuracy = [2]float64{fixed[0].Accuracy(), fixed[1].Accuracy()}
	return row, err
}
