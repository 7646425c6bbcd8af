package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Config is a recurrent-depth model's shape and recipe, read from a Hugging Face config.json
// with the keys of the official Huginn-0125 checkpoint. Unknown keys are kept in Extra so that
// a config read and written again loses nothing.
type Config struct {
	NEmbd             int     `json:"n_embd"`
	NHeads            int     `json:"n_heads"`
	NumKVHeads        int     `json:"num_key_value_heads"`
	HeadDim           int     `json:"head_dim"`
	IntermediateSize  int     `json:"intermediate_size"`
	NLayers           int     `json:"n_layers"`
	NLayersPrelude    int     `json:"n_layers_in_prelude"`
	NLayersCore       int     `json:"n_layers_in_recurrent_block"`
	NLayersCoda       int     `json:"n_layers_in_coda"`
	VocabSize         int     `json:"vocab_size"`
	PaddedVocabSize   int     `json:"padded_vocab_size"`
	BlockSize         int     `json:"block_size"`
	RopeBase          float64 `json:"rope_base"`
	NormEps           float64 `json:"norm_eps"`
	QKBias            bool    `json:"qk_bias"`
	Bias              bool    `json:"bias"`
	TieEmbeddings     bool    `json:"tie_embeddings"`
	MeanRecurrence    int     `json:"mean_recurrence"`
	MeanBackpropDepth int     `json:"mean_backprop_depth"`
	BOSTokenID        int     `json:"bos_token_id"`
	EOSTokenID        int     `json:"eos_token_id"`
	PadTokenID        int     `json:"pad_token_id"`
	TorchDtype        string  `json:"torch_dtype"`
	// InitValues holds the reference's initialisation constants: std, out_proj, embedding and
	// embed_scale (the factor applied to token embeddings and to the random initial state).
	InitValues map[string]float64 `json:"init_values"`

	// Extra holds every other key of config.json, written back unchanged.
	Extra map[string]json.RawMessage `json:"-"`
}

// knownKeys lists the JSON keys Config decodes itself.
var knownKeys = func() map[string]bool {
	keys := map[string]bool{}
	for _, k := range []string{"n_embd", "n_heads", "num_key_value_heads", "head_dim", "intermediate_size",
		"n_layers", "n_layers_in_prelude", "n_layers_in_recurrent_block", "n_layers_in_coda", "vocab_size",
		"padded_vocab_size", "block_size", "rope_base", "norm_eps", "qk_bias", "bias", "tie_embeddings",
		"mean_recurrence", "mean_backprop_depth", "bos_token_id", "eos_token_id", "pad_token_id",
		"torch_dtype", "init_values"} {
		keys[k] = true
	}
	return keys
}()

// ParseConfig decodes a config.json document and validates it; name is used in errors.
func ParseConfig(data []byte, name string) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	type plain Config
	var c plain
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	cfg := Config(c)
	cfg.Extra = map[string]json.RawMessage{}
	for k, v := range raw {
		if !knownKeys[k] {
			cfg.Extra[k] = v
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return &cfg, nil
}

// LoadConfig reads dir/config.json (or the file itself when path names a file).
func LoadConfig(path string) (*Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(data, path)
}

// MarshalJSON writes the known keys and every preserved extra key, sorted.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	known, err := json.Marshal(plain(c))
	if err != nil {
		return nil, err
	}
	var merged map[string]json.RawMessage
	if err := json.Unmarshal(known, &merged); err != nil {
		return nil, err
	}
	for k, v := range c.Extra {
		if _, ok := merged[k]; !ok {
			merged[k] = v
		}
	}
	return json.MarshalIndent(merged, "", "  ")
}

// Validate checks that the sizes are positive and consistent, reporting every problem at once.
func (c *Config) Validate() error {
	var errs []string
	positive := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Sprintf("%s = %d must be positive", name, v))
		}
	}
	positive("n_embd", c.NEmbd)
	positive("n_heads", c.NHeads)
	positive("intermediate_size", c.IntermediateSize)
	positive("n_layers_in_recurrent_block", c.NLayersCore)
	positive("padded_vocab_size", c.PaddedVocabSize)
	positive("block_size", c.BlockSize)
	if c.NLayersPrelude < 0 || c.NLayersCoda < 0 {
		errs = append(errs, "layer counts must not be negative")
	}
	if c.NHeads > 0 && c.NEmbd%c.NHeads != 0 {
		errs = append(errs, fmt.Sprintf("n_embd %d is not a multiple of n_heads %d", c.NEmbd, c.NHeads))
	} else if c.NHeads > 0 {
		hd := c.NEmbd / c.NHeads
		if c.HeadDim != 0 && c.HeadDim != hd {
			errs = append(errs, fmt.Sprintf("head_dim %d disagrees with n_embd/n_heads = %d", c.HeadDim, hd))
		}
		if hd%2 != 0 {
			errs = append(errs, fmt.Sprintf("head dimension %d must be even for rotary embeddings", hd))
		}
	}
	if c.NumKVHeads != 0 && c.NumKVHeads != c.NHeads {
		errs = append(errs, fmt.Sprintf("unsupported: num_key_value_heads %d differs from n_heads %d (the reference needs them equal)", c.NumKVHeads, c.NHeads))
	}
	if c.VocabSize > c.PaddedVocabSize {
		errs = append(errs, fmt.Sprintf("vocab_size %d exceeds padded_vocab_size %d", c.VocabSize, c.PaddedVocabSize))
	}
	if c.NLayers != 0 && c.NLayers != c.NLayersPrelude+c.NLayersCore+c.NLayersCoda {
		errs = append(errs, fmt.Sprintf("n_layers %d is not prelude %d + core %d + coda %d", c.NLayers, c.NLayersPrelude, c.NLayersCore, c.NLayersCoda))
	}
	if !(c.RopeBase > 0) || math.IsInf(c.RopeBase, 0) {
		errs = append(errs, fmt.Sprintf("rope_base %v must be positive", c.RopeBase))
	}
	if !(c.NormEps > 0) || c.NormEps > 1 {
		errs = append(errs, fmt.Sprintf("norm_eps %v must be in (0, 1]", c.NormEps))
	}
	if c.Bias {
		errs = append(errs, "unsupported: bias = true (the reference architecture has no linear biases)")
	}
	if c.MeanRecurrence < 0 || c.MeanBackpropDepth < 0 {
		errs = append(errs, "mean_recurrence and mean_backprop_depth must not be negative")
	}
	if c.NEmbd > 1<<20 || c.IntermediateSize > 1<<22 || c.PaddedVocabSize > 1<<24 || c.BlockSize > 1<<24 ||
		c.NLayersPrelude+c.NLayersCore+c.NLayersCoda > 1<<12 {
		errs = append(errs, "sizes are implausibly large")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// HeadSize is the per-head dimension n_embd / n_heads.
func (c *Config) HeadSize() int { return c.NEmbd / c.NHeads }

// EmbedScale is the factor applied to token embeddings and to the random initial state:
// init_values.embed_scale when present, else sqrt(n_embd).
func (c *Config) EmbedScale() float32 {
	if v, ok := c.InitValues["embed_scale"]; ok && v > 0 {
		return float32(v)
	}
	return float32(math.Sqrt(float64(c.NEmbd)))
}

// InitStd is the standard deviation of the reference's "takase" initialisation, sqrt(2/(5·n_embd))
// unless init_values.std says otherwise.
func (c *Config) InitStd() float64 {
	if v, ok := c.InitValues["std"]; ok && v > 0 {
		return v
	}
	return math.Sqrt(2 / (5 * float64(c.NEmbd)))
}
