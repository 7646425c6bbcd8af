package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latentlab/latent/generate"
)

// complete serves /v1/completions (chat false) and /v1/chat/completions.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, chat bool) {
	start := time.Now()
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, decodeError(err))
		return
	}
	j, aerr := s.prepare(&req, chat)
	if aerr == nil {
		aerr = s.check(j)
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	release, err := s.acquire(ctx)
	if err != nil {
		writeError(w, engineError(err))
		return
	}
	defer release()
	var out output = &collected{srv: s, w: w, job: j, head: s.head(j)}
	if j.stream {
		out = s.newSSE(w, j, s.head(j), cancel)
	}
	err = s.run(ctx, j, out)
	s.metrics.request(outcome(err), time.Since(start))
}

// outcome names how a request ended, for the metrics.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}

// check lets the engine validate the options it alone knows (mode combinations).
func (s *Server) check(j *job) *apiError {
	opt := j.opt
	opt.MaxNew = max(opt.MaxNew, 1) // echo with max_tokens 0 generates nothing
	if _, err := generate.New(s.cfg.Model, j.prompts[0], opt); err != nil {
		return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: err.Error()}
	}
	return nil
}

// engineError maps an error of a running request onto the API's errors.
func engineError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusGatewayTimeout, "timeout_error", "request_timeout", "the request ran past the server's deadline")
	case errors.Is(err, context.Canceled):
		return newError(499, "cancelled", "client_closed_request", "the client closed the request")
	}
	return newError(http.StatusInternalServerError, "server_error", "engine_error", "%v", err)
}

// head is what every response and chunk of a request starts with.
type head struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
}

func (s *Server) head(j *job) head {
	b := make([]byte, 12)
	rand.Read(b)
	h := head{ID: "cmpl-" + hex.EncodeToString(b), Object: "text_completion", Created: s.created, Model: s.cfg.ModelName}
	if j.chat {
		h.ID, h.Object = "chatcmpl-"+hex.EncodeToString(b), "chat.completion"
	}
	return h
}

// choice is one generated completion.
type choice struct {
	index  int
	text   strings.Builder
	toks   []generate.Token
	finish string   // "stop" or "length"
	scored []scored // with logprobs: every token so far, echoed prompt included
}

// part is a piece of a choice's text with the tokens behind it.
type part struct {
	text   string
	toks   []generate.Token // generated tokens (return_steps)
	scored []scored         // tokens with their log-probabilities (logprobs)
}

// output receives a request's choices as they are decoded.
type output interface {
	piece(c *choice, p part) error
	end(c *choice) error
	finish(u usage)
	fail(err error)
}

// usage counts a request's tokens and recurrences.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	RecurrenceSteps  int `json:"recurrence_steps"`
}

