package judgeeval

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/archive"
	"github.com/latentlab/latent/paperbench/judge"
	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/rubric"
)

func leaf(id, cat string, score float64) *rubric.Node {
	return &rubric.Node{ID: id, Requirements: "do " + id, Weight: 1, TaskCategory: cat,
		Grade: &rubric.Grade{Score: score, Valid: true, Explanation: "human"}}
}

func inner(id string, kids ...*rubric.Node) *rubric.Node {
	return &rubric.Node{ID: id, Requirements: "group " + id, Weight: 1, SubTasks: kids,
		Grade: &rubric.Grade{Valid: true}}
}

// exampleTrees are the two human-graded examples of the hand computations: in
// depth-first order the human scores are 1 0 1 1 (paper-a) and 0 0 1 (paper-b).
func exampleTrees() map[string]*rubric.Node {
	cd, ce, ra := rubric.CodeDevelopment, rubric.CodeExecution, rubric.ResultAnalysis
	return map[string]*rubric.Node{
		"paper-a/0": inner("ra", leaf("a1", cd, 1), leaf("a2", cd, 0), inner("ag", leaf("a3", ce, 1), leaf("a4", ra, 1))),
		"paper-b/0": inner("rb", leaf("b1", cd, 0), leaf("b2", ce, 0), leaf("b3", ce, 1)),
	}
}

