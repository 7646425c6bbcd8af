package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestBody posts arbitrary bodies to both endpoints of a server with small caps: the
// answer is always JSON (or an event stream) with a 200 or a 4xx in OpenAI's shape, never a
// panic or a 5xx.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{
		`{"prompt":"12=","max_tokens":3}`,
		`{"prompt":[1,3,4],"echo":true,"logprobs":2,"max_tokens":0}`,
		`{"prompt":[[1,3],[1,4,12]],"echo":true,"logprobs":1,"max_tokens":1,"temperature":0}`,
		`{"prompt":"7=","logprobs":-1}`, `{"prompt":"7=","logprobs":true}`, `{"prompt":"7=","top_logprobs":3}`,
		`{"prompt":"7=","stop_token_ids":[3,99999]}`, `{"prompt":"7=","stop_token_ids":"x"}`,
		`{"messages":[{"role":"user","content":"1="}],"logprobs":true,"top_logprobs":21}`,
		`{"prompt":"1=","stream":true,"logprobs":1,"criterion":"kl","num_steps":4}`,
		`{"prompt":"1=","echo":true,"stream":true,"max_tokens":2}`,
	} {
		f.Add(seed)
	}
	s, _ := newTestServer(f, Config{MaxTokens: 4, MaxSteps: 4, MaxBody: 1 << 12})
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v1/completions", "/v1/chat/completions"} {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
			if rec.Code >= 500 {
				t.Fatalf("%s %q: status %d: %s", path, body, rec.Code, rec.Body)
			}
			if rec.Header().Get("Content-Type") == "text/event-stream" {
				continue
			}
			var doc map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%s %q: answer is not JSON: %v", path, body, err)
			}
			if rec.Code != http.StatusOK && doc["error"] == nil {
				t.Fatalf("%s %q: status %d without an error object", path, body, rec.Code)
			}
		}
	})
}
