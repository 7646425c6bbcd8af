package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/latentlab/latent/paperbench/judge"
	"github.com/latentlab/latent/paperbench/llm"
	"github.com/latentlab/latent/paperbench/sandbox"
)

// rollout is one run of the loop over a rollout folder.
type rollout struct {
	cfg      Config
	tr       *transcript
	hist     history
	clock    clock
	step     int
	snapshot *Snapshot
	tools    runner
	status   Status
}

// Run runs the rollout in cfg.Dir, or resumes it when the folder holds an unfinished one,
// and returns its final status. A finished rollout is returned as it is. When ctx ends,
// Run stops (the transcript keeps everything so far) and returns ctx's error.
func Run(ctx context.Context, cfg Config) (*Status, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if st, err := ReadStatus(cfg.Dir); err == nil && st.Status == "done" {
		return st, nil
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	tr, events, err := openTranscript(filepath.Join(cfg.Dir, TranscriptFile))
	if err != nil {
		return nil, err
	}
	defer tr.close()
	rp := replay(events)
	r := newRollout(cfg, tr, events, rp)
	if rp.ended != nil {
		r.status.Status, r.status.Reason = "done", rp.ended.Reason
		return &r.status, writeStatus(cfg.Dir, &r.status)
	}
	err = r.run(ctx, rp, len(events) > 0)
	if err != nil {
		r.status.Status, r.status.Error = "failed", err.Error()
		if ctx.Err() != nil {
			r.status.Status = "interrupted"
		}
	}
	r.status.Steps, r.status.WorkingS = r.step, r.clock.elapsed().Seconds()
	if werr := writeStatus(cfg.Dir, &r.status); err == nil {
		err = werr
	}
	return &r.status, err
}

// newRollout restores the loop's state and the totals from the recorded events.
func newRollout(cfg Config, tr *transcript, events []Event, rp replayed) *rollout {
	r := &rollout{cfg: cfg, tr: tr, hist: rp.hist, step: rp.step, snapshot: rp.snapshot}
	r.clock = clock{base: time.Duration(rp.workingS * float64(time.Second)), start: cfg.Clock(), now: cfg.Clock}
	for _, e := range events {
		if e.Call != nil {
			r.count(e.Call)
		}
		if e.Start != nil && e.Start.Resumed {
			r.status.Resumes++
		}
		if e.Snapshot != nil && e.Snapshot.Final {
			r.status.Final = e.Snapshot
		}
	}
	r.status.Steps, r.status.WorkingS = rp.step, rp.workingS
	return r
}

func (r *rollout) count(c *CallInfo) {
	r.status.Calls++
	r.status.Usage.In += c.Usage.In
	r.status.Usage.Out += c.Usage.Out
	r.status.CostUSD += c.CostUSD
	r.status.Unpriced = r.status.Unpriced || !c.Priced
}

func (r *rollout) run(ctx context.Context, rp replayed, resumed bool) error {
	labels := sandbox.Labels{"stage": "agent", "rollout": r.cfg.Dir}
	if _, err := r.cfg.Provider.Cleanup(ctx, labels); err != nil {
		return err
	}
	spec := r.cfg.Spec
	spec.Labels = sandbox.Labels{}
	for _, l := range []sandbox.Labels{r.cfg.Spec.Labels, labels} {
		for k, v := range l {
			spec.Labels[k] = v
		}
	}
	spec.Workdir = HomeDir
	sb, err := r.cfg.Provider.Create(ctx, spec)
	if err != nil {
		return fmt.Errorf("agent: creating the sandbox: %w", err)
	}
	defer sb.Close(context.WithoutCancel(ctx))
	r.tools = runner{sb: sb, kind: r.cfg.Kind, timeout: r.cfg.ToolTimeout, outputLimit: r.cfg.OutputLimit}
	gpus, err := sandbox.ProbeGPUs(ctx, sb)
	if err != nil {
		return fmt.Errorf("agent: asking the sandbox for its GPUs: %w", err)
	}
	instr := instructions(r.cfg.Kind, r.cfg.CodeOnly, spec.Network == sandbox.NetworkFull, gpus, r.cfg.TimeLimit)
	restore := ""
	if rp.snapshot != nil {
		restore = filepath.Join(r.cfg.Dir, rp.snapshot.File)
	}
	if err := prepare(ctx, sb, r.cfg.Paper, instr, restore); err != nil {
		return err
	}
	if err := r.begin(sb.Info().Backend, gpus, rp, resumed, instr); err != nil {
		return err
	}
	r.status.Status, r.status.Steps, r.status.WorkingS = "running", r.step, r.clock.elapsed().Seconds()
	if err := writeStatus(r.cfg.Dir, &r.status); err != nil {
		return err
	}
	reason, err := r.loop(ctx, rp)
	if err != nil {
		return err
	}
	return r.finish(ctx, reason)
}

// begin records the start (the sandbox's backend and GPUs) and either the opening messages
// or, on resume, the answers to calls cut short and the note about the restart.
func (r *rollout) begin(backend string, gpus []string, rp replayed, resumed bool, instr string) error {
	start := &StartInfo{Agent: string(r.cfg.Kind), Model: r.cfg.Model, TimeLimitS: r.cfg.TimeLimit.Seconds(),
		MaxSteps: r.cfg.MaxSteps, CodeOnly: r.cfg.CodeOnly, Sandbox: backend, GPUs: gpus, Resumed: resumed}
	if rp.snapshot != nil {
		start.Restored = rp.snapshot.Number
	}
	if err := r.record(Event{Type: EventStart, Start: start}); err != nil {
		return err
	}
	if resumed {
		r.status.Resumes++
	}
	if !resumed {
		if err := r.addMessage(llm.Message{Role: llm.System, Content: systemPrompt(r.cfg.Kind, r.cfg.CodeOnly)}, nil); err != nil {
			return err
		}
		return r.addMessage(llm.Message{Role: llm.User, Content: instr}, nil)
	}
	for _, c := range rp.pending {
		if c.Function.Name == ToolSubmit {
			continue // handled by the loop: the rollout had submitted
		}
		res := refuse(c.Function.Name, "the computer restarted before this call finished; its effects may be lost")
		if err := r.addMessage(llm.Message{Role: llm.Tool, ToolCallID: c.ID, Content: res.content}, &res.info); err != nil {
			return err
		}
	}
	return r.addMessage(llm.Message{Role: llm.User, Content: resumeNote(rp.snapshot, len(rp.pending))}, nil)
}

func (r *rollout) record(e Event) error {
	e.Step, e.WorkingS = r.step, r.clock.elapsed().Seconds()
	_, err := r.tr.append(e)
	return err
}

// addMessage records m and adds it to the history.
func (r *rollout) addMessage(m llm.Message, exec *ExecInfo) error {
	e, err := r.tr.append(Event{Type: EventMessage, Step: r.step, WorkingS: r.clock.elapsed().Seconds(), Message: &m, Exec: exec})
	if err != nil {
		return err
	}
	r.hist.add(e.Seq, m)
	return nil
}

func (r *rollout) loop(ctx context.Context, rp replayed) (string, error) {
	for _, c := range rp.pending {
		if c.Function.Name == ToolSubmit {
			return "submitted", nil
		}
	}
	for {
		switch {
		case r.cfg.MaxSteps > 0 && r.step >= r.cfg.MaxSteps:
			return "max_steps", nil
		case r.clock.elapsed() >= r.cfg.TimeLimit:
			return "time_limit", nil
		}
		r.step++
		if r.snapshotDue() {
			if err := r.takeSnapshot(ctx, false); err != nil {
				return "", err
			}
		}
		if r.step%r.cfg.ReminderEvery == 0 {
			if err := r.addMessage(llm.Message{Role: llm.User, Content: reminder(r.clock.elapsed(), r.cfg.TimeLimit)}, nil); err != nil {
				return "", err
			}
		}
		submitted, err := r.turn(ctx)
		if err != nil {
			return "", err
		}
		if submitted {
			return "submitted", nil
		}
	}
}

func (r *rollout) snapshotDue() bool {
	last := 0.0
	if r.snapshot != nil {
		last = r.snapshot.WorkingS
	}
	return r.clock.elapsed().Seconds()-last >= r.cfg.SnapshotEvery.Seconds()
}

func (r *rollout) takeSnapshot(ctx context.Context, final bool) error {
	n := 1
	if r.snapshot != nil {
		n = r.snapshot.Number + 1
	}
	snap, err := takeSnapshot(ctx, r.tools.sb, r.cfg.Dir, n, r.clock.elapsed(), final)
	if err != nil {
		return err
	}
	r.snapshot = snap
	if final {
		r.status.Final = snap
	}
	return r.record(Event{Type: EventSnapshot, Snapshot: snap})
}

// turn makes one model call and runs the tool calls it returns; it reports whether the
// model submitted.
func (r *rollout) turn(ctx context.Context) (bool, error) {
	msgs := r.hist.messages()
	specs := make([]llm.ToolSpec, 0, len(toolNames[r.cfg.Kind]))
	for _, n := range toolNames[r.cfg.Kind] {
		specs = append(specs, toolSpecs[n])
	}
	began := r.cfg.Clock()
	resp, err := r.cfg.Client.Complete(ctx, llm.Request{Model: r.cfg.Model, Messages: msgs, Tools: specs})
	var lerr *llm.Error
	if errors.As(err, &lerr) {
		resp.Waited = lerr.Waited
	}
	r.clock.excluded += resp.Waited
	if err != nil {
		if llm.IsContextOverflow(err) {
			return false, r.prune()
		}
		return false, fmt.Errorf("agent: model call at step %d: %w", r.step, err)
	}
	call := r.callInfo(resp, r.cfg.Clock().Sub(began), len(msgs))
	r.count(call)
	fixIDs(resp.ToolCalls, r.tr.seq+1)
	m := llm.Message{Role: llm.Assistant, Content: resp.Content, ToolCalls: resp.ToolCalls}
	if resp.FinishReason == "length" && len(resp.ToolCalls) == 0 {
		// The answer was cut off by the length limit: the official agent prunes.
		if err := r.record(Event{Type: EventMessage, Message: &m, Call: call, Discarded: true}); err != nil {
			return false, err
		}
		return false, r.prune()
	}
	e, err := r.tr.append(Event{Type: EventMessage, Step: r.step, WorkingS: r.clock.elapsed().Seconds(), Message: &m, Call: call})
	if err != nil {
		return false, err
	}
	r.hist.add(e.Seq, m)
	if len(resp.ToolCalls) == 0 {
		return false, r.addMessage(llm.Message{Role: llm.User, Content: continueMessage}, nil)
	}
	return r.runCalls(ctx, resp.ToolCalls)
}

// runCalls runs the calls in order; submit ends the rollout and skips the calls after it.
func (r *rollout) runCalls(ctx context.Context, calls []llm.ToolCall) (bool, error) {
	for _, c := range calls {
		if c.Function.Name == ToolSubmit {
			return true, nil
		}
		res, err := r.tools.run(ctx, c, r.cfg.TimeLimit-r.clock.elapsed())
		if err != nil {
			return false, err
		}
		if err := r.addMessage(llm.Message{Role: llm.Tool, ToolCallID: c.ID, Content: res.content}, &res.info); err != nil {
			return false, err
		}
	}
	return false, nil
}

// fixIDs gives calls without an id one, so that their answers can name them.
func fixIDs(calls []llm.ToolCall, seq int) {
	seen := map[string]bool{}
	for i := range calls {
		if calls[i].ID == "" || seen[calls[i].ID] {
			calls[i].ID = fmt.Sprintf("call_%d_%d", seq, i)
		}
		seen[calls[i].ID] = true
	}
}

func (r *rollout) callInfo(resp llm.Response, took time.Duration, sent int) *CallInfo {
	c := &CallInfo{Model: r.cfg.Model, Usage: resp.Usage, Reported: resp.Reported, Attempts: resp.Attempts,
		WaitedS: resp.Waited.Seconds(), LatencyS: (took - resp.Waited).Seconds(), FinishReason: resp.FinishReason, Sent: sent}
	if p, ok := judge.PriceOf(r.cfg.Prices, r.cfg.Model); ok {
		c.Priced = true
		c.CostUSD = (float64(resp.Usage.In)*p.In + float64(resp.Usage.Out)*p.Out) / 1e6
	}
	return c
}

// prune drops the oldest turns after a context overflow, keeping the system and first
// user messages; the dropped messages stay in the transcript.
func (r *rollout) prune() error {
	seqs := r.hist.planPrune()
	if seqs == nil {
		return errors.New("agent: the context overflowed and only the pinned messages are left to send")
	}
	if err := r.record(Event{Type: EventPrune, Dropped: seqs}); err != nil {
		return err
	}
	r.hist.drop(seqs)
	return nil
}

// finish takes the final snapshot and records the end.
func (r *rollout) finish(ctx context.Context, reason string) error {
	if err := r.takeSnapshot(ctx, true); err != nil {
		return err
	}
	if err := r.record(Event{Type: EventEnd, End: &EndInfo{Reason: reason}}); err != nil {
		return err
	}
	r.status.Status, r.status.Reason = "done", reason
	return nil
}
