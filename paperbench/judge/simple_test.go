package judge

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/submission"
)

func loadUnitRubric(t testing.TB, name string) *rubric.Node {
	t.Helper()
	root, err := rubric.Load(fixtures.Path(t, "paperbench", "unit_fixtures", "rubrics", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// goldSubmission returns a fixture's gold submission folder; "empty" is made on the fly
// (git cannot store an empty folder).
func goldSubmission(t testing.TB, task string) string {
	if task == "empty" {
		return t.TempDir()
	}
	return fixtures.Path(t, "paperbench", "unit_fixtures", "submissions", task, "gold")
}

// copySubmission copies a gold submission into a temporary folder and applies edits
// (path → content; "" removes the file).
func copySubmission(t testing.TB, task string, edits map[string]string) string {
	src, dst := goldSubmission(t, task), t.TempDir()
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755)
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel, content := range edits {
		p := filepath.Join(dst, rel)
		if content == "" {
			os.Remove(p)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	return dst
}

func newSimple(t testing.TB, client *llm.Client, dir string, codeOnly bool) *Simple {
	t.Helper()
	sub, err := submission.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	s, err := NewSimple(SimpleConfig{Client: client, Paper: "# A paper about flags\n\nFlags are hex strings.\n",
		Submission: sub, CodeOnly: codeOnly})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gradeWith grades rubric name against dir with a judge that reads the server.
func gradeWith(t testing.TB, server *chatServer, name, dir string) *Report {
	t.Helper()
	report, err := Run(context.Background(), loadUnitRubric(t, name), newSimple(t, server.client("o3-mini"), dir, false), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return report
}

// TestUnitFixtures grades the official unit-test rubrics and gold submissions with a
// scripted model that reads the files it is shown, and expects the upstream outcomes:
// trivial 1, impossible 0, the empty submission 1, every flag rubric 1 on its gold
// submission; tampered submissions lose exactly the leaves they break.
func TestUnitFixtures(t *testing.T) {
	server := newChatServer(t, reader)
	for _, task := range []string{"hex_flag", "hex_flags", "nested_hex_flags", "empty"} {
		if got := gradeWith(t, server, "trivial", goldSubmission(t, task)).Score; got != 1 {
			t.Errorf("trivial on %s: score %v, want 1", task, got)
		}
		if got := gradeWith(t, server, "impossible", goldSubmission(t, task)).Score; got != 0 {
			t.Errorf("impossible on %s: score %v, want 0", task, got)
		}
	}
	cases := []struct {
		rubric, task string
		edits        map[string]string
		want         float64
	}{
		{"empty", "empty", nil, 1},
		{"empty", "hex_flag", nil, 0},
		{"hex_flag", "hex_flag", nil, 1},
		{"hex_flag", "hex_flag", map[string]string{"flag.txt": "0xdeadbeef"}, 0},
		{"hex_flags", "hex_flags", nil, 1},
		{"hex_flags", "hex_flags", map[string]string{"2.txt": "0x00000000"}, 0.8},
		{"hex_flags", "hex_flags", map[string]string{"4.txt": "", "5.txt": ""}, 0.6},
		{"nested_hex_flags", "nested_hex_flags", nil, 1},
		// root/2 ("directory", weight 1 of 3) has the flag 1/2 and the nested part 1/2;
		// breaking the deepest flag halves the nested part: 1/3·(1/2 + 1/2·1/2) off.
		{"nested_hex_flags", "nested_hex_flags",
			map[string]string{"directory/nested_directory/other_nested_directory/flag.txt": "0x0"}, 1 - 1.0/3*(1-(0.5+0.5*0.5))},
		{"hex_flag_context", "hex_flag", nil, 1},
		{"hex_flag_context", "hex_flag", map[string]string{"flag.txt": "0x1"}, 0},
	}
	for _, c := range cases {
		dir := goldSubmission(t, c.task)
		if c.edits != nil {
			dir = copySubmission(t, c.task, c.edits)
		}
		report := gradeWith(t, server, c.rubric, dir)
		if report.Score != c.want || report.InvalidLeaves != 0 {
			t.Errorf("%s on %s %v: score %v with %d invalid leaves, want %v", c.rubric, c.task, c.edits,
				report.Score, report.InvalidLeaves, c.want)
		}
	}
	// Upstream's hex_flag_context check: the nested node (sharing the root's id) scores 1.
	report := gradeWith(t, server, "hex_flag_context", goldSubmission(t, "hex_flag"))
	if nested, _ := report.Tree.At(rubric.Path{0}); nested.Grade.Score != 1 || !nested.Grade.Valid {
		t.Errorf("hex_flag_context nested node graded %+v", nested.Grade)
	}
}

// TestLeafMetadataAndMessages checks what a graded leaf records and what the judge sends.
func TestLeafMetadataAndMessages(t *testing.T) {
	var grading []*chatRequest
	server := newChatServer(t, func(n int64, req *chatRequest) reply {
		if req.kind() == "grade" {
			grading = append(grading, req)
		}
		return reader(n, req)
	})
	dir := copySubmission(t, "hex_flag", map[string]string{"reproduce.sh": "echo run\n", "reproduce.log": "step 1\nstep 2\nstep 3\ndone\n"})
	report, err := Run(context.Background(), loadUnitRubric(t, "hex_flag"), newSimple(t, server.client("o3-mini"), dir, false), Options{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	meta := string(report.Tree.Grade.JudgeMetadata)
	for _, want := range []string{`"full_judge_response":"# Expectations`, `"token_usage":{"o3-mini":{"in":3000,"out":300}}`,
		`"files":["flag.txt"]`, `"cost_usd":0.00462`} {
		if !strings.Contains(meta, want) {
			t.Errorf("metadata %s lacks %s", meta, want)
		}
	}
	if got := report.Usage["o3-mini"]; got.In != 3000 || got.Out != 300 || report.Cost != 0.00462 {
		t.Errorf("usage %+v, cost %v", report.Usage, report.Cost)
	}
	if len(grading) != 1 {
		t.Fatalf("%d grading calls", len(grading))
	}
	req := grading[0]
	if got := req.tagged("reproduce.sh"); got != "echo run\n" {
		t.Errorf("reproduce.sh sent as %q", got)
	}
	if req.tagged("reproduce.log") != "" {
		t.Error("a Code Development leaf was shown reproduce.log")
	}
	if got := req.tagged("addendum"); got != noAddendum {
		t.Errorf("addendum %q", got)
	}
	codeOnly := newSimple(t, server.client("o3-mini"), dir, true)
	msgs := codeOnly.gradingMessages(report.Tree, "", nil)
	for _, m := range msgs {
		if strings.Contains(m.Content, "<reproduce.sh>") {
			t.Error("code-only grading shows reproduce.sh")
		}
	}
	if !strings.Contains(msgs[0].Content, "will not be executed") {
		t.Error("code-only system prompt")
	}
}

// TestResultAnalysisSeesOnlyTouchedFiles checks the reproduction's start time, the files
// Result Analysis leaves may read, and the zero given without a call when the run touched
// nothing.
func TestResultAnalysisSeesOnlyTouchedFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, unix int64) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
		tm := timeUnix(unix)
		os.Chtimes(p, tm, tm)
	}
	write("README.md", "docs", 100)
	write("train.py", "code", 100)
	write("old.csv", "a,b", 100)
	write("results/new.csv", "acc,0.9", 300)
	write(".venv/lib/x.py", "skipped", 300)
	write("reproduce.log", "ok", 400)
	write("reproduce.log.creation_time", "200\n", 200)
	server := newChatServer(t, reader)
	s := newSimple(t, server.client("gpt-4o"), dir, false)
	if got := s.ReproductionStarted().Unix(); got != 200 {
		t.Errorf("reproduction started at %d, want 200", got)
	}
	want := map[string]string{
		rubric.CodeDevelopment: "README.md train.py",
		rubric.CodeExecution:   "README.md train.py",
		rubric.ResultAnalysis:  "README.md results/new.csv",
		rubric.Subtree:         "README.md results/new.csv train.py",
	}
	for category, files := range want {
		if got := strings.Join(s.views[category].paths, " "); got != files {
			t.Errorf("%s sees %q, want %q", category, got, files)
		}
	}
	if !s.touched {
		t.Error("results/new.csv was written by the run, yet nothing counts as touched")
	}
	os.Remove(filepath.Join(dir, "results/new.csv"))
	untouched := newSimple(t, server.client("gpt-4o"), dir, false)
	leaf := &rubric.Node{ID: "ra", Requirements: "Accuracy is 0.9", Weight: 1, TaskCategory: rubric.ResultAnalysis}
	before := server.calls.Load()
	r := untouched.GradeLeaf(context.Background(), leaf, rubric.Path{})
	if !r.Valid || r.Score != 0 || r.Explanation != untouchedExplains || server.calls.Load() != before {
		t.Errorf("untouched Result Analysis leaf: %+v after %d calls", r, server.calls.Load()-before)
	}
}

func timeUnix(sec int64) time.Time { return time.Unix(sec, 0) }
