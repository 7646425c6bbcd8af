package model

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/latentlab/latent/safetensors"
)

// Load opens a model folder (config.json plus model.safetensors or a sharded index), checks every
// tensor against the config and maps the weights without copying them: fp32, bf16 and q8_0
// (see q8.go) stay as stored (zero-copy views of the mapped files); f16 is widened to fp32 at
// load.
func Load(dir string) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	ckpt, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	return bind(cfg, ckpt, dir)
}

// LoadFS loads a model folder held in a file system such as an embed.FS: its config.json and
// single model.safetensors are read into memory, with no file or folder written anywhere. name
// says where the model comes from in messages.
func LoadFS(fsys fs.FS, name string) (*Model, error) {
	conf, err := fs.ReadFile(fsys, "config.json")
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	cfg, err := ParseConfig(conf, name+"/config.json")
	if err != nil {
		return nil, err
	}
	weights, err := fs.ReadFile(fsys, safetensors.SingleFileName)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	ckpt, err := safetensors.CheckpointFromBytes(name+"/"+safetensors.SingleFileName, weights)
	if err != nil {
		return nil, err
	}
	return bind(cfg, ckpt, name)
}

// bind builds the model of cfg on the checkpoint's tensors; the model owns ckpt.
func bind(cfg *Config, ckpt *safetensors.Checkpoint, name string) (*Model, error) {
	w, err := bindWeights(cfg, ckpt)
	if err != nil {
		ckpt.Close()
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	m := New(cfg, w)
	m.closer = ckpt
	return m, nil
}

// CheckTensors compares a checkpoint's tensors with the ones the config implies and lists every
// missing, unexpected, mis-shaped or unusable tensor in one error.
func CheckTensors(cfg *Config, ckpt *safetensors.Checkpoint) error {
	var problems []string
	want := map[string]bool{}
	for _, spec := range cfg.TensorSpecs() {
		want[spec.Name] = true
		t, ok := ckpt.Tensor(spec.Name)
		if !ok {
			problems = append(problems, fmt.Sprintf("missing tensor %q %v", spec.Name, spec.Shape))
			continue
		}
		if t.DType == "I8" && slices.Equal(t.Shape, spec.Shape) {
			problems = append(problems, q8Problems(ckpt, t, spec.Shape)...)
			continue
		}
		problems = append(problems, tensorProblems(t, spec.Shape)...)
	}
	optional := cfg.OptionalTensors()
	for _, name := range ckpt.Names() {
		if want[name] {
			continue
		}
		if base, ok := strings.CutSuffix(name, q8ScaleSuffix); ok && want[base] {
			if t, _ := ckpt.Tensor(base); t.DType == "I8" {
				continue // checked with its weight
			}
		}
		if shape, ok := optional[name]; ok {
			if t, _ := ckpt.Tensor(name); name != "freqs_cis" && !slices.Equal(t.Shape, shape) {
				problems = append(problems, fmt.Sprintf("tensor %q in %s: shape %v does not match config %v", name, t.File, t.Shape, shape))
			}
			continue
		}
		problems = append(problems, fmt.Sprintf("unexpected tensor %q", name))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n  "))
	}
	return nil
}

func tensorProblems(t safetensors.Tensor, shape []int) []string {
	var p []string
	if !slices.Equal(t.Shape, shape) {
		p = append(p, fmt.Sprintf("tensor %q in %s: shape %v does not match config %v", t.Name, t.File, t.Shape, shape))
	}
	switch t.DType {
	case "F32", "BF16", "F16":
	default:
		p = append(p, fmt.Sprintf("tensor %q in %s: unsupported dtype %s (want F32, BF16 or F16)", t.Name, t.File, t.DType))
	}
	return p
}

// binder reads tensors from a checked checkpoint; the first failure is kept in err.
type binder struct {
	ckpt *safetensors.Checkpoint
	err  error
}

func (b *binder) matrix(name string) Matrix {
	t, _ := b.ckpt.Tensor(name)
	m := Matrix{Rows: t.Shape[0], Cols: numElements(t.Shape) / t.Shape[0]}
	var err error
	switch t.DType {
	case "I8":
		m, err = q8Matrix(b.ckpt, t)
	case "BF16":
		m.BF16, err = t.BF16s()
	default:
		m.F32, err = t.ToFloat32()
	}
	if err != nil && b.err == nil {
		b.err = err
	}
	return m
}

func (b *binder) vector(name string) []float32 {
	t, _ := b.ckpt.Tensor(name)
	v, err := t.ToFloat32()
	if err != nil && b.err == nil {
		b.err = err
	}
	return v
}

func (b *binder) block(cfg *Config, stage Stage, i int) Block {
	p := blockPrefix(stage, i)
	blk := Block{
		Norm1: b.vector(p + "norm_1.weight"), Norm2: b.vector(p + "norm_2.weight"),
		Norm3: b.vector(p + "norm_3.weight"), Norm4: b.vector(p + "norm_4.weight"),
		Wqkv: b.matrix(p + "attn.Wqkv.weight"), Proj: b.matrix(p + "attn.proj.weight"),
		FC: b.matrix(p + "mlp.fc.weight"), MLPProj: b.matrix(p + "mlp.proj.weight"),
	}
	if cfg.QKBias {
		blk.QKBias = b.vector(p + "attn.qk_bias")
	}
	return blk
}

func (b *binder) blocks(cfg *Config, stage Stage, n int) []Block {
	out := make([]Block, n)
	for i := range out {
		out[i] = b.block(cfg, stage, i)
	}
	return out
}

// bindWeights checks the checkpoint and builds Weights that view its tensors.
func bindWeights(cfg *Config, ckpt *safetensors.Checkpoint) (*Weights, error) {
	if err := CheckTensors(cfg, ckpt); err != nil {
		return nil, err
	}
	b := &binder{ckpt: ckpt}
	w := &Weights{
		Embedding: b.matrix("transformer.wte.weight"),
		Adapter:   b.matrix("transformer.adapter.weight"),
		LnF:       b.vector("transformer.ln_f.weight"),
		Prelude:   b.blocks(cfg, StagePrelude, cfg.NLayersPrelude),
		Core:      b.blocks(cfg, StageCore, cfg.NLayersCore),
		Coda:      b.blocks(cfg, StageCoda, cfg.NLayersCoda),
	}
	w.Head = w.Embedding
	if !cfg.TieEmbeddings {
		w.Head = b.matrix("lm_head.weight")
	}
	return w, b.err
}
