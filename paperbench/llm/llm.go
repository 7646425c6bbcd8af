// Package llm calls OpenAI-compatible chat-completion endpoints for PaperBench (the judge,
// later the agents). A [Client] sends one request at a time per call and makes it robust:
// it retries with exponential backoff and jitter on rate limits (429, honouring
// Retry-After), server errors (5xx), timeouts, broken connections and unreadable bodies;
// it asks for structured output (a JSON schema) and falls back to plain text, once and for
// all, on a server that rejects it; it offers tools (function calling) and returns the
// calls the model makes; and it reports the token usage of every call and the time spent
// waiting between retries.
package llm

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Config says where and how to call. Zero fields take the defaults in [DefaultConfig].
type Config struct {
	BaseURL string // e.g. https://api.openai.com/v1; "" reads OPENAI_BASE_URL, then the OpenAI default
	APIKey  string // "" reads OPENAI_API_KEY
	Model   string // default model of requests that name none
	// ReasoningEffort is sent as reasoning_effort ("low", "medium", "high") when set.
	ReasoningEffort string
	MaxRetries      int           // retries after the first attempt
	RequestTimeout  time.Duration // limit of one attempt
	MinBackoff      time.Duration // wait before the first retry; doubles per retry
	MaxBackoff      time.Duration // cap of the doubling wait and of Retry-After
	MaxConns        int           // connections kept open to the server
	// MaxConcurrent bounds the requests in flight at once across all callers (0: no
	// bound); waits between retries do not hold a place.
	MaxConcurrent int
	HTTPClient    *http.Client // replaces the client built from MaxConns
}

// DefaultConfig holds the defaults of the zero fields of a [Config].
var DefaultConfig = Config{
	MaxRetries:     6,
	RequestTimeout: 15 * time.Minute,
	MinBackoff:     time.Second,
	MaxBackoff:     time.Minute,
	MaxConns:       100,
}

// Roles of chat messages.
const (
	System    = "system"
	User      = "user"
	Assistant = "assistant"
)

// Tool is the role of a message that answers a tool call.
const Tool = "tool"

// Message is one chat message. An assistant message may carry tool calls; a tool message
// answers the call named by ToolCallID.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is one function call asked for by the model. Arguments is the JSON text the
// model wrote, unchecked: it may be malformed.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and its arguments.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ToolSpec offers a function to the model: its name, what it does and a JSON schema of its
// arguments.
type ToolSpec struct {
	Name        string
	Description string
	Parameters  map[string]any
}

// Schema asks for structured output: the answer must be a JSON object matching Schema.
type Schema struct {
	Name   string         // a-z, A-Z, 0-9, _ and -
	Schema map[string]any // a JSON schema
}

// Request is one chat completion to make.
type Request struct {
	Model    string // "" for the client's default
	Messages []Message
	Schema   *Schema    // nil for free text
	Tools    []ToolSpec // functions the model may call; nil for none
}

// Usage counts the tokens of one call, as the server reported them.
type Usage struct {
	In  int64 `json:"in"`
	Out int64 `json:"out"`
}

// Response is the answer to a [Request].
type Response struct {
	Content      string
	ToolCalls    []ToolCall
	FinishReason string // "stop", "tool_calls", "length", ...
	Model        string // the model that was asked
	Usage        Usage
	Reported     bool // whether the server reported the usage
	Attempts     int
	// Waited is the time spent sleeping between attempts (backoff), which a working-time
	// clock leaves out.
	Waited time.Duration
}

// Error is a call that failed for good: a non-retryable answer, or retries exhausted.
type Error struct {
	Attempts int
	Status   int // the last HTTP status, 0 when no answer came
	Err      error
	Waited   time.Duration // time slept between attempts
}