// makeData writes the examples in the official layout, each with a small submission
// folder, and returns the judge_eval folder.
func makeData(t *testing.T, trees map[string]*rubric.Node) string {
	t.Helper()
	data := t.TempDir()
	for id, tree := range trees {
		dir := filepath.Join(data, filepath.FromSlash(id))
		os.MkdirAll(filepath.Join(dir, "grading"), 0o755)
		os.MkdirAll(filepath.Join(dir, SubmissionFolder), 0o755)
		os.WriteFile(filepath.Join(dir, SubmissionFolder, "main.py"), []byte("print('hi')\n"), 0o644)
		tree = tree.Clone()
		if _, err := rubric.Score(tree); err != nil {
			t.Fatal(err)
		}
		if err := rubric.WriteFile(filepath.Join(dir, filepath.FromSlash(ExpectedFile)), tree); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

func fixed(g judge.Grader) NewGrader {
	return func(Example, string) (judge.Grader, func(), error) { return g, nil, nil }
}

func runEval(t *testing.T, data, out string, g NewGrader) *Result {
	t.Helper()
	examples, err := Discover(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), examples, Options{Out: out, NewGrader: g, Prices: judge.DefaultPrices})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// want is a metrics row of the hand computations: accuracy, macro precision, recall, F1.
type want struct{ acc, p, r, f1 float64 }

func checkMetrics(t *testing.T, name string, m Metrics, w want, n int) {
	t.Helper()
	got := []Float{m.Accuracy, m.Precision, m.Recall, m.F1}
	exp := []float64{w.acc, w.p, w.r, w.f1}
	for i, g := range got {
		if math.Abs(float64(g)-exp[i]) > 1e-12 {
			t.Errorf("%s: metrics %v %v %v %v, want %v", name, m.Accuracy, m.Precision, m.Recall, m.F1, exp)
			break
		}
	}
	if m.NumSamples != n {
		t.Errorf("%s: %d samples, want %d", name, m.NumSamples, n)
	}
}

// TestDummyHandComputed: the dummy judge predicts 1 everywhere. Pooled, the human scores
// are 1 0 1 1 0 0 1: accuracy 4/7; label 1 has tp 4, fp 3, fn 0 (P 4/7, R 1, F1 8/11),
// label 0 has tp 0 (P = R = F1 = 0), so the macro figures are 2/7, 1/2 and 4/11.
func TestDummyHandComputed(t *testing.T) {
	res := runEval(t, makeData(t, exampleTrees()), t.TempDir(), fixed(judge.Dummy{}))
	agg := res.AggregateMetrics
	checkMetrics(t, "overall", agg.Overall, want{4. / 7, 2. / 7, 0.5, 4. / 11}, 7)
	if agg.Overall.NumPositives != 4 || agg.Overall.NumNegatives != 3 {
		t.Errorf("positives %d negatives %d", agg.Overall.NumPositives, agg.Overall.NumNegatives)
	}
	// Code Development: human 1 0 0; Code Execution: 1 0 1; Result Analysis: 1 alone, so
	// only label 1 occurs and the macro average is over it alone.
	checkMetrics(t, "CD", agg.Stratified[rubric.CodeDevelopment], want{1. / 3, 1. / 6, 0.5, 0.25}, 3)
	checkMetrics(t, "CE", agg.Stratified[rubric.CodeExecution], want{2. / 3, 1. / 3, 0.5, 0.4}, 3)
	checkMetrics(t, "RA", agg.Stratified[rubric.ResultAnalysis], want{1, 1, 1, 1}, 1)
	// paper-a alone: 1 0 1 1, accuracy 3/4, label 1 P 3/4 R 1 F1 6/7.
	checkMetrics(t, "paper-a", res.Results[0].Metrics.Overall, want{0.75, 3. / 8, 0.5, 3. / 7}, 4)
	if c := res.AggregateConfusion; c != (Confusion{TP: 4, FP: 3}) {
		t.Errorf("confusion %+v", c)
	}
	if res.JudgeType != "dummy" || res.CostUSD != 0 {
		t.Errorf("judge %q cost %v", res.JudgeType, res.CostUSD)
	}
}

// TestRandomHandComputed: the random judge with seed 3 draws, in depth-first order,
// 0 1 0 1 for paper-a and 0 1 0 for paper-b (checked below). Against the human 1 0 1 1 and
// 0 0 1: tp 1 (a4), fp 2 (a2 b2), fn 3 (a1 a3 b3), tn 1 (b1); accuracy 2/7. Label 1:
// P 1/3, R 1/4, F1 2/7; label 0 (tp 1, fp 3, fn 2): P 1/4, R 1/3, F1 2/7; macro P and R
// 7/24, F1 2/7.
func TestRandomHandComputed(t *testing.T) {
	res := runEval(t, makeData(t, exampleTrees()), t.TempDir(), fixed(judge.Random{Seed: 3}))
	var preds []float64
	for _, r := range res.Results {
		for _, s := range r.Samples {
			preds = append(preds, s.Pred)
		}
	}
	if got, w := preds, []float64{0, 1, 0, 1, 0, 1, 0}; !equal(got, w) {
		t.Fatalf("random predictions %v, want %v (the hand computation below assumes them)", got, w)
	}
	checkMetrics(t, "overall", res.AggregateMetrics.Overall, want{2. / 7, 7. / 24, 7. / 24, 2. / 7}, 7)
	// Code Development a1 a2 b1: judge 0 1 0, human 1 0 0; label 1 all 0, label 0 tp 1
	// fp 1 fn 1 (0.5 each): macro 1/4. Code Execution a3 b2 b3: all wrong, so 0.
	// paper-a alone: accuracy 1/4; label 1 tp 1 fp 1 fn 2 (P 1/2, R 1/3, F1 2/5).
	stratified := res.AggregateMetrics.Stratified
	checkMetrics(t, "CD", stratified[rubric.CodeDevelopment], want{1. / 3, 0.25, 0.25, 0.25}, 3)
	checkMetrics(t, "CE", stratified[rubric.CodeExecution], want{0, 0, 0, 0}, 3)
	checkMetrics(t, "paper-a", res.Results[0].Metrics.Overall, want{0.25, 0.25, 1. / 6, 0.2}, 4)
	if c := res.AggregateConfusion; c != (Confusion{TP: 1, FP: 2, FN: 3, TN: 1}) {
		t.Errorf("confusion %+v", c)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// scripted grades each leaf with the score of the human tree and fails on the leaf ids
// it is given; it charges 1000 input tokens of o3-mini per leaf.
type scripted struct {
	human *rubric.Node
	fail  map[string]bool
}

func (scripted) Type() string        { return "scripted" }
func (scripted) Fingerprint() string { return "" }
func (s scripted) GradeLeaf(_ context.Context, root *rubric.Node, p rubric.Path) judge.LeafResult {
	n, _ := root.At(p)
	r := judge.LeafResult{Usage: judge.Usage{}}
	r.Usage.Add("o3-mini", llm.Usage{In: 1000})
	if s.fail[n.ID] {
		r.Explanation = "grading failed"
		return r
	}
	h, _ := s.human.At(p)
	r.Valid, r.Score = true, h.Grade.Score
	return r
}

func TestInvalidPredictionsDroppedAndCost(t *testing.T) {
	trees := exampleTrees()
	data := makeData(t, trees)
	res := runEval(t, data, t.TempDir(), func(ex Example, _ string) (judge.Grader, func(), error) {
		return scripted{ex.Expected, map[string]bool{"a2": true}}, nil, nil
	})
	a := res.Results[0]
	if a.Dropped != 1 || a.Metrics.Overall.NumSamples != 3 || a.Leaves != 4 {
		t.Errorf("dropped %d, samples %d, leaves %d", a.Dropped, a.Metrics.Overall.NumSamples, a.Leaves)
	}
	// Every valid prediction agrees with the human: all ones.
	checkMetrics(t, "pooled", res.AggregateMetrics.Overall, want{1, 1, 1, 1}, 6)
	// 4 leaves × 1000 tokens × $1.10 per million.
	if math.Abs(a.CostUSD-0.0044) > 1e-12 || math.Abs(res.MeanCostUSD-(0.0044+0.0033)/2) > 1e-12 {
		t.Errorf("cost %v, mean %v", a.CostUSD, res.MeanCostUSD)
	}
}

func TestResumeFromJournal(t *testing.T) {
	data := makeData(t, exampleTrees())
	out := t.TempDir()
	first := runEval(t, data, out, fixed(judge.Random{Seed: 3}))
	second := runEval(t, data, out, fixed(judge.Random{Seed: 3}))
	for i, r := range second.Results {
		if r.Resumed != r.Leaves {
			t.Errorf("%s: %d of %d leaves resumed", r.ExampleID, r.Resumed, r.Leaves)
		}
		if r.Metrics.Overall != first.Results[i].Metrics.Overall {
			t.Errorf("%s: metrics changed on resume", r.ExampleID)
		}
	}
	examples, _ := Discover(data, nil)
	_, err := Run(context.Background(), examples, Options{Out: out, NewGrader: fixed(judge.Random{Seed: 4})})
	if err == nil || !strings.Contains(err.Error(), "another rubric, submission or judge setting") {
		t.Errorf("resuming with another seed: %v", err)
	}
	var onDisk Result
	raw, err := os.ReadFile(filepath.Join(out, ResultsFile))
	if err != nil || json.Unmarshal(raw, &onDisk) != nil || len(onDisk.Results) != 2 {
		t.Errorf("results.json: %v", err)
	}
}

func TestSubmissionTarExtracted(t *testing.T) {
	data := makeData(t, map[string]*rubric.Node{"paper-b/0": exampleTrees()["paper-b/0"]})
	dir := filepath.Join(data, "paper-b", "0")
	f, _ := os.Create(filepath.Join(dir, SubmissionTar))
	if err := archive.WriteDir(f, filepath.Join(dir, SubmissionFolder)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.RemoveAll(filepath.Join(dir, SubmissionFolder))
	var seen string
	runEval(t, data, t.TempDir(), func(_ Example, sub string) (judge.Grader, func(), error) {
		b, err := os.ReadFile(filepath.Join(sub, "main.py"))
		seen = string(b)
		return judge.Dummy{}, nil, err
	})
	if seen != "print('hi')\n" {
		t.Errorf("the grader saw main.py = %q", seen)
	}
}

func TestMalformedExpectedNamesFile(t *testing.T) {
	data := makeData(t, exampleTrees())
	bad := filepath.Join(data, "paper-b", "0", filepath.FromSlash(ExpectedFile))
	for name, body := range map[string]string{
		"not json":    `{"id": "x", "requirements": `,
		"no scores":   `{"id": "x", "requirements": "r", "weight": 1, "task_category": "Code Development", "sub_tasks": []}`,
		"score 0.5":   `{"id": "x", "requirements": "r", "weight": 1, "score": 0.5, "valid_score": true, "task_category": "Code Development", "explanation": "", "judge_metadata": null, "sub_tasks": []}`,
		"wrong types": `{"id": 3, "requirements": "r", "weight": 1, "score": 1, "valid_score": true, "task_category": "Code Development", "sub_tasks": []}`,
	} {
		os.WriteFile(bad, []byte(body), 0o644)
		_, err := Discover(data, nil)
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: error %v does not name %s", name, err, bad)
		}
	}
	if _, err := Discover(data, []string{"paper-a/../x"}); err == nil {
		t.Error("an example id with .. was accepted")
	}
	if _, err := Discover(data, []string{"paper-a/9"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing example: %v", err)
	}
}

// TestFixturesDummy grades the five official human trees with the dummy judge. Every
// prediction is 1, so accuracy is the share p of human ones, and the macro figures are
// P = p/2, R = 1/2, F1 = (2p/(1+p))/2; p is counted here straight from the JSON.
func TestFixturesDummy(t *testing.T) {
	data := fixtures.Path(t, "paperbench", "judge_eval")
	res := runEval(t, data, t.TempDir(), fixed(judge.Dummy{}))
	ones, n := 0, 0
	for _, r := range res.Results {
		o, c := countHuman(t, filepath.Join(data, filepath.FromSlash(r.ExampleID), filepath.FromSlash(ExpectedFile)))
		ones, n = ones+o, n+c
	}
	if n != 2693 { // the JudgeEval leaf count of the paper's appendix
		t.Errorf("%d pooled leaves, want 2693", n)
	}
	p := float64(ones) / float64(n)
	checkMetrics(t, "fixtures", res.AggregateMetrics.Overall, want{p, p / 2, 0.5, p / (1 + p)}, n)
}

// countHuman counts the leaves of a tree and those with score 1, reading the JSON
// generically.
func countHuman(t *testing.T, path string) (ones, leaves int) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var node map[string]any
	json.Unmarshal(raw, &node)
	var visit func(map[string]any)
	visit = func(m map[string]any) {
		subs, _ := m["sub_tasks"].([]any)
		if len(subs) == 0 {
			leaves++
			if m["score"] == 1.0 {
				ones++
			}
		}
		for _, s := range subs {
			visit(s.(map[string]any))
		}
	}
	visit(node)
	return ones, leaves
}

func TestComputeEmpty(t *testing.T) {
	m := Compute(nil)
	if !math.IsNaN(float64(m.F1)) {
		t.Errorf("F1 of nothing = %v", m.F1)
	}
	b, _ := json.Marshal(m)
	if !strings.Contains(string(b), `"f1":null`) {
		t.Errorf("JSON %s", b)
	}
}
