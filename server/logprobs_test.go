package server

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tokenizer"
)

// logSoftmax is an independent reference: log p_i = l_i − log Σ exp l_j, in float64.
func logSoftmax(row []float32) []float64 {
	hi := float64(slices.Max(row))
	sum := 0.0
	for _, l := range row {
		sum += math.Exp(float64(l) - hi)
	}
	out := make([]float64, len(row))
	for i, l := range row {
		out[i] = float64(l) - hi - math.Log(sum)
	}
	return out
}

// forwardLogprobs runs the model directly over ids at r steps and returns each row's log-softmax.
func forwardLogprobs(t *testing.T, ids []int, steps int) [][]float64 {
	t.Helper()
	m, err := testModel()
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Forward(ids, model.ForwardOptions{Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.PaddedVocabSize
	rows := make([][]float64, len(ids))
	for i := range ids {
		rows[i] = logSoftmax(out.Logits[i*V : (i+1)*V])
	}
	return rows
}

type completionsAnswer struct {
	Choices []struct {
		Index    int
		Text     string
		Logprobs *struct {
			Tokens        []string             `json:"tokens"`
			TokenLogprobs []*float64           `json:"token_logprobs"`
			TopLogprobs   []map[string]float64 `json:"top_logprobs"`
			TextOffset    []int                `json:"text_offset"`
		}
	}
}

func postDecode(t *testing.T, url, body string, v any) {
	t.Helper()
	status, doc := post(t, url, body)
	if status != 200 {
		t.Fatalf("%s: status %d: %v", body, status, doc)
	}
	raw, _ := json.Marshal(doc)
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

const tolerance = 1e-5

// TestEchoLogprobs checks echo's prompt logprobs against a direct forward pass: the first token
// is null, every other is log p(prompt[i] | prompt[:i]) and its top alternatives are the
// forward pass's most likely tokens.
func TestEchoLogprobs(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	ids := []int{1, 3, 4, 12, 5, 6, 12}
	want := forwardLogprobs(t, ids, 8)
	var doc completionsAnswer
	postDecode(t, hs.URL+"/v1/completions", `{"prompt":[1,3,4,12,5,6,12],"echo":true,"logprobs":3,"max_tokens":0,"num_steps":8}`, &doc)
	lp := doc.Choices[0].Logprobs
	if doc.Choices[0].Text != "12=34=" || lp == nil || len(lp.TokenLogprobs) != len(ids) {
		t.Fatalf("echo answer: %+v", doc)
	}
	if lp.TokenLogprobs[0] != nil || lp.TopLogprobs[0] != nil {
		t.Errorf("first token: logprob %v top %v, want null", lp.TokenLogprobs[0], lp.TopLogprobs[0])
	}
	if !slices.Equal(lp.Tokens, []string{"<bos>", "1", "2", "=", "3", "4", "="}) || !slices.Equal(lp.TextOffset, []int{0, 0, 1, 2, 3, 4, 5}) {
		t.Errorf("tokens %q offsets %v", lp.Tokens, lp.TextOffset)
	}
	names := []string{"<pad>", "<bos>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "="}
	for i := 1; i < len(ids); i++ {
		if got := *lp.TokenLogprobs[i]; math.Abs(got-want[i-1][ids[i]]) > tolerance {
			t.Errorf("position %d: logprob %v, forward pass %v", i, got, want[i-1][ids[i]])
		}
		order := make([]int, len(names))
		for k := range order {
			order[k] = k
		}
		sort.SliceStable(order, func(a, b int) bool { return want[i-1][order[a]] > want[i-1][order[b]] })
		if len(lp.TopLogprobs[i]) != 3 {
			t.Errorf("position %d: %d alternatives, want 3", i, len(lp.TopLogprobs[i]))
		}
		for _, k := range order[:3] {
			if got, ok := lp.TopLogprobs[i][names[k]]; !ok || math.Abs(got-want[i-1][k]) > tolerance {
				t.Errorf("position %d: top %q = %v (present %v), forward pass %v", i, names[k], got, ok, want[i-1][k])
			}
		}
	}
}

// TestGeneratedLogprobs checks that a generated token's logprob comes from the logits it was
// drawn from: the first greedy token of a fixed-r request scores as the forward pass's last
// row, and under every mode a greedy token is its own most likely alternative.
func TestGeneratedLogprobs(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	ids := []int{1, 3, 4, 12}
	want := forwardLogprobs(t, ids, 8)
	for _, c := range parityCases {
		body := fmt.Sprintf(`{"prompt":[1,3,4,12],"logprobs":2,"max_tokens":6,%s}`, c.body)
		var doc completionsAnswer
		postDecode(t, hs.URL+"/v1/completions", body, &doc)
		lp := doc.Choices[0].Logprobs
		if lp == nil || len(lp.TokenLogprobs) == 0 || len(lp.TokenLogprobs) != len(lp.Tokens) {
			t.Fatalf("%s: logprobs %+v", c.name, lp)
		}
		for i, l := range lp.TokenLogprobs {
			best := math.Inf(-1)
			for _, v := range lp.TopLogprobs[i] {
				best = max(best, v)
			}
			if l == nil || *l > 0 || c.opt.Sampling.Greedy() && *l != best {
				t.Errorf("%s: token %d (%q) logprob %v, best alternative %v", c.name, i, lp.Tokens[i], l, best)
			}
		}
		if c.name == "greedy r=8" {
			first := slices.Index([]string{"<pad>", "<bos>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "="}, lp.Tokens[0])
			if math.Abs(*lp.TokenLogprobs[0]-want[3][first]) > tolerance {
				t.Errorf("first token %q: logprob %v, forward pass %v", lp.Tokens[0], *lp.TokenLogprobs[0], want[3][first])
			}
		}
	}
}

// TestLMEvalLoglikelihood sends the request lm-evaluation-harness's local-completions sends
// for loglikelihood tasks and reads the answer as its parse_logprobs does: the sum of
// token_logprobs[ctxlen:-1] and whether each of those tokens is the most likely.
func TestLMEvalLoglikelihood(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	body, err := os.ReadFile(filepath.Join("testdata", "lm-eval", "loglikelihood-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req struct{ Prompt [][]int }
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var doc completionsAnswer
	postDecode(t, hs.URL+"/v1/completions", string(body), &doc)
	if len(doc.Choices) != len(req.Prompt) {
		t.Fatalf("%d choices for %d prompts", len(doc.Choices), len(req.Prompt))
	}
	sort.Slice(doc.Choices, func(a, b int) bool { return doc.Choices[a].Index < doc.Choices[b].Index })
	const ctxlen = 4 // context tokens; the rest of each prompt is the continuation
	for i, ch := range doc.Choices {
		ids := req.Prompt[i]
		lp := ch.Logprobs
		if lp == nil || len(lp.TokenLogprobs) != len(ids)+1 {
			t.Fatalf("choice %d: want %d prompt + 1 generated token logprobs, got %+v", i, len(ids), lp)
		}
		want := forwardLogprobs(t, ids, 0)
		sum, wantSum, greedy, wantGreedy := 0.0, 0.0, true, true
		for k, l := range lp.TokenLogprobs[ctxlen : len(lp.TokenLogprobs)-1] {
			pos := ctxlen + k
			sum += *l
			greedy = greedy && *l == maxValue(lp.TopLogprobs[pos])
			wantSum += want[pos-1][ids[pos]]
			wantGreedy = wantGreedy && want[pos-1][ids[pos]] == slices.Max(want[pos-1])
		}
		if math.Abs(sum-wantSum) > tolerance || greedy != wantGreedy {
			t.Errorf("choice %d: loglikelihood %v greedy %v; forward pass %v greedy %v", i, sum, greedy, wantSum, wantGreedy)
		}
	}
}

func maxValue(m map[string]float64) float64 {
	best := math.Inf(-1)
	for _, v := range m {
		best = max(best, v)
	}
	return best
}

// TestLMEvalGenerate sends local-completions' and local-chat-completions' generation requests
// (gen_kwargs spread at the top level) and reads choices[].text and choices[].message.content.
func TestLMEvalGenerate(t *testing.T) {
	dir := t.TempDir()
	cfgJSON := `{"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfgJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	chat, err := tokenizer.LoadChatTemplate(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, hs := newTestServer(t, Config{Chat: chat})
	for _, c := range []struct{ file, path string }{
		{"generate-until-request.json", "/v1/completions"}, {"chat-request.json", "/v1/chat/completions"}} {
		body, err := os.ReadFile(filepath.Join("testdata", "lm-eval", c.file))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Choices []struct {
				Text    *string
				Message *struct{ Content string }
			}
		}
		postDecode(t, hs.URL+c.path, string(body), &doc)
		if len(doc.Choices) != 1 || doc.Choices[0].Text == nil && doc.Choices[0].Message == nil {
			t.Errorf("%s: %+v", c.file, doc)
		}
	}
	var doc struct {
		Choices []struct {
			Logprobs struct {
				Content []chatLogprob
			}
		}
	}
	postDecode(t, hs.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"12="}],"max_tokens":3,"temperature":0,"num_steps":8,"logprobs":true,"top_logprobs":2}`, &doc)
	content := doc.Choices[0].Logprobs.Content
	if len(content) == 0 {
		t.Fatalf("chat logprobs: %+v", doc)
	}
	for _, e := range content {
		if len(e.TopLogprobs) != 2 || e.TopLogprobs[0].Logprob != e.Logprob || string(bytesOf(e.Bytes)) != e.Token {
			t.Errorf("chat logprob entry %+v", e)
		}
	}
}

func bytesOf(b []int) []byte {
	out := make([]byte, len(b))
	for i, v := range b {
		out[i] = byte(v)
	}
	return out
}

// TestTextOffsetsIndexText checks OpenAI's text_offset semantics on echoed and generated
// tokens, plain and streamed, with and without a stop string: text_offset[i] is where token
// i's text starts in the returned text, so the text there is the token's (special tokens, left
// out of the text, sit where the next token starts; tokens a stop string cut off, at the end),
// and streaming gives the same offsets.
func TestTextOffsetsIndexText(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	for _, body := range []string{
		`{"prompt":[1,3,4,12],"echo":true,"logprobs":1,"max_tokens":6,"num_steps":8,"temperature":0}`,
		`{"prompt":[1,1,3,4,12,1,5],"echo":true,"logprobs":0,"max_tokens":5,"num_steps":8,"temperature":0}`,
		`{"prompt":"12=34=","logprobs":2,"max_tokens":6,"num_steps":8,"temperature":0}`,
		`{"prompt":[1,3,4,12],"echo":true,"logprobs":1,"max_tokens":8,"num_steps":8,"temperature":0,"stop":["11"]}`,
	} {
		var doc completionsAnswer
		postDecode(t, hs.URL+"/v1/completions", body, &doc)
		text, lp := []rune(doc.Choices[0].Text), doc.Choices[0].Logprobs
		if lp == nil || len(lp.TextOffset) != len(lp.Tokens) || len(lp.Tokens) == 0 {
			t.Fatalf("%s: logprobs %+v", body, lp)
		}
		t.Logf("%s: text %q, tokens %q, offsets %v", body, string(text), lp.Tokens, lp.TextOffset)
		for i, tok := range lp.Tokens {
			off := lp.TextOffset[i]
			if off < 0 || off > len(text) || i > 0 && off < lp.TextOffset[i-1] {
				t.Errorf("%s: token %d %q at offset %d of %q (after %v)", body, i, tok, off, string(text), lp.TextOffset[:i])
				continue
			}
			want := []rune(tok)
			if strings.HasPrefix(tok, "<") && strings.HasSuffix(tok, ">") {
				want = nil // special: no text
			}
			if end := off + len(want); end > len(text) || string(text[off:end]) != string(want) {
				if off != len(text) || !strings.Contains(body, "stop") { // tokens the stop string cut off sit at the end
					t.Errorf("%s: token %d %q at offset %d: the text there is %q", body, i, tok, off, string(text[off:min(end, len(text))]))
				}
			}
		}
		if streamed := streamedOffsets(t, hs.URL, body); !slices.Equal(streamed, lp.TextOffset) {
			t.Errorf("%s: streamed offsets %v, plain %v", body, streamed, lp.TextOffset)
		}
	}
}

// streamedOffsets streams a completions request and joins the chunks' text offsets.
func streamedOffsets(t *testing.T, url, body string) []int {
	t.Helper()
	resp, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(strings.TrimSuffix(body, "}")+`,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var offsets []int
	for _, ev := range strings.Split(strings.TrimSpace(string(raw)), "\n\n") {
		data := strings.TrimPrefix(ev, "data: ")
		if data == "[DONE]" {
			break
		}
		var chunk completionsAnswer
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		for _, c := range chunk.Choices {
			if c.Logprobs != nil {
				offsets = append(offsets, c.Logprobs.TextOffset...)
			}
		}
	}
	return offsets
}