func (e *Error) Error() string {
	return fmt.Sprintf("llm: chat completion failed after %d attempt(s): %v", e.Attempts, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Client calls one endpoint. It is safe for concurrent use.
type Client struct {
	cfg      Config
	api      openai.Client
	noSchema atomic.Bool   // the server rejected response_format once
	slots    chan struct{} // one per request in flight; nil for no bound
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	d := DefaultConfig
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = d.MaxRetries
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	cfg.RequestTimeout = orDefault(cfg.RequestTimeout, d.RequestTimeout)
	cfg.MinBackoff = orDefault(cfg.MinBackoff, d.MinBackoff)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, d.MaxBackoff)
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = d.MaxConns
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConns = cfg.MaxConns
		transport.MaxIdleConnsPerHost = cfg.MaxConns
		httpClient = &http.Client{Transport: transport}
	}
	opts := []option.RequestOption{option.WithMaxRetries(0), option.WithHTTPClient(httpClient)}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	c := &Client{cfg: cfg, api: openai.NewClient(opts...), sleep: sleepContext}
	if cfg.MaxConcurrent > 0 {
		c.slots = make(chan struct{}, cfg.MaxConcurrent)
	}
	return c
}

func orDefault(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

// Model returns the model of requests that name none.
func (c *Client) Model() string { return c.cfg.Model }

// Complete makes the request, retrying what can be retried. Its error is an [*Error], or
// the context's error when ctx ended.
func (c *Client) Complete(ctx context.Context, req Request) (Response, error) {
	if req.Model == "" {
		req.Model = c.cfg.Model
	}
	var lastErr error
	var lastStatus int
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		resp, status, err := c.attempt(ctx, req)
		if err == nil {
			resp.Attempts, resp.Waited = attempt+1, waited
			return resp, nil
		}
		if ctx.Err() != nil {
			return Response{}, ctx.Err()
		}
		lastErr, lastStatus = err, status
		if req.Schema != nil && (status == http.StatusBadRequest || status == http.StatusUnprocessableEntity) &&
			!c.noSchema.Load() {
			// The server may not know response_format: ask once more without it, and
			// never send it again.
			c.noSchema.Store(true)
			continue
		}
		if !retryable(status, err) || attempt >= c.cfg.MaxRetries {
			return Response{}, &Error{Attempts: attempt + 1, Status: lastStatus, Err: lastErr, Waited: waited}
		}
		d := c.backoff(attempt, err)
		waited += d
		if err := c.sleep(ctx, d); err != nil {
			return Response{}, err
		}
	}
}

// attempt makes one HTTP call and returns the HTTP status of a failed one.
func (c *Client) attempt(ctx context.Context, req Request) (Response, int, error) {
	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		case <-ctx.Done():
			return Response{}, 0, ctx.Err()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	body, err := c.encode(req)
	if err != nil {
		return Response{}, 0, err
	}
	// The body is encoded here rather than from openai.ChatCompletionNewParams: the SDK's
	// reflective encoder costs several times more CPU per byte, and a judge sends the
	// whole paper with every call.
	completion, err := c.api.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{},
		option.WithRequestBody("application/json", body))
	if err != nil {
		var apiErr *openai.Error
		if errors.As(err, &apiErr) {
			return Response{}, apiErr.StatusCode, err
		}
		return Response{}, 0, err
	}
	if len(completion.Choices) == 0 {
		return Response{}, http.StatusOK, errNoChoices
	}
	u := completion.Usage
	choice := completion.Choices[0]
	return Response{
		Content:      choice.Message.Content,
		ToolCalls:    toolCalls(choice.Message.ToolCalls),
		FinishReason: choice.FinishReason,
		Model:        req.Model,
		Usage:        Usage{In: u.PromptTokens, Out: u.CompletionTokens},
		Reported:     u.PromptTokens != 0 || u.CompletionTokens != 0,
	}, 0, nil
}

