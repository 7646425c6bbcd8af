package kernels

// probeRows4 loads groups of four weight rows as the 1-row kernels do, without arithmetic, with
// the software prefetch of mode (see streamprobe_amd64.s): BenchmarkStream's probe of the weight
// stream. It needs AVX-512F.
//
//go:noescape
func probeRows4(w *byte, rowBytes, ldw, groups, dist, mode int) uint64
