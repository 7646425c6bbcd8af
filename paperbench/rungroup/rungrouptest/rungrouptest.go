// Package rungrouptest writes run group folders for tests, screenshots and demos: real
// rubrics graded by a seeded random judge, with agent usage, transcripts and reproduction
// records, and the states a live run leaves (a seed still running, a malformed file, a
// failed reproduction, invalid leaves).
package rungrouptest

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"

	"github.com/latentlab/latent/paperbench/judge"
	"github.com/latentlab/latent/paperbench/rubric"
)

// Demo papers: two small official rubrics.
const (
	PaperA = "semantic-self-consistency" // seeds 0 1 2 graded; seed 1's reproduction failed; seed 2's usage.json malformed
	PaperB = "stochastic-interpolants"   // seeds 0 1 graded; seed 2 running; seed 3's graded.json malformed
)

// flaky grades like judge.Random but fails every 23rd leaf, as an endpoint would.
type flaky struct{ judge.Random }

func (f flaky) GradeLeaf(ctx context.Context, root *rubric.Node, p rubric.Path) judge.LeafResult {
	r := f.Random.GradeLeaf(ctx, root, p)
	h := fnv.New32a()
	fmt.Fprintf(h, "%d %s", f.Seed, p)
	if h.Sum32()%23 == 0 {
		return judge.LeafResult{Verdict: judge.Verdict{Explanation: "grading failed: the endpoint returned 500 three times"}}
	}
	r.Explanation = fmt.Sprintf("Seeded random verdict %v for %q.", r.Score, p.String())
	return r
}

// Grade grades rubric file with the seeded flaky random judge (judge "dummy" grades all 1).
func Grade(rubricPath string, seed uint64, dummy bool) (*rubric.Node, error) {
	root, err := rubric.Load(rubricPath)
	if err != nil {
		return nil, err
	}
	var g judge.Grader = flaky{judge.Random{Seed: seed}}
	if dummy {
		g = judge.Dummy{}
	}
	rep, err := judge.Run(context.Background(), root, g, judge.Options{Concurrency: 4})
	if err != nil {
		return nil, err
	}
	return rep.Tree, nil
}

// Make writes the demo group "demo" under out, with the rubrics from papers (a folder of
// paper folders holding rubric.json), and returns the group folder.
func Make(out, papers string) (string, error) {
	group := filepath.Join(out, "demo")
	type seed struct {
		paper, name string
		fn          func(dir string) error
	}
	var steps []seed
	for i, name := range []string{"0", "1", "2"} {
		steps = append(steps, seed{PaperA, name, graded(papers, PaperA, uint64(i), 0.4+0.3*float64(i), 2.5+float64(i))})
	}
	for i, name := range []string{"0", "1"} {
		steps = append(steps, seed{PaperB, name, graded(papers, PaperB, uint64(10+i), 1.1+0.5*float64(i), 4+float64(i))})
	}
	steps = append(steps,
		seed{PaperB, "2", func(dir string) error {
			return write(dir, "status.json", `{"status": "running", "created_at": "2026-12-03T08:00:00Z"}`)
		}},
		seed{PaperB, "3", func(dir string) error { return write(dir, "graded.json", `{"id": "root", "score": 0.5, `) }},
	)
	for _, s := range steps {
		dir := filepath.Join(group, s.paper, s.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := s.fn(dir); err != nil {
			return "", fmt.Errorf("rungrouptest: %s/%s: %w", s.paper, s.name, err)
		}
	}
	// The broken bits.
	if err := write(filepath.Join(group, PaperA, "2"), "agent/usage.json", `{"cost_usd": "lots"}`); err != nil {
		return "", err
	}
	return group, write(filepath.Join(group, PaperA, "1"), "reproduce/manifest.json", reproduction(1, false))
}

// graded returns the writer of a graded seed with usage, transcript and reproduction.
func graded(papers, paper string, seed uint64, cost, hours float64) func(string) error {
	return func(dir string) error {
		tree, err := Grade(filepath.Join(papers, paper, "rubric.json"), seed, false)
		if err != nil {
			return err
		}
		if err := rubric.WriteFile(filepath.Join(dir, "graded.json"), tree); err != nil {
			return err
		}
		usage := fmt.Sprintf(`{"cost_usd": %g, "working_seconds": %g, "token_usage": {"gpt-4.1": {"in": %d, "out": %d}}}`,
			cost, hours*3600, 100000+int(seed)*1000, 20000)
		files := map[string]string{
			"agent/usage.json":        usage,
			"agent/transcript.jsonl":  Transcript(paper),
			"reproduce/manifest.json": reproduction(0, false),
			"reproduce/reproduce.log": "+ python train.py\nepoch 1 loss 0.93\nepoch 2 loss 0.51\nwrote results/table1.csv\n",
			"status.json":             `{"status": "done"}`,
		}
		for name, body := range files {
			if err := write(dir, name, body); err != nil {
				return err
			}
		}
		return nil
	}
}

func reproduction(exit int, timedOut bool) string {
	rec := map[string]any{
		"attempts":     []map[string]any{{"number": 1, "exit_code": exit, "timed_out": timedOut, "duration_s": 812.5, "log_bytes": 96}},
		"kept_attempt": 1,
		"manifest": []map[string]any{
			{"path": "reproduce.sh", "size": 120, "sha256": "ab", "state": "unchanged", "kept": true},
			{"path": "results/table1.csv", "size": 2048, "sha256": "cd", "state": "created", "kept": true},
		},
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	return string(b)
}

// Transcript is a short agent transcript in chat-completions messages, with tool calls.
func Transcript(paper string) string {
	lines := []map[string]any{
		{"role": "system", "content": "You are an agent reproducing a paper."},
		{"role": "user", "content": "Reproduce the paper in /home/paper (" + paper + ")."},
		{"role": "assistant", "content": "I will look at the paper first.", "tool_calls": []map[string]any{
			{"id": "call_1", "type": "function", "function": map[string]any{"name": "bash", "arguments": `{"cmd": "ls /home/paper"}`}}}},
		{"role": "tool", "tool_call_id": "call_1", "content": "addendum.md\npaper.md\n"},
		{"role": "assistant", "content": "", "tool_calls": []map[string]any{
			{"id": "call_2", "type": "function", "function": map[string]any{"name": "python", "arguments": `{"code": "print(2 + 2)"}`}}}},
		{"role": "tool", "tool_call_id": "call_2", "content": "4\n"},
		{"role": "assistant", "content": "Done.", "tool_calls": []map[string]any{
			{"id": "call_3", "type": "function", "function": map[string]any{"name": "submit", "arguments": `{"end_message": "reproduce.sh written"}`}}}},
	}
	var out []byte
	for _, l := range lines {
		b, _ := json.Marshal(l)
		out = append(append(out, b...), '\n')
	}
	return string(out) + "{not json\n"
}

func write(dir, name, body string) error {
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(body), 0o644)
}
