package main

import (
	"encoding/json"
	"github.com/latentlab/latent/internal/fixtures"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/safetensors"
)

// TestTraceDefaultModel traces the embedded addition model and checks that classify reads the
// states back to the labels trace.json holds.
func TestTraceDefaultModel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "trace")
	if _, err := runCLI(t, "", "trace", "--prompt", "999+1=", "--steps", "40", "--readout-stride", "8", "--seeds", "2", "--out", out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"states.safetensors", "trace.json", "convergence.png", "convergence.svg", "stepsize.png",
		"panels.png", "panels.svg", "panels-true-scale.svg", "trace.html", "states-seed1.safetensors",
		"text.png", "text.svg", "path-independence.png", "path-independence.svg"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s missing or empty (%v)", name, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Tokens []struct {
			Text      string
			Label     string
			DistFinal []float64 `json:"dist_final"`
			Readouts  []struct{ Step int }
			Spread    float64 `json:"seed_spread"`
			ExitStep  int     `json:"exit_step"`
		}
		ExitThreshold float64 `json:"exit_threshold"`
		PCA           struct {
			Explained []float64 `json:"explained_variance"`
		} `json:"pca"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	// <bos> 9 1 = 9 0 = 9 0 = 0 0 = (one pair more for the carry out)
	if len(rep.Tokens) != 13 || rep.Tokens[0].Text != "<bos>" || len(rep.Tokens[3].DistFinal) != 41 || len(rep.Tokens[3].Readouts) != 6 {
		t.Fatalf("trace.json: %d tokens, first %q, %d distances, %d readouts", len(rep.Tokens), rep.Tokens[0].Text, len(rep.Tokens[3].DistFinal), len(rep.Tokens[3].Readouts))
	}
	// the default model reaches the same fixed point from another s₀ (within fp32 rounding)
	for i, tok := range rep.Tokens {
		if tok.Spread == 0 || tok.Spread > 1e-4 {
			t.Errorf("token %d: seed spread %g, want a small nonzero distance", i, tok.Spread)
		}
	}
	// the answer positions (every third token from 3 on) settle within the 40 steps, on the
	// 8-step readout grid, at the task models' kl threshold
	if rep.ExitThreshold != 1e-5 {
		t.Errorf("exit threshold %g, want the task default 1e-5", rep.ExitThreshold)
	}
	for i := 3; i < len(rep.Tokens); i += 3 {
		if e := rep.Tokens[i].ExitStep; e < 8 || e > 40 || e%8 != 0 {
			t.Errorf("answer token %d: exit step %d, want a readout step in [8, 40]", i, e)
		}
	}
	if len(rep.PCA.Explained) != 6 {
		t.Errorf("PCA has %d components, want 6", len(rep.PCA.Explained))
	}
	js, err := runCLI(t, "", "trace", "classify", "--states", filepath.Join(out, "states.safetensors"), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var cl struct{ Tokens []struct{ Label string } }
	if err := json.Unmarshal([]byte(js), &cl); err != nil {
		t.Fatalf("classify output is not JSON: %v\n%.300s", err, js)
	}
	for i, tok := range cl.Tokens {
		if tok.Label != rep.Tokens[i].Label {
			t.Errorf("token %d: classify says %s, trace.json %s", i, tok.Label, rep.Tokens[i].Label)
		}
	}
	if len(cl.Tokens) != len(rep.Tokens) {
		t.Errorf("classify labelled %d tokens, want %d", len(cl.Tokens), len(rep.Tokens))
	}
}

func TestTraceBadInput(t *testing.T) {
	dir := t.TempDir()
	bf16 := filepath.Join(dir, "bf16.safetensors")
	if err := safetensors.WriteFile(bf16, []safetensors.WriteTensor{{Name: "states", DType: safetensors.BF16,
		Shape: []int{33, 1, 2}, Data: make([]byte, 33*2*2)}}, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "--prompt", "1+2=", "--tokens", "2:9", "--out", out}, "within the 7 tokens"},
		{[]string{"trace", "--prompt", "1+2=", "--steps", "8", "--out", out}, "at least 32"},
		{[]string{"trace", "--prompt", "1+2=", "--ids", "1,2", "--out", out}, "exactly one"},
		{[]string{"trace", "--prompt", "1+2=", "--state", "fancy", "--out", out}, "normalized or raw"},
		{[]string{"trace", "--ids", "1,40", "--out", out}, "outside the vocabulary"},
		{[]string{"trace", "classify", "--states", bf16}, "want F32"},
	} {
		_, err := runCLI(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) > 0 {
		t.Errorf("failed traces left %d files in %s", len(entries), out)
	}
}

// --mode replay records the states of a real generation: the prompt and the generated tokens,
// each with the steps its exit criterion let it run.
func TestTraceReplay(t *testing.T) {
	dir := fixtures.Path(t, "huginn-tiny")
	out := filepath.Join(t.TempDir(), "replay")
	if _, err := runCLI(t, "", "trace", "--model", dir, "--ids", "1,357,109,160", "--generate", "3", "--mode", "replay",
		"--exit", "kl", "--threshold", "1e-4", "--steps", "40", "--out", out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Mode   string
		Tokens []struct {
			ExitStep  int  `json:"exit_step"`
			Generated bool `json:"generated"`
		}
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "replay" || len(rep.Tokens) != 7 || !rep.Tokens[6].Generated || rep.Tokens[3].Generated {
		t.Fatalf("replay trace: mode %q, %d tokens %+v; want 4 prompt and 3 generated tokens", rep.Mode, len(rep.Tokens), rep.Tokens)
	}
	for i, tok := range rep.Tokens {
		if tok.ExitStep < 1 || tok.ExitStep > 40 {
			t.Errorf("token %d ran %d steps, want 1 to 40", i, tok.ExitStep)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "--prompt", "1+2=", "--mode", "replay", "--out", out + "2"}, "task model"},
		{[]string{"trace", "--prompt", "1+2=", "--exit", "kl", "--out", out + "2"}, "--mode replay"},
		{[]string{"trace", "--model", dir, "--ids", "1,2", "--mode", "fast", "--out", out + "2"}, "parallel or replay"},
	} {
		if _, err := runCLI(t, "", c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}
