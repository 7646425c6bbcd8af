package model

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latentlab/latent/internal/fixtures"
	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/safetensors"
)

// convertTiny converts the tiny fixture to dtype into a temporary folder and loads it.
func convertTiny(t *testing.T, dtype string) (string, *Model) {
	t.Helper()
	out := filepath.Join(t.TempDir(), dtype)
	if err := ConvertToBF16(fixtures.Path(t, "huginn-tiny"), out, ConvertOptions{DType: dtype}); err != nil {
		t.Fatal(err)
	}
	m, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return out, m
}

// TestQ8Checkpoint checks the stored form: every quantizable weight as I8 quants plus F16 scales
// (34 bytes per 32 weights), everything else bf16, and weights within half a quantization step
// (plus the scale's fp16 rounding) of the fp32 originals.
func TestQ8Checkpoint(t *testing.T) {
	_, m := convertTiny(t, "q8_0")
	ref, err := Load(fixtures.Path(t, "huginn-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	pairs := []struct{ q, f *Matrix }{{&m.Weights.Adapter, &ref.Weights.Adapter}}
	for i := range m.Weights.Core {
		q, f := &m.Weights.Core[i], &ref.Weights.Core[i]
		pairs = append(pairs, struct{ q, f *Matrix }{&q.Wqkv, &f.Wqkv}, struct{ q, f *Matrix }{&q.MLPProj, &f.MLPProj})
	}
	for _, p := range pairs {
		if p.q.Q8 == nil || p.q.Bytes() != int64(p.q.Rows*p.q.Cols)*34/32 {
			t.Fatalf("%d×%d weight not q8_0 (%d bytes)", p.q.Rows, p.q.Cols, p.q.Bytes())
		}
		row := make([]float32, p.q.Cols)
		for r := range p.q.Rows {
			p.q.Row(row, r)
			for c, v := range row {
				step := float64(kernels.F16ToFloat32(p.q.Q8Scales[(r*p.q.Cols+c)/kernels.Q8Block]))
				if e := math.Abs(float64(v - p.f.F32[r*p.q.Cols+c])); e > step*(0.5+127*0x1p-11) {
					t.Fatalf("weight (%d, %d) = %g, original %g, step %g", r, c, v, p.f.F32[r*p.q.Cols+c], step)
				}
			}
		}
	}
	if m.Weights.Embedding.BF16 == nil {
		t.Fatal("the embedding must stay bf16")
	}
}

// klAndTop1 returns the mean KL(p‖q) over positions of the softmaxes of two logit rows [S×V]
// (the first V of each padded row), its maximum, and the share of positions with the same argmax.
func klAndTop1(p, q []float32, S, padded, V int) (mean, worst, top1 float64) {
	for i := range S {
		lp, lq := logSoftmax(p[i*padded:i*padded+V]), logSoftmax(q[i*padded:i*padded+V])
		kl := 0.0
		for j := range lp {
			kl += math.Exp(lp[j]) * (lp[j] - lq[j])
		}
		mean += kl / float64(S)
		worst = math.Max(worst, kl)
		if kernels.MaxIndex(p[i*padded:i*padded+V]) == kernels.MaxIndex(q[i*padded:i*padded+V]) {
			top1 += 1 / float64(S)
		}
	}
	return mean, worst, top1
}

func logSoftmax(x []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - mx - math.Log(s)
	}
	return out
}

// TestQ8Quality compares the q8_0 conversion of the tiny fixture with its bf16 conversion over
// r = 1…64 on 48 positions: the KL of the q8_0 next-token distribution from the bf16 one and
// the top-1 agreement, logged with -v beside the same figures of bf16 against the fp32
// original. The bounds are loose margins around what was measured (mean KL ≤ 3.1e-5, top-1 ≥
// 0.958): the fixture's random weights give nearly flat distributions with close ties.
func TestQ8Quality(t *testing.T) {
	_, q8 := convertTiny(t, "q8_0")
	_, bf := convertTiny(t, "bf16")
	f32, err := Load(fixtures.Path(t, "huginn-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer f32.Close()
	rng := rand.New(rand.NewPCG(17, 3))
	ids := make([]int, 48)
	for i := range ids {
		ids[i] = rng.IntN(bf.Config.VocabSize)
	}
	padded, V := bf.Config.PaddedVocabSize, bf.Config.VocabSize
	for _, r := range []int{1, 2, 4, 8, 16, 32, 64} {
		a, err := bf.Forward(ids, ForwardOptions{Steps: r})
		if err != nil {
			t.Fatal(err)
		}
		b, err := q8.Forward(ids, ForwardOptions{Steps: r})
		if err != nil {
			t.Fatal(err)
		}
		c, err := f32.Forward(ids, ForwardOptions{Steps: r})
		if err != nil {
			t.Fatal(err)
		}
		mean, worst, top1 := klAndTop1(a.Logits, b.Logits, len(ids), padded, V)
		fmean, _, ftop1 := klAndTop1(c.Logits, a.Logits, len(ids), padded, V)
		t.Logf("r=%2d  KL(bf16‖q8_0) mean %.3g max %.3g, top-1 agreement %.3f  (for scale: KL(fp32‖bf16) mean %.3g, top-1 %.3f)",
			r, mean, worst, top1, fmean, ftop1)
		if !(mean < 1e-3 && top1 >= 0.9) {
			t.Errorf("r=%d: q8_0 too far from bf16: mean KL %.3g, top-1 %.3f", r, mean, top1)
		}
	}
}

// rewriteCheckpoint copies the model folder src into a new folder, passing every tensor through
// edit (which returns the tensors to write in its place), and returns the new folder.
func rewriteCheckpoint(t *testing.T, src string, edit func(safetensors.WriteTensor) []safetensors.WriteTensor) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, "config.json"), mustRead(t, filepath.Join(src, "config.json")), 0o644); err != nil {
		t.Fatal(err)
	}
	ckpt, err := safetensors.OpenCheckpoint(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ckpt.Close()
	var out []safetensors.WriteTensor
	for _, name := range ckpt.Names() {
		tn, _ := ckpt.Tensor(name)
		data := append([]byte(nil), tn.Data...)
		out = append(out, edit(safetensors.WriteTensor{Name: name, DType: tn.DType, Shape: tn.Shape, Data: data})...)
	}
	if err := safetensors.WriteFile(filepath.Join(dst, "model.safetensors"), out, nil); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestQ8BadInput: a wrong block size, NaN or infinite scales, missing scales, a scale of the
// wrong dtype and int8 where q8_0 is not allowed are refused at load with an error naming the
// tensor.
func TestQ8BadInput(t *testing.T) {
	dir, _ := convertTiny(t, "q8_0")
	const target = "transformer.core_block.0.mlp.fc.weight"
	setScale := func(bits uint16) func(safetensors.WriteTensor) []safetensors.WriteTensor {
		return func(w safetensors.WriteTensor) []safetensors.WriteTensor {
			if w.Name == target+q8ScaleSuffix {
				binary.LittleEndian.PutUint16(w.Data[2*7:], bits)
			}
			return []safetensors.WriteTensor{w}
		}
	}
	cases := map[string]func(safetensors.WriteTensor) []safetensors.WriteTensor{
		"runs of 16 weights per scale": func(w safetensors.WriteTensor) []safetensors.WriteTensor {
			if w.Name == target+q8ScaleSuffix {
				w.Shape = []int{w.Shape[0], 2 * w.Shape[1]}
				w.Data = append(w.Data, w.Data...)
			}
			return []safetensors.WriteTensor{w}
		},
		"is NaN; q8_0 scales must be finite":  setScale(0x7e00),
		"is +Inf; q8_0 scales must be finite": setScale(0x7c00),
		"is -Inf; q8_0 scales must be finite": setScale(0xfc00),
		"missing its scales": func(w safetensors.WriteTensor) []safetensors.WriteTensor {
			if w.Name == target+q8ScaleSuffix {
				return nil
			}
			return []safetensors.WriteTensor{w}
		},
		"dtype BF16, want F16": func(w safetensors.WriteTensor) []safetensors.WriteTensor {
			if w.Name == target+q8ScaleSuffix {
				w.DType = "BF16"
			}
			return []safetensors.WriteTensor{w}
		},
		"only for the Linear weights": func(w safetensors.WriteTensor) []safetensors.WriteTensor {
			if w.Name == "transformer.ln_f.weight" {
				w.DType, w.Data = "I8", w.Data[:len(w.Data)/2]
			}
			return []safetensors.WriteTensor{w}
		},
	}
	for want, edit := range cases {
		_, err := Load(rewriteCheckpoint(t, dir, edit))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error with %q, got %v", want, err)
		}
	}
}

// TestQ8ProductsRowExact is the property batching and chunking rest on for q8_0 weights: every
// row of ApplyRows' product equals that row's one-row product, bitwise, for every m, and so does
// Apply's up to kernels.MaxRowwise rows (more rows take the blocked fp32 product).
func TestQ8ProductsRowExact(t *testing.T) {
	_, m := convertTiny(t, "q8_0")
	rng := rand.New(rand.NewPCG(9, 9))
	for _, w := range []*Matrix{&m.Weights.Core[0].FC, &m.Weights.Core[0].MLPProj, &m.Weights.Adapter} {
		const rows = 2*MinChunkRows + 3
		x := make([]float32, rows*w.Cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		one := make([]float32, w.Rows)
		for _, n := range []int{2, 4, 8, 9, kernels.MaxRowwise, MinChunkRows, rows} {
			out := make([]float32, n*w.Rows)
			w.Apply(out, x, n)
			rowwise := make([]float32, n*w.Rows)
			w.ApplyRows(rowwise, x, n)
			for i := range n {
				w.Apply(one, x[i*w.Cols:(i+1)*w.Cols], 1)
				if !slices.Equal(rowwise[i*w.Rows:(i+1)*w.Rows], one) ||
					(n <= kernels.MaxRowwise && !slices.Equal(out[i*w.Rows:(i+1)*w.Rows], one)) {
					t.Fatalf("%d×%d q8_0 weight, %d rows: row %d differs from its one-row product", w.Rows, w.Cols, n, i)
				}
			}
		}
	}
}
