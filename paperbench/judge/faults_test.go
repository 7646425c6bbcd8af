package judge

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/rubric"
)

// faultRubric has one hex_flag leaf per kind of failure, tagged "[fault:kind]".
func faultRubric(kinds []string) *rubric.Node {
	root := &rubric.Node{ID: "root", Requirements: "All flags.", Weight: 1}
	for _, k := range kinds {
		root.SubTasks = append(root.SubTasks, &rubric.Node{ID: k, Weight: 1, TaskCategory: rubric.CodeDevelopment,
			Requirements: "The submission contains a single file named 'flag.txt' at the root of the directory and has contents '0xaa0d6b4a'. [fault:" + k + "]"})
	}
	return root
}

var faultTag = regexp.MustCompile(`\[fault:([a-z0-9-]+)\]`)

// faultyModel is the reader model behind an endpoint that fails in a scripted way per
// leaf. It records the calls per fault and when they came.
type faultyModel struct {
	mu    sync.Mutex
	calls map[string][]time.Time
}

func (f *faultyModel) script(n int64, req *chatRequest) reply {
	text := req.tagged("criterion")
	if req.kind() == "parse" {
		text = req.Messages[1].Content
	}
	m := faultTag.FindStringSubmatch(text)
	if m == nil {
		return reply{status: 400, raw: `{"error": {"message": "untagged request"}}`}
	}
	fault := m[1]
	f.mu.Lock()
	f.calls[fault] = append(f.calls[fault], time.Now())
	count := len(f.calls[fault])
	f.mu.Unlock()
	normal := reader(n, req)
	if req.kind() == "grade" {
		normal.content += "\n[fault:" + fault + "]"
	}
	switch fault {
	case "rate-limit":
		switch count {
		case 1:
			return reply{status: 429, header: map[string]string{"Retry-After": "1"}, raw: `{"error": {"message": "slow down"}}`}
		case 2:
			return reply{status: 429, header: map[string]string{"Retry-After-Ms": "20"}, raw: `{"error": {"message": "slow down"}}`}
		}
	case "server-error":
		return reply{status: 500, raw: `{"error": {"message": "boom"}}`}
	case "bad-gateway-once":
		if count == 1 {
			return reply{status: 502, raw: "<html>bad gateway</html>"}
		}
	case "malformed-json":
		return reply{raw: `{"id": "x", "choices": [{"message": {"content": "unterminated`}
	case "no-choices":
		return reply{raw: `{"id": "x", "object": "chat.completion", "choices": []}`}
	case "timeout":
		return reply{delay: time.Minute}
	case "unauthorized":
		return reply{status: 401, raw: `{"error": {"message": "bad key"}}`}
	case "no-schema":
		if req.ResponseFormat != nil {
			return reply{status: 400, raw: `{"error": {"message": "response_format is not supported"}}`}
		}
	case "garbage-verdict":
		if req.kind() == "parse" {
			return reply{content: "lorem ipsum dolor sit amet"}
		}
	case "invalid-verdict":
		if req.kind() == "parse" {
			return reply{content: `{"valid_score": false, "score": 1, "explanation": "no score given"}`}
		}
	case "score-out-of-range":
		if req.kind() == "parse" {
			return reply{content: `{"valid_score": true, "score": 2, "explanation": "very good"}`}
		}
	case "empty-answer":
		if req.kind() == "grade" {
			return reply{content: ""}
		}
	case "junk-ranking":
		if req.kind() == "rank" {
			return reply{content: "I cannot decide.\n../../etc/passwd\n/etc/shadow\n"}
		}
	}
	return normal
}

