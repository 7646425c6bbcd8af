// Package agenttest is a scripted OpenAI-compatible chat server for tests of the agents: a
// script turns each request into an answer (text, tool calls, an error status), the server
// counts the calls and can answer after a fixed latency.
package agenttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latentlab/latent/paperbench/llm"
)

// Request is what the script sees of a chat request.
type Request struct {
	Messages []llm.Message
	Tools    []string
	// Step is one more than the largest step number found in the tool-call ids of the
	// messages ("s<step>-<i>", the ids this package's replies use): the position of the
	// answer in the script, which survives the agent's pruning and restarts.
	Step int
}

// Call is a tool call of a reply; Args is marshalled to JSON unless RawArgs is set.
type Call struct {
	Name    string
	Args    any
	RawArgs string
}

// Reply is the server's answer to one request.
type Reply struct {
	Content      string
	Calls        []Call
	FinishReason string // default: tool_calls when there are calls, else stop
	Status       int    // non-zero: answer with this HTTP status and Error
	Error        string
}

// Server is a scripted chat-completions endpoint.
type Server struct {
	*httptest.Server
	latency time.Duration
	calls   atomic.Int64
	script  func(Request) Reply
}

// New starts a server answering with script. Close it when done.
func New(script func(Request) Reply) *Server { return NewSlow(0, script) }

// NewSlow starts a server that answers each request after latency.
func NewSlow(latency time.Duration, script func(Request) Reply) *Server {
	s := &Server{script: script, latency: latency}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// BaseURL returns the base URL to give an OpenAI client.
func (s *Server) BaseURL() string { return s.Server.URL + "/v1" }

// Calls returns the number of chat requests answered so far.
func (s *Server) Calls() int64 { return s.calls.Load() }

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Messages []llm.Message `json:"messages"`
		Tools    []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error": {"message": "bad json"}}`, http.StatusBadRequest)
		return
	}
	s.calls.Add(1)
	if s.latency > 0 {
		time.Sleep(s.latency)
	}
	req := Request{Messages: body.Messages, Step: step(body.Messages)}
	for _, t := range body.Tools {
		req.Tools = append(req.Tools, t.Function.Name)
	}
	reply := s.script(req)
	w.Header().Set("Content-Type", "application/json")
	if reply.Status != 0 {
		w.WriteHeader(reply.Status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": reply.Error}})
		return
	}
	json.NewEncoder(w).Encode(completion(req, reply))
}

// step finds the script position from the tool-call ids of the messages.
func step(msgs []llm.Message) int {
	n := 0
	see := func(id string) {
		head, _, ok := strings.Cut(strings.TrimPrefix(id, "s"), "-")
		if k, err := strconv.Atoi(head); ok && err == nil && strings.HasPrefix(id, "s") {
			n = max(n, k+1)
		}
	}
	for _, m := range msgs {
		see(m.ToolCallID)
		for _, c := range m.ToolCalls {
			see(c.ID)
		}
	}
	return n
}

func completion(req Request, reply Reply) map[string]any {
	var calls []map[string]any
	for i, c := range reply.Calls {
		args := c.RawArgs
		if args == "" {
			b, _ := json.Marshal(c.Args)
			args = string(b)
		}
		calls = append(calls, map[string]any{"id": fmt.Sprintf("s%d-%d", req.Step, i), "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": args}})
	}
	finish := reply.FinishReason
	if finish == "" {
		finish = "stop"
		if len(calls) > 0 {
			finish = "tool_calls"
		}
	}
	msg := map[string]any{"role": "assistant", "content": reply.Content}
	if len(calls) > 0 {
		msg["tool_calls"] = calls
	}
	size := 0
	for _, m := range req.Messages {
		size += len(m.Content)
		for _, c := range m.ToolCalls {
			size += len(c.Function.Arguments)
		}
	}
	return map[string]any{"id": "chatcmpl-test", "object": "chat.completion", "model": "scripted",
		"choices": []map[string]any{{"index": 0, "finish_reason": finish, "message": msg}},
		"usage":   map[string]any{"prompt_tokens": size/4 + 1, "completion_tokens": 10, "total_tokens": size/4 + 11}}
}

// Bash is a bash tool call.
func Bash(cmd string) Call { return Call{Name: "bash", Args: map[string]string{"cmd": cmd}} }

// Submit is a submit tool call.
func Submit(msg string) Call {
	return Call{Name: "submit", Args: map[string]string{"end_message": msg}}
}

// ReplicatorSteps are the calls of [Replicator] before its padding: it writes a counter
// and reproduce.sh, runs it, reads the paper with read_file_chunk and search_file, checks
// with python, commits.
var ReplicatorSteps = [][]Call{
	{Bash(`cd /home/submission && printf 'total = 0\nfor i in range(1, 4):\n    print(i)\n    total += i\nprint("sum", total)\n' > count.py && ` +
		`printf '#!/bin/bash\nset -e\npython3 count.py | tee results.txt\n' > reproduce.sh && echo written`)},
	{Bash(`cd /home/submission && bash reproduce.sh && cat results.txt`)},
	{{Name: "read_file_chunk", Args: map[string]any{"file": "/home/paper/paper.md", "start_line": 1, "max_lines": 5}}},
	{{Name: "search_file", Args: map[string]any{"file": "/home/paper/paper.md", "query": "sum"}}},
	{{Name: "python", Args: map[string]string{"code": "print(open('/home/submission/results.txt').read().split()[-1])"}}},
	{Bash(`cd /home/submission && git add -A && git commit -qm "counter" && git log --oneline | head -1`)},
}

// Replicator is the script of a well-behaved agent: [ReplicatorSteps], then pad bash calls
// (echo), then submit.
func Replicator(pad int) func(Request) Reply {
	return func(r Request) Reply {
		switch k := r.Step; {
		case k < len(ReplicatorSteps):
			return Reply{Content: fmt.Sprintf("step %d", k), Calls: ReplicatorSteps[k]}
		case k < len(ReplicatorSteps)+pad:
			return Reply{Calls: []Call{Bash(fmt.Sprintf("echo pad %d", k))}}
		}
		return Reply{Content: "done", Calls: []Call{Submit("replicated the counter")}}
	}
}
