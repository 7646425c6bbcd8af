package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkQ8Prefill reports the GFLOP/s (2·m·k·n per second, workTime's) of q8_0 and bf16
// products of 16 and 64 rows through Huginn-0125-sized weights, n×k = 15840×5280 (the fused q,
// k, v) and 5280×15840, all interleaved in one run: "q8-m64-15840x5280" and so on, and
// "q8/bf16-m64-15840x5280", the ratio of q8_0's time to bf16's.
func BenchmarkQ8Prefill(b *testing.B) {
	type shape struct{ n, k int }
	shapes := []shape{{15840, 5280}, {5280, 15840}}
	ms := []int{16, 64}
	rng := rand.New(rand.NewPCG(6, 9))
	cases := make([]q8Case, len(shapes))
	wb := make([][]uint16, len(shapes))
	for i, s := range shapes {
		cases[i] = newQ8Case(rng, ms[len(ms)-1], s.k, s.n)
		wb[i] = randomBF16(rng, s.n*s.k, 0)
	}
	out := make([]float32, ms[len(ms)-1]*max(shapes[0].n, shapes[1].n))
	best := map[string]float64{}
	keep := func(name string, t float64) {
		if best[name] == 0 || t < best[name] {
			best[name] = t
		}
	}
	for b.Loop() {
		for i, s := range shapes {
			c := cases[i]
			for _, m := range ms {
				key := fmt.Sprintf("m%d-%dx%d", m, s.n, s.k)
				keep("q8-"+key, workTime(func() { LinearQ8(out, c.x, c.q, c.d, m, s.k, s.n) }))
				keep("bf16-"+key, workTime(func() { LinearBF16(out, c.x, wb[i], m, s.k, s.n) }))
			}
		}
	}
	for i, s := range shapes {
		for _, m := range ms {
			key := fmt.Sprintf("m%d-%dx%d", m, s.n, s.k)
			flops := 2 * float64(m) * float64(shapes[i].k) * float64(s.n)
			b.ReportMetric(flops/best["q8-"+key]/1e9, "q8-GFLOP/s-"+key)
			b.ReportMetric(flops/best["bf16-"+key]/1e9, "bf16-GFLOP/s-"+key)
			b.ReportMetric(best["q8-"+key]/best["bf16-"+key], "q8/bf16-"+key)
		}
	}
}
