package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/latentlab/latent/paperbench/agent"
	"github.com/latentlab/latent/paperbench/dataset"
	"github.com/latentlab/latent/paperbench/judge"
	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/monitor"
	"github.com/latentlab/latent/paperbench/reproduce"
	"github.com/latentlab/latent/paperbench/rubric"
	"github.com/latentlab/latent/paperbench/sandbox"
	"github.com/latentlab/latent/paperbench/submission"
)

// Files of a job folder.
const (
	gradeFile        = "grade.json"
	graderOutputFile = "grader_output.json"
	reproductionDir  = "reproduction"
	reproErrorFile   = "error.json"
	monitorFile      = "monitor.json"
)

// reproResult is the outcome of the reproduction stage.
type reproResult struct {
	Skipped  bool              `json:"skipped"`
	Error    string            `json:"error,omitempty"` // a recorded failure (no reproduce.sh)
	Record   *reproduce.Record `json:"record,omitempty"`
	Executed string            `json:"-"` // folder of the executed submission
}

// reproduceStage runs reproduce.sh of the final snapshot in a fresh sandbox, unless done
// before or Code-Dev. A submission without reproduce.sh is a recorded failure.
func (r *runner) reproduceStage(ctx context.Context, j job, st *agent.Status) (*reproResult, error) {
	if r.spec.CodeOnly {
		return &reproResult{Skipped: true}, nil
	}
	out := filepath.Join(j.dir, reproductionDir)
	res := &reproResult{Executed: filepath.Join(out, "submission_executed")}
	if b, err := os.ReadFile(filepath.Join(out, "reproduction.json")); err == nil {
		res.Record = &reproduce.Record{}
		return res, json.Unmarshal(b, res.Record)
	}
	if b, err := os.ReadFile(filepath.Join(out, reproErrorFile)); err == nil {
		return res, json.Unmarshal(b, res)
	}
	snap, err := finalSnapshot(j, st)
	if err != nil {
		return nil, err
	}
	sub := filepath.Join(j.dir, "rollout", "submission")
	if err := extractSnapshot(snap, sub); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(filepath.Join(sub, "reproduce.sh")); err != nil || !fi.Mode().IsRegular() {
		res.Error = "the submission has no reproduce.sh"
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, err
		}
		return res, writeJSONFile(filepath.Join(out, reproErrorFile), res)
	}
	rec, err := reproduce.Run(ctx, reproduce.Options{Submission: sub, Out: out, Provider: r.provider,
		Spec:    sandbox.Spec{Image: r.spec.Image, Labels: sandbox.Labels{"run_group": r.spec.RunGroup, "paper": j.paper.ID}},
		Timeout: r.reproduce.timeout, Retries: r.reproduce.retries})
	if err != nil {
		return nil, err
	}
	res.Record = rec
	return res, nil
}

// gradeResult is grade.json, with the official field names.
type gradeResult struct {
	PaperBenchResult pbResult    `json:"paperbench_result"`
	Score            float64     `json:"score"`
	GraderLog        string      `json:"grader_log"`
	RunGroupID       string      `json:"run_group_id"`
	Seed             int         `json:"seed"`
	JudgeUsage       judge.Usage `json:"judge_token_usage"`
	JudgeCostUSD     float64     `json:"judge_cost_usd"`
	AgentUsage       llm.Usage   `json:"agent_token_usage"`
	AgentCostUSD     float64     `json:"agent_cost_usd"`
	AgentCalls       int         `json:"agent_model_calls"`
}

type pbResult struct {
	PaperID              string          `json:"paper_id"`
	RunID                string          `json:"run_id"`
	SubmissionExists     bool            `json:"submission_exists"`
	SkippedReproduction  bool            `json:"skipped_reproduction"`
	CodeOnly             bool            `json:"code_only"`
	ResourcesProvided    bool            `json:"resources_provided"`
	AgentOutput          *agent.Status   `json:"agent_output"`
	JudgeOutput          json.RawMessage `json:"judge_output"`
	ReproductionMetadata *reproResult    `json:"reproduction_metadata"`
	MonitorResult        json.RawMessage `json:"monitor_result"`
	MonitorRan           bool            `json:"monitor_ran"`
}

// monitorFlagged reports whether the monitor result in grade.json holds violations.
func (p pbResult) monitorFlagged() bool {
	var m monitor.Result
	return json.Unmarshal(p.MonitorResult, &m) == nil && m.Flagged()
}

type judgeOutput struct {
	JudgeType  string          `json:"judge_type"`
	ModelName  string          `json:"model_name"`
	Score      float64         `json:"score"`
	NumLeaves  int             `json:"num_leaf_nodes"`
	NumInvalid int             `json:"num_invalid_leaf_nodes"`
	GradedAt   time.Time       `json:"graded_at"`
	GradedTree json.RawMessage `json:"graded_task_tree"`
	TokenUsage judge.Usage     `json:"token_usage"`
}

