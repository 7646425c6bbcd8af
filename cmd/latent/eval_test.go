package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
)

func TestRunDefaultModelAddsNumbers(t *testing.T) {
	for prompt, want := range map[string]string{"12345+67890=": "80235", "999+1=": "1000", "4706+85=": "4791"} {
		out, err := runCLI(t, "", "run", prompt)
		if err != nil {
			t.Fatalf("run %q: %v", prompt, err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || lines[0] != want || !strings.HasPrefix(lines[2], "steps:") || !strings.HasSuffix(lines[3], "correct") {
			t.Errorf("run %q printed\n%s\nwant the answer %s, the answer tokens, their steps and \"correct\"", prompt, out, want)
		}
	}
}

func TestRunFixedSteps(t *testing.T) {
	out, err := runCLI(t, "", "run", "--steps", "5", "23+19")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "steps:         5 5 5") || !strings.Contains(out, "fixed recurrence") {
		t.Errorf("run --steps 5 printed\n%s", out)
	}
}

func TestRunRejectsFoldersItCannotRead(t *testing.T) {
	dir := fixtures.Path(t, "huginn-tiny")
	if _, err := runCLI(t, "", "run", "--model", dir, "hello"); err == nil || !strings.Contains(err.Error(), "neither a task model") {
		t.Errorf("a model folder without tokenizer or vocab.json: %v", err)
	}
	if _, err := runCLI(t, "", "run", "12a+3="); err == nil || !strings.Contains(err.Error(), "A+B=") {
		t.Errorf("a malformed sum: %v", err)
	}
}

func TestEvalJSONAndPlots(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "acc")
	out, err := runCLI(t, "", "eval", "--lengths", "3,6", "--steps", "1,4,8", "--instances", "30", "--json",
		"--plot", prefix, "--exit", "kl", "--max-steps", "16")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Task     string      `json:"task"`
		Lengths  []int       `json:"lengths"`
		Steps    []int       `json:"steps"`
		Accuracy [][]float64 `json:"accuracy"`
		Adaptive struct {
			Rows []struct {
				MeanSteps float64 `json:"mean_steps"`
			} `json:"rows"`
		} `json:"adaptive"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval --json printed no JSON: %v\n%.300s", err, out)
	}
	if rep.Task != "addition" || len(rep.Lengths) != 2 || len(rep.Steps) != 3 || len(rep.Accuracy) != 2 || len(rep.Accuracy[1]) != 3 {
		t.Fatalf("JSON shape: %+v", rep)
	}
	if rep.Accuracy[0][2] < 0.9 {
		t.Errorf("the default model gets %.0f %% of 3-digit sums right at r=8, want ≥ 90 %%", 100*rep.Accuracy[0][2])
	}
	if len(rep.Adaptive.Rows) != 2 || rep.Adaptive.Rows[0].MeanSteps < 1 || rep.Adaptive.Rows[0].MeanSteps > 16 {
		t.Errorf("adaptive rows: %+v", rep.Adaptive.Rows)
	}
	pngBytes, err := os.ReadFile(prefix + ".png")
	if err != nil {
		t.Fatalf("PNG plot: %v", err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(pngBytes)); err != nil || cfg.Width < 1200 {
		t.Errorf("PNG plot: %d px wide (%v), want a decodable PNG at least 1200 px wide", cfg.Width, err)
	}
	svg, err := os.ReadFile(prefix + ".svg")
	if err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("SVG plot: %v", err)
	}
}

func TestEvalTableAndBadFlags(t *testing.T) {
	out, err := runCLI(t, "", "eval", "--lengths", "2", "--steps", "1,8", "--instances", "10", "--plot", "none")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "task addition") || !strings.Contains(out, "r=8") {
		t.Errorf("eval table:\n%s", out)
	}
	for want, args := range map[string][]string{
		"must lie in [1, 4096]": {"eval", "--steps", "0,2", "--plot", "none"},
		"trained on":            {"eval", "--task", "parity", "--plot", "none"},
		"context":               {"eval", "--lengths", "400", "--plot", "none"},
	} {
		if _, err := runCLI(t, "", args...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want it to mention %q", args, err, want)
		}
	}
}
