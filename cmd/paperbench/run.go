package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/latentlab/latent/internal/atomicfile"
	"github.com/latentlab/latent/paperbench/agent"
	"github.com/latentlab/latent/paperbench/archive"
	"github.com/latentlab/latent/paperbench/dataset"
	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/sandbox"
)

var runCmd = &cobra.Command{
	Use: "run --out OUT (--paper-dir DIR... | --data DIR [--split NAME | --papers ID,...])",
	Example: `  paperbench run --out runs --data ~/paperbench/data --split lite --seeds 3 --model gpt-4.1-mini
  paperbench run --out runs --paper-dir testdata/fixtures/paperbench/papers/rice --judge dummy --max-steps 20
  paperbench run --out runs --paper-dir DIR --sandbox docker --image pb-env --judge dummy
  paperbench run --out runs --data ~/paperbench/data --split lite --seeds 3 --resume --json`,
	Short: "Run the benchmark: agent rollout, reproduction and grading for papers × seeds",
	Long: `Run runs PaperBench end to end for every paper and seed: the agent's rollout in a sandbox
(BasicAgent or IterativeAgent over any OpenAI-compatible endpoint), the reproduction of its
submission in a fresh sandbox, and the judge's grading. Everything goes to
OUT/<run-group>/<paper>/<seed>/: rollout/ (transcript.jsonl, snapshots/, status.json),
reproduction/ (reproduce.log, reproduction.json, submission_executed/), grader_output.json and
grade.json.

Each stage is journaled: after a crash or Ctrl-C, run the same command with --resume. A
finished stage is never redone, a rollout continues from its transcript and last snapshot,
and grading from its journal, so no recorded model call is paid twice. Aggregate with
'paperbench results OUT/<run-group>'.`,
	Args: cobra.NoArgs,
	RunE: runRun,
}

func init() {
	f := runCmd.Flags()
	f.String("out", "", "runs folder (required)")
	f.String("run-group", "", "run group name (default: run-group_<agent>)")
	f.Bool("resume", false, "continue an existing run group")
	f.StringArray("paper-dir", nil, "paper folder (repeatable)")
	f.String("data", "", "dataset folder (papers/ and splits/, or the official data/papers and experiments/splits)")
	f.String("split", "", "split of the dataset (all, dev, lite, human, debug, testing)")
	f.StringSlice("papers", nil, "paper ids of the dataset")
	f.Int("seeds", 1, "rollouts per paper")
	f.String("agent", "basic", "agent: basic or iterative")
	f.String("model", "gpt-4.1-mini", "agent model")
	f.String("base-url", "", "agent endpoint (default: OPENAI_BASE_URL, else OpenAI)")
	f.String("api-key", "", "agent API key (default: OPENAI_API_KEY)")
	f.Duration("time-limit", 12*time.Hour, "working time of each rollout (API retry waits excluded)")
	f.Int("max-steps", 0, "step limit of each rollout (0: none)")
	f.Duration("tool-timeout", agent.DefaultConfig.ToolTimeout, "limit of one tool call")
	f.Bool("code-only", false, "PaperBench Code-Dev: Code-Dev instructions, no reproduction, Code Development leaves only")
	f.Bool("resources-provided", false, "give Dataset and Model Acquisition leaves weight 0")
	f.Duration("snapshot-every", agent.DefaultConfig.SnapshotEvery, "working time between snapshots of /home/submission")
	f.String("judge", "simple", "judge: simple, dummy or random")
	f.String("judge-model", "o3-mini-2025-01-31", "judge model")
	f.String("judge-base-url", "", "judge endpoint (default: OPENAI_BASE_URL, else OpenAI)")
	f.String("judge-api-key", "", "judge API key (default: GRADER_OPENAI_API_KEY, else OPENAI_API_KEY)")
	f.Int("judge-concurrency", 20, "judge requests in flight per grading")
	f.String("agent-network", "none", "network of the agent's sandbox: none or full (reproduction always runs without)")
	backendFlags(runCmd) // --sandbox-dir defaults to OUT/.sandboxes here
	f.String("image", "", "docker and kubernetes backends: the image of the agent's and the reproduction's sandboxes (docker: a local image; none is pulled)")
	f.Duration("reproduce-timeout", 12*time.Hour, "limit of one reproduction attempt")
	f.Int("reproduce-retries", 1, "extra reproduction attempts after a failed one")
	f.Int("concurrency", 4, "paper × seed runs at once")
	f.Bool("json", false, `print {"run_group": DIR, "runs": N} when every run is done`)
	rootCmd.AddCommand(runCmd)
}

// layoutVersion is the version of the runs layout this build reads and writes.
const layoutVersion = 1

// RunFile is OUT/<run-group>/run.json: what the group runs, checked on --resume.
const runFile = "run.json"

