package train

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/latentlab/latent/model"
)

// tinyConfig is a small config with every kind of part: prelude, core and coda blocks, qk_bias
// and tied embeddings.
func tinyConfig(t testing.TB) *model.Config {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(`{"n_embd": 16, "n_heads": 2, "num_key_value_heads": 2, "intermediate_size": 24,
		"n_layers": 4, "n_layers_in_prelude": 1, "n_layers_in_recurrent_block": 2, "n_layers_in_coda": 1,
		"vocab_size": 32, "padded_vocab_size": 32, "block_size": 32, "rope_base": 50000, "norm_eps": 1e-6,
		"qk_bias": true, "bias": false, "tie_embeddings": true, "mean_recurrence": 4, "mean_backprop_depth": 2}`), "tiny-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetInitValues()
	return cfg
}

// randomModel is an initialised model whose norm weights and qk_bias are perturbed (as in the
// fixture) so that their gradients are exercised away from the trivial values.
func randomModel(t testing.TB, cfg *model.Config, seed uint64) *Model {
	t.Helper()
	m, err := InitModel(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, p := range m.Tensors {
		if strings.Contains(p.Name, "norm") || strings.HasSuffix(p.Name, "qk_bias") {
			for i, v := range m.Values(p) {
				m.Values(p)[i] = v + float32(0.1*rng.NormFloat64())
			}
		}
	}
	return m
}
