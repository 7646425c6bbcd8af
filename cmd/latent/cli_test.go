package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/safetensors"
)

// runCLI runs the latent command in-process with args and stdin, returning what it printed.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	in, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { io.WriteString(inW, stdin); inW.Close() }()
	oldOut, oldIn := os.Stdout, os.Stdin
	os.Stdout, os.Stdin = w, in
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	rootCmd.SetArgs(args)
	err = rootCmd.Execute()
	finish()
	w.Close()
	os.Stdout, os.Stdin = oldOut, oldIn
	out := <-done
	resetFlags(rootCmd.Commands())
	return out, err
}

func TestForwardJSONMatchesReference(t *testing.T) {
	dir := fixtures.Path(t, "huginn-tiny")
	out, err := runCLI(t, "", "forward", "--model", dir, "--ids", "1,357,109,160,502,62,304,165,222,476,100,404", "--steps", "4", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Logits, Latents [][]float32 }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%.300s", err, out)
	}
	golden, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	tn, _ := golden.Tensor("fwd.r4.logits")
	want, _ := tn.ToFloat32()
	if len(got.Logits) != 12 || len(got.Logits[0]) != 512 || len(got.Latents) != 12 || len(got.Latents[0]) != 64 {
		t.Fatalf("shapes: %d×%d logits, %d latents", len(got.Logits), len(got.Logits[0]), len(got.Latents))
	}
	for i, row := range got.Logits {
		for j, v := range row {
			if math.Abs(float64(v-want[i*512+j])) > 2e-5 {
				t.Fatalf("logit [%d][%d] = %v, reference %v", i, j, v, want[i*512+j])
			}
		}
	}
}

func TestCLIBadInput(t *testing.T) {
	dir := fixtures.Path(t, "huginn-tiny")
	cases := map[string][]string{
		"outside the vocabulary": {"forward", "--model", dir, "--ids", "1,99999", "--steps", "2"},
		"not an integer":         {"forward", "--model", dir, "--ids", "1,x", "--steps", "2"},
		"must lie in [1, 4096]":  {"forward", "--model", dir, "--ids", "1", "--steps", "-1"},
		"config":                 {"forward", "--model", t.TempDir(), "--ids", "1"},
		"only bf16":              {"convert", "--in", dir, "--out", filepath.Join(t.TempDir(), "x"), "--dtype", "f16"},
		"dtype":                  {"init", "--out", t.TempDir(), "--dtype", "int8"},
	}
	for want, args := range cases {
		_, err := runCLI(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want it to mention %q", args, err, want)
		}
	}
}

func TestInitInfoRoundTrip(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m")
	if _, err := runCLI(t, "", "init", "--config", "tiny", "--out", out, "--dtype", "bf16", "--shards", "3", "--seed", "7"); err != nil {
		t.Fatal(err)
	}
	info, err := runCLI(t, "", "info", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"parameters  420928", "every tensor matches the config", "model-00003-of-00003.safetensors", "BF16"} {
		if !strings.Contains(info, want) {
			t.Errorf("info lacks %q:\n%s", want, info)
		}
	}
}

func TestTokenizeCommand(t *testing.T) {
	dir := fixtures.Path(t, "huginn-0125")
	out, err := runCLI(t, "\"Hello world\"\n\"\"\n", "tokenize", "--tokenizer", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "[65504,") || lines[1] != "[65504]" {
		t.Errorf("tokenize printed %q", out)
	}
	if _, err := runCLI(t, "\"ok\"\nnot json\n", "tokenize", "--tokenizer", dir, "--json"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v", err)
	}
}
