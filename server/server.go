// Package server serves a recurrent-depth model over an OpenAI-compatible HTTP API
// (/v1/models, /v1/completions, /v1/chat/completions, /health) with per-request thinking
// options named as in Hugging Face generate. The HTTP layer only parses, validates, queues and
// streams: every request is decoded by the generate package's engine, the one `latent generate`
// uses, so served tokens equal generate's for the same request. A bounded number of requests
// decode at once, each on its own goroutine and KV cache, their recurrences batched together by
// one generate.Batcher (continuous depth batching: rows of different requests at different
// recurrence steps share each core pass); more wait in a bounded queue, and beyond it the
// server answers 429.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/tokenizer"
)

// Config configures a Server. Zero limits take the defaults below.
type Config struct {
	Model          *model.Model
	Codec          Codec
	Chat           *tokenizer.ChatTemplate // nil: /v1/chat/completions answers 400
	ModelName      string
	MaxBatch       int           // requests decoding at once, their recurrences batched (default 16)
	PrefillChunk   int           // prompt positions prefilled at once (default generate.DefaultPrefillChunk)
	MaxQueue       int           // requests waiting for a slot before 429 (default 64)
	MaxTokens      int           // cap on max_tokens (default: the context)
	MaxSteps       int           // cap on num_steps (default 256)
	MaxBody        int64         // request body bytes (default 4 MiB)
	RequestTimeout time.Duration // per-request deadline (default 10 minutes)
	WriteTimeout   time.Duration // per streamed chunk (default 30 s): a client that reads nothing is dropped
	APIKey         string        // "": no authentication
}

// Server is an http.Handler for the OpenAI-compatible API.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	slots   chan struct{}
	waiting atomic.Int64
	created int64
	metrics *metrics
	batcher *generate.Batcher
}

// New checks cfg, fills in defaults and builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Model == nil || cfg.Codec == nil {
		return nil, errors.New("server: a model and a codec are required")
	}
	block := cfg.Model.Config.BlockSize
	cfg.MaxBatch = max(cfg.MaxBatch, 0)
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 16
	}
	if cfg.PrefillChunk != 0 && cfg.PrefillChunk < model.MinChunkRows {
		return nil, fmt.Errorf("server: a prefill chunk of %d positions is below the least, %d (model.MinChunkRows)", cfg.PrefillChunk, model.MinChunkRows)
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 64
	}
	if cfg.MaxTokens <= 0 || cfg.MaxTokens > block {
		cfg.MaxTokens = block
	}
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = 256
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 4 << 20
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.ModelName == "" {
		cfg.ModelName = "latent"
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), slots: make(chan struct{}, cfg.MaxBatch), created: time.Now().Unix(),
		metrics: newMetrics()}
	s.batcher = generate.NewBatcher(generate.BatcherOptions{MaxRows: 4 * cfg.MaxBatch, PrefillChunk: cfg.PrefillChunk,
		OnBatch: s.metrics.pass})
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /metrics", s.auth(s.metricsHandler))
	s.mux.HandleFunc("GET /v1/models", s.auth(s.models))
	s.mux.HandleFunc("POST /v1/completions", s.auth(func(w http.ResponseWriter, r *http.Request) { s.complete(w, r, false) }))
	s.mux.HandleFunc("POST /v1/chat/completions", s.auth(func(w http.ResponseWriter, r *http.Request) { s.complete(w, r, true) }))
	return s, nil
}

// Close stops the batcher; call it once the HTTP server has drained.
func (s *Server) Close() { s.batcher.Close() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// auth checks the bearer key when one is configured.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.APIKey != "" {
			key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1 {
				writeError(w, newError(http.StatusUnauthorized, "authentication_error", "invalid_api_key",
					"a valid API key is required (Authorization: Bearer KEY)"))
				return
			}
		}
		next(w, r)
	}
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{"status": "ok", "decoding": len(s.slots), "queued": s.waiting.Load(),
		"prefilling": s.batcher.Prefilling()})
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{"object": "list", "data": []map[string]any{
		{"id": s.cfg.ModelName, "object": "model", "created": s.created, "owned_by": "latent"}}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// errQueueFull is returned by acquire when the queue is full.
var errQueueFull = newError(http.StatusTooManyRequests, "rate_limit_error", "queue_full",
	"the server is busy: the request queue is full, retry later")

// acquire waits for a decoding slot; it fails at once when the queue is full, or when ctx ends.
func (s *Server) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-s.slots }
	select {
	case s.slots <- struct{}{}:
		return release, nil
	default:
	}
	if s.waiting.Add(1) > int64(s.cfg.MaxQueue) {
		s.waiting.Add(-1)
		return nil, errQueueFull
	}
	defer s.waiting.Add(-1)
	select {
	case s.slots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
