package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/model/defaultmodel"
	"github.com/latentlab/latent/tasks"
)

// testModel loads the embedded default model once.
var testModel = sync.OnceValues(func() (*model.Model, error) {
	dir, remove, err := defaultmodel.Extract()
	if err != nil {
		return nil, err
	}
	defer remove()
	return model.Load(dir)
})

// newTestServer serves the default model with cfg's limits.
func newTestServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	m, err := testModel()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Model, cfg.ModelName = m, "latent-default"
	cfg.Codec = VocabCodec{Vocab: tasks.NewVocab("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "=")}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() { hs.Close(); s.Close() })
	return s, hs
}

// post sends body to path and decodes the JSON answer.
func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("%s: answer is not JSON: %v", body, err)
	}
	return resp.StatusCode, doc
}

// parityCase is one request and the generate options it must equal.
type parityCase struct {
	name   string
	body   string
	opt    generate.Options
	prompt []int // nil: prompt
}

// longDigits is a prompt of n tokens (digits and '=' of the default model) whose prefill takes
// several chunks of parityChunk positions.
func longDigits(n int) []int {
	p := []int{1}
	for i := 1; i < n; i++ {
		p = append(p, 2+(i*7)%11)
	}
	return p
}

// parityChunk is the prefill chunk of the parity server (32 while kernels.MaxRowwise ≤ 16).
const parityChunk = model.MinChunkRows + 15

func ptrF(v float64) *float64 { return &v }

var prompt = []int{1, 3, 4, 5, 12}

var parityCases = []parityCase{
	{"greedy r=8", `"num_steps":8,"temperature":0`, generate.Options{Steps: 8}, nil},
	{"long prompt, greedy r=8", `"num_steps":8,"temperature":0`, generate.Options{Steps: 8}, longDigits(300)},
	{"seeded sampling", `"num_steps":6,"temperature":0.9,"top_k":5,"top_p":0.95,"seed":7`,
		generate.Options{Steps: 6, Seed: 7, Sampling: generate.Sampling{Temperature: 0.9, TopK: 5, TopP: 0.95}}, nil},
	{"kl exit", `"num_steps":24,"temperature":0,"criterion":"kl","exit_threshold":1e-4`,
		generate.Options{Steps: 24, Exit: &generate.ExitOptions{Criterion: "kl", Threshold: ptrF(1e-4)}}, nil},
	{"entropy-diff exit, min steps, cadence", `"num_steps":16,"temperature":0,"criterion":"entropy-diff","min_steps":2,"check_criterion_every_n_steps":2`,
		generate.Options{Steps: 16, Exit: &generate.ExitOptions{Criterion: "entropy-diff", MinSteps: 2, CheckEvery: 2}}, nil},
	{"continuous compute, init scale", `"num_steps":8,"temperature":0,"continuous_compute":true,"init_scale":1,"seed":3`,
		generate.Options{Steps: 8, Continuous: true, InitScale: 1, Seed: 3}, nil},
	{"speculative", `"num_steps":8,"temperature":0,"draft_steps":2,"lookahead_for_draft":3`,
		generate.Options{Steps: 8, Speculative: &generate.SpeculativeOptions{DraftSteps: 2, Lookahead: 3, Verify: 1}}, nil},
	{"long prompt, kl exit", `"num_steps":16,"temperature":0,"criterion":"kl","exit_threshold":1e-4`,
		generate.Options{Steps: 16, Exit: &generate.ExitOptions{Criterion: "kl", Threshold: ptrF(1e-4)}}, longDigits(200)},
	{"long prompt, continuous compute", `"num_steps":8,"temperature":0.7,"seed":5,"continuous_compute":true,"init_scale":1`,
		generate.Options{Steps: 8, Seed: 5, Continuous: true, InitScale: 1, Sampling: generate.Sampling{Temperature: 0.7}}, longDigits(150)},
}

