package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

// TestOutputsAreNeverOverwritten: every command that writes a folder refuses a non-empty one
// without --force and leaves it as it was. Before, init replaced a model's weights with random
// ones, convert refused only a folder that existed at all, and trace wrote into any folder.
func TestOutputsAreNeverOverwritten(t *testing.T) {
	model := filepath.Join(t.TempDir(), "m")
	if _, err := runCLI(t, "", "init", "--out", model, "--seed", "1"); err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(model, "model.safetensors")
	before, _ := os.ReadFile(weights)
	tiny := fixtures.Path(t, "huginn-tiny")
	for name, args := range map[string][]string{
		"init":    {"init", "--out", model, "--seed", "2"},
		"convert": {"convert", "--in", tiny, "--out", model},
		"trace":   {"trace", "--prompt", "1+2=", "--out", model},
	} {
		_, err := runCLI(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), "--force") {
			t.Errorf("%s into a model folder: %v, want a refusal naming --force", name, err)
		}
		if after, _ := os.ReadFile(weights); !bytes.Equal(after, before) {
			t.Fatalf("%s changed the weights in --out", name)
		}
	}
	if _, err := runCLI(t, "", "init", "--out", model, "--seed", "2", "--force"); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(weights); bytes.Equal(after, before) {
		t.Error("init --force kept the old weights")
	}
	out := filepath.Join(t.TempDir(), "trace")
	if _, err := runCLI(t, "", "trace", "--prompt", "1+2=", "--steps", "32", "--out", out); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "", "trace", "--prompt", "1+2=", "--steps", "32", "--out", out, "--force"); err != nil {
		t.Errorf("trace --force over a trace: %v", err)
	}
}

// TestTrainGuardsItsRun: --steps must be positive, an existing run is neither overwritten nor
// mixed with another, and --resume refuses flags that contradict the run.
func TestTrainGuardsItsRun(t *testing.T) {
	run := t.TempDir()
	if _, err := runCLI(t, "", taskTrainArgs(run)...); err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(run, "model.safetensors")
	before, _ := os.ReadFile(weights)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{taskTrainArgs(t.TempDir(), "--steps", "0"), "--steps 0: want at least 1"},
		{taskTrainArgs(t.TempDir(), "--steps", "-3"), "--steps -3"},
		{taskTrainArgs(run), "--resume to continue"},
		{taskTrainArgs(run, "--seed", "9"), "--force"},
		{taskTrainArgs(run, "--resume", "--force"), "give only one"},
		{taskTrainArgs(run, "--resume"), "already at step 6"},
		{taskTrainArgs(run, "--resume", "--steps", "9", "--width", "32"), "n_embd 32, the run has 16"},
		{taskTrainArgs(run, "--resume", "--steps", "9", "--batch", "8"), "--batch 8, the run has 4"},
		{taskTrainArgs(run, "--resume", "--steps", "9", "--task", "addition"), "trains the parity task, not --task addition"},
	} {
		_, err := runCLI(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args[len(tc.args)-4:], err, tc.want)
		}
		if after, _ := os.ReadFile(weights); !bytes.Equal(after, before) {
			t.Fatalf("%v changed the run's model", tc.args)
		}
	}
	if _, err := runCLI(t, "", taskTrainArgs(run, "--resume", "--steps", "9")...); err != nil {
		t.Errorf("resume with the run's own flags: %v", err)
	}
	if _, err := runCLI(t, "", taskTrainArgs(run, "--force", "--seed", "4", "--steps", "3")...); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(run)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "checkpoint-") && e.Name() != "checkpoint-00000003" {
			t.Errorf("--force kept %s of the old run", e.Name())
		}
	}
}

// TestDefaultModelNeedsNoTempFolder runs the embedded default model with the temporary folder
// missing: before, every run extracted the model into a new temporary folder (left behind when
// the run was killed) and failed here.
func TestDefaultModelNeedsNoTempFolder(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	out, err := runCLI(t, "", "run", "--steps", "32", "5+5=")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "10") {
		t.Errorf("5+5= printed %q", out)
	}
}

// TestInfoFailsWhenTheCheckFails: before, info printed "check FAILED" and exited 0.
func TestInfoFailsWhenTheCheckFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	if _, err := runCLI(t, "", "init", "--out", dir); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "config.json")
	data, _ := os.ReadFile(conf)
	os.WriteFile(conf, bytes.Replace(data, []byte(`"intermediate_size": `), []byte(`"intermediate_size": 1`), 1), 0o644)
	out, err := runCLI(t, "", "info", dir)
	if !strings.Contains(out, "check       FAILED") {
		t.Fatalf("the check did not fail:\n%s", out)
	}
	if err == nil || !strings.Contains(err.Error(), "does not match its config") {
		t.Errorf("info with a failed check returned %v, want an error", err)
	}
}

func TestVersionFlag(t *testing.T) {
	out, err := runCLI(t, "", "--version")
	if err != nil || !strings.HasPrefix(out, "latent version ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version: %v, printed %q", err, out)
	}
}
