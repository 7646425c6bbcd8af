package server

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/latentlab/latent/model"
)

// TestLongEchoDisconnect sends a long echo request (prompt logprobs at 256 recurrences over
// 500 positions, thousands of prefill chunks), drops the connection once its first chunks have
// run, and checks that the server stops it early (the positions computed fall far short of the
// request's), frees its decoding slot and the prefill budget, counts it as cancelled, leaves no
// goroutine behind, and serves the next request.
func TestLongEchoDisconnect(t *testing.T) {
	s, hs := newTestServer(t, Config{MaxBatch: 2, PrefillChunk: model.MinChunkRows})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	before := runtime.NumGoroutine()
	const n, steps = 500, 256
	ids := make([]string, n)
	for i, id := range longDigits(n) {
		ids[i] = fmt.Sprint(id)
	}
	body := fmt.Sprintf(`{"prompt":[%s],"echo":true,"logprobs":1,"max_tokens":0,"num_steps":%d}`, strings.Join(ids, ","), steps)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the first chunks", func() bool { return computed(s) > 0 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled request got an answer")
	}
	waitFor(t, "the decoding slot to be freed", func() bool { return len(s.slots) == 0 })
	got, whole := computed(s), float64((steps+2)*n)
	t.Logf("computed %v positions of %v before the server stopped", got, whole)
	if got > whole/4 {
		t.Errorf("the cancelled request computed %v positions of its %v", got, whole)
	}
	if p := s.batcher.Prefilling(); p != 0 {
		t.Errorf("%d prefill positions still in flight", p)
	}
	s.metrics.mu.Lock()
	cancelled := s.metrics.outcomes["cancelled"]
	s.metrics.mu.Unlock()
	if cancelled != 1 {
		t.Errorf("%v requests counted as cancelled, want 1", cancelled)
	}
	waitFor(t, "the request's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	if status, doc := post(t, hs.URL+"/v1/completions", `{"prompt":"1=","max_tokens":2}`); status != 200 {
		t.Errorf("the next request: %d %v", status, doc)
	}
}

// computed is the positions the server's batched passes have computed so far.
func computed(s *Server) float64 {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	return s.metrics.rows.sum
}

// waitFor polls cond until it holds, failing after a generous while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			buf := make([]byte, 1<<16)
			t.Fatalf("waited 30 s for %s; goroutines:\n%s", what, buf[:runtime.Stack(buf, true)])
		}
	}
}
