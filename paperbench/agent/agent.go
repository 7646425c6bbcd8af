// Package agent runs the PaperBench agents, BasicAgent and IterativeAgent, over any
// OpenAI-compatible chat endpoint with tool calling. The loop runs on the host; every tool
// call runs in the agent's sandbox (bash, python, read_file_chunk, search_file, with the
// official names and arguments, and submit), under a per-call timeout that kills the
// call's processes and tells the model, with output capped head and tail.
//
// Time is one working-time clock: waits between API retries are left out, and each tool
// call's timeout is also cut to the time left, so the loop and the sandbox enforce the same
// limit. Every message, tool call and result is appended to transcript.jsonl, synced,
// before the model sees it and before any pruning, together with each call's tokens and
// cost. /home/submission is committed and saved as a tar every 30 minutes of working time
// and at the end; a rollout that crashed resumes from its transcript and last snapshot
// without repeating a recorded model call.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/latentlab/latent/paperbench/judge"
	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/sandbox"
)

// Kind selects the agent.
type Kind string

// The agents.
const (
	Basic     Kind = "basic"     // BasicAgent: bash, python, search_file, read_file_chunk, submit
	Iterative Kind = "iterative" // IterativeAgent: bash, read_file_chunk, submit
)

// Completer makes one chat completion; *llm.Client is one.
type Completer interface {
	Complete(ctx context.Context, req llm.Request) (llm.Response, error)
}

// Config sets up a rollout. Zero durations and counts take the defaults in
// [DefaultConfig].
type Config struct {
	Kind     Kind
	Client   Completer
	Model    string
	Paper    string // the paper folder (paper.md, addendum.md, assets/, blacklist.txt)
	Dir      string // the rollout folder: transcript.jsonl, snapshots/, status.json
	Provider sandbox.Provider
	Spec     sandbox.Spec // the agent's computer; labels are added
	CodeOnly bool         // the Code-Dev variant

	TimeLimit     time.Duration // working time
	MaxSteps      int           // 0: no step limit
	ReminderEvery int           // steps between time reminders
	ToolTimeout   time.Duration // limit of one tool call
	OutputLimit   int           // bytes of tool output shown to the model
	SnapshotEvery time.Duration // working time between snapshots
	Prices        map[string]judge.Price
	// Clock, for tests, replaces the wall clock the working time is measured with.
	Clock func() time.Time
}

// DefaultConfig holds the defaults of the zero fields of a [Config].
var DefaultConfig = Config{
	Kind:          Basic,
	TimeLimit:     12 * time.Hour, // the paper's runs
	ReminderEvery: 5,
	ToolTimeout:   2 * time.Hour,
	OutputLimit:   16 << 10,
	SnapshotEvery: 30 * time.Minute,
}

// Status is the rollout folder's status.json.
type Status struct {
	Status   string    `json:"status"` // running, done, failed
	Reason   string    `json:"reason,omitempty"`
	Error    string    `json:"error,omitempty"`
	Steps    int       `json:"steps"`
	WorkingS float64   `json:"working_s"`
	Calls    int       `json:"model_calls"`
	Usage    llm.Usage `json:"usage"`
	CostUSD  float64   `json:"cost_usd"`
	Unpriced bool      `json:"unpriced,omitempty"` // some calls' model has no price
	Final    *Snapshot `json:"final_snapshot,omitempty"`
	Resumes  int       `json:"resumes"`
	Updated  time.Time `json:"last_updated"`
}

// Files of a rollout folder.
const (
	TranscriptFile = "transcript.jsonl"
	StatusFile     = "status.json"
)

func (c *Config) fill() error {
	d := DefaultConfig
	if c.Kind == "" {
		c.Kind = d.Kind
	}
	if _, ok := toolNames[c.Kind]; !ok {
		return fmt.Errorf("agent: unknown agent %q (want basic or iterative)", c.Kind)
	}
	if c.Client == nil || c.Provider == nil || c.Dir == "" || c.Paper == "" {
		return errors.New("agent: Client, Provider, Dir and Paper are required")
	}
	if _, err := os.Stat(filepath.Join(c.Paper, "paper.md")); err != nil {
		return fmt.Errorf("agent: paper folder %s has no paper.md: %w", c.Paper, err)
	}
	c.TimeLimit = orDuration(c.TimeLimit, d.TimeLimit)
	c.ToolTimeout = orDuration(c.ToolTimeout, d.ToolTimeout)
	c.SnapshotEvery = orDuration(c.SnapshotEvery, d.SnapshotEvery)
	if c.ReminderEvery <= 0 {
		c.ReminderEvery = d.ReminderEvery
	}
	if c.OutputLimit <= 0 {
		c.OutputLimit = d.OutputLimit
	}
	if c.Prices == nil {
		c.Prices = judge.DefaultPrices
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return nil
}

func orDuration(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

// ReadStatus reads a rollout folder's status.json.
func ReadStatus(dir string) (*Status, error) {
	b, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("agent: %s: %w", filepath.Join(dir, StatusFile), err)
	}
	return &s, nil
}

func writeStatus(dir string, s *Status) error {
	s.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, StatusFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("agent: status: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, StatusFile))
}

// clock measures working time: wall time since start minus excluded waits, plus the
// working time of earlier parts of a resumed rollout.
type clock struct {
	base     time.Duration
	start    time.Time
	excluded time.Duration
	now      func() time.Time
}

func (c *clock) elapsed() time.Duration { return c.base + c.now().Sub(c.start) - c.excluded }
