package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

// Every recurrence-count flag has one bound, checked before any work: the model folder does not
// even exist, yet the error is about the flag.
func TestStepsFlagsShareOneBound(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-model")
	commands := map[string][]string{
		"run":      {"run", "--model", missing, "1+1="},
		"forward":  {"forward", "--model", missing, "--ids", "1"},
		"generate": {"generate", "--model", missing, "--ids", "1"},
		"eval":     {"eval", "--model", missing},
		"trace":    {"trace", "--model", missing, "--ids", "1", "--out", t.TempDir()},
		"bench":    {"bench", "--model", missing},
		"chat":     {"chat", "--model", missing},
	}
	for name, args := range commands {
		for _, v := range []string{"0", "-1", "1000000", "4097", "eight"} {
			_, err := runCLI(t, "", append(slices.Clone(args), "--steps", v)...)
			if err == nil || !strings.Contains(err.Error(), "--steps") ||
				!(strings.Contains(err.Error(), "[1, 4096]") || strings.Contains(err.Error(), "whole number")) {
				t.Errorf("%s --steps %s: error %v, want the --steps bound [1, 4096] named before any work", name, v, err)
			}
		}
	}
	for _, args := range [][]string{
		{"run", "--model", missing, "--max-steps", "0", "1+1="},
		{"eval", "--model", missing, "--max-steps", "-3"},
		{"generate", "--model", missing, "--ids", "1", "--draft-steps", "99999"},
	} {
		if _, err := runCLI(t, "", args...); err == nil || !strings.Contains(err.Error(), "[1, 4096]") {
			t.Errorf("%v: error %v, want the bound [1, 4096]", args, err)
		}
	}
}

// `generate --steps 8 --exit kl --check-every 8` checks only after the first recurrence; when it
// does not exit, the token must come from the 8th step it reports, not from the 1st (the
// reference's quirk, available with --reference-quirks).
func TestGenerateDrawsFromTheStepItReports(t *testing.T) {
	dir := fixtures.Path(t, "huginn-tiny")
	ids := "5,6,7,8" // its first token after 1 and after 8 steps differ (95, 437)
	gen := func(args ...string) []int {
		t.Helper()
		out, err := runCLI(t, "", append([]string{"generate", "--model", dir, "--ids", ids, "--json"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Tokens, Steps []int }
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return got.Tokens
	}
	adaptive := []string{"--steps", "8", "--exit", "kl", "--threshold", "1e-30", "--check-every", "8"}
	eight, one := gen("--max-new", "1", "--steps", "8"), gen("--max-new", "1", "--steps", "1")
	if slices.Equal(eight, one) {
		t.Fatalf("1 and 8 steps give the same first token %v: the test cannot tell them apart", one)
	}
	if got := gen(append(adaptive, "--max-new", "1")...); !slices.Equal(got, eight) {
		t.Errorf("default: first token %v, want the 8-step token %v (1-step token %v)", got, eight, one)
	}
	if got := gen(append(adaptive, "--max-new", "1", "--reference-quirks")...); !slices.Equal(got, one) {
		t.Errorf("--reference-quirks: first token %v, want the reference's stale 1-step token %v", got, one)
	}
	if got, want := gen(append(adaptive, "--max-new", "6")...), gen("--max-new", "6", "--steps", "8", "--cache", "latest-m4"); !slices.Equal(got, want) {
		t.Errorf("default, 6 tokens: %v, want the fixed 8-step tokens %v", got, want)
	}
}

// The flags that mean the same thing have the same name and default on every command.
func TestSharedFlagsAgree(t *testing.T) {
	for _, c := range rootCmd.Commands() {
		if f := c.Flags().Lookup("max-new"); f != nil && f.DefValue != "256" {
			t.Errorf("%s --max-new defaults to %s, want the shared default 256", c.Name(), f.DefValue)
		}
		if f := c.Flags().Lookup("steps"); f != nil && c.Name() != "train" && f.Value.Type() != "N" && f.Value.Type() != "N,N,..." {
			t.Errorf("%s --steps is a %s, not the bounded recurrence-count flag", c.Name(), f.Value.Type())
		}
	}
}

// Without --max-new, generation stops where the context ends instead of refusing the request.
func TestDefaultMaxNewFitsTheContext(t *testing.T) {
	dir := fixtures.Path(t, "huginn-tiny")
	prompt := strings.TrimSuffix(strings.Repeat("5,", 250), ",") // 250 of the 256 positions
	out, err := runCLI(t, "", "generate", "--model", dir, "--ids", prompt, "--steps", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Tokens []int }
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Tokens) == 0 || len(got.Tokens) > 6 {
		t.Errorf("a 250-token prompt in a 256 context: %d new tokens (%v), want 1 to 6", len(got.Tokens), err)
	}
	if _, err := runCLI(t, "", "generate", "--model", dir, "--ids", prompt, "--max-new", "7"); err == nil || !strings.Contains(err.Error(), "exceeds the context") {
		t.Errorf("an explicit --max-new beyond the context: %v, want a refusal", err)
	}
}

// Every command that takes a model takes it as --model DIR.
func TestEveryModelCommandTakesModelFlag(t *testing.T) {
	for _, name := range []string{"info", "forward", "generate", "chat", "run", "bench", "eval", "serve", "trace"} {
		c, _, err := rootCmd.Find([]string{name})
		if err != nil || c.Flags().Lookup("model") == nil {
			t.Errorf("latent %s has no --model (%v)", name, err)
		}
	}
	dir := fixtures.Path(t, "huginn-tiny")
	byFlag, err1 := runCLI(t, "", "info", "--model", dir, "--json")
	byArg, err2 := runCLI(t, "", "info", dir, "--json")
	if err1 != nil || err2 != nil || byFlag != byArg {
		t.Errorf("info --model DIR and info DIR differ: %v, %v", err1, err2)
	}
	if _, err := runCLI(t, "", "info"); err == nil || !strings.Contains(err.Error(), "--model") {
		t.Errorf("info without a model: %v", err)
	}
}
