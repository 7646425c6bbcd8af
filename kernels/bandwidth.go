package kernels

import (
	"sync/atomic"
	"time"
)

// bandwidthSink keeps the measurement's reads observable to the compiler.
var bandwidthSink atomic.Uint64

// MeasureBandwidth reads a buffer of about size bytes with all workers five times and returns
// the best observed read bandwidth in GB/s (1e9 bytes per second).
func MeasureBandwidth(size int) float64 {
	words := make([]uint64, max(size/8, 1<<16))
	for i := range words {
		words[i] = uint64(i)
	}
	best := 0.0
	for rep := 0; rep < 5; rep++ {
		start := time.Now()
		Parallel(len(words), func(lo, hi int) { bandwidthSink.Add(sumWords(words[lo:hi])) })
		if gbs := float64(len(words)) * 8 / time.Since(start).Seconds() / 1e9; gbs > best {
			best = gbs
		}
	}
	return best
}

// sumWords adds 64-bit words with eight independent accumulators so loads are not serialised.
func sumWords(w []uint64) uint64 {
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
