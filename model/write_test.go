package model

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/safetensors"
)

// cancelAfter is a context that reports itself cancelled from its n-th Err call on, which
// stops a writer deterministically in the middle of its output.
type cancelAfter struct {
	context.Context
	calls atomic.Int64
	n     int64
}

func (c *cancelAfter) Err() error {
	if c.calls.Add(1) >= c.n {
		return context.Canceled
	}
	return nil
}

func tinyConfig(t *testing.T) *Config {
	t.Helper()
	cfg, err := BuiltinConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestInitKeepsAnExistingModel: before, init over a model replaced its weights with random ones.
func TestInitKeepsAnExistingModel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	if err := WriteRandomCheckpoint(tinyConfig(t), dir, InitOptions{DType: "bf16", Shards: 1, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(dir, "model.safetensors")
	before := mustRead(t, weights)
	err := WriteRandomCheckpoint(tinyConfig(t), dir, InitOptions{DType: "bf16", Shards: 1, Seed: 2})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("init over a model: %v, want a refusal naming --force", err)
	}
	if !bytes.Equal(mustRead(t, weights), before) {
		t.Fatal("init over a model changed its weights")
	}
	if err := WriteRandomCheckpoint(tinyConfig(t), dir, InitOptions{DType: "bf16", Shards: 1, Seed: 2, Force: true}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(mustRead(t, weights), before) {
		t.Error("init with Force kept the old weights")
	}
}

// TestCancelledInitLeavesNothing stops init in the middle of its weights: no folder, no
// partial or temporary file may remain.
func TestCancelledInitLeavesNothing(t *testing.T) {
	parent := t.TempDir()
	ctx := &cancelAfter{Context: context.Background(), n: 20}
	err := WriteRandomCheckpoint(tinyConfig(t), filepath.Join(parent, "m"), InitOptions{DType: "fp32", Shards: 2, Ctx: ctx})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if ctx.calls.Load() < 20 {
		t.Fatalf("the writer checked the context %d times: it was not stopped mid-write", ctx.calls.Load())
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("a cancelled init left %v", entries)
	}
}

// TestCancelledConvertLeavesNothing cancels a conversion from its progress callback, half-way.
func TestCancelledConvertLeavesNothing(t *testing.T) {
	parent := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := ConvertOptions{Shards: 2, Ctx: ctx, Progress: func(written, _ int64) {
		if written > 100_000 {
			cancel()
		}
	}}
	err := ConvertToBF16(fixtures.Path(t, "huginn-tiny"), filepath.Join(parent, "bf16"), opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("a cancelled conversion left %v", entries)
	}
}

// TestConvertForceReplaces converts over an existing output only with Force.
func TestConvertForceReplaces(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	in := fixtures.Path(t, "huginn-tiny")
	if err := ConvertToBF16(in, out, ConvertOptions{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("convert into a non-empty folder: %v, want a refusal naming --force", err)
	}
	if string(mustRead(t, filepath.Join(out, "notes.txt"))) != "mine" {
		t.Fatal("the refused conversion touched the folder")
	}
	if err := ConvertToBF16(in, out, ConvertOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Error(err)
	}
}

// TestConvertProgressReachesTotal checks that conversion reports its progress against the bytes
// its tensors really take, for bf16 and for q8_0 (which writes about half as much): the last
// report is the total, and the total is what the written checkpoint holds.
func TestConvertProgressReachesTotal(t *testing.T) {
	for _, dtype := range []string{"bf16", "q8_0"} {
		out := filepath.Join(t.TempDir(), dtype)
		var written, total, calls int64
		opt := ConvertOptions{DType: dtype, Progress: func(w, tot int64) {
			if w < written || (total != 0 && tot != total) {
				t.Fatalf("%s: report %d of %d after %d of %d", dtype, w, tot, written, total)
			}
			written, total, calls = w, tot, calls+1
		}}
		if err := ConvertToBF16(fixtures.Path(t, "huginn-tiny"), out, opt); err != nil {
			t.Fatal(err)
		}
		ckpt, err := safetensors.OpenCheckpoint(out)
		if err != nil {
			t.Fatal(err)
		}
		var stored int64
		for _, name := range ckpt.Names() {
			tensor, _ := ckpt.Tensor(name)
			stored += int64(len(tensor.Data))
		}
		ckpt.Close()
		if calls < 2 || written != total || total != stored {
			t.Errorf("%s: %d reports, last %d of %d; the checkpoint's tensors hold %d bytes", dtype, calls, written, total, stored)
		}
	}
}
