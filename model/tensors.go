package model

import "fmt"

// TensorSpec names one checkpoint tensor and the shape the config implies for it.
type TensorSpec struct {
	Name  string
	Shape []int
}

// Stage names a group of sandwich blocks in checkpoint order.
type Stage string

// The three stages of a recurrent-depth model, as named in the checkpoint.
const (
	StagePrelude Stage = "prelude"
	StageCore    Stage = "core_block"
	StageCoda    Stage = "coda"
)

// blockPrefix is the checkpoint prefix of block i of a stage, e.g. "transformer.core_block.3.".
func blockPrefix(stage Stage, i int) string { return fmt.Sprintf("transformer.%s.%d.", stage, i) }

// blockSpecs lists the tensors of one sandwich block.
func (c *Config) blockSpecs(stage Stage, i int) []TensorSpec {
	h, hd := c.NEmbd, c.HeadSize()
	p := blockPrefix(stage, i)
	specs := []TensorSpec{
		{p + "attn.Wqkv.weight", []int{3 * h, h}},
		{p + "attn.proj.weight", []int{h, h}},
		{p + "mlp.fc.weight", []int{2 * c.IntermediateSize, h}},
		{p + "mlp.proj.weight", []int{h, c.IntermediateSize}},
	}
	if c.QKBias {
		specs = append(specs, TensorSpec{p + "attn.qk_bias", []int{2, 1, c.NHeads, hd}})
	}
	for n := 1; n <= 4; n++ {
		specs = append(specs, TensorSpec{fmt.Sprintf("%snorm_%d.weight", p, n), []int{h}})
	}
	return specs
}

// TensorSpecs lists every parameter tensor the config implies, in checkpoint naming. The tied
// lm_head and the freqs_cis buffer are not parameters: see OptionalTensors.
func (c *Config) TensorSpecs() []TensorSpec {
	h := c.NEmbd
	specs := []TensorSpec{
		{"transformer.wte.weight", []int{c.PaddedVocabSize, h}},
		{"transformer.adapter.weight", []int{h, 2 * h}},
		{"transformer.ln_f.weight", []int{h}},
	}
	if !c.TieEmbeddings {
		specs = append(specs, TensorSpec{"lm_head.weight", []int{c.PaddedVocabSize, h}})
	}
	for _, st := range []struct {
		stage Stage
		n     int
	}{{StagePrelude, c.NLayersPrelude}, {StageCore, c.NLayersCore}, {StageCoda, c.NLayersCoda}} {
		for i := 0; i < st.n; i++ {
			specs = append(specs, c.blockSpecs(st.stage, i)...)
		}
	}
	return specs
}

// OptionalTensors are names a checkpoint may hold that the engine does not read: the rotary
// table (recomputed in fp32) and, for tied embeddings, the duplicated lm_head.
func (c *Config) OptionalTensors() map[string][]int {
	opt := map[string][]int{"freqs_cis": {1, c.BlockSize, 1, c.HeadSize() / 2, 2}}
	if c.TieEmbeddings {
		opt["lm_head.weight"] = []int{c.PaddedVocabSize, c.NEmbd}
	}
	return opt
}

// ParameterCount is the number of trainable parameters (tied embeddings counted once).
func (c *Config) ParameterCount() int64 {
	var n int64
	for _, s := range c.TensorSpecs() {
		n += int64(numElements(s.Shape))
	}
	return n
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
