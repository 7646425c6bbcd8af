package rungroup_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/rungroup"
	"github.com/latentlab/latent/paperbench/rungroup/rungrouptest"
)

func demo(t *testing.T) *rungroup.Group {
	t.Helper()
	dir, err := rungrouptest.Make(t.TempDir(), fixtures.Path(t, "paperbench", "papers"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := rungroup.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func seedOf(t *testing.T, g *rungroup.Group, paper, name string) *rungroup.Seed {
	for _, p := range g.Papers {
		for _, s := range p.Seeds {
			if p.ID == paper && s.Name == name {
				return s
			}
		}
	}
	t.Fatalf("no seed %s/%s", paper, name)
	return nil
}

func TestLoadStates(t *testing.T) {
	g := demo(t)
	a, b := rungrouptest.PaperA, rungrouptest.PaperB
	if s := seedOf(t, g, b, "2"); s.State != rungroup.Pending || s.Status != "running" {
		t.Errorf("running seed: state %s status %q", s.State, s.Status)
	}
	if s := seedOf(t, g, b, "3"); s.State != rungroup.Malformed {
		t.Errorf("malformed seed: state %s", s.State)
	}
	if s := seedOf(t, g, a, "1"); s.Repro == nil || !s.Repro.Failed() {
		t.Errorf("seed a/1: reproduction %+v, want failed", s.Repro)
	}
	if s := seedOf(t, g, a, "0"); s.Repro.Failed() || s.Usage == nil || *s.Usage.CostUSD != 0.4 ||
		s.Files["transcript"] != "agent/transcript.jsonl" || s.Invalid == 0 || s.Leaves != 77 {
		t.Errorf("seed a/0: %+v", s)
	}
	if s := seedOf(t, g, a, "2"); s.State != rungroup.Graded || s.Usage != nil {
		t.Errorf("seed a/2 (malformed usage.json): state %s usage %v", s.State, s.Usage)
	}
	var files []string
	for _, p := range g.Problems {
		files = append(files, p.File)
	}
	if want := []string{a + "/2/agent/usage.json", b + "/3/graded.json"}; !slices.Equal(files, want) {
		t.Errorf("problems %v, want %v", g.Problems, want)
	}
}

func TestSummaryARS(t *testing.T) {
	g := demo(t)
	s := rungroup.Summarize(g)
	if !slices.Equal(s.Complete, []string{"0", "1"}) || !slices.Equal(s.Incomplete, []string{"2", "3"}) {
		t.Fatalf("complete %v incomplete %v", s.Complete, s.Incomplete)
	}
	a, b := rungrouptest.PaperA, rungrouptest.PaperB
	s0 := (seedOf(t, g, a, "0").Score() + seedOf(t, g, b, "0").Score()) / 2
	s1 := (seedOf(t, g, a, "1").Score() + seedOf(t, g, b, "1").Score()) / 2
	mean := (s0 + s1) / 2
	se := math.Abs(s0-s1) / 2 // two values: sd = |x−y|/√2, over √2
	if math.Abs(s.ARS.Mean-mean) > 1e-12 || math.Abs(s.ARS.SE-se) > 1e-12 || s.ARS.N != 2 {
		t.Errorf("ARS %+v, want %v ± %v", s.ARS, mean, se)
	}
	if s.Papers[0].Score.N != 3 || s.Papers[1].Score.N != 2 || s.Papers[1].Seeds != 4 {
		t.Errorf("papers %+v", s.Papers)
	}
	if s.Seeds[rungroup.Graded] != 5 || s.Seeds[rungroup.Pending] != 1 || s.Seeds[rungroup.Malformed] != 1 {
		t.Errorf("seed states %v", s.Seeds)
	}
	if len(s.Failed) == 0 || s.Failed[0].Failed != s.Failed[0].Graded {
		t.Errorf("most failed leaf %+v", s.Failed[:1])
	}
	if len(s.Points) != 5 || s.Points[0].CostUSD == nil || s.Points[2].CostUSD != nil {
		t.Errorf("points %+v", s.Points)
	}
}

// TestCategoryScoreMatchesCodeOnly checks the category reduction against the rubric
// package's CodeOnly transform followed by Score.
func TestCategoryScoreMatchesCodeOnly(t *testing.T) {
	papers := fixtures.Path(t, "paperbench", "papers")
	for _, paper := range []string{"rice", "lbcs", "bbox"} {
		tree, err := rungrouptest.Grade(filepath.Join(papers, paper, "rubric.json"), 5, false)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := rungroup.CategoryScore(tree, rubric.CodeDevelopment)
		reduced := rubric.CodeOnly(tree)
		want, _ := rubric.Score(reduced)
		if !ok || math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: Code Development score %v, want %v", paper, got, want)
		}
	}
	leaf := &rubric.Node{ID: "x", TaskCategory: rubric.CodeExecution, Weight: 1, Grade: &rubric.Grade{Score: 1, Valid: true}}
	if _, ok := rungroup.CategoryScore(leaf, rubric.ResultAnalysis); ok {
		t.Error("a tree without Result Analysis leaves has a Result Analysis score")
	}
}

func TestMeanSE(t *testing.T) {
	m := rungroup.NewMeanSE([]float64{0.2, 0.4, 0.9})
	// mean 0.5; deviations −0.3 −0.1 0.4: ss 0.26, sd √0.13, SE √(0.13/3).
	if math.Abs(m.Mean-0.5) > 1e-12 || math.Abs(m.SE-math.Sqrt(0.13/3)) > 1e-12 {
		t.Errorf("%+v", m)
	}
	if one := rungroup.NewMeanSE([]float64{1}); !math.IsNaN(one.SE) || one.Mean != 1 {
		t.Errorf("one value %+v", one)
	}
}

func TestLoadMissingGroup(t *testing.T) {
	if _, err := rungroup.Load(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("a missing group loaded")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "p", "0"), 0o755)
	os.WriteFile(filepath.Join(dir, "p", "0", "grade.json"), []byte(`{"paperbench_result": {"judge_output": null}}`), 0o644)
	g, err := rungroup.Load(dir)
	if err != nil || g.Papers[0].Seeds[0].State != rungroup.Malformed ||
		!strings.Contains(g.Problems[0].Err, "graded_task_tree") {
		t.Errorf("grade.json without a tree: %v %+v", err, g)
	}
}

func FuzzLoadSeed(f *testing.F) {
	f.Add([]byte(`{"paperbench_result": {"judge_output": {"graded_task_tree": {"id": "a", "requirements": "r", "weight": 1, "score": 1, "valid_score": true, "task_category": "Code Development", "explanation": "", "judge_metadata": null, "sub_tasks": []}}}}`),
		[]byte(`{"cost_usd": 1, "working_seconds": 2}`), []byte(`{"attempts": [{"number": 1}], "kept_attempt": 1}`))
	f.Add([]byte(`{`), []byte(`[]`), []byte(`null`))
	f.Fuzz(func(t *testing.T, grade, usage, manifest []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "agent"), 0o755)
		os.MkdirAll(filepath.Join(dir, "reproduce"), 0o755)
		os.WriteFile(filepath.Join(dir, "grade.json"), grade, 0o644)
		os.WriteFile(filepath.Join(dir, "agent", "usage.json"), usage, 0o644)
		os.WriteFile(filepath.Join(dir, "reproduce", "manifest.json"), manifest, 0o644)
		s := rungroup.LoadSeed(os.DirFS(dir), ".", "p", "0")
		if s.State == rungroup.Graded && s.Tree == nil {
			t.Fatal("graded without a tree")
		}
		if s.Repro != nil {
			s.Repro.Failed()
		}
	})
}