// TestParity checks that served tokens and steps equal the generate engine's for every mode,
// with 1, 4 and 16 requests of mixed modes in flight together, long prompts (prefilled in
// chunks) beside short ones.
func TestParity(t *testing.T) {
	m, err := testModel()
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]generate.Token, len(parityCases))
	for i, c := range parityCases {
		c.opt.MaxNew = 10
		if want[i], err = generate.Generate(m, c.promptIDs(), c.opt); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	s, hs := newTestServer(t, Config{MaxBatch: 4, PrefillChunk: parityChunk})
	for _, concurrent := range []int{1, 4, 16} {
		var wg sync.WaitGroup
		errs := make(chan error, concurrent)
		for r := range concurrent {
			i := r % len(parityCases)
			wg.Go(func() {
				ids, _ := json.Marshal(parityCases[i].promptIDs())
				body := fmt.Sprintf(`{"prompt":%s,"max_tokens":10,"return_steps":true,%s}`, ids, parityCases[i].body)
				errs <- checkParity(hs.URL, body, want[i])
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("%d concurrent: %v", concurrent, err)
			}
		}
	}
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	if rows := s.metrics.rows; rows.n == rows.counts[0] {
		t.Errorf("none of %v batched passes held more than one row", rows.n)
	}
}

func (c parityCase) promptIDs() []int {
	if c.prompt == nil {
		return prompt
	}
	return c.prompt
}

func checkParity(url, body string, want []generate.Token) error {
	resp, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var doc struct {
		Choices []struct{ Latent latent }
		Usage   usage
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || len(doc.Choices) != 1 {
		return fmt.Errorf("%s: status %d, %v", body, resp.StatusCode, err)
	}
	got := doc.Choices[0].Latent
	var ids, steps []int
	total := 0
	for _, t := range want {
		ids, steps, total = append(ids, t.ID), append(steps, t.Steps), total+t.Steps
	}
	if !slices.Equal(got.Tokens, ids) || !slices.Equal(got.Steps, steps) || doc.Usage.RecurrenceSteps != total {
		return fmt.Errorf("%s:\nserved tokens %v steps %v (usage %d)\nengine tokens %v steps %v (%d)", body, got.Tokens, got.Steps, doc.Usage.RecurrenceSteps, ids, steps, total)
	}
	return nil
}

// TestBadInput checks that bad requests get a 4xx in OpenAI's shape naming the parameter.
func TestBadInput(t *testing.T) {
	_, hs := newTestServer(t, Config{MaxBody: 1 << 12, MaxTokens: 64})
	big := `{"prompt":"` + strings.Repeat("1", 1<<13) + `"}`
	long := `{"prompt":"` + strings.Repeat("1", 600) + `"}`
	for _, c := range []struct {
		path, body string
		status     int
		param      string
	}{
		{"/v1/completions", `{"prompt":`, 400, ""},
		{"/v1/completions", `{"prompt":"12=","max_tokens":"five"}`, 400, "max_tokens"},
		{"/v1/completions", `{"prompt":"12=","num_steps":-1}`, 400, "num_steps"},
		{"/v1/completions", `{"prompt":"12=","num_steps":1000000000}`, 400, "num_steps"},
		{"/v1/completions", `{"prompt":"12=","max_tokens":0}`, 400, "max_tokens"},
		{"/v1/completions", `{"prompt":"12=","max_tokens":100000}`, 400, "max_tokens"},
		{"/v1/completions", `{"prompt":"12=","criterion":"vibes"}`, 400, "criterion"},
		{"/v1/completions", `{"prompt":"12=","criterion":"kl","exit_threshold":-1}`, 400, "exit_threshold"},
		{"/v1/completions", `{"prompt":"12=","cache_lookup_strategy":"nope"}`, 400, "cache_lookup_strategy"},
		{"/v1/completions", `{"prompt":"12=","min_steps":2}`, 400, "min_steps"},
		{"/v1/completions", `{"prompt":[1,2,13]}`, 400, "prompt"},
		{"/v1/completions", `{"prompt":[1,-2]}`, 400, "prompt"},
		{"/v1/completions", `{"prompt":"12+3"}`, 400, "prompt"},
		{"/v1/completions", `{"prompt":{"a":1}}`, 400, "prompt"},
		{"/v1/completions", `{}`, 400, "prompt"},
		{"/v1/completions", long, 400, "prompt"},
		{"/v1/completions", `{"prompt":"12=","n":100}`, 400, "n"},
		{"/v1/completions", `{"prompt":"12=","temperature":-1}`, 400, "temperature"},
		{"/v1/completions", `{"prompt":"12=","stop":[1]}`, 400, "stop"},
		{"/v1/completions", `{"prompt":"12=","model":"gpt-4"}`, 404, "model"},
		{"/v1/completions", big, 413, ""},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, 400, "messages"},
	} {
		status, doc := post(t, hs.URL+c.path, c.body)
		e, _ := doc["error"].(map[string]any)
		param, _ := e["param"].(string)
		msg, _ := e["message"].(string)
		if status != c.status || param != c.param || msg == "" || e["type"] == nil {
			t.Errorf("%.60s: got %d param %q message %q, want %d param %q", c.body, status, param, msg, c.status, c.param)
		}
	}
}

// TestQueueFull checks the 429 when every slot decodes and the queue is full.
func TestQueueFull(t *testing.T) {
	s, hs := newTestServer(t, Config{MaxBatch: 1, MaxQueue: 1})
	s.slots <- struct{}{}
	s.waiting.Store(1)
	status, doc := post(t, hs.URL+"/v1/completions", `{"prompt":"1="}`)
	if e, _ := doc["error"].(map[string]any); status != 429 || e["code"] != "queue_full" {
		t.Errorf("got %d %v, want 429 queue_full", status, doc)
	}
}

func TestAPIKey(t *testing.T) {
	_, hs := newTestServer(t, Config{APIKey: "sesame"})
	status, _ := post(t, hs.URL+"/v1/completions", `{"prompt":"1="}`)
	if status != 401 {
		t.Errorf("no key: status %d, want 401", status)
	}
	req, _ := http.NewRequest("GET", hs.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer sesame")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with key: status %d, want 200", resp.StatusCode)
	}
}

