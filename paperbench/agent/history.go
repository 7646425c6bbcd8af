package agent

import (
	"slices"

	"github.com/latentlab/latent/paperbench/llm"
)

// entry is a message of the history with the transcript sequence number that recorded it.
type entry struct {
	seq int
	msg llm.Message
}

// history is what the model is sent: every recorded message not yet pruned.
type history struct {
	entries []entry
}

func (h *history) add(seq int, m llm.Message) { h.entries = append(h.entries, entry{seq, m}) }

func (h *history) messages() []llm.Message {
	out := make([]llm.Message, len(h.entries))
	for i, e := range h.entries {
		out[i] = e.msg
	}
	return out
}

// pinned reports how many leading entries are never pruned: the system messages and the
// first user message (the instructions).
func (h *history) pinned() int {
	for i, e := range h.entries {
		if e.msg.Role == llm.User {
			return i + 1
		}
		if e.msg.Role != llm.System {
			return i
		}
	}
	return len(h.entries)
}

// pruneFraction is the share of the unpinned history dropped per context overflow (the
// official 30%).
const pruneFraction = 0.3

// planPrune returns the sequence numbers to drop: the oldest 30% (at least one) of the
// unpinned messages, plus any tool answers left at the front without the assistant
// message that called them. It returns nil when nothing can be dropped.
func (h *history) planPrune() []int {
	first := h.pinned()
	rest := h.entries[first:]
	if len(rest) <= 1 {
		return nil
	}
	n := max(1, int(float64(len(rest))*pruneFraction))
	for n < len(rest) && rest[n].msg.Role == llm.Tool {
		n++
	}
	if n >= len(rest) {
		// Keep the newest turn: the last message that is not a tool answer, and its answers.
		n = len(rest) - 1
		for n > 0 && rest[n].msg.Role == llm.Tool {
			n--
		}
		if n == 0 {
			return nil
		}
	}
	var seqs []int
	for _, e := range rest[:n] {
		seqs = append(seqs, e.seq)
	}
	return seqs
}

// drop removes the entries with the given sequence numbers.
func (h *history) drop(seqs []int) {
	h.entries = slices.DeleteFunc(h.entries, func(e entry) bool { return slices.Contains(seqs, e.seq) })
}

// replay rebuilds the history and the loop's counters from recorded events.
type replayed struct {
	hist     history
	step     int
	workingS float64
	snapshot *Snapshot // the last one
	ended    *EndInfo
	calls    int
	pending  []llm.ToolCall // calls of the last assistant message that have no answer
}

func replay(events []Event) replayed {
	var r replayed
	answered := map[string]bool{}
	var lastCalls []llm.ToolCall
	for _, e := range events {
		r.step, r.workingS = max(r.step, e.Step), max(r.workingS, e.WorkingS)
		switch e.Type {
		case EventMessage:
			if e.Call != nil {
				r.calls++
			}
			if e.Message == nil || e.Discarded {
				continue
			}
			r.hist.add(e.Seq, *e.Message)
			if e.Message.Role == llm.Assistant {
				lastCalls, answered = e.Message.ToolCalls, map[string]bool{}
			}
			if e.Message.Role == llm.Tool {
				answered[e.Message.ToolCallID] = true
			}
		case EventPrune:
			r.hist.drop(e.Dropped)
		case EventSnapshot:
			r.snapshot = e.Snapshot
		case EventEnd:
			r.ended = e.End
		}
	}
	for _, c := range lastCalls {
		if !answered[c.ID] {
			r.pending = append(r.pending, c)
		}
	}
	return r
}
