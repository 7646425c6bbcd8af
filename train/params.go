// Package train trains recurrent-depth models (Geiping et al. 2025) in pure Go: a hand-written
// backward pass for every op, written beside its forward in the manner of llm.c; truncated
// backpropagation through a randomly sampled recurrence depth; AdamW and the paper's Adam-atan2
// with update clipping; a warmup / constant / cooldown schedule; checkpoints in the Hugging
// Face layout that latent's engine loads, plus a resumable training state.
//
// Everything runs in fp32. Activations are row-major []float32 with one row of n_embd values
// per token; a batch of B sequences of T tokens has N = B·T rows.
package train

import (
	"fmt"
	"strings"

	"github.com/latentlab/latent/model"
)

// Tensor names one parameter: its checkpoint name, shape, and where its values and gradient
// live inside the model's flat buffers.
type Tensor struct {
	Name   string
	Shape  []int
	Offset int
	Size   int
	// Decay says whether weight decay applies (matrices yes, norms and biases no).
	Decay bool
}

// Block is one sandwich block's parameters (or gradients): views into a flat buffer.
type Block struct {
	Norm1, Norm2, Norm3, Norm4 []float32
	Wqkv                       []float32 // [3h, h]
	QKBias                     []float32 // [2, heads, head_dim]; nil without qk_bias
	Proj                       []float32 // [h, h]
	FC                         []float32 // [2·ffn, h]: gate rows then up rows
	MLPProj                    []float32 // [h, ffn]
}

// Params holds every parameter of a model (or its gradient) as views into one flat buffer.
type Params struct {
	Wte     []float32 // [vocab, h]
	Head    []float32 // [vocab, h]; the same storage as Wte when embeddings are tied
	Adapter []float32 // [h, 2h]
	LnF     []float32 // [h]
	Prelude []Block
	Core    []Block
	Coda    []Block
}

// Model is a recurrent-depth model being trained: fp32 parameters and their gradients, both
// flat, with named views that follow the checkpoint's tensor names.
type Model struct {
	Config  *model.Config
	Tensors []Tensor
	Data    []float32 // all parameters
	Grad    []float32 // all gradients, same layout
	P       Params    // views into Data
	G       Params    // views into Grad
}

// NewModel allocates a zero model for cfg.
func NewModel(cfg *model.Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	m := &Model{Config: cfg}
	n := 0
	for _, s := range cfg.TensorSpecs() {
		size := 1
		for _, d := range s.Shape {
			size *= d
		}
		m.Tensors = append(m.Tensors, Tensor{Name: s.Name, Shape: s.Shape, Offset: n, Size: size, Decay: decays(s.Name, s.Shape)})
		n += size
	}
	m.Data = make([]float32, n)
	m.Grad = make([]float32, n)
	m.P = m.views(m.Data)
	m.G = m.views(m.Grad)
	return m, nil
}

// decays says whether a parameter gets weight decay: only matrices, never norms or biases.
func decays(name string, shape []int) bool {
	return len(shape) == 2 && !strings.Contains(name, "norm") && !strings.HasSuffix(name, "bias")
}

// NumParams is the number of trainable values.
func (m *Model) NumParams() int { return len(m.Data) }

