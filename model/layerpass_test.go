package model

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/latentlab/latent/kernels"
)

// BenchmarkLayerPass times one sandwich block of Huginn-0125's shapes, as the forward pass runs
// it, on eight blocks of random weights (8 × 0.79 GB in bf16, 8 × 0.42 GB in q8_0: far more
// than any cache, as a whole model is) taken in turn like the prelude, core and coda of r = 1.
// decode feeds one token per block pass at positions 0..31 of a fresh cache, as llama-bench's
// tg32 does, and reports ms per layer pass; prefill16 and prefill64 push 16 or 64 rows at
// position 0 and report the GFLOP/s of the block's matrix products (2 × rows × 395,366,400
// multiply-adds per block; attention's own products, under 0.1 % at 64 rows, left out). See
// docs/kernels/llamacpp.md for the comparison with llama.cpp on the same shapes.
func BenchmarkLayerPass(b *testing.B) {
	cfg, err := BuiltinConfig("huginn-0125")
	if err != nil {
		b.Fatal(err)
	}
	const layers = 8
	for _, dtype := range []string{"bf16", "q8_0"} {
		b.Run(dtype, func(b *testing.B) {
			blocks := layerPassBlocks(cfg, layers, dtype)
			m := New(cfg, &Weights{})
			b.Logf("backend %s, %d workers, %.2f GB of block weights", kernels.Backend(), kernels.Workers(),
				float64(blocks[0].bytes()*layers)/1e9)
			b.Run("decode", func(b *testing.B) { benchmarkDecodePasses(b, m, blocks) })
			for _, rows := range []int{16, 64} {
				b.Run(fmt.Sprintf("prefill%d", rows), func(b *testing.B) { benchmarkPrefillPasses(b, m, blocks, rows) })
			}
		})
	}
}

// layerPassCache keeps the last blocks made, so that -count repeats do not make them again.
var layerPassCache struct {
	dtype  string
	blocks []Block
}

// layerPassBlocks returns n random blocks in dtype, the cached ones if they are of that dtype.
func layerPassBlocks(cfg *Config, n int, dtype string) []Block {
	if layerPassCache.dtype != dtype || len(layerPassCache.blocks) != n {
		layerPassCache.blocks = nil // let the old ones go before making the new
		layerPassCache.blocks, layerPassCache.dtype = randomBlocks(cfg, n, dtype == "q8_0"), dtype
	}
	return layerPassCache.blocks
}

// benchmarkDecodePasses runs one token per iteration through every block, 32 positions to a cache.
func benchmarkDecodePasses(b *testing.B, m *Model, blocks []Block) {
	const positions = 32
	x := randomSlice(rand.New(rand.NewPCG(3, 4)), m.Config.NEmbd)
	var cache *Cache
	start := time.Now()
	tokens := 0
	for ; b.Loop(); tokens++ {
		pos := tokens % positions
		if pos == 0 {
			cache = mustCache(b, m, "full")
		}
		runBlocks(m, blocks, x, 1, pos, cache)
	}
	b.ReportMetric(time.Since(start).Seconds()*1e3/float64(tokens*len(blocks)), "ms/layer-pass")
}

// benchmarkPrefillPasses runs rows tokens per iteration through every block from position 0.
func benchmarkPrefillPasses(b *testing.B, m *Model, blocks []Block, rows int) {
	x := randomSlice(rand.New(rand.NewPCG(5, 6)), rows*m.Config.NEmbd)
	start := time.Now()
	passes := 0
	for ; b.Loop(); passes += len(blocks) {
		runBlocks(m, blocks, append([]float32(nil), x...), rows, 0, mustCache(b, m, "full"))
	}
	sec := time.Since(start).Seconds()
	flops := 2 * float64(rows) * float64(blockProductSize(&blocks[0])) * float64(passes)
	b.ReportMetric(flops/sec/1e9, "GFLOP/s")
	b.ReportMetric(sec*1e3/float64(passes), "ms/layer-pass")
}

// runBlocks passes x [S×h] through blocks with the cache slots of a forward pass at r = 1.
func runBlocks(m *Model, blocks []Block, x []float32, S, pos int, cache *Cache) {
	P, C := m.Config.NLayersPrelude, m.Config.NLayersCore
	for i := range blocks {
		slot := cache.PreludeSlot(i)
		switch {
		case i >= P+C:
			slot = cache.CodaSlot(i - P - C)
		case i >= P:
			slot = cache.CoreSlot(0, i-P)
		}
		m.blockForward(&blocks[i], x, S, pos, slot, cache)
	}
}

// blockProductSize is the number of weights in a block's matrix products.
func blockProductSize(blk *Block) int64 {
	var n int64
	for _, w := range []*Matrix{&blk.Wqkv, &blk.Proj, &blk.FC, &blk.MLPProj} {
		n += int64(w.Rows) * int64(w.Cols)
	}
	return n
}

// randomBlocks makes n blocks of cfg's shapes with random weights in bf16, or in q8_0 if q8,
// of the scale of the reference's initialisation.
func randomBlocks(cfg *Config, n int, q8 bool) []Block {
	h, f, hd := cfg.NEmbd, cfg.IntermediateSize, cfg.HeadSize()
	ones := func(k int) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	blocks := make([]Block, n)
	for i := range blocks {
		seed := uint64(i) << 8
		blocks[i] = Block{
			Norm1: ones(h), Norm2: ones(h), Norm3: ones(h), Norm4: ones(h),
			QKBias:  make([]float32, 2*cfg.NHeads*hd),
			Wqkv:    randomMatrix(3*h, h, q8, seed+1),
			Proj:    randomMatrix(h, h, q8, seed+2),
			FC:      randomMatrix(2*f, h, q8, seed+3),
			MLPProj: randomMatrix(h, f, q8, seed+4),
		}
	}
	return blocks
}

// randomMatrix fills a rows×cols matrix with uniform values in ±0.015 (std ≈ 0.0087, the
// reference's), as bf16, or as q8_0 quants in ±127 with scale 0.015/127.
func randomMatrix(rows, cols int, q8 bool, seed uint64) Matrix {
	const amp = 0.015
	w := Matrix{Rows: rows, Cols: cols}
	size := rows * cols
	const chunk = 1 << 20
	fill := func(each func(rng *rand.Rand, lo, hi int)) {
		kernels.Parallel((size+chunk-1)/chunk, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				each(rand.New(rand.NewPCG(seed, uint64(c))), c*chunk, min((c+1)*chunk, size))
			}
		})
	}
	if !q8 {
		w.BF16 = make([]uint16, size)
		fill(func(rng *rand.Rand, lo, hi int) {
			for i := lo; i < hi; i++ {
				w.BF16[i] = kernels.Float32ToBF16(float32(amp * (2*rng.Float64() - 1)))
			}
		})
		return w
	}
	w.Q8 = make([]int8, size)
	w.Q8Scales = make([]uint16, size/kernels.Q8Block)
	scale := kernels.Float32ToF16(amp / 127)
	for i := range w.Q8Scales {
		w.Q8Scales[i] = scale
	}
	fill(func(rng *rand.Rand, lo, hi int) {
		for i := lo; i < hi; i++ {
			w.Q8[i] = int8(rng.IntN(255) - 127)
		}
	})
	return w
}

func randomSlice(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}