// TestEndpointFaults grades a leaf per kind of endpoint failure: the run never fails, the
// leaves whose calls or answers fail are invalid with the reason, the others are graded.
func TestEndpointFaults(t *testing.T) {
	type outcome struct {
		valid bool
		score float64
		retry bool
		calls int
		why   string
	}
	want := map[string]outcome{
		"ok":                 {true, 1, false, 3, ""},
		"rate-limit":         {true, 1, false, 5, ""},
		"bad-gateway-once":   {true, 1, false, 4, ""},
		"no-schema":          {true, 1, false, 4, ""},
		"junk-ranking":       {true, 0, false, 3, ""},
		"server-error":       {false, 0, true, 3, "500"},
		"malformed-json":     {false, 0, true, 3, "file ranking"},
		"no-choices":         {false, 0, true, 3, "no choices"},
		"timeout":            {false, 0, true, 3, "deadline exceeded"},
		"unauthorized":       {false, 0, true, 1, "401"},
		"garbage-verdict":    {false, 0, false, 3, "could not be parsed: no JSON object"},
		"invalid-verdict":    {false, 0, false, 3, "no score given"},
		"score-out-of-range": {false, 0, false, 3, "score 2 is not between 0 and 1"},
		"empty-answer":       {false, 0, false, 2, "empty answer"},
	}
	var kinds []string
	for k := range want {
		kinds = append(kinds, k)
	}
	model := &faultyModel{calls: map[string][]time.Time{}}
	server := newChatServer(t, model.script)
	client := llm.New(llm.Config{BaseURL: server.URL + "/v1", APIKey: "k", Model: "o3-mini", MaxRetries: 2,
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Second, RequestTimeout: 300 * time.Millisecond})
	judge := newSimple(t, client, goldSubmission(t, "hex_flag"), false)
	results := map[string]LeafResult{}
	var mu sync.Mutex
	start := time.Now()
	report, err := Run(context.Background(), faultRubric(kinds), judge, Options{Concurrency: 4,
		OnLeaf: func(p rubric.Path, r LeafResult, _, _ int) {
			mu.Lock()
			results[kinds[p[0]]] = r
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("graded %d leaves in %v", len(kinds), time.Since(start))
	for kind, w := range want {
		r := results[kind]
		calls := len(model.calls[kind])
		if r.Valid != w.valid || r.Score != w.score || r.Retry != w.retry || calls != w.calls ||
			!strings.Contains(r.Explanation, w.why) {
			t.Errorf("%s: got valid %v score %v retry %v after %d calls (%q); want %+v",
				kind, r.Valid, r.Score, r.Retry, calls, r.Explanation, w)
		}
	}
	if report.InvalidLeaves != 9 || report.Tree.Grade.Valid || report.Score != 4.0/14 {
		t.Errorf("root: %d invalid leaves, valid %v, score %v", report.InvalidLeaves, report.Tree.Grade.Valid, report.Score)
	}
	rl := model.calls["rate-limit"]
	if gap := rl[1].Sub(rl[0]); gap < 900*time.Millisecond {
		t.Errorf("retried %v after a 429 with Retry-After: 1", gap)
	}
}

// TestCancelledRunStopsQuickly checks that cancelling the context ends a run whose
// endpoint hangs, without marking anything.
func TestCancelledRunStopsQuickly(t *testing.T) {
	server := newChatServer(t, func(int64, *chatRequest) reply { return reply{delay: time.Minute} })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	judge := newSimple(t, server.client("o3-mini"), goldSubmission(t, "hex_flags"), false)
	start := time.Now()
	_, err := Run(ctx, loadUnitRubric(t, "hex_flags"), judge, Options{})
	if err == nil || !strings.Contains(err.Error(), "interrupted with 0 of 5 leaves graded") {
		t.Errorf("error %v", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v to stop", elapsed)
	}
}

func ExampleParseVerdict() {
	v, err := ParseVerdict("Here it is:\n```json\n{\"valid_score\": true, \"score\": \"1\", \"explanation\": \"uses \\alpha\"}\n```", false)
	fmt.Printf("%+v %v\n", v, err)
	// Output: {Valid:true Score:1 Explanation:uses \alpha} <nil>
}
