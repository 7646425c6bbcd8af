package tasks

import (
	"slices"
	"testing"

	"github.com/latentlab/latent/model"
)

// randomModel writes and loads an untrained model of a small shape for the task.
func randomModel(t *testing.T, task Task) *model.Model {
	t.Helper()
	shape := Shape{Width: 16, Heads: 2, FFN: 32, Prelude: 1, Core: 1, Coda: 1, MeanRecurrence: 4, Backprop: 2,
		BlockSize: 128, RopeBase: 10000}
	cfg, err := shape.Config(task.Vocab().Size())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := model.WriteRandomCheckpoint(cfg, dir, model.InitOptions{DType: "fp32", Shards: 1, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestTrajectoryMatchesSeparateForwards(t *testing.T) {
	task := NewParity()
	m := randomModel(t, task)
	ex, _ := task.Parse("0110100111")
	start := InitState{Scale: 1, Seed: 3}
	steps := []int{5, 1, 3}
	preds, err := Trajectory(m, ex.Inputs, steps, start)
	if err != nil {
		t.Fatal(err)
	}
	for j, r := range steps {
		out, err := m.Forward(ex.Inputs, model.ForwardOptions{Steps: r, InputStates: start.draw(m, len(ex.Inputs))})
		if err != nil {
			t.Fatal(err)
		}
		if want := model.Argmax(out.Logits, m.Config.PaddedVocabSize); !slices.Equal(preds[j], want) {
			t.Errorf("r=%d: trajectory decodes %v, a forward pass %v", r, preds[j], want)
		}
	}
	if _, err := Trajectory(m, ex.Inputs, []int{0, 2}, start); err == nil {
		t.Error("a step count of 0 was accepted")
	}
}

func TestAdaptiveWithoutExitIsFixedRecurrence(t *testing.T) {
	task := NewAddition()
	m := randomModel(t, task)
	ex, _ := task.Parse("4071+958=")
	start := InitState{Scale: 1, Seed: 9}
	res, err := SolveAdaptive(m, ex, AdaptiveOptions{Criterion: "none", MaxSteps: 6, Init: start})
	if err != nil {
		t.Fatal(err)
	}
	preds, _ := Trajectory(m, ex.Inputs, []int{6}, start)
	for _, p := range ex.AnswerPositions() {
		if res.ExitSteps[p] != 6 || res.Pred[p] != preds[0][p] {
			t.Errorf("position %d: %d steps and token %d, want 6 steps and token %d", p, res.ExitSteps[p], res.Pred[p], preds[0][p])
		}
	}
	huge := 1e9
	res, err = SolveAdaptive(m, ex, AdaptiveOptions{Criterion: "kl", Threshold: &huge, MaxSteps: 6, Init: start})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ex.AnswerPositions() {
		if res.ExitSteps[p] != 1 {
			t.Errorf("position %d: a threshold no KL reaches still took %d steps", p, res.ExitSteps[p])
		}
	}
	if _, err := SolveAdaptive(m, ex, AdaptiveOptions{Criterion: "no-such", MaxSteps: 6}); err == nil {
		t.Error("an unknown criterion was accepted")
	}
}

func TestEvaluateTableShape(t *testing.T) {
	task := NewParity()
	m := randomModel(t, task)
	opt := EvalOptions{Sizes: []int{8, 12, 16}, Steps: []int{1, 2, 4}, Instances: 6, Seed: 1, Init: InitState{Scale: 1}}
	tab, err := Evaluate(m, task, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Accuracy) != 3 || len(tab.PositionAccuracy) != 3 {
		t.Fatalf("%d accuracy rows, want one per size", len(tab.Accuracy))
	}
	for i := range tab.Accuracy {
		if len(tab.Accuracy[i]) != 3 || len(tab.PositionAccuracy[i]) != 3 {
			t.Fatalf("row %d: %d columns, want one per step count", i, len(tab.Accuracy[i]))
		}
		for j, a := range tab.Accuracy[i] {
			if a < 0 || a > tab.PositionAccuracy[i][j] || tab.PositionAccuracy[i][j] > 1 {
				t.Errorf("[%d][%d]: accuracy %v, per position %v", i, j, a, tab.PositionAccuracy[i][j])
			}
		}
	}
	again, _ := Evaluate(m, task, opt)
	if !slices.EqualFunc(tab.PositionAccuracy, again.PositionAccuracy, slices.Equal) {
		t.Error("two evaluations with the same seed differ")
	}
	if _, err := Evaluate(m, task, EvalOptions{Sizes: []int{200}, Steps: []int{1}, Instances: 1}); err == nil {
		t.Error("instances longer than the context were accepted")
	}
}