// run decodes every choice of j in turn (choice k of a prompt is seeded with seed + k) and
// returns the error the request ended with.
func (s *Server) run(ctx context.Context, j *job, out output) error {
	var u usage
	for pi, prompt := range j.prompts {
		u.PromptTokens += len(prompt)
		opt := j.opt
		opt.Context, opt.Stepper = ctx, s.batcher
		echo, err := s.echo(prompt, j, opt)
		if err != nil {
			out.fail(err)
			return err
		}
		for k := range j.n {
			opt.Seed = j.opt.Seed + uint64(k)
			c := &choice{index: pi*j.n + k, finish: "length"}
			if err := s.emit(c, echo, out); err != nil {
				return err
			}
			if err := s.decode(prompt, opt, j.stops, c, out); err != nil {
				out.fail(err)
				return err
			}
			if err := out.end(c); err != nil {
				return err
			}
			u.CompletionTokens += len(c.toks)
			for _, t := range c.toks {
				u.RecurrenceSteps += t.Steps
			}
		}
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	out.finish(u)
	return nil
}

// echo returns the part a choice starts with under echo: the prompt's text and, with
// logprobs, the prompt's scores from a prefill at the request's recurrence.
func (s *Server) echo(prompt []int, j *job, opt generate.Options) (part, error) {
	if !j.echo {
		return part{}, nil
	}
	var p part
	dec := s.cfg.Codec.NewDecoder()
	offsets := make([]int, len(prompt))
	chars := 0
	for i, id := range prompt {
		offsets[i] = chars
		piece := dec.Add(id)
		p.text += piece
		chars += utf8.RuneCountInString(piece)
	}
	p.text += dec.Flush()
	if !opt.Logprobs {
		return p, nil
	}
	lps, err := generate.PromptLogprobs(s.cfg.Model, prompt, opt)
	if err != nil {
		return p, err
	}
	for i, id := range prompt {
		p.scored = append(p.scored, scored{id: id, lp: lps[i], offset: offsets[i]})
	}
	return p, nil
}

// decode runs one choice through the generate engine, cutting the text at the first stop string.
// A token's text offset is where its text starts in the choice's text: the characters the
// choice held before it (the echo) plus those decoded from the tokens before it.
func (s *Server) decode(prompt []int, opt generate.Options, stops []string, c *choice, out output) error {
	if opt.MaxNew == 0 {
		return nil
	}
	g, err := generate.New(s.cfg.Model, prompt, opt)
	if err != nil {
		return err
	}
	dec := s.cfg.Codec.NewDecoder()
	scan := &stopScanner{stops: stops}
	chars := utf8.RuneCountInString(c.text.String())
	for tok, err := range g.Tokens() {
		if err != nil {
			return err
		}
		c.toks = append(c.toks, tok)
		s.metrics.token(tok.Steps, time.Now())
		offset, piece := chars, dec.Add(tok.ID)
		chars += utf8.RuneCountInString(piece)
		text, hit := scan.add(piece)
		if hit || slices.Contains(opt.StopTokens, tok.ID) {
			c.finish = "stop"
		}
		if hit { // the text ends before the stop string, perhaps before this token
			offset = min(offset, utf8.RuneCountInString(c.text.String())+utf8.RuneCountInString(text))
		}
		p := part{text: text, toks: []generate.Token{tok}}
		if opt.Logprobs {
			p.scored = []scored{{id: tok.ID, lp: tok.Logprobs, offset: offset}}
		}
		if err := s.emit(c, p, out); err != nil || hit {
			return err
		}
	}
	text, _ := scan.add(dec.Flush())
	return s.emit(c, part{text: text + scan.flush()}, out)
}

// emit adds p to the choice and hands it to the output.
func (s *Server) emit(c *choice, p part, out output) error {
	if p.text == "" && len(p.toks) == 0 && len(p.scored) == 0 {
		return nil
	}
	c.text.WriteString(p.text)
	c.scored = append(c.scored, p.scored...)
	return out.piece(c, p)
}

// stopScanner holds back text that may be the start of a stop string and reports the first
// stop string, cutting the text before it.
type stopScanner struct {
	stops []string
	held  string
}

// add appends piece and returns the text that can be sent, and whether a stop string was hit.
func (s *stopScanner) add(piece string) (string, bool) {
	buf := s.held + piece
	cut := -1
	for _, st := range s.stops {
		if i := strings.Index(buf, st); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		s.held = ""
		return buf[:cut], true
	}
	keep := 0
	for _, st := range s.stops {
		for k := min(len(st)-1, len(buf)); k > keep; k-- {
			if strings.HasSuffix(buf, st[:k]) {
				keep = k
				break
			}
		}
	}
	s.held = buf[len(buf)-keep:]
	return buf[:len(buf)-keep], false
}

// flush returns the held-back text once the stream has ended.
func (s *stopScanner) flush() string {
	h := s.held
	s.held = ""
	return h
}

// latent is the per-token record return_steps adds to a choice.
type latent struct {
	Tokens     []int      `json:"tokens"`
	Steps      []int      `json:"steps"`
	ExitValues []*float64 `json:"exit_values"` // null where no criterion was checked
}

func newLatent(toks []generate.Token) *latent {
	l := &latent{Tokens: []int{}, Steps: []int{}, ExitValues: []*float64{}}
	for _, t := range toks {
		l.Tokens = append(l.Tokens, t.ID)
		l.Steps = append(l.Steps, t.Steps)
		var v *float64
		if !math.IsNaN(t.ExitValue) && !math.IsInf(t.ExitValue, 0) {
			v = &t.ExitValue
		}
		l.ExitValues = append(l.ExitValues, v)
	}
	return l
}

// choiceJSON is a choice of a response or chunk: text for completions, message or delta for
// chat.
func (s *Server) choiceJSON(j *job, index int, p part, finish *string, stream, first bool) map[string]any {
	m := map[string]any{"index": index, "finish_reason": finish, "logprobs": nil}
	switch {
	case !j.chat:
		m["text"] = p.text
	case stream:
		delta := map[string]any{"content": p.text}
		if first {
			delta["role"] = "assistant"
		}
		m["delta"] = delta
	default:
		m["message"] = map[string]any{"role": "assistant", "content": p.text}
	}
	switch {
	case !j.opt.Logprobs || p.scored == nil && stream:
	case j.chat:
		m["logprobs"] = s.chatLogprobsJSON(p.scored)
	default:
		m["logprobs"] = s.completionLogprobsJSON(p.scored)
	}
	if j.returnSteps {
		m["latent"] = newLatent(p.toks)
	}
	return m
}
