package main

import (
	"encoding/json"
	"github.com/spf13/cobra"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

// TestGradeFailsWhenLeavesFail grades against an endpoint that is down (every call 503): before,
// the command printed "5 invalid" and exited 0.
func TestGradeFailsWhenLeavesFail(t *testing.T) {
	var calls atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer server.Close()
	paper, sub := flagPaper(t), fixtures.Path(t, "paperbench", "unit_fixtures", "submissions", "hex_flags", "gold")
	out := filepath.Join(t.TempDir(), "graded.json")
	text, err := runCLI(t, "grade", "--paper", paper, "--submission", sub, "--out", out, "--base-url", server.URL+"/v1",
		"--api-key", "k", "--model", "o3-mini", "--max-retries", "0")
	if err == nil || !strings.Contains(err.Error(), "5 of 5 leaves failed to grade") {
		t.Errorf("error %v, want one saying 5 of 5 leaves failed\n%s", err, text)
	}
	if !strings.Contains(text, "5 invalid (5 failed to grade)") {
		t.Errorf("the summary does not count the failed leaves:\n%s", text)
	}
	if calls.Load() == 0 {
		t.Error("no call reached the endpoint")
	}
}

// TestGradeValidatesFlagsFirst: every bad value is refused, naming its flag, before any file is
// read or written and before any call.
func TestGradeValidatesFlagsFirst(t *testing.T) {
	var calls atomic.Int64
	url := fakeJudgeEndpoint(t, &calls)
	paper, sub := flagPaper(t), fixtures.Path(t, "paperbench", "unit_fixtures", "submissions", "hex_flags", "gold")
	out := filepath.Join(t.TempDir(), "graded.json")
	for bad, want := range map[string]string{
		"--context-window 10":        "--context-window 10: leaves no room for the paper",
		"--context-window -5":        "--context-window -5",
		"--reasoning-effort extreme": `--reasoning-effort "extreme": want one of auto, none`,
		"--concurrency 0":            "--concurrency 0: want at least 1",
		"--concurrency -4":           "--concurrency -4",
		"--max-retries -1":           "--max-retries -1: want at least 0",
		"--request-timeout 0s":       "--request-timeout 0s",
		"--request-timeout -1m":      "--request-timeout -1m0s",
		"--price-in -1":              "--price-in -1: want a price of at least 0",
		"--price-out -0.5":           "--price-out -0.5",
		"--max-prior-nodes -2":       "--max-prior-nodes -2",
		"--judge oracle":             `unknown judge "oracle"`,
	} {
		args := append([]string{"grade", "--paper", paper, "--submission", sub, "--out", out, "--base-url", url,
			"--api-key", "k", "--model", "o3-mini"}, strings.Fields(bad)...)
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", bad, err, want)
		}
	}
	if calls.Load() != 0 {
		t.Errorf("%d calls were made with bad flags", calls.Load())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused grading wrote %s", out)
	}
}

func TestVersionFlag(t *testing.T) {
	out, err := runCLI(t, "--version")
	if err != nil || !strings.HasPrefix(out, "paperbench version ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version: %v, printed %q", err, out)
	}
}

// TestEveryCommandHasExamplesAndJSON: before, no paperbench command had an example and
// validate had no --json.
func TestEveryCommandHasExamplesAndJSON(t *testing.T) {
	var check func(c *cobra.Command)
	check = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		for _, sub := range c.Commands() {
			check(sub)
		}
		if c == rootCmd || !c.Runnable() {
			return // a group of commands does nothing itself
		}
		if !strings.Contains(c.Example, c.CommandPath()) {
			t.Errorf("%s --help has no example of itself", c.CommandPath())
		}
		if c.Flags().Lookup("json") == nil {
			t.Errorf("%s has no --json", c.CommandPath())
		}
	}
	check(rootCmd)
	out, err := runCLI(t, "validate", "--json", fixtures.Path(t, "paperbench", "papers", "rice"))
	var rep validation
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Paths) != 1 || !rep.Paths[0].OK {
		t.Errorf("validate --json: %v\n%s", err, out)
	}
}
