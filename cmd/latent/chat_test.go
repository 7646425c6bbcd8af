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

// terminal is the chat's output in a test; it presses Ctrl-C (sends on interrupts) when the
// chat writes its prompt for the n-th time (atPrompt) or first writes after the n-th prompt,
// that is during the reply to the n-th line (inReply).
type terminal struct {
	strings.Builder
	interrupts        chan os.Signal
	atPrompt, inReply map[int]bool
	prompts           int
	fired             map[int]bool
}

func newTerminal(atPrompt, inReply map[int]bool) *terminal {
	return &terminal{interrupts: make(chan os.Signal, 1), atPrompt: atPrompt, inReply: inReply, fired: map[int]bool{}}
}

func (t *terminal) Write(p []byte) (int, error) {
	if strings.HasSuffix(string(p), "> ") {
		t.prompts++
		if t.atPrompt[t.prompts] {
			t.interrupts <- os.Interrupt
		}
	} else if t.inReply[t.prompts] && !t.fired[t.prompts] {
		t.fired[t.prompts] = true
		t.interrupts <- os.Interrupt
	}
	return t.Builder.Write(p)
}

func chatWith(t *testing.T, out *terminal) *chatSession {
	t.Helper()
	s, err := newChatSession(smallHuginnVocabModel(t), "Be brief.", out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.m.Close() })
	s.interrupts = out.interrupts
	s.opt.MaxNew = 24
	return s
}

// TestChatCtrlCStopsTheReply presses Ctrl-C during the first reply and then at the prompt.
// Before, the first Ctrl-C ended the program and the conversation was lost.
func TestChatCtrlCStopsTheReply(t *testing.T) {
	out := newTerminal(map[int]bool{3: true}, map[int]bool{1: true})
	s := chatWith(t, out)
	if err := s.loop(strings.NewReader("Hello there\n/history\nAgain\n")); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"[reply stopped by Ctrl-C", "  1 tokens · ", "[user] Hello there"} {
		if !strings.Contains(text, want) {
			t.Errorf("chat output lacks %q:\n%s", want, text)
		}
	}
	if len(s.history) != 3 || s.history[1].Content != "Hello there" || s.history[2].Role != "assistant" {
		t.Errorf("history %+v: want the system message, the question and the stopped reply", s.history)
	}
	if strings.Count(text, " tokens · ") != 1 {
		t.Errorf("Ctrl-C at the prompt did not end the chat before the next line:\n%s", text)
	}
}

// TestChatDropsTheOldestTurns fills the 256-token context with long messages: before, every
// message past the context failed with an error and no hint.
func TestChatDropsTheOldestTurns(t *testing.T) {
	out := newTerminal(nil, nil)
	s := chatWith(t, out)
	s.opt.MaxNew = 8
	long := strings.Repeat("tell me more about the latent reasoning ", 8)
	script := strings.Repeat(long+"\n", 6) + "/history\n" + strings.Repeat("x ", 300) + "\n"
	if err := s.loop(strings.NewReader(script)); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "[context full: dropped the ") {
		t.Errorf("no notice that old turns were dropped:\n%s", text)
	}
	if n := strings.Count(text, " tokens · "); n != 6 {
		t.Errorf("%d of the 6 long messages were answered:\n%s", n, text)
	}
	if !strings.Contains(text, "error: the message takes") || !strings.Contains(text, "/max-new") {
		t.Errorf("a message too long for the context on its own is not explained:\n%s", text)
	}
	if s.history[0].Role != "system" || len(s.history) >= 13 {
		t.Errorf("history keeps %d messages, first %q: want the system message and fewer than all turns", len(s.history), s.history[0].Role)
	}
}

// TestChatSlashCommandsAreChecked: the commands are named like the flags and a bad value is
// refused when typed, leaving the settings as they were.
func TestChatSlashCommandsAreChecked(t *testing.T) {
	out := newTerminal(nil, nil)
	s := chatWith(t, out)
	script := []string{"/temp 0.5", "/temperature -1", "/temperature 0.7", "/steps 2.5", "/steps -1", "/steps 6",
		"/top-p 2", "/top-k -3", "/top-k 5", "/min-p 1", "/max-new 100000", "/max-new 16", "/seed x", "/seed 9",
		"/exit bogus", "/exit kl x", "/quit"}
	if err := s.loop(strings.NewReader(strings.Join(script, "\n") + "\n")); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"use /temperature", "temperature -1", "/steps \"2.5\": want an integer", "steps -1 must lie in",
		"top-p 2", "top-k -3", "min-p 1", "exceeds the context", "/seed \"x\"", "bogus", "/exit threshold \"x\""} {
		if !strings.Contains(text, want) {
			t.Errorf("chat output lacks %q:\n%s", want, text)
		}
	}
	o := s.opt
	if o.Sampling.Temperature != 0.7 || o.Steps != 6 || o.Sampling.TopK != 5 || o.MaxNew != 16 || o.Seed != 9 || o.Exit != nil || o.Sampling.TopP != 0 {
		t.Errorf("settings %+v: want temperature 0.7, steps 6, top-k 5, max-new 16, seed 9 and the refused values ignored", o)
	}
}
