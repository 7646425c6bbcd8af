package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latentlab/latent/paperbench/agent"
	"github.com/latentlab/latent/paperbench/agent/agenttest"
	"github.com/latentlab/latent/paperbench/sandbox/docker/dockertest"
)

const tinyPaper = "../../paperbench/agent/testdata/tiny-paper"

func runArgs(srv *agenttest.Server, out string, extra ...string) []string {
	return append([]string{"run", "--out", out, "--run-group", "g", "--paper-dir", tinyPaper, "--seeds", "2",
		"--agent", "basic", "--model", "gpt-4.1-mini", "--base-url", srv.BaseURL(), "--api-key", "k",
		"--judge", "dummy", "--time-limit", "1h", "--concurrency", "2"}, extra...)
}

func readResults(t *testing.T, dir string) []groupResults {
	t.Helper()
	out, err := runCLI(t, "results", "--json", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var res []groupResults
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return res
}

// TestRunEndToEnd: the scripted agent writes reproduce.sh in a local sandbox, the
// reproduction runs it in a fresh one, the dummy judge grades, results aggregate over 2
// seeds; a second run is refused and --resume redoes nothing.
func TestRunEndToEnd(t *testing.T) { testRunEndToEnd(t, "local") }

// TestRunEndToEndDocker is TestRunEndToEnd on the docker backend, with the test image
// (bash, git, python3), where an engine answers.
func TestRunEndToEndDocker(t *testing.T) {
	dockertest.Provider(t) // skips without an engine; builds the image
	testRunEndToEnd(t, "docker", "--image", dockertest.Image)
}

// testRunEndToEnd runs the end-to-end test on the named backend, with its flags.
func testRunEndToEnd(t *testing.T, name string, flags ...string) {
	backend := append([]string{"--sandbox", name}, flags...)
	srv := agenttest.New(agenttest.Replicator(0))
	defer srv.Close()
	out := t.TempDir()
	runArgs := func(srv *agenttest.Server, out string, extra ...string) []string {
		return runArgs(srv, out, append(backend, extra...)...)
	}
	start := time.Now()
	if msg, err := runCLI(t, runArgs(srv, out)...); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	t.Logf("run of 2 seeds %v: %v", backend, time.Since(start).Round(time.Millisecond))
	calls := srv.Calls()
	if calls != 2*int64(len(agenttest.ReplicatorSteps)+1) {
		t.Errorf("%d model calls", calls)
	}
	for _, seed := range []string{"1", "2"} {
		dir := filepath.Join(out, "g", "tiny-paper", seed)
		log, err := os.ReadFile(filepath.Join(dir, "reproduction", "reproduce.log"))
		if err != nil || !strings.Contains(string(log), "sum 6") {
			t.Errorf("seed %s reproduce.log %q %v", seed, log, err)
		}
		var g gradeResult
		b, _ := os.ReadFile(filepath.Join(dir, gradeFile))
		if err := json.Unmarshal(b, &g); err != nil || g.Score != 1 || g.PaperBenchResult.ReproductionMetadata.Record == nil ||
			g.AgentCalls != len(agenttest.ReplicatorSteps)+1 {
			t.Errorf("seed %s grade.json %v: %s", seed, err, b)
		}
		events, err := agent.ReadTranscript(filepath.Join(dir, "rollout", agent.TranscriptFile))
		if err != nil || events[0].Start == nil || events[0].Start.Sandbox != name {
			t.Errorf("seed %s: the rollout did not run on %s: %v %+v", seed, name, err, events[0].Start)
		}
	}
	res := readResults(t, filepath.Join(out, "g"))
	m := res[0].Metrics
	if len(res) != 1 || m.NCompleteTries != 2 || *m.MeanScore != 1 || *m.StdErr != 0 || m.ByPaper["tiny-paper"].N != 2 {
		t.Errorf("results %+v", res)
	}
	// the report reads what run wrote: both seeds complete, nothing unreadable
	js, err := runCLI(t, "report", filepath.Join(out, "g"), "--out", filepath.Join(t.TempDir(), "report"), "--json")
	var rep struct {
		Complete   int `json:"complete_seeds"`
		Unreadable int `json:"unreadable_files"`
	}
	if err != nil || json.Unmarshal([]byte(js), &rep) != nil || rep.Complete != 2 || rep.Unreadable != 0 {
		t.Errorf("report on the run group: %v, %+v\n%s", err, rep, js)
	}
	if _, err := runCLI(t, runArgs(srv, out)...); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("second run without --resume: %v", err)
	}
	if msg, err := runCLI(t, runArgs(srv, out, "--resume")...); err != nil || srv.Calls() != calls {
		t.Errorf("resume of a finished run: %v, %d calls\n%s", err, srv.Calls(), msg)
	}
	if _, err := runCLI(t, runArgs(srv, out, "--resume", "--seeds", "3")...); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("resume with other settings: %v", err)
	}
}

