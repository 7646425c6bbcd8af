package agent

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/agent/agenttest"
	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/sandbox/local"
)

const tinyPaper = "testdata/tiny-paper"

// fakeClock is a manual clock; the counting completer moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// stepper wraps a completer: each call moves the clock by step, and the call after stopAfter
// calls cancels the run instead of being made (a crash between two calls).
type stepper struct {
	inner     Completer
	clock     *fakeClock
	step      time.Duration
	stopAfter int
	cancel    context.CancelFunc
	n         int
}

func (s *stepper) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	if s.stopAfter > 0 && s.n == s.stopAfter {
		s.cancel()
		return llm.Response{}, ctx.Err()
	}
	s.n++
	if s.clock != nil {
		s.clock.add(s.step)
	}
	return s.inner.Complete(ctx, req)
}

func provider(t *testing.T) *local.Provider {
	t.Helper()
	p, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func config(t *testing.T, srv *agenttest.Server, dir string) Config {
	return Config{Kind: Basic, Client: llm.New(llm.Config{BaseURL: srv.BaseURL(), APIKey: "k", MaxRetries: -1}),
		Model: "gpt-4.1-mini", Paper: tinyPaper, Dir: dir, Provider: provider(t), TimeLimit: 10 * time.Hour}
}

// toolAnswers maps tool-call ids to the content of their answers in the transcript.
func toolAnswers(events []Event) map[string]string {
	m := map[string]string{}
	for _, e := range events {
		if e.Message != nil && e.Message.Role == llm.Tool {
			m[e.Message.ToolCallID] = e.Message.Content
		}
	}
	return m
}

// tarFiles returns the regular files of a tar with their content.
func tarFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[strings.TrimPrefix(h.Name, "./")] = string(b)
		}
	}
}

