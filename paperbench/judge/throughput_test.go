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

// BenchmarkPinnThroughput grades the largest rubric (pinn, 1,963 leaves) against a local
// endpoint that answers every call after 100 ms, at the default concurrency of 100, and reports
// how the time taken compares with the ideal (calls × latency ÷ concurrency) as "x-ideal", with
// the peak heap in use. One grading takes about 6 s:
//
//	go test -run '^$' -bench PinnThroughput -benchtime 1x ./paperbench/judge
func BenchmarkPinnThroughput(b *testing.B) {
	const latency = 100 * time.Millisecond
	root := paperRubric(b, "pinn")
	server := newLatencyServer(b, latency)
	client := llm.New(llm.Config{BaseURL: server.URL + "/v1", APIKey: "k", Model: "o3-mini",
		MaxConcurrent: DefaultConcurrency})
	sub := newSimple(b, client, smallSubmission(b), false)
	sub.cfg.MaxPriorNodes = 5 // as the official judge for pinn
	sub.paper = strings.Repeat("Physics-informed neural networks are trained with Adam, then L-BFGS. ", 300)
	var ratio, peak float64
	for i := 0; i < b.N; i++ {
		before := server.calls.Load()
		stop := watchHeap(&peak)
		start := time.Now()
		report, err := Run(context.Background(), root, sub, Options{Concurrency: 2 * DefaultConcurrency,
			Journal: b.TempDir() + "/journal.jsonl"})
		elapsed := time.Since(start)
		stop()
		if err != nil {
			b.Fatal(err)
		}
		if report.Leaves != 1963 || report.InvalidLeaves != 0 {
			b.Fatalf("%d leaves, %d invalid", report.Leaves, report.InvalidLeaves)
		}
		ideal := time.Duration(server.calls.Load()-before) * latency / DefaultConcurrency
		ratio += elapsed.Seconds() / ideal.Seconds()
	}
	b.ReportMetric(ratio/float64(b.N), "x-ideal")
	b.ReportMetric(peak/(1<<20), "peak-heap-MiB")
	b.Logf("VmHWM %s", vmHWM())
}

// watchHeap samples the heap in use every 50 ms into *peak (the largest seen) until the returned
// function is called.
func watchHeap(peak *float64) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
				runtime.ReadMemStats(&m)
				*peak = max(*peak, float64(m.HeapInuse))
			}
		}
	}()
	return func() { close(done); <-finished }
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