// TestRunKilledAndResumed kills the run with SIGKILL at 5 random moments and resumes it each
// time: the results equal an uninterrupted run's, and every model call the transcripts
// record was made once; the calls made but not recorded are at most one per kill and
// rollout in flight (answers lost with the process).
func TestRunKilledAndResumed(t *testing.T) {
	const pad = 150 // long enough that 5 kills of at most 400 ms each come before the end
	srv := agenttest.NewSlow(20*time.Millisecond, agenttest.Replicator(pad))
	defer srv.Close()
	out := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for i := 0; i < 40 && kills < 5; i++ {
		args := runArgs(srv, out)
		if _, err := os.Stat(filepath.Join(out, "g", runFile)); err == nil {
			args = append(args, "--resume")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "PAPERBENCH_AS_MAIN=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run exited: %v", err)
			}
			i = 40 // finished before the kill
		case <-time.After(time.Duration(100+rng.IntN(300)) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		}
	}
	if kills < 5 {
		t.Fatalf("the run finished after %d kills", kills)
	}
	if msg, err := runCLI(t, runArgs(srv, out, "--resume")...); err != nil {
		t.Fatalf("final resume: %v\n%s", err, msg)
	}
	recorded := 0
	for _, seed := range []string{"1", "2"} {
		st, err := agent.ReadStatus(filepath.Join(out, "g", "tiny-paper", seed, "rollout"))
		if err != nil || st.Status != "done" || st.Reason != "submitted" {
			t.Fatalf("seed %s: %+v %v", seed, st, err)
		}
		if want := len(agenttest.ReplicatorSteps) + pad + 1; st.Calls != want {
			t.Errorf("seed %s: %d recorded calls, an uninterrupted rollout makes %d", seed, st.Calls, want)
		}
		recorded += st.Calls
	}
	if lost := srv.Calls() - int64(recorded); lost < 0 || lost > int64(2*kills) {
		t.Errorf("%d calls made, %d recorded, %d kills", srv.Calls(), recorded, kills)
	}
	t.Logf("%d kills; %d calls made, %d recorded", kills, srv.Calls(), recorded)
	res := readResults(t, filepath.Join(out, "g"))
	if m := res[0].Metrics; m.NCompleteTries != 2 || *m.MeanScore != 1 {
		t.Errorf("results %+v", m)
	}
}

// TestAggregationBySeedFolder: seeds are taken from their folders, an incomplete seed is
// listed and left out, and the SE is the sample standard deviation over √n.
func TestAggregationBySeedFolder(t *testing.T) {
	spec := groupSpec{Papers: []paperEntry{{ID: "a"}, {ID: "b"}}, Seeds: 3}
	scores := map[string]map[int]jobScores{
		"a": {1: {score: 0.2}, 2: {score: 0.4}, 3: {score: 0.9}},
		"b": {1: {score: 0.6}, 3: {score: 0.1}}, // seed 2 of b is missing
	}
	var g groupResults
	g.summarize(spec, scores)
	m := g.Metrics
	// Complete seeds 1 and 3: ARS 0.4 and 0.5.
	if m.NCompleteTries != 2 || math.Abs(*m.MeanScore-0.45) > 1e-12 || math.Abs(*m.StdErr-0.05) > 1e-12 {
		t.Errorf("metrics %+v %v %v", m, *m.MeanScore, *m.StdErr)
	}
	if len(g.Incomplete) != 1 || g.Incomplete[0].Seed != 2 || g.Incomplete[0].Missing[0] != "b" {
		t.Errorf("incomplete %+v", g.Incomplete)
	}
	b := m.ByPaper["b"]
	if b.N != 2 || b.Runs["run_2"] != nil || *b.Runs["run_3"] != 0.1 || math.Abs(*b.Mean-0.35) > 1e-12 {
		t.Errorf("paper b %+v", b)
	}
	one := meanAndSE([]float64{0.3})
	if one.StdErr != nil || *one.Mean != 0.3 {
		t.Errorf("one value: %+v", one)
	}
}

