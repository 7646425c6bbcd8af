package judge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/llm"
)

// TestPinnThroughput grades the largest rubric (pinn, 1,963 leaves) against a local
// endpoint that answers every call after 100 ms, at the default concurrency of 100, and
// checks that it takes at most 1.1 × the ideal time (calls × latency ÷ concurrency). It
// takes about 6 s and runs when PAPERBENCH_JUDGE_BENCH=1:
//
//	PAPERBENCH_JUDGE_BENCH=1 go test -run PinnThroughput -v ./paperbench/judge
func TestPinnThroughput(t *testing.T) {
	if os.Getenv("PAPERBENCH_JUDGE_BENCH") == "" {
		t.Skip("set PAPERBENCH_JUDGE_BENCH=1 to run the 6-second throughput check")
	}
	const latency = 100 * time.Millisecond
	root := paperRubric(t, "pinn")
	server := newLatencyServer(t, latency)
	client := llm.New(llm.Config{BaseURL: server.URL + "/v1", APIKey: "k", Model: "o3-mini",
		MaxConcurrent: DefaultConcurrency})
	sub := newSimple(t, client, smallSubmission(t), false)
	sub.cfg.MaxPriorNodes = 5 // as the official judge for pinn
	sub.paper = strings.Repeat("Physics-informed neural networks are trained with Adam, then L-BFGS. ", 300)

	var peakHeap uint64
	stop := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				runtime.ReadMemStats(&m)
				peakHeap = max(peakHeap, m.HeapInuse)
			}
		}
	}()
	start := time.Now()
	report, err := Run(context.Background(), root, sub, Options{Concurrency: 2 * DefaultConcurrency,
		Journal: t.TempDir() + "/journal.jsonl"})
	elapsed := time.Since(start)
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	calls := server.calls.Load()
	ideal := time.Duration(calls) * latency / DefaultConcurrency
	ratio := elapsed.Seconds() / ideal.Seconds()
	t.Logf("%d leaves (%d invalid), %d calls in %v; ideal %v; ratio %.3f; peak heap in use %.1f MiB; VmHWM %s",
		report.Leaves, report.InvalidLeaves, calls, elapsed.Round(time.Millisecond), ideal, ratio,
		float64(peakHeap)/(1<<20), vmHWM())
	if report.Leaves != 1963 || report.InvalidLeaves != 0 {
		t.Errorf("%d leaves, %d invalid", report.Leaves, report.InvalidLeaves)
	}
	if ratio > 1.1 {
		t.Errorf("took %.3f × the ideal time", ratio)
	}
}

// latencyServer answers every chat completion after a fixed delay, telling the three calls
// of a leaf apart by their system prompts without decoding the request, so that the
// server's own work weighs little in the measure.
type latencyServer struct {
	*httptest.Server
	calls atomic.Int64
}

func newLatencyServer(t testing.TB, latency time.Duration) *latencyServer {
	answer := func(content string) []byte {
		body, _ := json.Marshal(map[string]any{
			"id": "c", "object": "chat.completion", "created": 1, "model": "o3-mini",
			"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": content}}},
			"usage": map[string]any{"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
		})
		return body
	}
	rank := answer("main.py\nREADME.md")
	grade := answer("# Expectations\nx\n# Reality\ny\n# Score\n1")
	parse := answer(`{"valid_score": true, "score": 1, "explanation": "ok"}`)
	s := &latencyServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		reply := grade
		switch {
		case bytes.Contains(body, []byte("You convert a grader")):
			reply = parse
		case bytes.Contains(body, []byte("You help grade an attempt")):
			reply = rank
		}
		time.Sleep(latency)
		w.Header().Set("Content-Type", "application/json")
		w.Write(reply)
	}))
	t.Cleanup(s.Close)
	return s
}

// vmHWM returns the process's peak resident memory from /proc, or "?".
func vmHWM() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
