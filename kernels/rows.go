package kernels

// Products with few rows (decode of 1 to MaxFewRows positions or requests at once) can take one of
// several paths, and which is fastest depends on the CPU and on m: see pathFor.

import "time"

// path is one way Linear and LinearBF16 compute a product with at most MaxFewRows rows.
type path uint8

const (
	// pathGemv runs m matrix-vector products over blocks of the weights (gemv): the block is
	// read from memory for the first row and from L2 for the others.
	pathGemv path = iota
	// pathRows runs the dot-product tiles (gemmDot): each weight is read once, into registers,
	// for all m rows.
	pathRows
	// pathPacked runs the packed blocked product (gemm), built for many rows.
	pathPacked
	// pathShared runs the FMA row kernels (gemvShared: 1, 4 and 8 rows of x with AVX-512, 1, 2, 4
	// and 6 with AVX2): as pathDP, with fp32 x and fp32 multiply-adds, for bf16 and fp32 weights.
	pathShared
	// pathDP runs the VDPBF16PS products (gemvDP, bf16 weights only): each weight is read once,
	// into registers, for four rows at a time (eight, k in stretches as pathShared, where x is
	// rounded), then one, and the block of weights from L2 for the next rows.
	pathDP
	numPaths
)

// MaxFewRows is the most rows for which a path is chosen per m; more rows always take the packed
// matrix product, which sums every output element in the same order whatever the number of rows.
const MaxFewRows = 16

var pathNames = [numPaths]string{"gemv", "rows", "packed", "shared", "dpbf16"}

func (p path) String() string { return pathNames[p] }

// parsePath is the inverse of path.String.
func parsePath(name string) (path, bool) {
	for p, n := range pathNames {
		if n == name {
			return path(p), true
		}
	}
	return 0, false
}

// runs reports whether s has the kernels path p needs for bf16 (or fp32) weights.
func (s *isa) runs(p path, bf16 bool) bool {
	switch p {
	case pathRows:
		return s.dotF32 != nil && s.dotBF16 != nil
	case pathShared:
		return s.sharedF32.ok()
	case pathDP:
		return bf16 && s.dpBF16Rows1 != nil
	}
	return true
}

// linearPath computes out[m×n] = a[m×k] · btᵀ with s's kernels along path p (bt holds Linear's
// weights by rows).
func linearPath(s *isa, p path, out []float32, a, bt operand, m, k, n int) {
	switch {
	case m == 0 || n == 0:
	case p == pathShared:
		gemvShared(s, out, a.f32, bt, m, k, n)
	case p == pathDP:
		gemvDP(s, out, a.f32, bt.bf16, m, k, n, dpParts)
	case p == pathGemv && bt.bf16 != nil:
		gemv(s, out, a.f32, bt.bf16, m, k, n, s.gemvBF16, s.gemv2BF16, dotBF16Generic)
	case p == pathGemv:
		gemv(s, out, a.f32, bt.f32, m, k, n, s.gemvF32, nil, dotGeneric)
	case p == pathRows:
		gemmDot(s, out, n, m, n, k, a, bt, false)
	default:
		linearPacked(s, out, a, bt, m, k, n)
	}
}

// timeIt returns the seconds fn takes to run once.
func timeIt(fn func()) float64 {
	start := time.Now()
	fn()
	return time.Since(start).Seconds()
}
