package kernels

import (
	"sync/atomic"
	"time"
)

// bandwidthSink keeps the measurement's reads observable to the compiler.
var bandwidthSink atomic.Uint64

// MeasureBandwidth reads a buffer of about size bytes (at least 1 MiB) with all workers five
// times and returns the best observed read bandwidth in GB/s (1e9 bytes per second). Give it a
// buffer well beyond the last-level cache (e.g. 1 GiB) to measure main memory.
func MeasureBandwidth(size int) float64 {
	words := make([]uint64, max(size/8, 1<<17))
	for i := range words {
		words[i] = uint64(i)
	}
	best := 0.0
	for range 5 {
		if gbs := readBandwidth(words); gbs > best {
			best = gbs
		}
	}
	return best
}

// readBandwidth sums words once, split over the pool, and returns GB/s.
func readBandwidth(words []uint64) float64 {
	start := time.Now()
	Parallel(len(words)/16, func(lo, hi int) { bandwidthSink.Add(sumWords(words[16*lo : 16*hi])) })
	return float64(len(words)&^15) * 8 / time.Since(start).Seconds() / 1e9
}

// sumWords adds 64-bit words, with the assembly path when there is one.
func sumWords(w []uint64) uint64 {
	if fast != nil && len(w) >= 16 {
		body := len(w) &^ 15
		return fast.sumWords(&w[0], body) + sumWordsGeneric(w[body:])
	}
	return sumWordsGeneric(w)
}

// sumWordsGeneric adds 64-bit words with eight independent accumulators so loads are not
// serialised.
func sumWordsGeneric(w []uint64) uint64 {
	var a, b, c, d, e, f, g, h uint64
	for len(w) >= 8 {
		a += w[0]
		b += w[1]
		c += w[2]
		d += w[3]
		e += w[4]
		f += w[5]
		g += w[6]
		h += w[7]
		w = w[8:]
	}
	for _, v := range w {
		a += v
	}
	return a + b + c + d + e + f + g + h
}

// MeasurePeak runs independent fused multiply-adds on every worker (a few milliseconds, five
// times) and returns the best observed rate in GFLOP/s: the arithmetic ceiling the matrix
// products are measured against. It returns 0 without an assembly path.
func MeasurePeak() float64 {
	if fast == nil {
		return 0
	}
	return measureLoop(fast.fmaLoop, fast.fmaFlops)
}

// MeasureDotPeak is MeasurePeak for VDPBF16PS (a multiply and an add per bf16 pair, two pairs
// per fp32 lane): the ceiling of the bf16 dot-product path. It returns 0 where there is none.
func MeasureDotPeak() float64 {
	if fast == nil || fast.dpLoop == nil {
		return 0
	}
	return measureLoop(fast.dpLoop, 1024)
}

// measureLoop runs loop on every worker, five times, and returns the best rate in GFLOP/s.
func measureLoop(loop func(n int), flopsPerIter int) float64 {
	const iters = 1 << 20
	best := 0.0
	for range 5 {
		start := time.Now()
		Parallel(Workers(), func(lo, hi int) {
			for range hi - lo {
				loop(iters)
			}
		})
		flops := float64(Workers()) * iters * float64(flopsPerIter)
		if g := flops / time.Since(start).Seconds() / 1e9; g > best {
			best = g
		}
	}
	return best
}
