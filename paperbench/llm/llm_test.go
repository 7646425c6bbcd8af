package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	for header, want := range map[[2]string]time.Duration{
		{"Retry-After", "2"}:      2 * time.Second,
		{"Retry-After", "0.5"}:    500 * time.Millisecond,
		{"Retry-After-Ms", "250"}: 250 * time.Millisecond,
	} {
		h := http.Header{}
		h.Set(header[0], header[1])
		if got, ok := retryAfter(h); !ok || got != want {
			t.Errorf("%v: %v %v, want %v", header, got, ok, want)
		}
	}
	h := http.Header{}
	h.Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	if got, ok := retryAfter(h); !ok || got < 59*time.Minute {
		t.Errorf("HTTP date: %v %v", got, ok)
	}
	if _, ok := retryAfter(http.Header{"Retry-After": {"soon"}}); ok {
		t.Error("accepted Retry-After: soon")
	}
}

func TestBackoffGrowsWithJitterWithinBounds(t *testing.T) {
	c := New(Config{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	for attempt, limit := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		limit *= time.Millisecond
		seen := map[time.Duration]bool{}
		for range 50 {
			d := c.backoff(attempt, errors.New("x"))
			if d < limit/2 || d > limit {
				t.Fatalf("attempt %d: wait %v outside [%v, %v]", attempt, d, limit/2, limit)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct waits: no jitter", attempt, len(seen))
		}
	}
}

// TestMaxConcurrentAndCancel checks the bound on requests in flight and that a call
// waiting to retry ends with its context.
func TestMaxConcurrentAndCancel(t *testing.T) {
	var inFlight, peak atomic.Int64
	var failing atomic.Bool
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error": {"message": "busy"}}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []map[string]any{{"message": map[string]any{"content": "hi"}}}})
	}))
	defer server.Close()
	c := New(Config{BaseURL: server.URL, APIKey: "k", Model: "m", MaxConcurrent: 3})
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			resp, err := c.Complete(context.Background(), Request{Messages: []Message{{Role: User, Content: "x"}}})
			if err != nil || resp.Content != "hi" || resp.Reported {
				t.Errorf("%+v %v", resp, err)
			}
		})
	}
	wg.Wait()
	if peak.Load() != 3 {
		t.Errorf("%d requests in flight at most, want 3", peak.Load())
	}
	failing.Store(true)
	slow := New(Config{BaseURL: server.URL, APIKey: "k", Model: "m", MinBackoff: time.Hour, MaxBackoff: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := slow.Complete(ctx, Request{}); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("cancelled during backoff: %v after %v", err, time.Since(start))
	}
}