// Lookup returns the parameter named name.
func (m *Model) Lookup(name string) (Tensor, bool) {
	for _, t := range m.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// Values returns the parameter values of t.
func (m *Model) Values(t Tensor) []float32 { return m.Data[t.Offset : t.Offset+t.Size] }

// Gradient returns the gradient of t.
func (m *Model) Gradient(t Tensor) []float32 { return m.Grad[t.Offset : t.Offset+t.Size] }

// ZeroGrad clears every gradient.
func (m *Model) ZeroGrad() { clear(m.Grad) }

// views builds named views of a flat buffer laid out like m.Tensors.
func (m *Model) views(buf []float32) Params {
	at := map[string][]float32{}
	for _, t := range m.Tensors {
		at[t.Name] = buf[t.Offset : t.Offset+t.Size : t.Offset+t.Size]
	}
	cfg := m.Config
	p := Params{
		Wte:     at["transformer.wte.weight"],
		Adapter: at["transformer.adapter.weight"],
		LnF:     at["transformer.ln_f.weight"],
		Prelude: blockViews(at, model.StagePrelude, cfg.NLayersPrelude),
		Core:    blockViews(at, model.StageCore, cfg.NLayersCore),
		Coda:    blockViews(at, model.StageCoda, cfg.NLayersCoda),
	}
	p.Head = p.Wte
	if !cfg.TieEmbeddings {
		p.Head = at["lm_head.weight"]
	}
	return p
}

func blockViews(at map[string][]float32, stage model.Stage, n int) []Block {
	out := make([]Block, n)
	for i := range out {
		p := fmt.Sprintf("transformer.%s.%d.", stage, i)
		out[i] = Block{
			Norm1: at[p+"norm_1.weight"], Norm2: at[p+"norm_2.weight"],
			Norm3: at[p+"norm_3.weight"], Norm4: at[p+"norm_4.weight"],
			Wqkv: at[p+"attn.Wqkv.weight"], QKBias: at[p+"attn.qk_bias"],
			Proj: at[p+"attn.proj.weight"], FC: at[p+"mlp.fc.weight"], MLPProj: at[p+"mlp.proj.weight"],
		}
	}
	return out
}

// FromWeights copies an engine model's weights (fp32 or bf16, widened) into a new training model.
func FromWeights(cfg *model.Config, w *model.Weights) (*Model, error) {
	m, err := NewModel(cfg)
	if err != nil {
		return nil, err
	}
	src := engineTensors(cfg, w)
	for _, t := range m.Tensors {
		s, ok := src[t.Name]
		dst := m.Values(t)
		switch {
		case !ok:
			return nil, fmt.Errorf("train: weights lack tensor %q", t.Name)
		case s.matrix != nil:
			if s.matrix.Rows*s.matrix.Cols != len(dst) {
				return nil, fmt.Errorf("train: tensor %q is %d×%d, want %v", t.Name, s.matrix.Rows, s.matrix.Cols, t.Shape)
			}
			for r := 0; r < s.matrix.Rows; r++ {
				s.matrix.Row(dst[r*s.matrix.Cols:(r+1)*s.matrix.Cols], r)
			}
		case len(s.vector) != len(dst):
			return nil, fmt.Errorf("train: tensor %q holds %d values, want %v", t.Name, len(s.vector), t.Shape)
		default:
			copy(dst, s.vector)
		}
	}
	return m, nil
}

// engineTensor is one tensor of engine weights: a matrix or a vector.
type engineTensor struct {
	matrix *model.Matrix
	vector []float32
}

// engineTensors names every tensor of engine weights by its checkpoint name.
func engineTensors(cfg *model.Config, w *model.Weights) map[string]engineTensor {
	out := map[string]engineTensor{
		"transformer.wte.weight":     {matrix: &w.Embedding},
		"transformer.adapter.weight": {matrix: &w.Adapter},
		"transformer.ln_f.weight":    {vector: w.LnF},
	}
	if !cfg.TieEmbeddings {
		out["lm_head.weight"] = engineTensor{matrix: &w.Head}
	}
	for _, st := range []struct {
		stage  model.Stage
		blocks []model.Block
	}{{model.StagePrelude, w.Prelude}, {model.StageCore, w.Core}, {model.StageCoda, w.Coda}} {
		for i := range st.blocks {
			b, p := &st.blocks[i], fmt.Sprintf("transformer.%s.%d.", st.stage, i)
			out[p+"norm_1.weight"] = engineTensor{vector: b.Norm1}
			out[p+"norm_2.weight"] = engineTensor{vector: b.Norm2}
			out[p+"norm_3.weight"] = engineTensor{vector: b.Norm3}
			out[p+"norm_4.weight"] = engineTensor{vector: b.Norm4}
			out[p+"attn.qk_bias"] = engineTensor{vector: b.QKBias}
			out[p+"attn.Wqkv.weight"] = engineTensor{matrix: &b.Wqkv}
			out[p+"attn.proj.weight"] = engineTensor{matrix: &b.Proj}
			out[p+"mlp.fc.weight"] = engineTensor{matrix: &b.FC}
			out[p+"mlp.proj.weight"] = engineTensor{matrix: &b.MLPProj}
		}
	}
	return out
}

// Weights returns engine weights that view this model's fp32 parameters (no copy): the result
// changes when training updates the model.
func (m *Model) Weights() *model.Weights {
	h, cfg := m.Config.NEmbd, m.Config
	mat := func(v []float32, cols int) model.Matrix {
		return model.Matrix{Rows: len(v) / cols, Cols: cols, F32: v}
	}
	blocks := func(src []Block) []model.Block {
		out := make([]model.Block, len(src))
		for i, b := range src {
			out[i] = model.Block{
				Norm1: b.Norm1, Norm2: b.Norm2, Norm3: b.Norm3, Norm4: b.Norm4,
				Wqkv: mat(b.Wqkv, h), QKBias: b.QKBias, Proj: mat(b.Proj, h),
				FC: mat(b.FC, h), MLPProj: mat(b.MLPProj, cfg.IntermediateSize),
			}
		}
		return out
	}
	return &model.Weights{
		Embedding: mat(m.P.Wte, h), Head: mat(m.P.Head, h), Adapter: mat(m.P.Adapter, 2*h), LnF: m.P.LnF,
		Prelude: blocks(m.P.Prelude), Core: blocks(m.P.Core), Coda: blocks(m.P.Coda),
	}
}
