package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/judgeeval"
	"github.com/latentlab/latent/paperbench/rubric"
)

// flagJudgeEval lays out one JudgeEval example for the flags paper of flagPaper: the
// hex_flags rubric graded by a "human" 1 1 1 0 0, with the gold submission. It returns
// the judge_eval folder, the papers folder and the example id.
func flagJudgeEval(t *testing.T) (data, papers, id string) {
	paper := flagPaper(t)
	root, err := rubric.Load(filepath.Join(paper, "rubric.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range rubric.Leaves(root) {
		n, _ := root.At(p)
		n.Grade = &rubric.Grade{Score: float64(1 - i/3), Valid: true, Explanation: "human"}
	}
	rubric.Score(root)
	data = t.TempDir()
	id = filepath.Base(paper) + "/0"
	dir := filepath.Join(data, filepath.FromSlash(id))
	os.MkdirAll(filepath.Join(dir, "grading"), 0o755)
	if err := rubric.WriteFile(filepath.Join(dir, "grading", "expected_result.json"), root); err != nil {
		t.Fatal(err)
	}
	gold := fixtures.Path(t, "paperbench", "unit_fixtures", "submissions", "hex_flags", "gold")
	if err := os.Symlink(gold, filepath.Join(dir, "submission")); err != nil {
		t.Fatal(err)
	}
	return data, filepath.Dir(paper), id
}

// TestJudgeEvalSimpleAgainstEndpoint: the fake judge grades every leaf 1 against the human
// 1 1 1 0 0: accuracy 3/5; label 1 P 3/5 R 1 F1 3/4, label 0 all 0; macro 0.3 0.5 0.375.
// 5 leaves × 3 calls × (2000 in, 500 out) at $2 and $10 per million tokens: $0.135.
func TestJudgeEvalSimpleAgainstEndpoint(t *testing.T) {
	var calls atomic.Int64
	url := fakeJudgeEndpoint(t, &calls)
	data, papers, id := flagJudgeEval(t)
	out := t.TempDir()
	args := []string{"judge-eval", "--data", data, "--papers", papers, "--out", out, "--base-url", url,
		"--api-key", "k", "--model", "o3-mini", "--price-in", "2", "--price-out", "10", "--max-retries", "1", "--json"}
	text, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	var res judgeeval.Result
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	m := res.AggregateMetrics.Overall
	if m.Accuracy != 0.6 || m.Precision != 0.3 || m.Recall != 0.5 || m.F1 != 0.375 || m.NumSamples != 5 {
		t.Errorf("metrics %+v", m)
	}
	if len(res.Results) != 1 || res.Results[0].ExampleID != id || res.Results[0].CostUSD < 0.135-1e-9 ||
		res.Results[0].CostUSD > 0.135+1e-9 || calls.Load() != 15 {
		t.Errorf("results %+v, %d calls", res.Results, calls.Load())
	}
	for _, name := range []string{`"accuracy"`, `"precision"`, `"recall"`, `"f1"`, `"num_positives"`,
		`"num_negatives"`, `"num_samples"`, `"stratified"`, `"Code Development"`} {
		if !strings.Contains(text, name) {
			t.Errorf("JSON lacks %s", name)
		}
	}
	text, err = runCLI(t, args[:len(args)-1]...) // resumed, as a table
	if err != nil || calls.Load() != 15 || !strings.Contains(text, "pooled") || !strings.Contains(text, "human 0") {
		t.Errorf("resume: %v, %d calls\n%s", err, calls.Load(), text)
	}
}

func TestJudgeEvalErrors(t *testing.T) {
	data, _, id := flagJudgeEval(t)
	bad := filepath.Join(data, filepath.FromSlash(id), "grading", "expected_result.json")
	out := t.TempDir()
	os.WriteFile(bad, []byte("{\"id\": \"x\",\n \"weight\": oops}"), 0o644)
	_, err := runCLI(t, "judge-eval", "--data", data, "--out", out, "--judge", "dummy")
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("malformed expected_result.json: %v", err)
	}
	for args, want := range map[string]string{
		"--judge oracle":               `unknown judge "oracle"`,
		"--judge dummy --examples a/b": "missing",
		"--judge dummy --examples a":   "not of the form paper/example",
	} {
		fresh, _, _ := flagJudgeEval(t)
		all := append([]string{"judge-eval", "--data", fresh, "--out", out}, strings.Fields(args)...)
		if _, err := runCLI(t, all...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
	if _, err := runCLI(t, "judge-eval", "--out", out); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("no --data: %v", err)
	}
}
