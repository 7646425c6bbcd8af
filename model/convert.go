package model

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/latentlab/latent/internal/outdir"
	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/safetensors"
)

// ConvertOptions configure Convert.
type ConvertOptions struct {
	Shards int    // output shard count (1: a single model.safetensors)
	DType  string // "bf16" (also when empty) or "q8_0": the quantizable weights as q8_0, the rest bf16
	// Progress, when set, is called as output bytes are produced with the bytes written so far
	// and the total the checkpoint's tensors will take.
	Progress func(written, total int64)
	Force    bool            // replace a non-empty output folder
	Ctx      context.Context // stops the conversion (nil: never)
}

// sideFiles are the files of a Hugging Face model folder copied unchanged by Convert.
var sideFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "vocab.json"}

// ConvertToBF16 rewrites the checkpoint in dir as bf16 (round to nearest even) into out: the
// parameters only (the duplicated lm_head of a tied model and the freqs_cis buffer are dropped),
// config.json with torch_dtype bfloat16, and the tokenizer and generation files copied. The output
// is built in a temporary folder beside out and renamed into place only when complete (see
// outdir.Build), so a failed or cancelled conversion leaves no half model and no temporary files;
// a non-empty out is refused unless opt.Force.
//
// With opt.DType "q8_0" the Linear weights of the blocks and the adapter are stored as q8_0
// instead (see q8.go); the embedding, norms and biases stay bf16.
func ConvertToBF16(in, out string, opt ConvertOptions) error {
	if opt.DType != "" && opt.DType != "bf16" && opt.DType != "q8_0" {
		return fmt.Errorf("convert: dtype %q: want bf16 or q8_0", opt.DType)
	}
	cfg, err := LoadConfig(filepath.Join(in, "config.json"))
	if err != nil {
		return err
	}
	ckpt, err := safetensors.OpenCheckpoint(in)
	if err != nil {
		return err
	}
	defer ckpt.Close()
	if err := CheckTensors(cfg, ckpt); err != nil {
		return fmt.Errorf("convert %s: %w", in, err)
	}
	err = outdir.Build(orBackground(opt.Ctx), out, opt.Force, func(tmp string) error { return writeBF16(cfg, ckpt, in, tmp, opt) })
	if err != nil {
		return fmt.Errorf("convert %s: %w", out, err)
	}
	return nil
}

func writeBF16(cfg *Config, ckpt *safetensors.Checkpoint, in, tmp string, opt ConvertOptions) error {
	conv := *cfg
	conv.TorchDtype = "bfloat16"
	if err := writeConfig(&conv, tmp); err != nil {
		return err
	}
	for _, name := range sideFiles {
		if err := copyIfPresent(filepath.Join(in, name), filepath.Join(tmp, name)); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	var tensors []safetensors.WriteTensor
	var written, total int64
	progress := func(n int) {
		if written += int64(n); opt.Progress != nil {
			opt.Progress(written, total)
		}
	}
	for _, spec := range cfg.TensorSpecs() {
		t, _ := ckpt.Tensor(spec.Name)
		if opt.DType == "q8_0" && quantizable(spec.Name) {
			tensors = append(tensors, q8Tensors(t, progress)...)
			continue
		}
		tensors = append(tensors, safetensors.WriteTensor{
			Name: spec.Name, DType: "BF16", Shape: t.Shape,
			Fill: func(w io.Writer) error { return fillBF16(w, t, progress) },
		})
	}
	for _, t := range tensors {
		total += int64(numElements(t.Shape) * t.DType.Size())
	}
	return safetensors.WriteShardedContext(orBackground(opt.Ctx), tmp, tensors, max(opt.Shards, 1), map[string]string{"format": "pt"})
}

// fillBF16 streams one tensor rounded to bf16 in chunks, converting each chunk on all cores.
func fillBF16(w io.Writer, t safetensors.Tensor, progress func(int)) error {
	const chunk = 1 << 22
	n := t.NumElements()
	buf := make([]byte, 2*min(n, chunk))
	for done := 0; done < n; done += chunk {
		part := min(chunk, n-done)
		if err := toBF16Bytes(buf[:2*part], t, done, part); err != nil {
			return err
		}
		if _, err := w.Write(buf[:2*part]); err != nil {
			return err
		}
		if progress != nil {
			progress(2 * part)
		}
	}
	return nil
}

// toBF16Bytes writes elements [from, from+n) of t as little-endian bf16 into dst.
func toBF16Bytes(dst []byte, t safetensors.Tensor, from, n int) error {
	size := t.DType.Size()
	if t.DType == "BF16" {
		copy(dst, t.Data[2*from:2*(from+n)])
		return nil
	}
	part := t
	part.Shape = []int{n}
	part.Data = t.Data[size*from : size*(from+n)]
	vals, err := part.ToFloat32()
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	kernels.Parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			binary.LittleEndian.PutUint16(dst[2*i:], kernels.Float32ToBF16(vals[i]))
		}
	})
	return nil
}

// copyIfPresent copies src to dst atomically; a missing src is not an error.
func copyIfPresent(src, dst string) error {
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return CopyFileAtomic(src, dst)
}