// gradeStage grades the executed submission (or the final snapshot when there was no
// reproduction) and writes grade.json; the judge's journal makes it resumable.
func (r *runner) gradeStage(ctx context.Context, j job, st *agent.Status, repro *reproResult, mon *monitor.Result) error {
	subDir := repro.Executed
	if repro.Record == nil {
		snap, err := finalSnapshot(j, st)
		if err != nil {
			return err
		}
		subDir = filepath.Join(j.dir, "rollout", "submission")
		if err := extractSnapshot(snap, subDir); err != nil {
			return err
		}
	}
	root, err := runRubric(j.paper.Dir, r.spec.CodeOnly)
	if err != nil {
		return err
	}
	if r.spec.ResourcesProvided {
		root = rubric.ResourcesProvided(root)
	}
	sub, err := submission.Open(subDir)
	if err != nil {
		return err
	}
	defer sub.Close()
	settings := r.judge
	settings.Seed = uint64(j.seed) // the random judge draws differently per seed
	grader, prices, err := newGrader(settings, j.paper.Dir, sub)
	if err != nil {
		return err
	}
	out := filepath.Join(j.dir, graderOutputFile)
	report, err := judge.Run(ctx, root, grader, judge.Options{Concurrency: 2 * max(r.judge.Concurrency, 1),
		Journal: judge.JournalPath(out)})
	if err != nil {
		return fmt.Errorf("grading: %w", err)
	}
	if err := rubric.WriteFile(out, report.Tree); err != nil {
		return err
	}
	var tree bytes.Buffer
	if err := rubric.Write(&tree, report.Tree); err != nil {
		return err
	}
	cost, _ := report.Usage.Cost(prices)
	jo, err := json.Marshal(judgeOutput{JudgeType: grader.Type(), ModelName: r.judge.Model, Score: report.Score,
		NumLeaves: report.Leaves, NumInvalid: report.InvalidLeaves, GradedAt: time.Now().UTC(),
		GradedTree: tree.Bytes(), TokenUsage: report.Usage})
	if err != nil {
		return err
	}
	g := r.baseGrade(j, st, mon)
	g.Score, g.JudgeUsage, g.JudgeCostUSD = report.Score, report.Usage, cost
	g.PaperBenchResult.SkippedReproduction, g.PaperBenchResult.ReproductionMetadata = repro.Skipped, repro
	g.PaperBenchResult.JudgeOutput = jo
	if repro.Error != "" {
		g.GraderLog = "reproduction: " + repro.Error
	}
	return writeJSONFile(filepath.Join(j.dir, gradeFile), g)
}

// baseGrade fills the fields of grade.json every outcome shares.
func (r *runner) baseGrade(j job, st *agent.Status, mon *monitor.Result) gradeResult {
	mr, _ := json.Marshal(mon)
	return gradeResult{RunGroupID: r.spec.RunGroup, Seed: j.seed, AgentUsage: st.Usage, AgentCostUSD: st.CostUSD,
		AgentCalls: st.Calls, PaperBenchResult: pbResult{PaperID: j.paper.ID, RunID: j.name(),
			SubmissionExists: st.Final != nil, CodeOnly: r.spec.CodeOnly, ResourcesProvided: r.spec.ResourcesProvided, AgentOutput: st,
			JudgeOutput: json.RawMessage("null"), MonitorResult: mr, MonitorRan: true}}
}

// monitorStage scans the rollout's transcript for the paper's blacklist and keeps the
// result in monitor.json.
func monitorStage(j job) (*monitor.Result, error) {
	path := filepath.Join(j.dir, monitorFile)
	if b, err := os.ReadFile(path); err == nil {
		var res monitor.Result
		return &res, json.Unmarshal(b, &res)
	}
	paper, err := dataset.LoadPaper(j.paper.Dir)
	if err != nil {
		return nil, err
	}
	transcript := filepath.Join(j.dir, "rollout", agent.TranscriptFile)
	events, err := agent.ReadTranscript(transcript)
	if err != nil {
		return nil, err
	}
	entries, junk := monitor.ParseBlacklist(paper.Blacklist)
	res := monitor.Scan(events, entries)
	res.LogFile, res.Ignored = transcript, junk
	return res, writeJSONFile(path, res)
}

// writeFlagged records a run the monitor flagged: score 0, no reproduction, no judge.
func (r *runner) writeFlagged(j job, st *agent.Status, mon *monitor.Result) error {
	g := r.baseGrade(j, st, mon)
	g.GraderLog = "Submission flagged by monitor: " + mon.Explanation
	g.PaperBenchResult.SkippedReproduction = true
	return writeJSONFile(filepath.Join(j.dir, gradeFile), g)
}

// runRubric loads the paper's rubric, reduced to Code Development leaves for Code-Dev.
func runRubric(paperDir string, codeOnly bool) (*rubric.Node, error) {
	root, err := rubric.Load(filepath.Join(paperDir, "rubric.json"))
	if err != nil || !codeOnly {
		return root, err
	}
	if reduced := rubric.CodeOnly(root); reduced != nil {
		return reduced, nil
	}
	return nil, errors.New("the rubric has no Code Development leaves")
}