// TestStopString checks that the text ends before the first stop string, also across pieces.
func TestStopString(t *testing.T) {
	s := &stopScanner{stops: []string{"34", "9"}}
	var out strings.Builder
	for _, piece := range []string{"1", "2", "3", "4", "5"} {
		text, hit := s.add(piece)
		out.WriteString(text)
		if hit {
			break
		}
	}
	if out.String() != "12" {
		t.Errorf("text %q, want %q", out.String(), "12")
	}
	s = &stopScanner{stops: []string{"34"}}
	a, _ := s.add("123")
	b, _ := s.add("5")
	if a+b+s.flush() != "1235" || a != "12" {
		t.Errorf("held-back text: %q + %q", a, b)
	}
}

// TestStreamMatchesPlain checks that the streamed chunks add up to the plain answer, with the
// usage chunk last.
func TestStreamMatchesPlain(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	body := `"prompt":"1234=","max_tokens":8,"temperature":0,"num_steps":8,"n":2`
	_, plain := post(t, hs.URL+"/v1/completions", "{"+body+"}")
	resp, err := http.Post(hs.URL+"/v1/completions", "application/json",
		strings.NewReader(`{`+body+`,"stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	events := strings.Split(strings.TrimSpace(buf.String()), "\n\n")
	if events[len(events)-1] != "data: [DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", events[len(events)-1])
	}
	texts := map[float64]string{}
	var last map[string]any
	for _, ev := range events[:len(events)-1] {
		last = nil
		if err := json.Unmarshal([]byte(strings.TrimPrefix(ev, "data: ")), &last); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		for _, c := range last["choices"].([]any) {
			c := c.(map[string]any)
			texts[c["index"].(float64)] += c["text"].(string)
		}
	}
	for _, c := range plain["choices"].([]any) {
		c := c.(map[string]any)
		if got := texts[c["index"].(float64)]; got != c["text"] {
			t.Errorf("choice %v: streamed %q, plain %q", c["index"], got, c["text"])
		}
	}
	if fmt.Sprint(last["usage"]) != fmt.Sprint(plain["usage"]) {
		t.Errorf("usage chunk %v, plain usage %v", last["usage"], plain["usage"])
	}
}

// TestStopTokenIDs checks that generation ends at the first of stop_token_ids with finish
// reason "stop", the stop token included, and that ids outside the vocabulary are a 400.
func TestStopTokenIDs(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	ids, _ := json.Marshal(prompt)
	base := fmt.Sprintf(`"prompt":%s,"max_tokens":8,"num_steps":8,"temperature":0,"return_steps":true`, ids)
	var free struct {
		Choices []struct{ Latent latent }
	}
	postDecode(t, hs.URL+"/v1/completions", "{"+base+"}", &free)
	toks := free.Choices[0].Latent.Tokens
	if len(toks) < 3 {
		t.Fatalf("only %d tokens", len(toks))
	}
	stop := toks[2]
	var doc struct {
		Choices []struct {
			Latent       latent
			FinishReason string `json:"finish_reason"`
		}
	}
	postDecode(t, hs.URL+"/v1/completions", fmt.Sprintf(`{%s,"stop_token_ids":[%d]}`, base, stop), &doc)
	got := doc.Choices[0]
	if want := toks[:slices.Index(toks, stop)+1]; !slices.Equal(got.Latent.Tokens, want) || got.FinishReason != "stop" {
		t.Errorf("stop at %d: tokens %v finish %q, want %v stop", stop, got.Latent.Tokens, got.FinishReason, want)
	}
	for _, bad := range []string{`[99999]`, `[-1]`, `"x"`} {
		status, doc := post(t, hs.URL+"/v1/completions", fmt.Sprintf(`{%s,"stop_token_ids":%s}`, base, bad))
		if e, _ := doc["error"].(map[string]any); status != 400 || e["param"] != "stop_token_ids" {
			t.Errorf("stop_token_ids %s: %d %v", bad, status, doc)
		}
	}
}
