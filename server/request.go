package server

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tokenizer"
)

// request is the body of /v1/completions and /v1/chat/completions. Fields the server does not
// know are ignored; known fields of the wrong type are a 400 naming them.
type request struct {
	Model               string              `json:"model"`
	Prompt              json.RawMessage     `json:"prompt"`
	Messages            []tokenizer.Message `json:"messages"`
	MaxTokens           *int                `json:"max_tokens"`
	MaxCompletionTokens *int                `json:"max_completion_tokens"`
	Temperature         *float64            `json:"temperature"`
	TopP                *float64            `json:"top_p"`
	TopK                *int                `json:"top_k"`
	MinP                *float64            `json:"min_p"`
	RepetitionPenalty   *float64            `json:"repetition_penalty"`
	Seed                *int64              `json:"seed"`
	N                   *int                `json:"n"`
	Stop                json.RawMessage     `json:"stop"`
	StopTokenIDs        []int               `json:"stop_token_ids"`
	Stream              bool                `json:"stream"`
	StreamOptions       *streamOptions      `json:"stream_options"`
	Logprobs            json.RawMessage     `json:"logprobs"`
	TopLogprobs         *int                `json:"top_logprobs"`
	Echo                bool                `json:"echo"`
	ReturnSteps         bool                `json:"return_steps"`
	thinking
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// thinking are the per-request recurrence fields, named as in Hugging Face generate.
type thinking struct {
	NumSteps              *int            `json:"num_steps"`
	Criterion             *string         `json:"criterion"`
	ExitThreshold         json.RawMessage `json:"exit_threshold"`
	MinSteps              *int            `json:"min_steps"`
	CheckEvery            *int            `json:"check_criterion_every_n_steps"`
	CacheLookupStrategy   *string         `json:"cache_lookup_strategy"`
	ContinuousCompute     *bool           `json:"continuous_compute"`
	InitScale             *float64        `json:"init_scale"`
	DraftSteps            *int            `json:"draft_steps"`
	LookaheadForDraft     *int            `json:"lookahead_for_draft"`
	VerificationThreshold *float64        `json:"verification_threshold"`
}

// job is a validated request: prompts, generation options and output choices.
type job struct {
	chat        bool
	prompts     [][]int
	n           int
	opt         generate.Options
	stops       []string
	stream      bool
	usage       bool // stream_options.include_usage
	returnSteps bool
	echo        bool // completions: the prompt starts the text (and the logprobs)
}

// maxChoices bounds n.
const maxChoices = 16

// prepare validates a request against the model and the server's limits.
func (s *Server) prepare(req *request, chat bool) (*job, *apiError) {
	if req.Model != "" && req.Model != s.cfg.ModelName {
		return nil, &apiError{Status: 404, Type: "invalid_request_error", Param: ptr("model"), Code: ptr("model_not_found"),
			Message: fmt.Sprintf("model %q is not served here; this server serves %q", req.Model, s.cfg.ModelName)}
	}
	j := &job{chat: chat, n: 1, stream: req.Stream, returnSteps: req.ReturnSteps,
		usage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	var err *apiError
	if j.prompts, err = s.prompts(req, chat); err != nil {
		return nil, err
	}
	if req.N != nil {
		if *req.N < 1 || *req.N > maxChoices {
			return nil, badParam("n", "n %d must lie in [1, %d]", *req.N, maxChoices)
		}
		j.n = *req.N
	}
	if j.stops, err = parseStop(req.Stop); err != nil {
		return nil, err
	}
	if j.opt, err = s.options(req, chat, j.prompts); err != nil {
		return nil, err
	}
	if err = j.logprobOptions(req); err != nil {
		return nil, err
	}
	return j, nil
}

func ptr(s string) *string { return &s }

// prompts reads the prompt (completions: text, token ids, or a list of either) or renders the
// messages with the chat template, and checks the ids.
func (s *Server) prompts(req *request, chat bool) ([][]int, *apiError) {
	var out [][]int
	if chat {
		ids, err := s.chatPrompt(req.Messages)
		if err != nil {
			return nil, err
		}
		out = [][]int{ids}
	} else {
		var err *apiError
		if out, err = s.completionPrompts(req.Prompt); err != nil {
			return nil, err
		}
	}
	vocab, block := s.cfg.Model.Config.PaddedVocabSize, s.cfg.Model.Config.BlockSize
	for _, ids := range out {
		if len(ids) == 0 {
			return nil, badParam(promptParam(chat), "the prompt is empty")
		}
		if len(ids) >= block {
			return nil, badParam(promptParam(chat), "the prompt takes %d tokens; the context holds %d, with room for at least one new token", len(ids), block)
		}
		for i, id := range ids {
			if id < 0 || id >= vocab {
				return nil, badParam("prompt", "token id %d at index %d is outside the vocabulary [0, %d)", id, i, vocab)
			}
		}
	}
	return out, nil
}

func promptParam(chat bool) string {
	if chat {
		return "messages"
	}
	return "prompt"
}

func (s *Server) chatPrompt(messages []tokenizer.Message) ([]int, *apiError) {
	if s.cfg.Chat == nil {
		return nil, badParam("messages", "model %q has no chat template; use /v1/completions with a prompt", s.cfg.ModelName)
	}
	if len(messages) == 0 {
		return nil, badParam("messages", "messages must hold at least one message")
	}
	text, err := s.cfg.Chat.Render(messages, true)
	if err != nil {
		return nil, badParam("messages", "the chat template failed on these messages: %v", err)
	}
	ids, err := s.cfg.Codec.Encode(text, false)
	if err != nil {
		return nil, badParam("messages", "%v", err)
	}
	return ids, nil
}

// completionPrompts accepts a string, a list of token ids, or a list of strings or id lists.
func (s *Server) completionPrompts(raw json.RawMessage) ([][]int, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badParam("prompt", "prompt is required")
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		ids, err := s.cfg.Codec.Encode(text, true)
		if err != nil {
			return nil, badParam("prompt", "%v", err)
		}
		return [][]int{ids}, nil
	}
	var ids []int
	if json.Unmarshal(raw, &ids) == nil {
		return [][]int{ids}, nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 || len(list) > maxChoices {
		return nil, badParam("prompt", "prompt must be a string, a list of token ids, or a list of 1 to %d of those", maxChoices)
	}
	var out [][]int
	for _, item := range list {
		if item[0] == '[' && json.Unmarshal(item, &ids) != nil || item[0] != '[' && item[0] != '"' {
			return nil, badParam("prompt", "prompt list items must be strings or lists of integer token ids")
		}
		p, err := s.completionPrompts(item)
		if err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	return out, nil
}

// parseStop reads stop as a string or a list of up to 4 strings.
func parseStop(raw json.RawMessage) ([]string, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil || len(list) > 4 || slices.Contains(list, "") {
		return nil, badParam("stop", "stop must be a non-empty string or a list of at most 4 of them")
	}
	return list, nil
}

// options maps the sampling and thinking fields onto the generate engine's options.
func (s *Server) options(req *request, chat bool, prompts [][]int) (generate.Options, *apiError) {
	opt := generate.Options{Seed: 0}
	var err *apiError
	if opt.MaxNew, err = s.maxTokens(req, chat, prompts); err != nil {
		return opt, err
	}
	if req.Seed != nil {
		opt.Seed = uint64(*req.Seed)
	}
	if opt.Sampling, err = sampling(req); err != nil {
		return opt, err
	}
	if err = s.thinkingOptions(&req.thinking, &opt); err != nil {
		return opt, err
	}
	if opt.StopTokens, err = s.stopTokens(req.StopTokenIDs); err != nil {
		return opt, err
	}
	return opt, nil
}

// maxStopTokens bounds stop_token_ids.
const maxStopTokens = 64

// stopTokens adds stop_token_ids (vLLM's name) to the model's own stop tokens.
func (s *Server) stopTokens(ids []int) ([]int, *apiError) {
	stops := generate.DefaultStopTokens(s.cfg.Model.Config)
	if len(ids) > maxStopTokens {
		return nil, badParam("stop_token_ids", "stop_token_ids holds %d ids; at most %d are allowed", len(ids), maxStopTokens)
	}
	for i, id := range ids {
		if id < 0 || id >= s.cfg.Model.Config.PaddedVocabSize {
			return nil, badParam("stop_token_ids", "token id %d at index %d is outside the vocabulary [0, %d)", id, i, s.cfg.Model.Config.PaddedVocabSize)
		}
	}
	return append(stops, ids...), nil
}

// maxTokens is max_tokens (or max_completion_tokens) checked against the caps and the context;
// absent, 16 for completions (OpenAI's default) and the rest of the context for chat, capped.
func (s *Server) maxTokens(req *request, chat bool, prompts [][]int) (int, *apiError) {
	longest := 0
	for _, p := range prompts {
		longest = max(longest, len(p))
	}
	room := s.cfg.Model.Config.BlockSize - longest
	given, param := req.MaxTokens, "max_tokens"
	if given == nil && req.MaxCompletionTokens != nil {
		given, param = req.MaxCompletionTokens, "max_completion_tokens"
	}
	if given == nil {
		if chat {
			return min(room, s.cfg.MaxTokens), nil
		}
		return min(16, room, s.cfg.MaxTokens), nil
	}
	switch n := *given; {
	case n == 0 && req.Echo && !chat: // score the prompt only
	case n < 1:
		return 0, badParam(param, "%s %d must be at least 1 (0 only with echo)", param, n)
	case n > s.cfg.MaxTokens:
		return 0, badParam(param, "%s %d exceeds this server's limit of %d", param, n, s.cfg.MaxTokens)
	case n > room:
		return 0, badParam(param, "the prompt of %d tokens + %s %d exceeds the context of %d tokens", longest, param, n, s.cfg.Model.Config.BlockSize)
	}
	return *given, nil
}

// sampling reads temperature (OpenAI's default 1; 0 is greedy), top_p, top_k, min_p and
// repetition_penalty.
func sampling(req *request) (generate.Sampling, *apiError) {
	smp := generate.Sampling{Temperature: 1}
	if req.Temperature != nil {
		smp.Temperature = *req.Temperature
		if !(smp.Temperature >= 0 && smp.Temperature <= 100) {
			return smp, badParam("temperature", "temperature %v must lie in [0, 100]", smp.Temperature)
		}
	}
	if req.TopP != nil {
		if smp.TopP = *req.TopP; !(smp.TopP > 0 && smp.TopP <= 1) {
			return smp, badParam("top_p", "top_p %v must lie in (0, 1]", smp.TopP)
		}
	}
	if req.TopK != nil {
		if smp.TopK = *req.TopK; smp.TopK < -1 {
			return smp, badParam("top_k", "top_k %d must be ≥ 0 (0 or -1: off)", smp.TopK)
		}
		smp.TopK = max(smp.TopK, 0)
	}
	if req.MinP != nil {
		if smp.MinP = *req.MinP; !(smp.MinP >= 0 && smp.MinP < 1) {
			return smp, badParam("min_p", "min_p %v must lie in [0, 1)", smp.MinP)
		}
	}
	if req.RepetitionPenalty != nil {
		if smp.RepetitionPenalty = *req.RepetitionPenalty; !(smp.RepetitionPenalty > 0 && smp.RepetitionPenalty <= 100) {
			return smp, badParam("repetition_penalty", "repetition_penalty %v must lie in (0, 100]", smp.RepetitionPenalty)
		}
	}
	return smp, nil
}

// thinkingOptions maps the Hugging Face generate fields onto recurrence options.
func (s *Server) thinkingOptions(th *thinking, opt *generate.Options) *apiError {
	if th.NumSteps != nil {
		if n := *th.NumSteps; n < 1 || n > s.cfg.MaxSteps {
			return badParam("num_steps", "num_steps %d must lie in [1, %d]", n, s.cfg.MaxSteps)
		}
		opt.Steps = *th.NumSteps
	}
	steps := cmp.Or(opt.Steps, s.cfg.Model.Config.MeanRecurrence)
	if th.InitScale != nil {
		if v := *th.InitScale; math.IsNaN(v) || v < 0 || v > 1e6 {
			return badParam("init_scale", "init_scale %v must be a finite number ≥ 0", v)
		}
		opt.InitScale = *th.InitScale
	}
	if th.CacheLookupStrategy != nil {
		if _, err := model.ParseStrategy(*th.CacheLookupStrategy); err != nil {
			return badParam("cache_lookup_strategy", "%v", err)
		}
		opt.Cache = *th.CacheLookupStrategy
	}
	opt.Continuous = th.ContinuousCompute != nil && *th.ContinuousCompute
	if err := s.exitOptions(th, opt, steps); err != nil {
		return err
	}
	return speculativeOptions(th, opt)
}

// exitOptions turns on adaptive compute when criterion is given.
func (s *Server) exitOptions(th *thinking, opt *generate.Options, steps int) *apiError {
	if th.Criterion == nil || *th.Criterion == "" {
		for name, set := range map[string]bool{"exit_threshold": len(th.ExitThreshold) > 0 && string(th.ExitThreshold) != "null",
			"min_steps": th.MinSteps != nil, "check_criterion_every_n_steps": th.CheckEvery != nil} {
			if set {
				return badParam(name, "%s needs criterion (an exit criterion: %s)", name, strings.Join(generate.CriterionNames(), ", "))
			}
		}
		return nil
	}
	ex := &generate.ExitOptions{Criterion: *th.Criterion}
	if !slices.Contains(generate.CriterionNames(), ex.Criterion) {
		return badParam("criterion", "criterion %q is unknown (want one of %s)", ex.Criterion, strings.Join(generate.CriterionNames(), ", "))
	}
	var thr float64
	var auto string
	switch {
	case len(th.ExitThreshold) == 0 || string(th.ExitThreshold) == "null":
	case json.Unmarshal(th.ExitThreshold, &thr) == nil:
		ex.Threshold = &thr
	case json.Unmarshal(th.ExitThreshold, &auto) != nil || auto != "auto":
		return badParam("exit_threshold", "exit_threshold must be a number or \"auto\"")
	}
	if _, err := generate.NewCriterion(ex.Criterion, ex.Threshold, s.cfg.Model.Config.PaddedVocabSize); err != nil {
		return badParam("exit_threshold", "%v", err)
	}
	if th.MinSteps != nil {
		if ex.MinSteps = *th.MinSteps; ex.MinSteps < 0 || ex.MinSteps >= steps {
			return badParam("min_steps", "min_steps %d must lie in [0, num_steps %d)", ex.MinSteps, steps)
		}
	}
	if th.CheckEvery != nil {
		if ex.CheckEvery = *th.CheckEvery; ex.CheckEvery < 1 || ex.CheckEvery > steps {
			return badParam("check_criterion_every_n_steps", "check_criterion_every_n_steps %d must lie in [1, num_steps %d]", ex.CheckEvery, steps)
		}
	}
	opt.Exit = ex
	return nil
}

// speculativeOptions turns on self-speculative decoding when draft_steps is given.
func speculativeOptions(th *thinking, opt *generate.Options) *apiError {
	if th.DraftSteps == nil {
		if th.LookaheadForDraft != nil || th.VerificationThreshold != nil {
			return badParam("draft_steps", "lookahead_for_draft and verification_threshold need draft_steps")
		}
		return nil
	}
	sp := &generate.SpeculativeOptions{DraftSteps: *th.DraftSteps, Lookahead: 8, Verify: 1}
	if th.LookaheadForDraft != nil {
		sp.Lookahead = *th.LookaheadForDraft
	}
	if th.VerificationThreshold != nil {
		sp.Verify = *th.VerificationThreshold
	}
	opt.Speculative = sp
	return nil
}