// toolCalls converts the SDK's tool calls; calls of other kinds than function keep their
// type and an empty function, for the caller to refuse.
func toolCalls(in []openai.ChatCompletionMessageToolCallUnion) []ToolCall {
	var out []ToolCall
	for _, tc := range in {
		out = append(out, ToolCall{ID: tc.ID, Type: cmp.Or(tc.Type, "function"),
			Function: FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
	}
	return out
}

// chatBody is the JSON body of a chat completion request.
type chatBody struct {
	Model           string          `json:"model"`
	Messages        []Message       `json:"messages"`
	Tools           []toolBody      `json:"tools,omitempty"`
	ReasoningEffort string          `json:"reasoning_effort,omitempty"`
	ResponseFormat  *responseFormat `json:"response_format,omitempty"`
}

type toolBody struct {
	Type     string       `json:"type"` // "function"
	Function functionBody `json:"function"`
}

type functionBody struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Parameters  map[string]any `json:"parameters"`
}

type responseFormat struct {
	Type       string     `json:"type"` // "json_schema"
	JSONSchema jsonSchema `json:"json_schema"`
}

type jsonSchema struct {
	Name   string         `json:"name"`
	Strict bool           `json:"strict"`
	Schema map[string]any `json:"schema"`
}

// encode returns the request's JSON body; response_format is left out once the server
// has rejected it.
func (c *Client) encode(req Request) ([]byte, error) {
	body := chatBody{Model: req.Model, Messages: req.Messages, ReasoningEffort: c.cfg.ReasoningEffort}
	for _, t := range req.Tools {
		body.Tools = append(body.Tools, toolBody{Type: "function",
			Function: functionBody{Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
	}
	if req.Schema != nil && !c.noSchema.Load() {
		body.ResponseFormat = &responseFormat{Type: "json_schema",
			JSONSchema: jsonSchema{Name: req.Schema.Name, Strict: true, Schema: req.Schema.Schema}}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, fmt.Errorf("llm: encoding the request: %w", err)
	}
	return b.Bytes(), nil
}

var errNoChoices = errors.New("the response has no choices")

// contextOverflowMarks are phrases of the errors servers give for a prompt longer than the
// model's context (OpenAI, vLLM, llama.cpp, Anthropic-compatible proxies).
var contextOverflowMarks = []string{"context_length_exceeded", "maximum context length", "context window",
	"context length", "prompt is too long", "too many tokens", "exceeds the context"}

// IsContextOverflow reports whether err is a refusal of a prompt too long for the model.
func IsContextOverflow(err error) bool {
	var e *Error
	if !errors.As(err, &e) || (e.Status != http.StatusBadRequest && e.Status != http.StatusRequestEntityTooLarge) {
		return false
	}
	msg := e.Err.Error()
	var apiErr *openai.Error
	if errors.As(e.Err, &apiErr) {
		msg += " " + apiErr.Code + " " + apiErr.Message + " " + apiErr.RawJSON()
	}
	msg = strings.ToLower(msg)
	for _, m := range contextOverflowMarks {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// retryable reports whether a failed attempt may succeed when repeated: rate limits,
// timeouts, conflicts and server errors, and failures without an HTTP status (broken
// connections, timeouts, bodies that are not a chat completion).
func retryable(status int, err error) bool {
	switch {
	case status == 0 || errors.Is(err, errNoChoices):
		return true
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status == http.StatusConflict:
		return true
	}
	return status >= 500
}

// backoff returns the wait before retry number attempt+1: Retry-After when the server
// sent one, else an exponential wait with equal jitter (half fixed, half random).
func (c *Client) backoff(attempt int, err error) time.Duration {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) && apiErr.Response != nil {
		if d, ok := retryAfter(apiErr.Response.Header); ok {
			return min(d, c.cfg.MaxBackoff)
		}
	}
	d := c.cfg.MinBackoff << min(attempt, 30)
	if d <= 0 || d > c.cfg.MaxBackoff {
		d = c.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads retry-after-ms (OpenAI's) or Retry-After (seconds or an HTTP date).
func retryAfter(h http.Header) (time.Duration, bool) {
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms >= 0 {
		return time.Duration(ms * float64(time.Millisecond)), true
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
