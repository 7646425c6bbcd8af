package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/rubric"
)

// fakeJudgeEndpoint answers chat completions as a judge that finds every criterion met:
// it ranks flag.txt, grades 1 and parses the grade.
func fakeJudgeEndpoint(t *testing.T, calls *atomic.Int64) string {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		content := "# Expectations\nA flag.\n# Reality\nThe flag.\n# Score\n1"
		switch {
		case strings.Contains(string(body), "You help grade"):
			content = "flag.txt"
		case strings.Contains(string(body), "You convert a grader"):
			content = `{"valid_score": true, "score": 1, "explanation": "met"}`
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "model": "o3-mini",
			"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": content}}},
			"usage":   map[string]any{"prompt_tokens": 2000, "completion_tokens": 500}})
	}))
	t.Cleanup(server.Close)
	return server.URL + "/v1"
}

// flagPaper makes a paper folder whose rubric is the hex_flags unit fixture.
func flagPaper(t *testing.T) string {
	dir := t.TempDir()
	data, err := os.ReadFile(fixtures.Path(t, "paperbench", "unit_fixtures", "rubrics", "hex_flags.json"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"rubric.json": string(data), "config.yaml": "id: flags\ntitle: Flags\n",
		"blacklist.txt": "none\n", "paper.md": "# Flags\n\nHex flags.\n", "addendum.md": "Flags are lower case.\n"}
	for name, content := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	return dir
}

func TestGradeSimpleAgainstEndpoint(t *testing.T) {
	var calls atomic.Int64
	url := fakeJudgeEndpoint(t, &calls)
	paper, sub := flagPaper(t), fixtures.Path(t, "paperbench", "unit_fixtures", "submissions", "hex_flags", "gold")
	out := filepath.Join(t.TempDir(), "graded.json")
	args := []string{"grade", "--paper", paper, "--submission", sub, "--out", out, "--base-url", url,
		"--api-key", "k", "--model", "o3-mini", "--concurrency", "3", "--price-in", "2", "--price-out", "10", "--max-retries", "1"}
	text, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	// 5 leaves × 3 calls × (2000 in, 500 out) at $2 and $10 per million tokens.
	for _, want := range []string{out + ": score 1 (simple judge), 5 leaves, 0 invalid, 0 resumed",
		"tokens: 30000 in, 7500 out; cost $0.1350"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	graded, err := rubric.Load(out)
	if err != nil || graded.Grade == nil || graded.Grade.Score != 1 || calls.Load() != 15 {
		t.Fatalf("graded tree %v, %d calls", err, calls.Load())
	}
	text, err = runCLI(t, args...)
	if err != nil || !strings.Contains(text, "5 resumed") || calls.Load() != 15 {
		t.Errorf("second run: %v, %d calls\n%s", err, calls.Load(), text)
	}
}

func TestGradeDummyRandomAndErrors(t *testing.T) {
	rubricFile := fixtures.Path(t, "paperbench", "papers", "rice", "rubric.json")
	sub, out := t.TempDir(), filepath.Join(t.TempDir(), "g.json")
	text, err := runCLI(t, "grade", "--rubric", rubricFile, "--submission", sub, "--out", out, "--judge", "dummy", "--json")
	var summary gradeSummary
	if err != nil || json.Unmarshal([]byte(text), &summary) != nil || summary.Score != 1 || summary.Leaves != 361 {
		t.Errorf("dummy: %v\n%s", err, text)
	}
	text, err = runCLI(t, "grade", "--rubric", rubricFile, "--submission", sub, "--out", out+"2", "--judge", "random",
		"--seed", "3", "--code-only")
	if err != nil || !strings.Contains(text, "(random judge), 178 leaves, 0 invalid") {
		t.Errorf("random code-only: %v\n%s", err, text)
	}
	for args, want := range map[string]string{
		"--judge simple":       "needs --paper",
		"--judge oracle":       `unknown judge "oracle"`,
		"--submission /nope/x": "no such file",
	} {
		all := append([]string{"grade", "--rubric", rubricFile, "--submission", sub, "--out", out + "3"}, strings.Fields(args)...)
		if _, err := runCLI(t, all...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
}

// TestGradeExecutedSubmission reproduces a submission in a real sandbox and grades what it
// left, given as the reproduce --out folder and as a tar.gz of the executed submission: the
// judge must see reproduce.sh and the reproduce.log the run wrote at the submission's root, and
// the files the run created.
func TestGradeExecutedSubmission(t *testing.T) {
	sub := t.TempDir()
	os.WriteFile(filepath.Join(sub, "reproduce.sh"), []byte("echo SCRIPT-MARK >/dev/null\necho ran-fine-7\necho RESULT-42 > result.txt\n"), 0o644)
	reproduced := filepath.Join(t.TempDir(), "repro")
	if out, err := runCLI(t, "reproduce", "--submission", sub, "--out", reproduced, "--sandbox-dir", t.TempDir(), "--timeout", "1m"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	exe := filepath.Join(reproduced, "submission_executed")
	for _, name := range []string{"reproduce.log", "reproduce.log.creation_time", "result.txt"} {
		if _, err := os.Stat(filepath.Join(exe, name)); err != nil {
			t.Fatalf("the executed submission lacks %s: %v", name, err)
		}
	}
	tgz := filepath.Join(t.TempDir(), "executed.tgz")
	if out, err := exec.Command("tar", "czf", tgz, "-C", reproduced, "submission_executed").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	paper := t.TempDir()
	files := map[string]string{"config.yaml": "id: exe\ntitle: Exe\n", "blacklist.txt": "none\n",
		"paper.md": "# Exe\n\nThe run prints ran-fine and writes result.txt.\n",
		"rubric.json": `{"id": "root", "requirements": "The run", "weight": 1, "sub_tasks": [
			{"id": "a", "requirements": "reproduce.sh prints ran-fine", "weight": 1, "sub_tasks": [], "task_category": "Code Execution"},
			{"id": "b", "requirements": "result.txt holds RESULT-42", "weight": 1, "sub_tasks": [], "task_category": "Result Analysis"}]}`}
	for name, content := range files {
		os.WriteFile(filepath.Join(paper, name), []byte(content), 0o644)
	}
	for _, given := range []string{reproduced, tgz} {
		var bodies []string
		var mu sync.Mutex
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies = append(bodies, string(body))
			mu.Unlock()
			content := "# Expectations\nx\n# Reality\ny\n# Score\n1"
			switch {
			case strings.Contains(string(body), "You help grade"):
				content = "result.txt"
			case strings.Contains(string(body), "You convert a grader"):
				content = `{"valid_score": true, "score": 1, "explanation": "met"}`
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "model": "o3-mini",
				"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": content}}},
				"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5}})
		}))
		out := filepath.Join(t.TempDir(), "graded.json")
		if text, err := runCLI(t, "grade", "--paper", paper, "--submission", given, "--out", out, "--base-url", server.URL+"/v1",
			"--api-key", "k", "--model", "o3-mini", "--max-retries", "0"); err != nil {
			t.Fatalf("grade --submission %s: %v\n%s", given, err, text)
		}
		server.Close()
		all := strings.Join(bodies, "\n")
		for _, want := range []string{"SCRIPT-MARK", "ran-fine-7", "RESULT-42"} {
			if !strings.Contains(all, want) {
				t.Errorf("grade --submission %s: the judge never saw %q (reproduce.sh, reproduce.log, result.txt)", given, want)
			}
		}
	}
}
