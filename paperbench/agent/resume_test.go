package agent

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/agent/agenttest"
	"github.com/latentlab/latent/paperbench/llm"
)

// TestCrashResume stops a rollout between model calls at several points (after a
// snapshot, with a torn transcript line) and resumes it each time: the result equals an
// uninterrupted run's, and no model call is made twice.
func TestCrashResume(t *testing.T) {
	clean := runStepped(t, nil)
	srv := agenttest.New(agenttest.Replicator(4))
	defer srv.Close()
	dir := t.TempDir()
	clk := &fakeClock{t: time.Unix(0, 0)}
	var st *Status
	for _, stop := range []int{3, 2, 4, 0} {
		ctx, cancel := context.WithCancel(context.Background())
		cfg := config(t, srv, dir)
		cfg.Clock = clk.now
		cfg.Client = &stepper{inner: cfg.Client, clock: clk, step: 10 * time.Minute, stopAfter: stop, cancel: cancel}
		var err error
		st, err = Run(ctx, cfg)
		cancel()
		if stop > 0 {
			if !errors.Is(err, context.Canceled) || st.Status != "interrupted" {
				t.Fatalf("stop after %d: %+v %v", stop, st, err)
			}
			f, _ := os.OpenFile(filepath.Join(dir, TranscriptFile), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"seq": 999, "type": "mess`) // a line torn by the crash
			f.Close()
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if st.Status != "done" || st.Reason != "submitted" || st.Resumes != 3 {
		t.Fatalf("status %+v", st)
	}
	if st.Calls != clean.Calls || int64(st.Calls) != srv.Calls() {
		t.Errorf("%d recorded calls, %d made, uninterrupted run %d", st.Calls, srv.Calls(), clean.Calls)
	}
	got := tarFiles(t, filepath.Join(dir, st.Final.File))
	want := tarFiles(t, filepath.Join(clean.dir, clean.Final.File))
	for _, name := range []string{"results.txt", "reproduce.sh", "count.py"} {
		if got[name] != want[name] || got[name] == "" {
			t.Errorf("%s: resumed %q, uninterrupted %q", name, got[name], want[name])
		}
	}
	events, err := ReadTranscript(filepath.Join(dir, TranscriptFile))
	if err != nil {
		t.Fatal(err)
	}
	notes, snaps := 0, 0
	for _, e := range events {
		if e.Message != nil && strings.HasPrefix(e.Message.Content, "Note: your computer was restarted") {
			notes++
		}
		if e.Snapshot != nil {
			snaps++
		}
	}
	// 10 minutes per call: snapshots at 0, 30 and 60 minutes and the final one.
	if notes != 3 || snaps < 3 {
		t.Errorf("%d restart notes, %d snapshots", notes, snaps)
	}
}

type steppedResult struct {
	*Status
	dir string
}

func runStepped(t *testing.T, _ any) steppedResult {
	srv := agenttest.New(agenttest.Replicator(4))
	defer srv.Close()
	dir := t.TempDir()
	clk := &fakeClock{t: time.Unix(0, 0)}
	cfg := config(t, srv, dir)
	cfg.Clock = clk.now
	cfg.Client = &stepper{inner: cfg.Client, clock: clk, step: 10 * time.Minute}
	st, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return steppedResult{st, dir}
}

// TestWorkingTimeExcludesRetryWaits: a call that spent 9 of its 10 minutes waiting between
// retries costs one minute of working time.
func TestWorkingTimeExcludesRetryWaits(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	calls := 0
	fake := completerFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		calls++
		clk.add(10 * time.Minute)
		return llm.Response{Waited: 9 * time.Minute, ToolCalls: []llm.ToolCall{{ID: "c", Function: llm.FunctionCall{Name: "bash", Arguments: `{"cmd":"true"}`}}}}, nil
	})
	cfg := Config{Client: fake, Paper: tinyPaper, Dir: t.TempDir(), Provider: provider(t), TimeLimit: 30 * time.Minute, Clock: clk.now}
	st, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Reason != "time_limit" || calls != 30 || st.WorkingS < 30*60 || st.WorkingS > 31*60 {
		t.Errorf("%d calls, status %+v", calls, st)
	}
}

type completerFunc func(ctx context.Context, req llm.Request) (llm.Response, error)

func (f completerFunc) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	return f(ctx, req)
}

// TestContextOverflowPruning: a server that refuses prompts over a size makes the agent
// drop its oldest turns; the system and first user messages are always sent, tool answers
// never lose their call, and the transcript keeps everything.
func TestContextOverflowPruning(t *testing.T) {
	const limit = 6000
	var bad []string
	script := func(r agenttest.Request) agenttest.Reply {
		size := 0
		for _, m := range r.Messages {
			size += len(m.Content)
		}
		if len(r.Messages) < 2 || r.Messages[0].Role != llm.System || !strings.Contains(r.Messages[1].Content, "ADDITIONAL NOTES") {
			bad = append(bad, "pinned messages missing")
		}
		if len(r.Messages) > 2 && r.Messages[2].Role == llm.Tool {
			bad = append(bad, "a tool answer without its call")
		}
		if size > limit {
			return agenttest.Reply{Status: http.StatusBadRequest, Error: "This model's maximum context length is 2048 tokens"}
		}
		if r.Step < 12 {
			return agenttest.Reply{Calls: []agenttest.Call{agenttest.Bash("head -c 1500 /dev/zero | tr '\\0' x")}}
		}
		return agenttest.Reply{Calls: []agenttest.Call{agenttest.Submit("done")}}
	}
	srv := agenttest.New(script)
	defer srv.Close()
	dir := t.TempDir()
	st, err := Run(context.Background(), config(t, srv, dir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Reason != "submitted" || len(bad) > 0 {
		t.Fatalf("status %+v, problems %v", st, bad)
	}
	events, _ := ReadTranscript(filepath.Join(dir, TranscriptFile))
	prunes, tools := 0, 0
	for _, e := range events {
		if e.Type == EventPrune {
			prunes++
		}
		if e.Message != nil && e.Message.Role == llm.Tool {
			tools++
		}
	}
	if prunes == 0 || tools != 12 {
		t.Errorf("%d prunes, %d tool answers in the transcript (want 12)", prunes, tools)
	}
}
