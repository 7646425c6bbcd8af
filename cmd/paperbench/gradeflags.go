package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/latentlab/latent/paperbench/judge"
	"github.com/latentlab/latent/paperbench/llm"
)

// reasoningEfforts are the values of --reasoning-effort: auto, none (send no reasoning_effort)
// and the ones OpenAI's API accepts.
var reasoningEfforts = []string{"auto", "none", "minimal", "low", "medium", "high"}

// judgeFlags defines the flags that choose and configure the judge, the same on every command
// that grades (grade, judge-eval); gradeJudgeSettings reads them, checkJudgeFlags checks them.
func judgeFlags(f *pflag.FlagSet) {
	f.String("judge", "simple", "judge: simple, dummy or random")
	f.Bool("code-only", false, "PaperBench Code-Dev: grade the Code Development leaves only, without reproduce files")
	f.String("model", "o3-mini-2025-01-31", "judge model")
	f.String("parse-model", "", "model that turns verdicts into JSON (default: --model)")
	f.String("base-url", "", "OpenAI-compatible endpoint (default: OPENAI_BASE_URL, else OpenAI)")
	f.String("api-key", "", "API key (default: GRADER_OPENAI_API_KEY, else OPENAI_API_KEY)")
	f.String("reasoning-effort", "auto", `reasoning_effort sent with each call: none, minimal, low, medium, high, or auto (high for o-series models, none otherwise)`)
	f.Int("concurrency", judge.DefaultConcurrency, "requests in flight at once")
	f.Int("max-prior-nodes", -1, "preceding criteria shown per leaf (0: all; -1: the official 5 for pinn, else all)")
	f.Int("context-window", 0, "context length of the model in tokens (0: from the model name)")
	f.Float64("price-in", -1, "input price of the judge model, USD per million tokens (default: built-in table)")
	f.Float64("price-out", -1, "output price of the judge model, USD per million tokens (default: built-in table)")
	f.Int("max-retries", llm.DefaultConfig.MaxRetries, "retries of a failed call (429, 5xx, timeouts)")
	f.Duration("request-timeout", llm.DefaultConfig.RequestTimeout, "time limit of one call")
	f.Uint64("seed", 0, "seed of the random judge")
}

// checkGradeFlags validates every flag of grade before any file is read or call made, naming
// the flag at fault.
func checkGradeFlags(cmd *cobra.Command) error {
	f := cmd.Flags()
	out, _ := f.GetString("out")
	subDir, _ := f.GetString("submission")
	if out == "" || subDir == "" {
		return errors.New("grade: --submission and --out are required")
	}
	return checkJudgeFlags("grade", f)
}

// checkJudgeFlags validates the judgeFlags of the command named cmd.
func checkJudgeFlags(cmd string, f *pflag.FlagSet) error {
	name, _ := f.GetString("judge")
	if !slices.Contains([]string{"simple", "dummy", "random"}, name) {
		return fmt.Errorf("%s: unknown judge %q (want simple, dummy or random)", cmd, name)
	}
	effort, _ := f.GetString("reasoning-effort")
	if !slices.Contains(reasoningEfforts, effort) {
		return fmt.Errorf("%s: --reasoning-effort %q: want one of %s", cmd, effort, strings.Join(reasoningEfforts, ", "))
	}
	window, _ := f.GetInt("context-window")
	if window != 0 && window < judge.MinContextWindow {
		return fmt.Errorf("%s: --context-window %d: leaves no room for the paper; want at least %d tokens (or 0: from the model name)", cmd, window, judge.MinContextWindow)
	}
	ints := []struct {
		flag string
		min  int
		why  string
	}{{"concurrency", 1, "at least 1"}, {"max-retries", 0, "at least 0"}, {"max-prior-nodes", -1, "-1 (the official default), 0 (all) or more"}}
	for _, c := range ints {
		if v, _ := f.GetInt(c.flag); v < c.min {
			return fmt.Errorf("%s: --%s %d: want %s", cmd, c.flag, v, c.why)
		}
	}
	if timeout, _ := f.GetDuration("request-timeout"); timeout <= 0 {
		return fmt.Errorf("%s: --request-timeout %v: want a positive duration such as 10m", cmd, timeout)
	}
	for _, flag := range []string{"price-in", "price-out"} {
		if v, _ := f.GetFloat64(flag); f.Changed(flag) && !(v >= 0) {
			return fmt.Errorf("%s: --%s %v: want a price of at least 0 USD per million tokens", cmd, flag, v)
		}
	}
	return nil
}

// failedLeavesError is the error of a grading with leaves that could not be graded.
func failedLeavesError(s gradeSummary, journal string) error {
	first := ""
	for _, l := range s.InvalidLeaves {
		if strings.HasPrefix(l.Explanation, "grading failed") {
			first = fmt.Sprintf(" (first: %s: %s)", l.Path, l.Explanation)
			break
		}
	}
	return fmt.Errorf("grade: %d of %d leaves failed to grade%s; the graded ones are kept in %s: run the same command again to grade the rest",
		s.FailedLeaves, s.Leaves, first, journal)
}
