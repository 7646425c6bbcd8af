package main

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/latentlab/latent/tasks"
	"github.com/latentlab/latent/train"
)

// TestMain lets a test run this binary as the latent command itself (LATENT_TEST_AS_MAIN=1), so
// that signals can be sent to a real process.
func TestMain(m *testing.M) {
	if os.Getenv("LATENT_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// latentProcess starts the latent command with args as a child process.
func latentProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "LATENT_TEST_AS_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// waitForBytes waits until the files under dir hold at least n bytes, or the process ends.
func waitForBytes(t *testing.T, dir string, n int64, exited <-chan error) {
	t.Helper()
	for {
		var total int64
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
		if total >= n {
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("the command ended (%v) before writing %d bytes", err, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// interruptAndWait sends sig to the running command and checks that it stops with status 130.
func interruptAndWait(t *testing.T, name string, cmd *exec.Cmd, exited <-chan error, sig os.Signal) {
	t.Helper()
	cmd.Process.Signal(sig)
	var err error
	select {
	case err = <-exited:
	case <-time.After(2 * time.Minute): // a safety net, not a measure
		cmd.Process.Kill()
		t.Fatalf("%v: %s did not stop", sig, name)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Errorf("%v: %s ended with %v, want exit status 130", sig, name, err)
	}
}

// TestInterruptedInitLeavesNothing sends SIGINT and SIGTERM to `latent init` of the full-size
// config while it writes its weights: the command must stop, exit 130 and leave nothing behind.
// Before, the signal killed the process and left the config and a hidden partial shard.
func TestInterruptedInitLeavesNothing(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		parent := t.TempDir()
		cmd := latentProcess(t, "init", "--config", "huginn-0125", "--out", filepath.Join(parent, "m"))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		waitForBytes(t, parent, 16<<20, exited)
		interruptAndWait(t, "init", cmd, exited, sig)
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("%v: an interrupted init left %v", sig, entries)
		}
	}
}

// TestInterruptedTrainKeepsItsCheckpoints sends SIGINT to a training run once it has written a
// checkpoint: it must stop between steps with status 130 and leave complete checkpoints only.
// Before, the signal killed the process, possibly in the middle of a checkpoint-N.tmp folder.
func TestInterruptedTrainKeepsItsCheckpoints(t *testing.T) {
	out := t.TempDir()
	cmd := latentProcess(t, taskTrainArgs(out, "--steps", "100000", "--ckpt-every", "2", "--eval-every", "0")...)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		if _, err := os.Stat(filepath.Join(out, "checkpoint-00000002")); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("train ended (%v) before its first checkpoint", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	interruptAndWait(t, "train", cmd, exited, os.Interrupt)
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".tmp" {
			t.Errorf("an interrupted run left %s", e.Name())
		}
	}
	ckpt, err := train.LatestCheckpoint(out)
	if err != nil || ckpt == "" {
		t.Fatalf("no checkpoint kept: %v", err)
	}
	m, _, err := tasks.LoadModel(ckpt)
	if err != nil {
		t.Fatalf("the newest checkpoint %s does not load: %v", ckpt, err)
	}
	m.Close()
}

// TestInterruptedTraceLeavesNothing sends SIGINT to `latent trace` while it streams its states:
// it must stop between steps, exit 130 and remove what it wrote. Before, the signal killed it and
// left a hidden partial states file.
func TestInterruptedTraceLeavesNothing(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "trace")
	cmd := latentProcess(t, "trace", "--prompt", "1234567890+1234567890=", "--steps", "4096", "--readout-stride", "1", "--out", out)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitForBytes(t, parent, 1<<20, exited)
	interruptAndWait(t, "trace", cmd, exited, os.Interrupt)
	var left []string
	filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("an interrupted trace left %v", left)
	}
}
