package tasks

import (
	"fmt"

	"github.com/latentlab/latent/model"
)

// Shape is the size of a small task model: width, heads, MLP width, the layers of prelude, core
// and coda, and the recurrence it is trained around.
type Shape struct {
	Width          int     `json:"width"`
	Heads          int     `json:"heads"`
	FFN            int     `json:"ffn"`
	Prelude        int     `json:"prelude"`
	Core           int     `json:"core"`
	Coda           int     `json:"coda"`
	MeanRecurrence int     `json:"mean_recurrence"`
	Backprop       int     `json:"backprop"`
	BlockSize      int     `json:"block_size"`
	RopeBase       float64 `json:"rope_base"`
}

// DefaultShape is the recurrent model the task experiments use: (1, 2, 1) layers of width 64.
var DefaultShape = Shape{Width: 64, Heads: 4, FFN: 128, Prelude: 1, Core: 2, Coda: 1,
	MeanRecurrence: 16, Backprop: 4, BlockSize: 512, RopeBase: 10000}

// Config returns the model config of the shape for a vocabulary of vocab tokens, with the
// reference's initialisation constants.
func (s Shape) Config(vocab int) (*model.Config, error) {
	if s.Heads <= 0 || s.Width%s.Heads != 0 {
		return nil, fmt.Errorf("tasks: width %d is not a multiple of %d heads", s.Width, s.Heads)
	}
	cfg := &model.Config{
		NEmbd: s.Width, NHeads: s.Heads, NumKVHeads: s.Heads, HeadDim: s.Width / s.Heads,
		IntermediateSize: s.FFN, NLayers: s.Prelude + s.Core + s.Coda,
		NLayersPrelude: s.Prelude, NLayersCore: s.Core, NLayersCoda: s.Coda,
		VocabSize: vocab, PaddedVocabSize: vocab, BlockSize: s.BlockSize, RopeBase: s.RopeBase,
		NormEps: 1e-6, QKBias: true, TieEmbeddings: true,
		MeanRecurrence: s.MeanRecurrence, MeanBackpropDepth: s.Backprop,
		BOSTokenID: BOSID, EOSTokenID: PadID, PadTokenID: PadID, TorchDtype: "float32",
	}
	cfg.SetInitValues()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tasks: shape %+v: %w", s, err)
	}
	return cfg, nil
}