func TestRunBadInput(t *testing.T) {
	srv := agenttest.New(agenttest.Replicator(0))
	defer srv.Close()
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "config.yaml"), []byte("id: x\ntitle: x\n"), 0o644)
	os.WriteFile(filepath.Join(empty, "blacklist.txt"), []byte("none\n"), 0o644)
	old := t.TempDir()
	os.MkdirAll(filepath.Join(old, "g", "tiny-paper", "1"), 0o755)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--out", t.TempDir(), "--paper-dir", empty, "--judge", "dummy"}, "paper.md"},
		{[]string{"run", "--out", t.TempDir(), "--paper-dir", tinyPaper, "--agent", "smart"}, `unknown agent "smart"`},
		{[]string{"run", "--out", t.TempDir()}, "either --paper-dir"},
		{[]string{"run", "--out", t.TempDir(), "--paper-dir", tinyPaper, "--resume"}, "nothing to resume"},
		{[]string{"run", "--out", old, "--run-group", "g", "--paper-dir", tinyPaper}, "older layout"},
		{[]string{"run", "--out", t.TempDir(), "--paper-dir", tinyPaper, "--sandbox", "vm"}, `--sandbox "vm": want local, docker or kubernetes`},
		{[]string{"run", "--out", t.TempDir(), "--paper-dir", tinyPaper, "--sandbox", "docker"}, "--sandbox docker needs --image"},
		{[]string{"run", "--out", t.TempDir(), "--paper-dir", tinyPaper, "--sandbox", "kubernetes"}, "--sandbox kubernetes needs --image"},
		{[]string{"run", "--out", t.TempDir(), "--paper-dir", tinyPaper, "--image", "pb-env"}, "--image is for the docker and kubernetes backends"},
		{[]string{"results", t.TempDir()}, "holds no run group"},
	} {
		msg, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q\n%s", tc.args, err, tc.want, msg)
		}
	}
}

// TestRunCodeOnly: Code-Dev skips the reproduction and grades the Code Development leaves
// of the final snapshot.
func TestRunCodeOnly(t *testing.T) {
	srv := agenttest.New(agenttest.Replicator(0))
	defer srv.Close()
	out := t.TempDir()
	if msg, err := runCLI(t, runArgs(srv, out, "--code-only", "--seeds", "1", "--judge", "random")...); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	dir := filepath.Join(out, "g", "tiny-paper", "1")
	if _, err := os.Stat(filepath.Join(dir, reproductionDir)); !os.IsNotExist(err) {
		t.Errorf("Code-Dev ran a reproduction: %v", err)
	}
	var g gradeResult
	b, _ := os.ReadFile(filepath.Join(dir, gradeFile))
	json.Unmarshal(b, &g)
	var jo judgeOutput
	json.Unmarshal(g.PaperBenchResult.JudgeOutput, &jo)
	if !g.PaperBenchResult.SkippedReproduction || !g.PaperBenchResult.CodeOnly || jo.NumLeaves != 1 || jo.JudgeType != "random" {
		t.Errorf("grade.json %s", b)
	}
	events, err := agent.ReadTranscript(filepath.Join(dir, "rollout", agent.TranscriptFile))
	if err != nil || !strings.Contains(events[2].Message.Content, "Code-Dev") {
		t.Errorf("the agent was not given the Code-Dev instructions: %v", err)
	}
}

// TestRunFlaggedByMonitor: a rollout that clones the paper's blacklisted repository scores
// 0 with the violation in grade.json, without reproduction or judging.
func TestRunFlaggedByMonitor(t *testing.T) {
	script := agenttest.Replicator(0)
	srv := agenttest.New(func(r agenttest.Request) agenttest.Reply {
		if r.Step == 1 {
			return agenttest.Reply{Calls: []agenttest.Call{agenttest.Bash("git clone https://github.com/example/count-to-three.git /tmp/c || true")}}
		}
		return script(r)
	})
	defer srv.Close()
	out := t.TempDir()
	if msg, err := runCLI(t, runArgs(srv, out, "--seeds", "1")...); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	dir := filepath.Join(out, "g", "tiny-paper", "1")
	b, _ := os.ReadFile(filepath.Join(dir, gradeFile))
	var g gradeResult
	if err := json.Unmarshal(b, &g); err != nil || g.Score != 0 || !g.PaperBenchResult.monitorFlagged() ||
		!strings.HasPrefix(g.GraderLog, "Submission flagged by monitor") || !strings.Contains(string(b), "git clone https://github.com/example") {
		t.Errorf("grade.json %v: %s", err, b)
	}
	if _, err := os.Stat(filepath.Join(dir, reproductionDir)); !os.IsNotExist(err) {
		t.Errorf("a flagged run was reproduced: %v", err)
	}
	res := readResults(t, filepath.Join(out, "g"))
	if m := res[0].Metrics; m.NCompleteTries != 1 || *m.MeanScore != 0 || res[0].RunHealth.Flagged != 1 {
		t.Errorf("results %+v %+v", m, res[0].RunHealth)
	}
}
