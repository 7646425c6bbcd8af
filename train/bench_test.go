package train

import (
	"fmt"
	"testing"

	"github.com/latentlab/latent/model"
)

// benchConfig is a (1, 4, 1) model with a 4096-token vocabulary; scripts/torch_train_bench.py
// builds the same shapes.
func benchConfig(b *testing.B, h, heads, ffn int) *model.Config {
	cfg, err := model.ParseConfig([]byte(fmt.Sprintf(`{"n_embd": %d, "n_heads": %d, "intermediate_size": %d,
		"n_layers_in_prelude": 1, "n_layers_in_recurrent_block": 4, "n_layers_in_coda": 1,
		"vocab_size": 4096, "padded_vocab_size": 4096, "block_size": 1024, "rope_base": 50000, "norm_eps": 1e-6,
		"qk_bias": true, "tie_embeddings": true, "mean_recurrence": 4, "mean_backprop_depth": 2}`, h, heads, ffn)), "bench")
	if err != nil {
		b.Fatal(err)
	}
	cfg.SetInitValues()
	return cfg
}

// benchmarkTrainStep times whole optimizer steps (forward with n = 2 steps without and k = 2
// with gradient, backward, AdamW) on batches of 4 × 128 tokens and reports tokens/s.
func benchmarkTrainStep(b *testing.B, h, heads, ffn int) {
	cfg := benchConfig(b, h, heads, ffn)
	m, err := InitModel(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	tc := Config{Batch: 4, SeqLen: 128, Steps: 1 << 30, Fixed: &Recurrence{N: 2, K: 2}, InitScale: 1,
		Optimizer: DefaultOptimizer("adamw", 1e-3), Seed: 1}
	tr, err := NewTrainer(m, randomStream(1<<16, cfg.PaddedVocabSize, 1), tc)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d parameters", m.NumParams())
	if _, err := tr.Step(); err != nil { // warm up
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*tc.Batch*tc.SeqLen)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkTrainStep5M(b *testing.B)  { benchmarkTrainStep(b, 256, 4, 512) }
func BenchmarkTrainStep20M(b *testing.B) { benchmarkTrainStep(b, 512, 8, 1280) }
