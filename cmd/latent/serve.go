package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/latentlab/latent/generate"
	"github.com/latentlab/latent/model"
	"github.com/latentlab/latent/model/defaultmodel"
	"github.com/latentlab/latent/server"
	"github.com/latentlab/latent/tasks"
	"github.com/latentlab/latent/tokenizer"
	"github.com/spf13/cobra"
)

func init() {
	var cfg server.Config
	var dir, addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a model over an OpenAI-compatible HTTP API with per-request thinking options",
		Example: `  latent serve
  latent serve --model ~/models/huginn-0125-bf16 --addr 127.0.0.1:8080 --max-batch 8 --prefill-chunk 128
  curl -s localhost:8080/v1/completions -d '{"prompt": "12345+67890=", "max_tokens": 8}'`,
		Long: `Serve answers /v1/models, /v1/completions, /v1/chat/completions and /health. Requests take
the Hugging Face generate fields num_steps, criterion, exit_threshold, min_steps,
check_criterion_every_n_steps, cache_lookup_strategy, continuous_compute, init_scale,
draft_steps, lookahead_for_draft and verification_threshold; return_steps adds the steps of every
token. Without --model it serves the embedded default model. SIGTERM drains, then stops.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return runServe(dir, addr, cfg, os.Stderr) },
	}
	f := cmd.Flags()
	f.StringVar(&dir, "model", "", "model folder (default: the embedded default model)")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	f.IntVar(&cfg.MaxBatch, "max-batch", 16, "requests decoding at once, their recurrences batched together")
	f.IntVar(&cfg.PrefillChunk, "prefill-chunk", generate.DefaultPrefillChunk,
		fmt.Sprintf("prompt positions prefilled at once beside the batched steps; longer prompts (their prelude, recurrences, coda, and echo's prompt logprobs) go chunk by chunk (at least %d)", model.MinChunkRows))
	f.IntVar(&cfg.MaxQueue, "max-queue", 64, "requests waiting before the server answers 429")
	f.IntVar(&cfg.MaxTokens, "max-tokens", 0, "cap on max_tokens (0: the context)")
	f.IntVar(&cfg.MaxSteps, "max-steps", 256, "cap on num_steps")
	f.StringVar(&cfg.APIKey, "api-key", "", "require Authorization: Bearer KEY")
	rootCmd.AddCommand(cmd)
}

// runServe loads the model and its codec and serves until SIGTERM or SIGINT.
func runServe(dir, addr string, cfg server.Config, log io.Writer) error {
	if cfg.MaxBatch < 1 || cfg.MaxQueue < 1 || cfg.MaxTokens < 0 || cfg.MaxSteps < 1 {
		return fmt.Errorf("serve: --max-batch, --max-queue and --max-steps must be at least 1, --max-tokens at least 0")
	}
	if cfg.PrefillChunk < model.MinChunkRows {
		return fmt.Errorf("serve: --prefill-chunk %d: must be at least %d (smaller chunks would compute other products than the whole prompt's)", cfg.PrefillChunk, model.MinChunkRows)
	}
	m, err := loadServed(dir, &cfg, log)
	if err != nil {
		return err
	}
	defer m.Close()
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	return listen(addr, srv, log)
}

// loadServed loads the model in dir, or the embedded default model (from memory) when dir is
// empty, into cfg with its name and codec.
func loadServed(dir string, cfg *server.Config, log io.Writer) (*model.Model, error) {
	if dir == "" {
		m, task, err := defaultmodel.Load()
		if err != nil {
			return nil, err
		}
		cfg.Model, cfg.ModelName, cfg.Codec = m, defaultmodel.Name, server.VocabCodec{Vocab: task.Vocab()}
		return m, nil
	}
	m, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	cfg.Model, cfg.ModelName = m, filepath.Base(dir)
	if err := loadCodec(dir, cfg, log); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// loadCodec picks a task vocabulary or a tokenizer (with its chat template when it has one).
func loadCodec(dir string, cfg *server.Config, log io.Writer) error {
	task, ok, err := tasks.LoadVocab(dir)
	if err != nil {
		return err
	}
	if ok {
		cfg.Codec = server.VocabCodec{Vocab: task.Vocab()}
		return nil
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return fmt.Errorf("serve: %s has neither a task vocabulary nor a tokenizer: %w", dir, err)
	}
	cfg.Codec = server.TokenizerCodec{Tok: tok}
	if cfg.Chat, err = tokenizer.LoadChatTemplate(dir); err != nil {
		fmt.Fprintf(log, "serve: no chat template (/v1/chat/completions will answer 400): %v\n", err)
	}
	return nil
}

// listen serves until a signal, then drains the requests in flight.
func listen(addr string, h http.Handler, log io.Writer) error {
	hs := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	fmt.Fprintf(log, "serving on http://%s\n", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(log, "serve: draining requests in flight")
	drain, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := hs.Shutdown(drain); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
