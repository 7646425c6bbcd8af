package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/tasks"
)

// taskTrainArgs trains a very small parity model for a few steps.
func taskTrainArgs(out string, extra ...string) []string {
	args := []string{"train", "--task", "parity", "--sizes", "8,12", "--out", out, "--width", "16", "--heads", "2",
		"--ffn", "32", "--layers", "1,1,1", "--mean-recurrence", "3", "--backprop-depth", "2", "--batch", "4",
		"--steps", "6", "--warmup", "1", "--cooldown", "2", "--optimizer", "adamw", "--seed", "3",
		"--eval-every", "3", "--eval-batches", "1", "--ckpt-every", "3", "--keep", "0"}
	return append(args, extra...)
}

func TestTrainTaskWritesTaskModelAndResumesExactly(t *testing.T) {
	full := t.TempDir()
	out, err := runCLI(t, "", taskTrainArgs(full)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "validation loss r=1") || !strings.Contains(out, "parity model after step 6") {
		t.Errorf("output lacks validation or the final model line:\n%s", out)
	}
	m, task, err := tasks.LoadModel(full)
	if err != nil {
		t.Fatalf("the final folder is not a task model: %v", err)
	}
	m.Close()
	if task.Name() != "parity" {
		t.Errorf("task %q, want parity", task.Name())
	}

	// Resume a copy of the step-3 checkpoint: the result must equal the uninterrupted run.
	resumed := t.TempDir()
	ckpt := "checkpoint-00000003"
	copyDir(t, filepath.Join(full, ckpt), filepath.Join(resumed, ckpt))
	if _, err := runCLI(t, "", taskTrainArgs(resumed, "--resume")...); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(full, "model.safetensors"))
	got, err := os.ReadFile(filepath.Join(resumed, "model.safetensors"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("resumed run differs from the uninterrupted one (err %v)", err)
	}
}

func TestTrainTaskBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--out", dir}, "exactly one of --data"},
		{[]string{"train", "--task", "parity", "--data", "x.txt", "--out", dir}, "exactly one of --data"},
		{[]string{"train", "--task", "sudoku", "--out", dir}, `unknown task "sudoku"`},
		{[]string{"train", "--task", "parity", "--sizes", "8", "--out", dir}, "--sizes"},
		{[]string{"train", "--task", "parity", "--sizes", "9,3", "--out", dir}, "empty"},
		{[]string{"train", "--task", "parity", "--layers", "1,x,1", "--out", dir}, "--layers"},
		{[]string{"train", "--task", "parity", "--width", "30", "--heads", "4", "--out", dir}, "multiple"},
	} {
		_, err := runCLI(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
