package server

import (
	"encoding/json"

	"github.com/latentlab/latent/generate"
)

// maxTopLogprobs bounds completions' logprobs and chat's top_logprobs (vLLM's limit).
const maxTopLogprobs = 20

// logprobOptions reads completions' logprobs (an integer: the alternatives per token) or chat's
// logprobs (a boolean) with top_logprobs, and echo.
func (j *job) logprobOptions(req *request) *apiError {
	raw := string(req.Logprobs)
	switch {
	case raw == "" || raw == "null" || raw == "false":
	case j.chat:
		if raw != "true" {
			return badParam("logprobs", "logprobs must be a boolean")
		}
		j.opt.Logprobs = true
	default:
		var k int
		if json.Unmarshal(req.Logprobs, &k) != nil || k < 0 || k > maxTopLogprobs {
			return badParam("logprobs", "logprobs must be an integer in [0, %d]", maxTopLogprobs)
		}
		j.opt.Logprobs, j.opt.TopLogprobs = true, k
	}
	if req.TopLogprobs != nil {
		if !j.chat || !j.opt.Logprobs {
			return badParam("top_logprobs", "top_logprobs needs /v1/chat/completions with logprobs: true")
		}
		if k := *req.TopLogprobs; k < 0 || k > maxTopLogprobs {
			return badParam("top_logprobs", "top_logprobs %d must lie in [0, %d]", k, maxTopLogprobs)
		}
		j.opt.TopLogprobs = *req.TopLogprobs
	}
	if req.Echo && j.chat {
		return badParam("echo", "echo is a /v1/completions parameter")
	}
	j.echo = req.Echo
	return nil
}

// scored is one token of a choice's logprobs: its id, its log-probabilities (nil for the first
// prompt token, which nothing predicts) and the offset in characters where its text starts in
// the choice's text (special tokens, left out of the text, have none: the offset where they
// stand).
type scored struct {
	id     int
	lp     *generate.TokenLogprobs
	offset int
}

// completionLogprobs is the logprobs object of a completions choice.
type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []*float64           `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// completionLogprobsJSON lays out toks.
func (s *Server) completionLogprobsJSON(toks []scored) *completionLogprobs {
	out := &completionLogprobs{Tokens: []string{}, TokenLogprobs: []*float64{},
		TopLogprobs: []map[string]float64{}, TextOffset: []int{}}
	for _, t := range toks {
		text := s.cfg.Codec.Token(t.id)
		out.Tokens = append(out.Tokens, text)
		out.TextOffset = append(out.TextOffset, t.offset)
		if t.lp == nil {
			out.TokenLogprobs, out.TopLogprobs = append(out.TokenLogprobs, nil), append(out.TopLogprobs, nil)
			continue
		}
		lp := t.lp.Logprob
		top := map[string]float64{}
		for _, alt := range t.lp.Top {
			if key := s.cfg.Codec.Token(alt.ID); !has(top, key) { // most likely first: keep the first
				top[key] = alt.Logprob
			}
		}
		out.TokenLogprobs, out.TopLogprobs = append(out.TokenLogprobs, &lp), append(out.TopLogprobs, top)
	}
	return out
}

func has(m map[string]float64, k string) bool {
	_, ok := m[k]
	return ok
}

// chatAlt is a token with its log-probability and UTF-8 bytes, as chat's logprobs list them.
type chatAlt struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// chatLogprob is one entry of a chat choice's logprobs.content.
type chatLogprob struct {
	chatAlt
	TopLogprobs []chatAlt `json:"top_logprobs"`
}

// chatLogprobsJSON lays out toks as chat's {"content": [...]}.
func (s *Server) chatLogprobsJSON(toks []scored) map[string][]chatLogprob {
	content := []chatLogprob{}
	for _, t := range toks {
		if t.lp == nil {
			continue
		}
		e := chatLogprob{chatAlt: s.chatEntry(t.id, t.lp.Logprob), TopLogprobs: []chatAlt{}}
		for _, alt := range t.lp.Top {
			e.TopLogprobs = append(e.TopLogprobs, s.chatEntry(alt.ID, alt.Logprob))
		}
		content = append(content, e)
	}
	return map[string][]chatLogprob{"content": content}
}

func (s *Server) chatEntry(id int, lp float64) chatAlt {
	text := s.cfg.Codec.Token(id)
	b := make([]int, len(text))
	for i := range len(text) {
		b[i] = int(text[i])
	}
	return chatAlt{Token: text, Logprob: lp, Bytes: b}
}
