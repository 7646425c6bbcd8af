package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latentlab/latent/paperbench/judge"
)

// reasoningEfforts are the values of --reasoning-effort: auto, none (send no reasoning_effort)
// and the ones OpenAI's API accepts.
var reasoningEfforts = []string{"auto", "none", "minimal", "low", "medium", "high"}

// checkGradeFlags validates every flag of grade before any file is read or call made, naming
// the flag at fault.
func checkGradeFlags(cmd *cobra.Command) error {
	f := cmd.Flags()
	out, _ := f.GetString("out")
	subDir, _ := f.GetString("submission")
	if out == "" || subDir == "" {
		return errors.New("grade: --submission and --out are required")
	}
	name, _ := f.GetString("judge")
	if !slices.Contains([]string{"simple", "dummy", "random"}, name) {
		return fmt.Errorf("grade: unknown judge %q (want simple, dummy or random)", name)
	}
	effort, _ := f.GetString("reasoning-effort")
	if !slices.Contains(reasoningEfforts, effort) {
		return fmt.Errorf("grade: --reasoning-effort %q: want one of %s", effort, strings.Join(reasoningEfforts, ", "))
	}
	window, _ := f.GetInt("context-window")
	if window != 0 && window < judge.MinContextWindow {
		return fmt.Errorf("grade: --context-window %d: leaves no room for the paper; want at least %d tokens (or 0: from the model name)", window, judge.MinContextWindow)
	}
	ints := []struct {
		flag string
		min  int
		why  string
	}{{"concurrency", 1, "at least 1"}, {"max-retries", 0, "at least 0"}, {"max-prior-nodes", -1, "-1 (the official default), 0 (all) or more"}}
	for _, c := range ints {
		if v, _ := f.GetInt(c.flag); v < c.min {
			return fmt.Errorf("grade: --%s %d: want %s", c.flag, v, c.why)
		}
	}
	if timeout, _ := f.GetDuration("request-timeout"); timeout <= 0 {
		return fmt.Errorf("grade: --request-timeout %v: want a positive duration such as 10m", timeout)
	}
	for _, flag := range []string{"price-in", "price-out"} {
		if v, _ := f.GetFloat64(flag); f.Changed(flag) && !(v >= 0) {
			return fmt.Errorf("grade: --%s %v: want a price of at least 0 USD per million tokens", flag, v)
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
