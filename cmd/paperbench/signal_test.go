package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this binary as the paperbench command (PAPERBENCH_AS_MAIN=1), so
// a real signal can be sent to a real process.
func TestMain(m *testing.M) {
	if os.Getenv("PAPERBENCH_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestReproduceSIGTERM sends SIGTERM to a paperbench reproduce process while reproduce.sh
// runs with a detached background child: the command exits non-zero saying it was
// interrupted, and neither the sandbox nor the child is left.
func TestReproduceSIGTERM(t *testing.T) {
	marker := fmt.Sprintf("sleep 96%d", time.Now().UnixNano()%1000000)
	sub, out, sbDir := t.TempDir(), filepath.Join(t.TempDir(), "out"), t.TempDir()
	writeFile(t, filepath.Join(sub, "reproduce.sh"), fmt.Sprintf("(setsid %s &); echo started; sleep 600\n", marker))
	cmd := exec.Command(os.Args[0], "reproduce", "--submission", sub, "--out", out, "--sandbox-dir", sbDir)
	cmd.Env = append(os.Environ(), "PAPERBENCH_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(readString(filepath.Join(out, "attempts", "1", "reproduce.log")), "started") {
		if cmd.ProcessState != nil {
			t.Fatalf("exited early: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !eventually(func() bool { return hostProcess(marker) }) {
		t.Fatal("the background child never started")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if err == nil || !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("exit %v, stderr %q", err, stderr.String())
	}
	if es, _ := os.ReadDir(sbDir); len(es) != 0 || !eventually(func() bool { return !hostProcess(marker) }) {
		t.Fatalf("left behind: %d sandboxes, or the background child still alive 10 s on", len(es))
	}
}

// eventually polls cond for up to 10 s: the kernel may still be tearing a killed pid
// namespace down when the command has already exited.
func eventually(cond func() bool) bool {
	for range 500 {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
