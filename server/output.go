package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// collected builds one JSON response from all choices.
type collected struct {
	srv     *Server
	w       http.ResponseWriter
	job     *job
	head    head
	choices []map[string]any
}

func (o *collected) piece(*choice, part) error { return nil }

func (o *collected) end(c *choice) error {
	p := part{text: c.text.String(), toks: c.toks, scored: c.scored}
	o.choices = append(o.choices, o.srv.choiceJSON(o.job, c.index, p, &c.finish, false, false))
	return nil
}

func (o *collected) finish(u usage) {
	writeJSON(o.w, map[string]any{"id": o.head.ID, "object": o.head.Object, "created": o.head.Created,
		"model": o.head.Model, "choices": o.choices, "usage": u})
}

func (o *collected) fail(err error) { writeError(o.w, engineError(err)) }

// sse streams chunks as server-sent events. A write that fails or stalls past the write
// timeout cancels the request.
type sse struct {
	srv     *Server
	w       http.ResponseWriter
	rc      *http.ResponseController
	job     *job
	head    head
	cancel  context.CancelFunc
	timeout time.Duration
	started map[int]bool // choices that sent their first chunk
	broken  bool
}

func (s *Server) newSSE(w http.ResponseWriter, j *job, h head, cancel context.CancelFunc) *sse {
	h.Object += ".chunk"
	if !j.chat {
		h.Object = "text_completion"
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sse{srv: s, w: w, rc: http.NewResponseController(w), job: j, head: h, cancel: cancel,
		timeout: s.cfg.WriteTimeout, started: map[int]bool{}}
}

// send writes one event; after a failed write it cancels the request and sends nothing more.
func (o *sse) send(v any) error {
	if o.broken {
		return context.Canceled
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	o.rc.SetWriteDeadline(time.Now().Add(o.timeout))
	if _, err = fmt.Fprintf(o.w, "data: %s\n\n", data); err == nil {
		err = o.rc.Flush()
	}
	if err != nil {
		o.broken = true
		o.cancel()
	}
	return err
}

func (o *sse) chunk(choices []map[string]any, u *usage) error {
	m := map[string]any{"id": o.head.ID, "object": o.head.Object, "created": o.head.Created, "model": o.head.Model, "choices": choices}
	if o.job.usage {
		m["usage"] = u
	}
	return o.send(m)
}

func (o *sse) piece(c *choice, p part) error {
	first := !o.started[c.index]
	o.started[c.index] = true
	return o.chunk([]map[string]any{o.srv.choiceJSON(o.job, c.index, p, nil, true, first)}, nil)
}

func (o *sse) end(c *choice) error {
	first := !o.started[c.index]
	o.started[c.index] = true
	return o.chunk([]map[string]any{o.srv.choiceJSON(o.job, c.index, part{}, &c.finish, true, first)}, nil)
}

func (o *sse) finish(u usage) {
	if o.job.usage && o.chunk([]map[string]any{}, &u) != nil {
		return
	}
	if !o.broken {
		o.rc.SetWriteDeadline(time.Now().Add(o.timeout))
		fmt.Fprint(o.w, "data: [DONE]\n\n")
		o.rc.Flush()
	}
}

// fail ends the stream with an error event in OpenAI's shape.
func (o *sse) fail(err error) { o.send(map[string]any{"error": engineError(err)}) }
