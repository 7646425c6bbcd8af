package kernels

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// BenchmarkStream compares, on Huginn-0125's fused q, k, v weights (15840×5280 bf16, out of
// cache) and its MLP's down projection (5280×17920, whose split x outgrows L1), a plain parallel read of the weights with probes that only load them as the 1-row
// kernels do (probeRows4: four rows side by side, with each software prefetch, or as one
// stream), with the 1-row bf16 product of each path and with the 1-row q8_0 product of the same
// shape, all interleaved in one run: each reported as the read's best wall time over its own
// ("of-read", 1 = the read's rate in bytes; q8_0 scaled by its bytes). Run it with GOMAXPROCS=1
// too: one core's stream is where the kernels fell short of a read.
func BenchmarkStream(b *testing.B) {
	if fast == nil || !fast.runs(pathShared, true) || !cpu.X86.HasAVX512F {
		b.Skip("no AVX-512 row kernels on this CPU")
	}
	for _, shape := range [][2]int{{15840, 5280}, {5280, 17920}} {
		b.Run(fmt.Sprintf("%dx%d", shape[0], shape[1]), func(b *testing.B) { benchmarkStream(b, shape[0], shape[1]) })
	}
}

// benchmarkStream is BenchmarkStream on n×k weights.
func benchmarkStream(b *testing.B, n, k int) {
	rng := rand.New(rand.NewPCG(6, 9))
	wb := randomBF16(rng, n*k, 0)
	x, out := randomSlice(rng, k, 0), make([]float32, n)
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&wb[0])), len(wb)/4)
	probe := func(dist, mode int) func() {
		return func() {
			Parallel(n/4, func(lo, hi int) {
				p := (*byte)(unsafe.Pointer(&wb[4*lo*k]))
				bandwidthSink.Add(probeRows4(p, 2*k, 2*k, hi-lo, dist, mode))
			})
		}
	}
	c := newQ8Case(rng, 1, k, n)
	q8Bytes := float64(len(c.q) + 2*len(c.d))
	cases := map[string]func(){
		"read": func() {
			Parallel(len(words)/16, func(lo, hi int) { bandwidthSink.Add(sumWords(words[16*lo : 16*hi])) })
		},
		"probe-none":       probe(0, 0),
		"probe-t0-1024":    probe(1024, 1),
		"probe-next-t1":    probe(0, 2),
		"probe-one-stream": probe(0, 3),
		"q8":               func() { LinearQ8(out, c.x, c.q, c.d, 1, k, n) },
	}
	for p := range numPaths {
		if p != pathPacked && fast.runs(p, true) {
			cases[p.String()] = func() { linearPath(fast, p, out, rowMajor(x, k), weightsBF16(wb, k), 1, k, n) }
		}
	}
	best := map[string]float64{}
	for b.Loop() {
		for name, fn := range cases {
			if s := timeIt(fn); best[name] == 0 || s < best[name] {
				best[name] = s
			}
		}
	}
	for name, s := range best {
		if strings.HasPrefix(name, "q8") {
			s *= float64(len(words)*8) / q8Bytes
		}
		b.ReportMetric(best["read"]/s, name+"-of-read")
	}
	b.ReportMetric(float64(len(words)*8)/best["read"]/1e9, "read-GB/s")
}
