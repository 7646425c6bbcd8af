package tasks

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/latentlab/latent/model"
)

// InitState chooses the initial latent state of an evaluation: a truncated normal of the given
// scale (0 gives zeros) drawn from Seed.
type InitState struct {
	Scale float64
	Seed  uint64
}

func (s InitState) draw(m *model.Model, S int) []float32 {
	return m.InitialState(S, s.Scale, rand.New(rand.NewPCG(s.Seed, 0x7461736b)))
}

// Trajectory runs the model on ids once, up to the largest of steps recurrences, and decodes with
// the coda after each requested step count: preds[j] holds the argmax token of every position
// after steps[j] recurrences. steps must be positive.
func Trajectory(m *model.Model, ids []int, steps []int, init InitState) ([][]int, error) {
	if len(steps) == 0 || slices.Min(steps) < 1 {
		return nil, fmt.Errorf("tasks: steps %v must be positive recurrence counts", steps)
	}
	S := len(ids)
	e, err := m.Prelude(ids, 0, nil)
	if err != nil {
		return nil, err
	}
	s := init.draw(m, S)
	preds := make([][]int, len(steps))
	for t := 1; t <= slices.Max(steps); t++ {
		s = m.Step(s, e, S, 0, t-1, nil)
		var decoded []int
		for j, want := range steps {
			if want != t {
				continue
			}
			if decoded == nil {
				decoded = decode(m, s, S)
			}
			preds[j] = decoded
		}
	}
	return preds, nil
}

// decode returns the argmax token of every position of the state s.
func decode(m *model.Model, s []float32, S int) []int {
	return model.Argmax(m.Head(m.Coda(s, S, 0, nil), S), m.Config.PaddedVocabSize)
}

// Score counts exact matches: whole instances whose every answer position is right, and answer
// positions.
type Score struct {
	Instances, InstancesRight int
	Positions, PositionsRight int
}

// Add scores the predictions pred (one token per position of ex) and reports whether the whole
// instance is right.
func (s *Score) Add(ex Example, pred []int) bool {
	all := true
	for i, l := range ex.Labels {
		if l == Ignore {
			continue
		}
		s.Positions++
		if i < len(pred) && pred[i] == l {
			s.PositionsRight++
		} else {
			all = false
		}
	}
	s.Instances++
	if all {
		s.InstancesRight++
	}
	return all
}

// Accuracy is the share of instances that are entirely right.
func (s Score) Accuracy() float64 { return ratio(s.InstancesRight, s.Instances) }

// PositionAccuracy is the share of answer positions that are right.
func (s Score) PositionAccuracy() float64 { return ratio(s.PositionsRight, s.Positions) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// EvalOptions choose what Evaluate measures.
type EvalOptions struct {
	Sizes     []int // instance sizes (bits, digits, hops), one row of the table each
	Steps     []int // recurrence counts, one column each
	Instances int   // test instances per size
	// MinDifficulty keeps only instances at least this hard (e.g. a carry chain of 6 or more).
	MinDifficulty int
	Seed          uint64
	Init          InitState
	Workers       int // 0: GOMAXPROCS
}

// Table is the accuracy of a model per size × steps.
type Table struct {
	Task             string      `json:"task"`
	Lengths          []int       `json:"lengths"`
	Steps            []int       `json:"steps"`
	Accuracy         [][]float64 `json:"accuracy"`          // exact match per instance [size][steps]
	PositionAccuracy [][]float64 `json:"position_accuracy"` // exact match per answer position
	Instances        int         `json:"instances"`
}

// Evaluate scores the model on opt.Instances test instances of every size at every step count,
// one trajectory per instance.
func Evaluate(m *model.Model, t Task, opt EvalOptions) (*Table, error) {
	if err := checkSizes(m, t, opt.Sizes); err != nil {
		return nil, err
	}
	tab := &Table{Task: t.Name(), Lengths: opt.Sizes, Steps: opt.Steps, Instances: opt.Instances}
	for _, size := range opt.Sizes {
		set, err := TestSet(t, size, opt.Instances, opt.Seed, opt.MinDifficulty)
		if err != nil {
			return nil, err
		}
		scores := make([]Score, len(opt.Steps))
		var mu sync.Mutex
		err = forEach(len(set), opt.Workers, func(i int) error {
			preds, err := Trajectory(m, set[i].Inputs, opt.Steps, opt.Init)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for j := range scores {
				scores[j].Add(set[i], preds[j])
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		acc, pos := make([]float64, len(scores)), make([]float64, len(scores))
		for j, s := range scores {
			acc[j], pos[j] = s.Accuracy(), s.PositionAccuracy()
		}
		tab.Accuracy = append(tab.Accuracy, acc)
		tab.PositionAccuracy = append(tab.PositionAccuracy, pos)
	}
	return tab, nil
}

// checkSizes rejects sizes whose instances do not fit the model's context.
func checkSizes(m *model.Model, t Task, sizes []int) error {
	if len(sizes) == 0 {
		return fmt.Errorf("tasks: no sizes to evaluate")
	}
	for _, size := range sizes {
		if size < 1 {
			return fmt.Errorf("tasks: %s: size %d must be positive", t.Name(), size)
		}
		if n := t.MaxTokens(size); n > m.Config.BlockSize {
			return fmt.Errorf("tasks: %s: instances of size %d take %d tokens, beyond the model's context of %d", t.Name(), size, n, m.Config.BlockSize)
		}
	}
	return nil
}

// forEach calls fn(0..n-1) on workers goroutines and returns the first error.
func forEach(n, workers int, fn func(i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		next  int
		first error
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}
