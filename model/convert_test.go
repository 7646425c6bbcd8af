package model

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/safetensors"
)

// TestConvertMatchesTorchBF16 converts the fp32 tiny checkpoint and compares every parameter
// byte for byte with the fixture's model.bf16.safetensors, which torch's .to(bfloat16) made.
func TestConvertMatchesTorchBF16(t *testing.T) {
	dir := fixtures.Path(t, "huginn-tiny")
	out := filepath.Join(t.TempDir(), "bf16")
	if err := ConvertToBF16(dir, out, ConvertOptions{Shards: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := safetensors.OpenCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	want, err := safetensors.Open(filepath.Join(dir, "model.bf16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	cfg, _ := LoadConfig(dir)
	specs := cfg.TensorSpecs()
	if names := got.Names(); len(names) != len(specs) {
		t.Fatalf("converted checkpoint holds %d tensors, want the %d parameters", len(names), len(specs))
	}
	for _, spec := range specs {
		g, _ := got.Tensor(spec.Name)
		w, ok := want.Tensor(spec.Name)
		if !ok || g.DType != "BF16" || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("tensor %s differs from torch's bf16 rounding", spec.Name)
		}
	}
	if _, ok := got.Tensor("lm_head.weight"); ok {
		t.Error("the duplicated lm_head was kept")
	}
	conf, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if !strings.Contains(string(conf), `"torch_dtype": "bfloat16"`) {
		t.Errorf("config.json does not say bfloat16:\n%s", conf)
	}
	m, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := ConvertToBF16(dir, out, ConvertOptions{}); err == nil {
		t.Error("converting onto an existing folder must fail")
	}
}

func TestConvertFailureLeavesNothing(t *testing.T) {
	in := t.TempDir()
	os.WriteFile(filepath.Join(in, "config.json"), mustRead(t, fixtures.Path(t, "huginn-tiny", "config.json")), 0o644)
	// No weights at all: the conversion must refuse and leave no output folder.
	out := filepath.Join(t.TempDir(), "out")
	if err := ConvertToBF16(in, out, ConvertOptions{}); err == nil {
		t.Fatal("want an error for a folder without weights")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output %s exists after a failed conversion", out)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 0 {
		t.Errorf("leftovers after a failed conversion: %v", entries)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
