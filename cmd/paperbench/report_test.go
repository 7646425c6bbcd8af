package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/paperbench/rungroup/rungrouptest"
)

func TestReportCommand(t *testing.T) {
	group, err := rungrouptest.Make(t.TempDir(), fixtures.Path(t, "paperbench", "papers"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report")
	text, err := runCLI(t, "report", group, "--out", out)
	if err != nil || !strings.Contains(text, "demo: 2 papers, 2 complete seeds, 2 files unreadable") {
		t.Fatalf("%v\n%s", err, text)
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Error(err)
	}
	if _, err := runCLI(t, "report", filepath.Join(group, "nope"), "--out", out); err == nil {
		t.Error("a missing group gave no error")
	}
	if _, err := runCLI(t, "report", group); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("no --out: %v", err)
	}
}
