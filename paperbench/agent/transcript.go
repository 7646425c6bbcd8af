package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/latentlab/latent/paperbench/llm"
)

// Event types of the transcript.
const (
	EventStart    = "start"    // a rollout (or a resumed part of one) begins
	EventMessage  = "message"  // a message joins the history, exactly as it is sent
	EventPrune    = "prune"    // messages leave the history the model sees (they stay here)
	EventSnapshot = "snapshot" // /home/submission was committed and saved
	EventEnd      = "end"      // the rollout finished
)

// Event is one line of the transcript.
type Event struct {
	Seq      int          `json:"seq"`
	Type     string       `json:"type"`
	Time     time.Time    `json:"time"`
	WorkingS float64      `json:"working_s"` // working time when the event was written
	Step     int          `json:"step"`
	Message  *llm.Message `json:"message,omitempty"`
	// Discarded marks a paid answer that did not join the history (cut off by the length
	// limit); it is kept so that nothing the model said vanishes.
	Discarded bool       `json:"discarded,omitempty"`
	Call      *CallInfo  `json:"call,omitempty"` // on the assistant message a model call returned
	Exec      *ExecInfo  `json:"exec,omitempty"` // on the tool message of an executed call
	Dropped   []int      `json:"dropped,omitempty"`
	Snapshot  *Snapshot  `json:"snapshot,omitempty"`
	Start     *StartInfo `json:"start,omitempty"`
	End       *EndInfo   `json:"end,omitempty"`
}

// CallInfo is the record of one model call.
type CallInfo struct {
	Model        string    `json:"model"`
	Usage        llm.Usage `json:"usage"`
	Reported     bool      `json:"usage_reported"`
	CostUSD      float64   `json:"cost_usd"`
	Priced       bool      `json:"priced"`
	Attempts     int       `json:"attempts"`
	WaitedS      float64   `json:"retry_wait_s"`
	LatencyS     float64   `json:"latency_s"`
	FinishReason string    `json:"finish_reason"`
	Sent         int       `json:"messages_sent"`
}

// ExecInfo is the record of one tool call run in the sandbox.
type ExecInfo struct {
	Tool      string  `json:"tool"`
	ExitCode  int     `json:"exit_code"`
	TimedOut  bool    `json:"timed_out"`
	Truncated bool    `json:"truncated"`
	DurationS float64 `json:"duration_s"`
	Error     string  `json:"error,omitempty"` // the call was refused or failed before running
}

// StartInfo opens a rollout or a resumed part of one.
type StartInfo struct {
	Agent      string   `json:"agent"`
	Model      string   `json:"model"`
	TimeLimitS float64  `json:"time_limit_s"`
	MaxSteps   int      `json:"max_steps"`
	CodeOnly   bool     `json:"code_only"`
	Sandbox    string   `json:"sandbox"`
	GPUs       []string `json:"gpus"`
	Resumed    bool     `json:"resumed"`
	// Restored is the snapshot /home/submission was restored from on resume (0: none).
	Restored int `json:"restored_snapshot,omitempty"`
}

// EndInfo closes a rollout.
type EndInfo struct {
	Reason string `json:"reason"` // submitted, time_limit, max_steps
}

// transcript appends events to a JSONL file, each one synced to disk before the call
// returns, so that a crash loses at most the event being written.
type transcript struct {
	f   *os.File
	seq int
}

// openTranscript opens path for appending and returns the events already in it. A last
// line cut short by a crash is removed; any other unreadable line is an error.
func openTranscript(path string) (*transcript, []Event, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("agent: transcript: %w", err)
	}
	events, good, err := parseTranscript(data)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: transcript %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: transcript: %w", err)
	}
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("agent: transcript: dropping a torn last line: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("agent: transcript: %w", err)
	}
	t := &transcript{f: f}
	if len(events) > 0 {
		t.seq = events[len(events)-1].Seq
	}
	return t, events, nil
}

// parseTranscript decodes the complete lines of data and returns the length of the prefix
// they span. A final line without its newline is torn and ignored.
func parseTranscript(data []byte) ([]Event, int, error) {
	var events []Event
	good := 0
	for line := 1; good < len(data); line++ {
		end := bytes.IndexByte(data[good:], '\n')
		if end < 0 {
			break
		}
		var e Event
		if err := json.Unmarshal(data[good:good+end], &e); err != nil {
			return nil, 0, fmt.Errorf("line %d: %w", line, err)
		}
		if e.Seq != len(events)+1 {
			return nil, 0, fmt.Errorf("line %d: sequence number %d, want %d", line, e.Seq, len(events)+1)
		}
		events = append(events, e)
		good += end + 1
	}
	return events, good, nil
}

// append numbers e, writes it as one line and syncs the file.
func (t *transcript) append(e Event) (Event, error) {
	t.seq++
	e.Seq = t.seq
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.seq--
		return e, fmt.Errorf("agent: transcript: %w", err)
	}
	w := bufio.NewWriterSize(t.f, len(b)+1)
	w.Write(b)
	w.WriteByte('\n')
	if err := w.Flush(); err != nil {
		return e, fmt.Errorf("agent: transcript: %w", err)
	}
	if err := t.f.Sync(); err != nil {
		return e, fmt.Errorf("agent: transcript: %w", err)
	}
	return e, nil
}

func (t *transcript) close() error { return t.f.Close() }

// ReadTranscript returns the events of the transcript at path (a torn last line is left
// out).
func ReadTranscript(path string) ([]Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent: transcript: %w", err)
	}
	events, _, err := parseTranscript(data)
	if err != nil {
		return nil, fmt.Errorf("agent: transcript %s: %w", path, err)
	}
	return events, nil
}
