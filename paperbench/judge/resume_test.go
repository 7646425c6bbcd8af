package judge

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/rubric"
)

// steadyModel ranks main.py, grades by the parity of the criterion's length, and parses.
func steadyModel(n int64, req *chatRequest) reply {
	switch req.kind() {
	case "rank":
		return reply{content: "main.py\nREADME.md"}
	case "parse":
		return reader(n, req)
	}
	return reply{content: "# Expectations\nx\n# Reality\ny\n# Score\n" + boolScore(len(req.tagged("criterion"))%2 == 0)}
}

func paperRubric(t testing.TB, paper string) *rubric.Node {
	root, err := rubric.Load(fixtures.Path(t, "paperbench", "papers", paper, "rubric.json"))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func smallSubmission(t testing.TB) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.py"), []byte("print('hello')\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Reproduction\n"), 0o644)
	return dir
}

// modelLeaves counts the leaves that need the model (Result Analysis leaves are zero
// without a call when the reproduction touched nothing).
func modelLeaves(root *rubric.Node, skip map[string]bool) int {
	n := 0
	for _, p := range rubric.Leaves(root) {
		node, _ := root.At(p)
		if node.TaskCategory != rubric.ResultAnalysis && !skip[p.String()] {
			n++
		}
	}
	return n
}

func writeOutput(t *testing.T, report *Report, path string) []byte {
	t.Helper()
	if err := rubric.WriteFile(path, report.Tree); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestResume interrupts a grading midway, resumes it from the journal (whose last line a
// crash cut short), and checks that no journaled leaf is requested again and that the
// result equals an uninterrupted run's byte for byte.
func TestResume(t *testing.T) {
	root := paperRubric(t, "mechanistic-understanding")
	server := newChatServer(t, steadyModel)
	dir, out := smallSubmission(t), t.TempDir()
	judge := newSimple(t, server.client("o3-mini"), dir, false)

	full, err := Run(context.Background(), root, judge, Options{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	want := writeOutput(t, full, filepath.Join(out, "full.json"))
	if got, need := server.calls.Load(), int64(3*modelLeaves(root, nil)); got != need {
		t.Fatalf("uninterrupted run made %d calls, want %d", got, need)
	}

	journal := JournalPath(filepath.Join(out, "graded.json"))
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Run(ctx, root, judge, Options{Concurrency: 8, Journal: journal,
		OnLeaf: func(_ rubric.Path, _ LeafResult, done, _ int) {
			if done == 30 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v", err)
	}
	f, _ := os.OpenFile(journal, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"path":"root/0/0","id":"cut sh`) // a crash in the middle of a line
	f.Close()
	j, entries, err := OpenJournal(journal, fingerprint(root, judge))
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	journaled := map[string]bool{}
	for p := range entries {
		journaled[p] = true
	}
	if len(entries) < 30 || len(entries) >= full.Leaves {
		t.Fatalf("the interrupted run journaled %d of %d leaves", len(entries), full.Leaves)
	}

	// A fresh endpoint counts the resumed run's calls alone: requests the cancelled run had
	// already sent may still reach the first server after Run returned.
	server2 := newChatServer(t, steadyModel)
	judge2 := newSimple(t, server2.client("o3-mini"), dir, false)
	resumed, err := Run(context.Background(), root, judge2, Options{Concurrency: 8, Journal: journal})
	if err != nil {
		t.Fatal(err)
	}
	if got, need := server2.calls.Load(), int64(3*modelLeaves(root, journaled)); got != need {
		t.Errorf("resumed run made %d calls, want %d (3 per leaf not journaled)", got, need)
	}
	if resumed.Resumed != len(entries) || resumed.Resumed+resumed.Graded != full.Leaves {
		t.Errorf("resumed %d, graded %d, journal %d, leaves %d", resumed.Resumed, resumed.Graded, len(entries), full.Leaves)
	}
	if got := writeOutput(t, resumed, filepath.Join(out, "graded.json")); !bytes.Equal(got, want) {
		t.Error("the resumed grading differs from the uninterrupted one")
	}
	if resumed.Usage.Total() != full.Usage.Total() || resumed.Cost != full.Cost {
		t.Errorf("usage %v cost %v, uninterrupted %v %v", resumed.Usage, resumed.Cost, full.Usage, full.Cost)
	}

	server.calls.Store(0)
	again, err := Run(context.Background(), root, judge, Options{Journal: journal})
	if err != nil || server.calls.Load() != 0 || again.Resumed != full.Leaves {
		t.Errorf("complete journal: %v, %d calls, %d resumed", err, server.calls.Load(), again.Resumed)
	}
	other := newSimple(t, server.client("gpt-4o"), dir, false)
	if _, err := Run(context.Background(), root, other, Options{Journal: journal}); err == nil ||
		!strings.Contains(err.Error(), "written for another") {
		t.Errorf("a journal of another model was accepted: %v", err)
	}
}

// TestResumeRegradesEndpointFailures checks that a leaf that failed because of the
// endpoint is graded again by the next run, and only that leaf.
func TestResumeRegradesEndpointFailures(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	server := newChatServer(t, func(n int64, req *chatRequest) reply {
		if failing.Load() && strings.Contains(req.tagged("criterion"), "'3.txt'") {
			return reply{status: 503, raw: `{"error": {"message": "overloaded"}}`}
		}
		return reader(n, req)
	})
	root := loadUnitRubric(t, "hex_flags")
	judge := newSimple(t, server.client("o3-mini"), goldSubmission(t, "hex_flags"), false)
	journal := filepath.Join(t.TempDir(), "j.jsonl")
	first, err := Run(context.Background(), root, judge, Options{Journal: journal})
	if err != nil {
		t.Fatal(err)
	}
	if first.InvalidLeaves != 1 || first.Score != 0.8 {
		t.Fatalf("first run: %d invalid, score %v", first.InvalidLeaves, first.Score)
	}
	failing.Store(false)
	server.calls.Store(0)
	second, err := Run(context.Background(), root, judge, Options{Journal: journal})
	if err != nil {
		t.Fatal(err)
	}
	if second.InvalidLeaves != 0 || second.Score != 1 || second.Resumed != 4 || server.calls.Load() != 3 {
		t.Errorf("second run: %d invalid, score %v, %d resumed, %d calls", second.InvalidLeaves, second.Score,
			second.Resumed, server.calls.Load())
	}
}

// TestDummyAndRandom checks the two judges without a model.
func TestDummyAndRandom(t *testing.T) {
	root := paperRubric(t, "rice")
	dummy, err := Run(context.Background(), root, Dummy{}, Options{})
	if err != nil || dummy.Score != 1 || dummy.InvalidLeaves != 0 {
		t.Fatalf("dummy: %v, score %v", err, dummy.Score)
	}
	a, _ := Run(context.Background(), root, Random{Seed: 7}, Options{Concurrency: 3})
	b, _ := Run(context.Background(), root, Random{Seed: 7}, Options{Concurrency: 50})
	c, _ := Run(context.Background(), root, Random{Seed: 8}, Options{})
	if a.Score != b.Score || a.Score == c.Score {
		t.Errorf("random scores: seed 7 gives %v and %v, seed 8 %v", a.Score, b.Score, c.Score)
	}
	ones := 0
	for _, p := range rubric.Leaves(a.Tree) {
		node, _ := a.Tree.At(p)
		ones += int(node.Grade.Score)
	}
	if n := a.Leaves; ones < n*4/10 || ones > n*6/10 {
		t.Errorf("random judge gave %d of %d leaves a 1", ones, n)
	}
}
