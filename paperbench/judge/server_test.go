package judge

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/llm"
)

// chatRequest is what the test server reads of a chat completion request.
type chatRequest struct {
	Model          string          `json:"model"`
	Messages       []llm.Message   `json:"messages"`
	ResponseFormat json.RawMessage `json:"response_format"`
}

// kind tells the three calls of a leaf apart by their system message.
func (r *chatRequest) kind() string {
	switch system := r.Messages[0].Content; {
	case system == rankingRole:
		return "rank"
	case strings.HasPrefix(system, "You convert a grader's"):
		return "parse"
	}
	return "grade"
}

// tagged returns the text between <tag> and </tag> in the request's messages.
func (r *chatRequest) tagged(tag string) string {
	for _, m := range r.Messages {
		if _, rest, ok := strings.Cut(m.Content, "<"+tag+">\n"); ok {
			body, _, _ := strings.Cut(rest, "\n</"+tag+">")
			return body
		}
	}
	return ""
}

// reply is the test server's answer to one request.
type reply struct {
	status  int               // 0: 200
	header  map[string]string // extra headers
	raw     string            // a raw body instead of a chat completion
	content string            // the assistant message
	delay   time.Duration     // wait before answering
}

// chatServer is an OpenAI-compatible endpoint (POST /v1/chat/completions) that answers
// with a script and counts the requests it gets.
type chatServer struct {
	*httptest.Server
	calls  atomic.Int64
	script func(n int64, req *chatRequest) reply
}

func newChatServer(t testing.TB, script func(n int64, req *chatRequest) reply) *chatServer {
	s := &chatServer{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *chatServer) serve(w http.ResponseWriter, r *http.Request) {
	n := s.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	var req chatRequest
	if r.URL.Path != "/v1/chat/completions" || json.Unmarshal(body, &req) != nil || len(req.Messages) == 0 {
		http.Error(w, `{"error": {"message": "bad request"}}`, http.StatusBadRequest)
		return
	}
	rep := s.script(n, &req)
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	if rep.raw != "" || rep.status >= 400 {
		io.WriteString(w, rep.raw)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": 1, "model": req.Model,
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": rep.content}}},
		"usage": map[string]any{"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
	})
}

// client returns a judge client of the server with fast retries.
func (s *chatServer) client(model string) *llm.Client {
	return llm.New(llm.Config{BaseURL: s.URL + "/v1", APIKey: "test-key", Model: model,
		MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Second, RequestTimeout: 5 * time.Second})
}

var (
	quotedName    = regexp.MustCompile(`named '([^']+)'`)
	quotedDir     = regexp.MustCompile(`in the directory '([^']+)'`)
	quotedContent = regexp.MustCompile(`has contents '([^']+)'`)
	scoreLine     = regexp.MustCompile(`# Score\n([01])`)
)

// flagFile returns the file and the content a hex-flag criterion asks for.
func flagFile(criterion string) (path, content string, ok bool) {
	name := quotedName.FindStringSubmatch(criterion)
	want := quotedContent.FindStringSubmatch(criterion)
	if name == nil || want == nil {
		return "", "", false
	}
	path = name[1]
	if dir := quotedDir.FindStringSubmatch(criterion); dir != nil {
		path = dir[1] + "/" + path
	}
	return path, want[1], true
}

// reader is a scripted judge model that really reads what it is shown: it ranks the file
// a hex-flag criterion names, grades by comparing the file shown with the content
// demanded (for a criterion without a flag, with the nearest preceding criterion that has
// one), follows the trivial/impossible/empty fixtures, and parses its own verdicts.
func reader(_ int64, req *chatRequest) reply {
	switch req.kind() {
	case "rank":
		if path, _, ok := flagFile(req.tagged("criterion")); ok {
			return reply{content: "Most relevant files:\n1. `" + path + "`\n2. README.md\n"}
		}
		return reply{content: strings.Join(treePaths(req.Messages[len(req.Messages)-1].Content), "\n")}
	case "parse":
		m := scoreLine.FindStringSubmatch(req.Messages[1].Content)
		if m == nil {
			return reply{content: `{"valid_score": false, "score": 0, "explanation": "no score"}`}
		}
		return reply{content: "```json\n{\"valid_score\": true, \"score\": " + m[1] + ", \"explanation\": \"as graded\"}\n```"}
	}
	return reply{content: "# Expectations\nThe criterion holds.\n# Reality\nChecked the files.\n# Score\n" + gradeFlags(req)}
}

func gradeFlags(req *chatRequest) string {
	criterion, files := req.tagged("criterion"), req.tagged("files")
	switch {
	case strings.Contains(criterion, "always receive a score of 1.0"):
		return "1"
	case strings.Contains(criterion, "always receive a score of 0.0"):
		return "0"
	case strings.Contains(criterion, "The submission is empty."):
		return boolScore(!strings.Contains(files, "<FILE:"))
	}
	path, content, ok := flagFile(criterion)
	if !ok { // take the flag from the preceding criteria
		prior := strings.Split(req.tagged("preceding_criteria"), "\n")
		for i := len(prior) - 1; i >= 0 && !ok; i-- {
			path, content, ok = flagFile(prior[i])
		}
	}
	return boolScore(ok && strings.Contains(files, "<FILE:"+path+">\n"+content+"\n</FILE:"+path+">"))
}

func boolScore(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// treePaths reads the paths back from the file tree drawn in a ranking request.
func treePaths(request string) []string {
	var stack, paths []string
	for _, line := range strings.Split(request, "\n") {
		i := strings.Index(line, "── ")
		if i < 0 {
			continue
		}
		depth := len([]rune(line[:i])) / 4
		if depth > len(stack) {
			continue
		}
		stack = append(stack[:depth], line[i+len("── "):])
		paths = append(paths, strings.Join(stack, "/"))
	}
	return paths
}
