package model

import (
	"context"
	"embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/latentlab/latent/internal/atomicfile"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/latentlab/latent/internal/outdir"
	"github.com/latentlab/latent/kernels"
	"github.com/latentlab/latent/safetensors"
)

//go:embed configs/*.json
var builtinConfigs embed.FS

// BuiltinConfig returns a named built-in config ("huginn-0125", "tiny") or reads a config.json
// path when name is not built in.
func BuiltinConfig(name string) (*Config, error) {
	data, err := builtinConfigs.ReadFile("configs/" + name + ".json")
	if err != nil {
		return LoadConfig(name)
	}
	return ParseConfig(data, name)
}

// SetInitValues fills init_values the way the reference's "takase" initialisation defines them:
// std = embedding = sqrt(2/(5h)), out_proj = std / sqrt(2·depth) with the effective depth
// prelude + coda + core·mean_recurrence, embed_scale = sqrt(h).
func (c *Config) SetInitValues() {
	std := math.Sqrt(2 / (5 * float64(c.NEmbd)))
	depth := c.NLayersPrelude + c.NLayersCoda + c.NLayersCore*max(c.MeanRecurrence, 1)
	c.InitValues = map[string]float64{
		"std": std, "embedding": std,
		"out_proj":    std / math.Sqrt(2*float64(depth)),
		"embed_scale": math.Sqrt(float64(c.NEmbd)),
	}
	if c.Extra == nil {
		c.Extra = map[string]json.RawMessage{}
	}
}

// initRule says how one tensor is initialised: a truncated normal with a std per row range, or a
// constant.
type initRule struct {
	constant float32
	stds     []float64 // std for each equal part of the rows (fc: gate rows, then up rows)
}

// initRuleFor gives the reference's initialisation of a parameter: norms 1, qk_bias 0, output
// projections out_proj, everything else std (fc: gate std, up out_proj, as the HF file does).
func (c *Config) initRuleFor(name string) initRule {
	std, out := c.InitValues["std"], c.InitValues["out_proj"]
	switch {
	case strings.Contains(name, "norm_") || strings.HasSuffix(name, "ln_f.weight"):
		return initRule{constant: 1}
	case strings.HasSuffix(name, "qk_bias"):
		return initRule{constant: 0}
	case strings.HasSuffix(name, "attn.proj.weight") || strings.HasSuffix(name, "mlp.proj.weight"):
		return initRule{stds: []float64{out}}
	case strings.HasSuffix(name, "mlp.fc.weight"):
		return initRule{stds: []float64{std, out}}
	case strings.HasSuffix(name, "wte.weight") || name == "lm_head.weight":
		return initRule{stds: []float64{c.InitValues["embedding"]}}
	}
	return initRule{stds: []float64{std}}
}

// InitOptions configure a random checkpoint.
type InitOptions struct {
	DType  string // "fp32" or "bf16"
	Shards int
	Seed   uint64
	Force  bool            // replace a non-empty output folder
	Ctx    context.Context // stops the writing (nil: never)
}

// WriteRandomCheckpoint writes config.json and a random checkpoint with the reference's
// initialisation into dir, named like the real one (including the duplicated lm_head and the
// freqs_cis buffer when embeddings are tied, as the official upload has them). Tensors are
// generated while they are written, so memory stays small whatever the size. The folder is
// built beside dir and moved into place once complete (see outdir.Build): a non-empty dir is
// refused unless opt.Force, and a failed or cancelled write leaves dir as it was.
func WriteRandomCheckpoint(cfg *Config, dir string, opt InitOptions) error {
	if opt.DType != "fp32" && opt.DType != "bf16" {
		return fmt.Errorf("init: dtype %q: want fp32 or bf16", opt.DType)
	}
	if opt.Shards < 1 || opt.Shards > 999 {
		return fmt.Errorf("init: shards %d must be between 1 and 999", opt.Shards)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if cfg.InitValues["std"] <= 0 || cfg.InitValues["out_proj"] <= 0 {
		cfg.SetInitValues()
	}
	out := *cfg
	out.TorchDtype = map[string]string{"fp32": "float32", "bf16": "bfloat16"}[opt.DType]
	ctx := orBackground(opt.Ctx)
	err := outdir.Build(ctx, dir, opt.Force, func(tmp string) error {
		if err := writeConfig(&out, tmp); err != nil {
			return err
		}
		return safetensors.WriteShardedContext(ctx, tmp, randomTensors(cfg, opt), opt.Shards, map[string]string{"format": "pt"})
	})
	if err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	return nil
}

// orBackground is ctx, or the background context when ctx is nil.
func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// writeConfig writes dir/config.json atomically.
func writeConfig(cfg *Config, dir string) error {
	data, err := cfg.MarshalJSON()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(data, '\n'))
}