// groupSpec is run.json.
type groupSpec struct {
	Layout            int          `json:"layout"`
	RunGroup          string       `json:"run_group_id"`
	Papers            []paperEntry `json:"papers"`
	Seeds             int          `json:"seeds"`
	Agent             string       `json:"agent"`
	Model             string       `json:"model"`
	Judge             string       `json:"judge"`
	JudgeModel        string       `json:"judge_model"`
	CodeOnly          bool         `json:"code_only"`
	ResourcesProvided bool         `json:"resources_provided"`
	TimeLimitS        float64      `json:"time_limit_s"`
	MaxSteps          int          `json:"max_steps"`
	Sandbox           string       `json:"sandbox"`
	Image             string       `json:"image,omitempty"`
	AgentNetwork      string       `json:"agent_network"`
	Created           time.Time    `json:"created_at"`
}

type paperEntry struct {
	ID  string `json:"id"`
	Dir string `json:"dir"`
}

// sameRun reports whether b asks for the same work as a.
func (a groupSpec) sameRun(b groupSpec) bool {
	a.Created, b.Created = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func runRun(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	out, _ := f.GetString("out")
	if out == "" {
		return errors.New("run: --out is required")
	}
	spec, err := runSpec(cmd)
	if err != nil {
		return err
	}
	groupDir := filepath.Join(out, spec.RunGroup)
	resume, _ := f.GetBool("resume")
	if err := openGroup(groupDir, spec, resume); err != nil {
		return err
	}
	r, err := newRunner(cmd, spec, groupDir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := r.runAll(ctx, cmd.ErrOrStderr())
	if ctx.Err() != nil {
		return fmt.Errorf("run: interrupted; continue with the same command and --resume")
	}
	if failed > 0 {
		return fmt.Errorf("run: %d of %d runs failed (see above); fix the cause and continue with --resume", failed, len(r.jobs))
	}
	if asJSON, _ := f.GetBool("json"); asJSON {
		return writeJSON(cmd.OutOrStdout(), struct {
			RunGroup string `json:"run_group"`
			Runs     int    `json:"runs"`
		}{groupDir, len(r.jobs)})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %d runs done; aggregate with: paperbench results %s\n", groupDir, len(r.jobs), groupDir)
	return nil
}

// runSpec reads the flags into the group's spec, resolving the papers.
func runSpec(cmd *cobra.Command) (groupSpec, error) {
	f := cmd.Flags()
	s := groupSpec{Layout: layoutVersion, Created: time.Now().UTC()}
	s.Agent, _ = f.GetString("agent")
	if s.Agent != string(agent.Basic) && s.Agent != string(agent.Iterative) {
		return s, fmt.Errorf("run: unknown agent %q (want basic or iterative)", s.Agent)
	}
	s.RunGroup, _ = f.GetString("run-group")
	if s.RunGroup == "" {
		s.RunGroup = "run-group_" + s.Agent
	}
	if !validName(s.RunGroup) {
		return s, fmt.Errorf("run: invalid run group name %q", s.RunGroup)
	}
	s.Seeds, _ = f.GetInt("seeds")
	if s.Seeds < 1 {
		return s, errors.New("run: --seeds must be at least 1")
	}
	s.Model, _ = f.GetString("model")
	s.Judge, _ = f.GetString("judge")
	s.JudgeModel, _ = f.GetString("judge-model")
	s.CodeOnly, _ = f.GetBool("code-only")
	s.ResourcesProvided, _ = f.GetBool("resources-provided")
	limit, _ := f.GetDuration("time-limit")
	s.TimeLimitS = limit.Seconds()
	s.MaxSteps, _ = f.GetInt("max-steps")
	s.Sandbox, _ = f.GetString("sandbox")
	if s.Sandbox != "local" && s.Sandbox != "docker" && s.Sandbox != "kubernetes" {
		return s, fmt.Errorf("run: --sandbox %q: want local, docker or kubernetes", s.Sandbox)
	}
	s.Image, _ = f.GetString("image")
	switch {
	case s.Sandbox != "local" && s.Image == "":
		return s, fmt.Errorf("run: --sandbox %s needs --image NAME (an image with bash, git and python3; docker pulls none)", s.Sandbox)
	case s.Sandbox == "local" && s.Image != "":
		return s, errors.New("run: --image is for the docker and kubernetes backends, not local")
	}
	s.AgentNetwork, _ = f.GetString("agent-network")
	if s.AgentNetwork != string(sandbox.NetworkNone) && s.AgentNetwork != string(sandbox.NetworkFull) {
		return s, fmt.Errorf("run: --agent-network must be none or full, not %q", s.AgentNetwork)
	}
	var err error
	s.Papers, err = resolvePapers(cmd)
	return s, err
}

func validName(s string) bool {
	return s != "" && s != "." && s != ".." && filepath.Base(s) == s
}

// resolvePapers returns the papers named by --paper-dir, or by --data with --split or
// --papers; each must have paper.md and a valid rubric.
func resolvePapers(cmd *cobra.Command) ([]paperEntry, error) {
	f := cmd.Flags()
	dirs, _ := f.GetStringArray("paper-dir")
	data, _ := f.GetString("data")
	split, _ := f.GetString("split")
	ids, _ := f.GetStringSlice("papers")
	if len(dirs) > 0 == (data != "") {
		return nil, errors.New("run: give either --paper-dir (repeatable) or --data with --split or --papers")
	}
	if data != "" {
		ds, err := dataset.Open(data)
		if err != nil {
			return nil, err
		}
		if split != "" {
			if ids, err = ds.Split(split); err != nil {
				return nil, err
			}
		}
		if len(ids) == 0 {
			return nil, errors.New("run: --data needs --split or --papers")
		}
		for _, id := range ids {
			dirs = append(dirs, filepath.Join(ds.PapersDir, id))
		}
	}
	var papers []paperEntry
	seen := map[string]bool{}
	for _, d := range dirs {
		p, err := checkPaper(d)
		if err != nil {
			return nil, err
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("run: paper %s given twice", p.ID)
		}
		seen[p.ID] = true
		papers = append(papers, p)
	}
	return papers, nil
}

func checkPaper(dir string) (paperEntry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return paperEntry{}, err
	}
	p, err := dataset.LoadPaper(abs)
	if err != nil {
		return paperEntry{}, fmt.Errorf("run: paper folder %s: %w", dir, err)
	}
	if _, err := p.Read(dataset.PaperMarkdown); err != nil {
		return paperEntry{}, fmt.Errorf("run: paper folder %s: %w", dir, err)
	}
	if _, err := p.Rubric(); err != nil {
		return paperEntry{}, fmt.Errorf("run: paper folder %s: rubric: %w", dir, err)
	}
	return paperEntry{ID: p.ID, Dir: abs}, nil
}

// openGroup creates the group folder with run.json, or on resume checks that run.json
// asks for the same work.
func openGroup(dir string, spec groupSpec, resume bool) error {
	path := filepath.Join(dir, runFile)
	old, err := readGroupSpec(dir)
	switch {
	case err == nil && !resume:
		return fmt.Errorf("run: %s exists; pass --resume to continue it, or choose another --run-group", dir)
	case err == nil && !old.sameRun(spec):
		return fmt.Errorf("run: %s was started with other settings (%s); resume with the same flags", dir, path)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return err
	case resume:
		return fmt.Errorf("run: nothing to resume: %s has no %s", dir, runFile)
	}
	if es, _ := os.ReadDir(dir); len(es) > 0 {
		return fmt.Errorf("run: %s is not empty but has no %s (an older layout?); use another --run-group", dir, runFile)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return writeJSONFile(path, spec)
}

func readGroupSpec(dir string) (groupSpec, error) {
	var s groupSpec
	b, err := os.ReadFile(filepath.Join(dir, runFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, runFile), err)
	}
	if s.Layout != layoutVersion {
		return s, fmt.Errorf("%s: runs layout %d, this build reads layout %d", filepath.Join(dir, runFile), s.Layout, layoutVersion)
	}
	return s, nil
}

// writeJSONFile writes v as indented JSON through a synced temporary file and a rename.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// job is one paper × seed.
type job struct {
	paper paperEntry
	seed  int
	dir   string
}

func (j job) name() string { return j.paper.ID + "/" + strconv.Itoa(j.seed) }

// runner runs the stages of the jobs.
type runner struct {
	spec        groupSpec
	jobs        []job
	provider    sandbox.Provider
	agentClient agent.Completer
	agentCfg    agent.Config
	judge       judgeSettings
	reproduce   struct {
		timeout time.Duration
		retries int
	}
	concurrency int
	stageDone   func(stage string) // called as each stage of a job finishes
}

func newRunner(cmd *cobra.Command, spec groupSpec, groupDir string) (*runner, error) {
	f := cmd.Flags()
	r := &runner{spec: spec}
	if sbDir, _ := f.GetString("sandbox-dir"); sbDir == "" {
		f.Set("sandbox-dir", filepath.Join(filepath.Dir(groupDir), ".sandboxes"))
	}
	p, err := newProvider(cmd)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	r.provider = p
	baseURL, _ := f.GetString("base-url")
	key, _ := f.GetString("api-key")
	r.agentClient = llm.New(llm.Config{BaseURL: baseURL, APIKey: key, Model: spec.Model})
	toolTimeout, _ := f.GetDuration("tool-timeout")
	snapshotEvery, _ := f.GetDuration("snapshot-every")
	r.agentCfg = agent.Config{Kind: agent.Kind(spec.Agent), Client: r.agentClient, Model: spec.Model, Provider: p,
		CodeOnly: spec.CodeOnly, TimeLimit: time.Duration(spec.TimeLimitS * float64(time.Second)),
		MaxSteps: spec.MaxSteps, ToolTimeout: toolTimeout, SnapshotEvery: snapshotEvery}
	r.judge = judgeSettings{Name: spec.Judge, Model: spec.JudgeModel, ReasoningEffort: "auto", MaxPriorNodes: -1,
		PriceIn: -1, PriceOut: -1, CodeOnly: spec.CodeOnly, RequestTimeout: llm.DefaultConfig.RequestTimeout,
		MaxRetries: llm.DefaultConfig.MaxRetries}
	r.judge.BaseURL, _ = f.GetString("judge-base-url")
	r.judge.APIKey, _ = f.GetString("judge-api-key")
	r.judge.Concurrency, _ = f.GetInt("judge-concurrency")
	r.reproduce.timeout, _ = f.GetDuration("reproduce-timeout")
	r.reproduce.retries, _ = f.GetInt("reproduce-retries")
	r.concurrency, _ = f.GetInt("concurrency")
	r.concurrency = max(r.concurrency, 1)
	for _, paper := range spec.Papers {
		for seed := 1; seed <= spec.Seeds; seed++ {
			r.jobs = append(r.jobs, job{paper: paper, seed: seed,
				dir: filepath.Join(groupDir, paper.ID, strconv.Itoa(seed))})
		}
	}
	return r, nil
}

// runAll runs the jobs, concurrency at a time, with a progress bar over their stages, and
// returns how many failed.
func (r *runner) runAll(ctx context.Context, log io.Writer) int {
	stages := 4 // rollout, monitor, reproduction, grading
	if r.spec.CodeOnly {
		stages = 3
	}
	bar := progressbar.NewOptions(len(r.jobs)*stages, progressbar.OptionSetWriter(log),
		progressbar.OptionSetDescription("stages"), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(500*time.Millisecond),
		progressbar.OptionSetWidth(20))
	var mu sync.Mutex
	failed := 0
	r.stageDone = func(string) {
		mu.Lock()
		bar.Add(1)
		mu.Unlock()
	}
	report := func(j job, err error) {
		if err == nil || ctx.Err() != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		failed++
		bar.Clear()
		fmt.Fprintf(log, "%s: failed: %v\n", j.name(), err)
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for range min(r.concurrency, len(r.jobs)) {
		wg.Go(func() {
			for j := range work {
				report(j, r.runJob(ctx, j, stages))
			}
		})
	}
	for _, j := range r.jobs {
		if ctx.Err() != nil {
			break
		}
		work <- j
	}
	close(work)
	wg.Wait()
	bar.Finish()
	fmt.Fprintln(log)
	return failed
}

// runJob runs the stages of one job that have not finished.
func (r *runner) runJob(ctx context.Context, j job, stages int) error {
	if _, err := os.Stat(filepath.Join(j.dir, gradeFile)); err == nil {
		for range stages {
			r.stageDone("done before")
		}
		return nil
	}
	cfg := r.agentCfg
	cfg.Paper, cfg.Dir = j.paper.Dir, filepath.Join(j.dir, "rollout")
	cfg.Spec = sandbox.Spec{Image: r.spec.Image, Network: sandbox.Network(r.spec.AgentNetwork), Labels: sandbox.Labels{"run_group": r.spec.RunGroup, "paper": j.paper.ID, "seed": strconv.Itoa(j.seed)}}
	st, err := agent.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	r.stageDone("rollout")
	mon, err := monitorStage(j)
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	r.stageDone("monitor")
	if mon.Flagged() {
		for range stages - 2 {
			r.stageDone("skipped")
		}
		return r.writeFlagged(j, st, mon)
	}
	repro, err := r.reproduceStage(ctx, j, st)
	if err != nil {
		return fmt.Errorf("reproduction: %w", err)
	}
	if !r.spec.CodeOnly {
		r.stageDone("reproduction")
	}
	if err := r.gradeStage(ctx, j, st, repro, mon); err != nil {
		return err
	}
	r.stageDone("grading")
	return nil
}

// finalSnapshot is the path of the rollout's final snapshot tar.
func finalSnapshot(j job, st *agent.Status) (string, error) {
	if st.Final == nil {
		return "", errors.New("the rollout has no final snapshot")
	}
	return filepath.Join(j.dir, "rollout", st.Final.File), nil
}

// extractSnapshot unpacks the final snapshot into dir (once).
func extractSnapshot(tarPath, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := archive.Extract(f, tmp, archive.Limits{}); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}
