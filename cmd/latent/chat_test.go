package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/model"
)

// smallHuginnVocabModel writes a small random model with Huginn-0125's vocabulary and tokenizer
// files, so the chat path runs end to end on real tokenizer data.
func smallHuginnVocabModel(t *testing.T) string {
	t.Helper()
	src := fixtures.Path(t, "huginn-0125")
	cfg, err := model.BuiltinConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NEmbd, cfg.NHeads, cfg.NumKVHeads, cfg.IntermediateSize, cfg.HeadDim = 32, 2, 2, 64, 16
	cfg.VocabSize, cfg.PaddedVocabSize, cfg.MeanRecurrence = 65536, 65536, 4
	cfg.SetInitValues()
	dir := t.TempDir()
	if err := model.WriteRandomCheckpoint(cfg, dir, model.InitOptions{DType: "bf16", Shards: 1, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestChatSession(t *testing.T) {
	dir := smallHuginnVocabModel(t)
	var out strings.Builder
	s, err := newChatSession(dir, "Be brief.", &out)
	if err != nil {
		t.Fatal(err)
	}
	defer s.m.Close()
	s.opt.MaxNew = 5
	script := "/steps 3\n/exit bogus\n/exit kl 0.001\nHello there\n/history\n/exit off\n/bogus\nAgain\n/quit\n"
	if err := s.loop(strings.NewReader(script)); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"error: ",                // the unknown criterion is refused
		"tokens · ",              // the steps strip after each reply
		"[user] Hello there",     // history lists the turn
		"[system] Be brief.",     // and the system message
		"unknown command /bogus", // a clear message for unknown commands
	} {
		if !strings.Contains(text, want) {
			t.Errorf("chat output lacks %q:\n%s", want, text)
		}
	}
	if len(s.history) != 5 || s.history[4].Role != "assistant" {
		t.Errorf("history has %d messages, want system + 2 × (user, assistant): %+v", len(s.history), s.history)
	}
	if s.opt.Steps != 3 || s.opt.Exit != nil {
		t.Errorf("settings not applied: steps %d exit %+v", s.opt.Steps, s.opt.Exit)
	}
}

func TestChatNeedsTokenizer(t *testing.T) {
	_, err := newChatSession(fixtures.Path(t, "huginn-tiny"), "", &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "tokenizer") {
		t.Fatalf("want a tokenizer error, got %v", err)
	}
}