// CopyFileAtomic copies the file src to dst with atomicfile.WriteFile.
func CopyFileAtomic(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(dst, data)
}

// randomTensors lists the checkpoint's tensors with streaming producers, sorted by name.
func randomTensors(cfg *Config, opt InitOptions) []safetensors.WriteTensor {
	specs := cfg.TensorSpecs()
	if cfg.TieEmbeddings {
		specs = append(specs, TensorSpec{"lm_head.weight", []int{cfg.PaddedVocabSize, cfg.NEmbd}})
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	var out []safetensors.WriteTensor
	if cfg.TieEmbeddings {
		out = append(out, ropeTensor(cfg, opt.DType))
	}
	for _, spec := range specs {
		spec := spec
		source := spec.Name
		if source == "lm_head.weight" && cfg.TieEmbeddings {
			source = "transformer.wte.weight" // the tied copy holds the same values
		}
		rule := cfg.initRuleFor(source)
		seed := opt.Seed ^ nameHash(source)
		out = append(out, safetensors.WriteTensor{
			Name: spec.Name, DType: dtypeName(opt.DType), Shape: spec.Shape,
			Fill: func(w io.Writer) error { return fillRandom(w, spec.Shape, rule, seed, opt.DType) },
		})
	}
	return out
}

func dtypeName(d string) safetensors.DType {
	if d == "bf16" {
		return "BF16"
	}
	return "F32"
}

func nameHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// ropeTensor is the freqs_cis buffer [1, block_size, 1, head_dim/2, 2] of (cos, sin) pairs.
func ropeTensor(cfg *Config, dtype string) safetensors.WriteTensor {
	shape := []int{1, cfg.BlockSize, 1, cfg.HeadSize() / 2, 2}
	return safetensors.WriteTensor{Name: "freqs_cis", DType: dtypeName(dtype), Shape: shape,
		Fill: func(w io.Writer) error {
			r := NewRope(cfg.HeadSize(), cfg.BlockSize, cfg.RopeBase)
			vals := make([]float32, 0, 2*len(r.cos))
			for i := range r.cos {
				vals = append(vals, r.cos[i], r.sin[i])
			}
			return writeValues(w, vals, dtype)
		}}
}

// fillRandom streams one tensor's values, row block by row block, from a seeded generator.
func fillRandom(w io.Writer, shape []int, rule initRule, seed uint64, dtype string) error {
	n := numElements(shape)
	if rule.stds == nil {
		vals := make([]float32, min(n, 1<<20))
		for i := range vals {
			vals[i] = rule.constant
		}
		for done := 0; done < n; done += len(vals) {
			if err := writeValues(w, vals[:min(len(vals), n-done)], dtype); err != nil {
				return err
			}
		}
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x696e6974))
	part := n / len(rule.stds)
	buf := make([]float32, 0, 1<<20)
	for i := 0; i < n; i++ {
		std := rule.stds[min(i/part, len(rule.stds)-1)]
		buf = append(buf, float32(truncatedNormalFast(rng, std)))
		if len(buf) == cap(buf) {
			if err := writeValues(w, buf, dtype); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return writeValues(w, buf, dtype)
}

// truncatedNormalFast draws N(0, std²) restricted to ±3 std by rejection (0.27 % rejected).
func truncatedNormalFast(rng *rand.Rand, std float64) float64 {
	for {
		z := rng.NormFloat64()
		if z >= -3 && z <= 3 {
			return z * std
		}
	}
}

// writeValues writes little-endian fp32 or bf16 (rounded to nearest even) values.
func writeValues(w io.Writer, vals []float32, dtype string) error {
	if dtype == "bf16" {
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(b[2*i:], kernels.Float32ToBF16(v))
		}
		_, err := w.Write(b)
		return err
	}
	_, err := w.Write(safetensors.Float32Bytes(vals))
	return err
}
