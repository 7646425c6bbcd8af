package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// TestToolCallingRoundTrip checks that tools and tool messages are sent in the official
// shape and that the model's tool calls, finish reason and backoff time come back.
func TestToolCallingRoundTrip(t *testing.T) {
	var calls atomic.Int64
	var got struct {
		Tools []struct {
			Type     string `json:"type"`
			Function struct {
				Name       string         `json:"name"`
				Parameters map[string]any `json:"parameters"`
			} `json:"function"`
		} `json:"tools"`
		Messages []Message `json:"messages"`
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error": {"message": "busy"}}`)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
			"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{\"cmd\": \"ls\"}"}},
			               {"id": "c2", "type": "function", "function": {"name": "submit", "arguments": "{bad"}}]}}],
			"usage": {"prompt_tokens": 7, "completion_tokens": 3}}`)
	}))
	defer server.Close()
	c := New(Config{BaseURL: server.URL, APIKey: "k", Model: "m", MinBackoff: 40 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	var slept time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { slept += d; return nil }
	history := []Message{
		{Role: System, Content: "s"},
		{Role: Assistant, ToolCalls: []ToolCall{{ID: "c0", Type: "function", Function: FunctionCall{Name: "bash", Arguments: `{"cmd":"pwd"}`}}}},
		{Role: Tool, ToolCallID: "c0", Content: "/home"},
	}
	tools := []ToolSpec{{Name: "bash", Description: "run", Parameters: map[string]any{"type": "object"}}}
	resp, err := c.Complete(context.Background(), Request{Messages: history, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	want := []ToolCall{
		{ID: "c1", Type: "function", Function: FunctionCall{Name: "bash", Arguments: `{"cmd": "ls"}`}},
		{ID: "c2", Type: "function", Function: FunctionCall{Name: "submit", Arguments: "{bad"}},
	}
	if !reflect.DeepEqual(resp.ToolCalls, want) || resp.FinishReason != "tool_calls" || resp.Usage != (Usage{7, 3}) {
		t.Errorf("response %+v", resp)
	}
	if resp.Attempts != 2 || resp.Waited != slept || slept < 20*time.Millisecond {
		t.Errorf("attempts %d, waited %v, slept %v", resp.Attempts, resp.Waited, slept)
	}
	if len(got.Tools) != 1 || got.Tools[0].Type != "function" || got.Tools[0].Function.Name != "bash" {
		t.Errorf("tools sent: %+v", got.Tools)
	}
	if !reflect.DeepEqual(got.Messages, history) {
		t.Errorf("messages sent %+v, want %+v", got.Messages, history)
	}
}

func TestIsContextOverflow(t *testing.T) {
	for _, tc := range []struct {
		status int
		msg    string
		want   bool
	}{
		{400, "This model's maximum context length is 8192 tokens", true},
		{400, "input exceeds the context window", true},
		{400, "prompt is too long: 250000 tokens", true},
		{400, "invalid tool schema", false},
		{500, "maximum context length", false},
	} {
		err := &Error{Status: tc.status, Err: fmt.Errorf("%s", tc.msg)}
		if got := IsContextOverflow(fmt.Errorf("wrapped: %w", err)); got != tc.want {
			t.Errorf("%d %q: %v, want %v", tc.status, tc.msg, got, tc.want)
		}
	}
	if IsContextOverflow(context.Canceled) {
		t.Error("context.Canceled read as an overflow")
	}
}

// TestContextOverflowFromServer: the overflow is recognised from the error body a server
// sends, not only from the status line.
func TestContextOverflowFromServer(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error": {"message": "This model's maximum context length is 8192 tokens.", "code": "context_length_exceeded"}}`)
	}))
	defer server.Close()
	_, err := New(Config{BaseURL: server.URL, APIKey: "k", Model: "m"}).Complete(context.Background(), Request{})
	if !IsContextOverflow(err) {
		t.Errorf("not an overflow: %v", err)
	}
}
