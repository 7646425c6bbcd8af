package trace

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/latentlab/latent/generate"
)

// With a fixed recurrence, a full cache and zero initial states, generating token by token
// computes exactly what one cache-free lockstep pass over the prompt and its continuation
// computes: the replayed states must equal the recorded ones.
func TestReplayOfFixedRecurrenceEqualsLockstep(t *testing.T) {
	m := defaultModel(t)
	prompt := []int{1, 7, 2, 11, 5, 9, 11}
	const T, N = 12, 4
	dir := t.TempDir()
	rep, err := Replay(m, prompt, N, generate.Options{Steps: T, Cache: "full", StopTokens: []int{}}, false, filepath.Join(dir, "replay.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.IDs) != len(prompt)+N || rep.Generated != N || !slices.Equal(rep.IDs[:len(prompt)], prompt) {
		t.Fatalf("replay traced %v (%d generated), want the prompt and %d generated tokens", rep.IDs, rep.Generated, N)
	}
	for p, r := range rep.RanSteps {
		if r != T || len(rep.StepSize[p]) != T {
			t.Errorf("position %d ran %d steps with %d step sizes, want %d", p, r, len(rep.StepSize[p]), T)
		}
	}
	if _, err := Record(m, rep.IDs, Options{Steps: T}, filepath.Join(dir, "lockstep.safetensors")); err != nil {
		t.Fatal(err)
	}
	replayed, err := ReadStates(filepath.Join(dir, "replay.safetensors"), 0)
	if err != nil {
		t.Fatal(err)
	}
	lockstep, err := ReadStates(filepath.Join(dir, "lockstep.safetensors"), 0)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for ti := 0; ti <= T; ti++ {
		for i := range rep.IDs {
			worst = math.Max(worst, relDist(lockstep.At(ti, i), replayed.At(ti, i)))
		}
	}
	if worst > 1e-5 {
		t.Errorf("replayed states differ from the lockstep pass by up to %.2g (relative)", worst)
	}
}

// Under an exit criterion every position stops on its own; its state is frozen from then on,
// and the tokens are those generate gives for the same request.
func TestReplayFreezesPositionsThatExit(t *testing.T) {
	m := defaultModel(t)
	prompt := []int{1, 7, 2, 11, 5, 9, 11}
	const T, N = 32, 5
	thr := 1e-4
	opt := generate.Options{Steps: T, Exit: &generate.ExitOptions{Criterion: "kl", Threshold: &thr}, InitScale: 1, Seed: 3, StopTokens: []int{}}
	path := filepath.Join(t.TempDir(), "replay.safetensors")
	rep, err := Replay(m, prompt, N, opt, true, path)
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxNew = N + 1
	toks, err := generate.Generate(m, prompt, opt)
	if err != nil {
		t.Fatal(err)
	}
	for k := range N {
		if rep.IDs[len(prompt)+k] != toks[k].ID || rep.RanSteps[len(prompt)+k] != toks[k+1].Steps {
			t.Errorf("generated position %d: token %d after %d steps, generate gives %d and its successor ran %d",
				k, rep.IDs[len(prompt)+k], rep.RanSteps[len(prompt)+k], toks[k].ID, toks[k+1].Steps)
		}
	}
	s, err := ReadStates(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	early := false
	for p, r := range rep.RanSteps {
		early = early || r < T
		for ti := r + 1; ti <= T; ti++ {
			if !slices.Equal(s.At(ti, p), s.At(r, p)) {
				t.Fatalf("position %d stopped at step %d but its state moves at step %d", p, r, ti)
			}
		}
	}
	if !early {
		t.Error("no position exited before the step limit: the test cannot see freezing")
	}
}