func TestReplicatorEndToEnd(t *testing.T) {
	srv := agenttest.New(agenttest.Replicator(0))
	defer srv.Close()
	dir := t.TempDir()
	st, err := Run(context.Background(), config(t, srv, dir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "done" || st.Reason != "submitted" || st.Calls != int(srv.Calls()) || st.Calls != len(agenttest.ReplicatorSteps)+1 {
		t.Fatalf("status %+v, server calls %d", st, srv.Calls())
	}
	events, err := ReadTranscript(filepath.Join(dir, TranscriptFile))
	if err != nil {
		t.Fatal(err)
	}
	answers := toolAnswers(events)
	for id, want := range map[string]string{
		"s0-0": "written", "s1-0": "sum 6", "s2-0": "1: # Counting to three", "s3-0": ">>> 15: The sum of the numbers counted is 6",
		"s4-0": "6", "s5-0": "counter",
	} {
		if !strings.Contains(answers[id], want) {
			t.Errorf("answer to %s lacks %q:\n%s", id, want, answers[id])
		}
	}
	files := tarFiles(t, filepath.Join(dir, st.Final.File))
	if !strings.Contains(files["results.txt"], "sum 6") || files["reproduce.sh"] == "" || files[".git/HEAD"] == "" {
		t.Errorf("final snapshot files %v", keys(files))
	}
	if len(st.Final.Commit) != 40 || !st.Final.Final {
		t.Errorf("final snapshot %+v", st.Final)
	}
	var in int64
	for _, e := range events {
		if e.Call != nil {
			in += e.Call.Usage.In
			if !e.Call.Priced || e.Call.CostUSD <= 0 {
				t.Errorf("call not priced: %+v", e.Call)
			}
		}
	}
	if in != st.Usage.In || in == 0 {
		t.Errorf("usage %+v, transcript sums %d in", st.Usage, in)
	}
	// A finished rollout is returned as it is, without a model call.
	again, err := Run(context.Background(), config(t, srv, dir))
	if err != nil || again.Calls != st.Calls || srv.Calls() != int64(st.Calls) {
		t.Errorf("rerun: %+v %v, server calls %d", again, err, srv.Calls())
	}
}

func keys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

// TestTranscriptComplete checks that every message any request carried is in the
// transcript, in order, and that every tool call got an answer there.
func TestTranscriptComplete(t *testing.T) {
	var mu sync.Mutex
	var sent [][]llm.Message
	script := agenttest.Replicator(3)
	srv := agenttest.New(func(r agenttest.Request) agenttest.Reply {
		mu.Lock()
		sent = append(sent, r.Messages)
		mu.Unlock()
		return script(r)
	})
	defer srv.Close()
	dir := t.TempDir()
	cfg := config(t, srv, dir)
	cfg.ReminderEvery = 2
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	events, _ := ReadTranscript(filepath.Join(dir, TranscriptFile))
	var recorded []llm.Message
	for _, e := range events {
		if e.Message != nil {
			recorded = append(recorded, *e.Message)
		}
	}
	for i, msgs := range sent {
		if len(msgs) > len(recorded) {
			t.Fatalf("request %d sent %d messages, the transcript has %d", i, len(msgs), len(recorded))
		}
		for j, m := range msgs {
			if fmt.Sprint(m) != fmt.Sprint(recorded[j]) {
				t.Fatalf("request %d message %d differs from the transcript:\n%v\n%v", i, j, m, recorded[j])
			}
		}
	}
	answers := toolAnswers(events)
	reminders := 0
	for _, m := range recorded {
		for _, c := range m.ToolCalls {
			if _, ok := answers[c.ID]; !ok && c.Function.Name != ToolSubmit {
				t.Errorf("call %s (%s) has no answer", c.ID, c.Function.Name)
			}
		}
		if m.Role == llm.User && strings.HasPrefix(m.Content, "Info: ") {
			reminders++
		}
	}
	if reminders != 5 { // steps 2, 4, 6, 8, 10 of 10
		t.Errorf("%d reminders, want 5", reminders)
	}
}

func TestHostileCommandsFailInside(t *testing.T) {
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret.txt")
	os.WriteFile(secret, []byte("TOP-SECRET-HOST-DATA"), 0o644)
	var srv *agenttest.Server
	srv = agenttest.New(func(r agenttest.Request) agenttest.Reply {
		port := srv.Listener.Addr().String()
		switch r.Step {
		case 0:
			return agenttest.Reply{Calls: []agenttest.Call{
				agenttest.Bash("cat " + secret + "; ls " + secretDir + "; cat /root/.bash_history; ls /work"),
				{Name: "python", Args: map[string]string{"code": fmt.Sprintf(
					"import socket\ntry:\n    socket.create_connection(('%s', %s), timeout=3)\n    print('CONNECTED')\nexcept OSError as e:\n    print('refused', e)",
					strings.Split(port, ":")[0], strings.Split(port, ":")[1])}},
				agenttest.Bash("getent hosts example.com || echo no-dns"),
			}}
		}
		return agenttest.Reply{Calls: []agenttest.Call{agenttest.Submit("x")}}
	})
	defer srv.Close()
	dir := t.TempDir()
	if _, err := Run(context.Background(), config(t, srv, dir)); err != nil {
		t.Fatal(err)
	}
	events, _ := ReadTranscript(filepath.Join(dir, TranscriptFile))
	a := toolAnswers(events)
	if strings.Contains(a["s0-0"], "TOP-SECRET") || !strings.Contains(a["s0-0"], "No such file") {
		t.Errorf("host file readable from the sandbox:\n%s", a["s0-0"])
	}
	if strings.Contains(a["s0-1"], "CONNECTED") || !strings.Contains(a["s0-1"], "refused") {
		t.Errorf("the host's loopback server was reachable:\n%s", a["s0-1"])
	}
	if !strings.Contains(a["s0-2"], "no-dns") {
		t.Errorf("name resolution worked:\n%s", a["s0-2"])
	}
}

func TestTimeoutAndOutputCap(t *testing.T) {
	srv := agenttest.New(func(r agenttest.Request) agenttest.Reply {
		if r.Step == 0 {
			return agenttest.Reply{Calls: []agenttest.Call{
				agenttest.Bash("sleep 600 & echo started; sleep 600; echo never"),
				agenttest.Bash("head -c 100000 /dev/zero | tr '\\0' a; echo; echo THE-END"),
				agenttest.Bash("exit 3"),
			}}
		}
		return agenttest.Reply{Calls: []agenttest.Call{agenttest.Submit("x")}}
	})
	defer srv.Close()
	dir := t.TempDir()
	cfg := config(t, srv, dir)
	cfg.ToolTimeout, cfg.OutputLimit = time.Second, 1000
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	events, _ := ReadTranscript(filepath.Join(dir, TranscriptFile))
	a := toolAnswers(events)
	if !strings.Contains(a["s0-0"], "started") || strings.Contains(a["s0-0"], "never") || !strings.Contains(a["s0-0"], "timed out after 1s") {
		t.Errorf("timeout answer:\n%s", a["s0-0"])
	}
	big := a["s0-1"]
	if len(big) > 1300 || !strings.HasPrefix(big, "aaa") || !strings.Contains(big, "THE-END") || !strings.Contains(big, "output truncated") {
		t.Errorf("capped answer (%d bytes):\n%s", len(big), big)
	}
	if !strings.Contains(a["s0-2"], "[exit status 3]") {
		t.Errorf("exit status answer: %q", a["s0-2"])
	}
	for _, e := range events {
		if e.Exec != nil && e.Message.ToolCallID == "s0-0" && !e.Exec.TimedOut {
			t.Errorf("exec record %+v", e.Exec)
		}
	}
}

// TestBadModelOutput: unknown tools, malformed and huge arguments, turns without tool
// calls and a model that never submits are answered and recorded, never a crash.
func TestBadModelOutput(t *testing.T) {
	srv := agenttest.New(func(r agenttest.Request) agenttest.Reply {
		switch r.Step {
		case 0:
			return agenttest.Reply{Calls: []agenttest.Call{
				{Name: "rm_rf", Args: map[string]string{}},
				{Name: "bash", RawArgs: `{"cmd": "echo hi"`},
				{Name: "bash", Args: map[string]int{"command": 1}},
				{Name: "python", Args: map[string]string{"code": strings.Repeat("#", MaxArgumentBytes+1)}},
				{Name: "read_file_chunk", Args: map[string]any{"file": "/home/paper/paper.md", "max_lines": 500}},
				{Name: "read_file_chunk", Args: map[string]any{"file": "/nope"}},
				{Name: "search_file", Args: map[string]any{"file": "/home/paper/paper.md", "query": "sum", "page": 9}},
			}}
		}
		return agenttest.Reply{Content: "I am thinking."} // never calls a tool again
	})
	defer srv.Close()
	dir := t.TempDir()
	cfg := config(t, srv, dir)
	cfg.MaxSteps = 4
	st, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "done" || st.Reason != "max_steps" || st.Steps != 4 {
		t.Errorf("status %+v", st)
	}
	events, _ := ReadTranscript(filepath.Join(dir, TranscriptFile))
	a := toolAnswers(events)
	for id, want := range map[string]string{
		"s0-0": `unknown tool "rm_rf"`, "s0-1": "not a valid JSON object", "s0-2": "cmd is missing",
		"s0-3": "over the limit", "s0-4": "max_lines must be between 1 and 50", "s0-5": "no such file: /nope",
		"s0-6": "page 9 does not exist",
	} {
		if !strings.Contains(a[id], want) {
			t.Errorf("answer to %s lacks %q: %q", id, want, a[id])
		}
	}
	continues := 0
	for _, e := range events {
		if e.Message != nil && e.Message.Content == continueMessage {
			continues++
		}
	}
	if continues != 3 {
		t.Errorf("%d continue messages, want 3", continues)
	}
}

// TestBackgroundServerOutlivesToolCall: a server the agent starts in the background with
// nohup in one bash call answers its python call of the next step (the agent's computer is
// persistent), and the bash call returned at once.
func TestBackgroundServerOutlivesToolCall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the local sandbox keeps processes between calls only as root")
	}
	const fetch = `import time, urllib.request
for i in range(100):
    try:
        print(urllib.request.urlopen("http://127.0.0.1:8766/note.txt").read().decode()); break
    except OSError:
        time.sleep(0.1)`
	srv := agenttest.New(func(r agenttest.Request) agenttest.Reply {
		switch r.Step {
		case 0:
			return agenttest.Reply{Calls: []agenttest.Call{agenttest.Bash(`cd /home/logs && echo still-serving > note.txt && ` +
				`nohup python3 -m http.server 8766 --bind 127.0.0.1 > /home/logs/server.log 2>&1 & echo started`)}}
		case 1:
			return agenttest.Reply{Calls: []agenttest.Call{{Name: "python", Args: map[string]string{"code": fetch}}}}
		}
		return agenttest.Reply{Calls: []agenttest.Call{agenttest.Submit("x")}}
	})
	defer srv.Close()
	dir := t.TempDir()
	if _, err := Run(context.Background(), config(t, srv, dir)); err != nil {
		t.Fatal(err)
	}
	events, err := ReadTranscript(filepath.Join(dir, TranscriptFile))
	if err != nil {
		t.Fatal(err)
	}
	answers := toolAnswers(events)
	if answers["s0-0"] != "started" || answers["s1-0"] != "still-serving" {
		t.Errorf("bash answered %q, python %q", answers["s0-0"], answers["s1-0"])
	}
}
