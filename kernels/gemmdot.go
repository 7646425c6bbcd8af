package kernels

import "unsafe"

// The dot-product form of the matrix product, for few rows of A against Linear's weights
// stored by rows (B's transpose, rows contiguous along k): the weights are read in place,
// widened in registers, and never packed. The assembly tile computes three weight rows
// against four rows of A as twelve dot products of dotStep-wide vectors.

const (
	dotTileRows = 3  // weight rows (columns of C) per tile
	dotTileX    = 4  // rows of A per tile group
	dotStep     = 16 // k granularity of the tile kernels
	// dotBlockK is the most steps one tile call covers. Long runs along each weight row keep
	// the memory stream efficient: on 16×5280×15840 bf16 (Zen 3) blocks of 1024 took 42 ms,
	// of 2048 37 ms, all 5280 at once 33 ms. A block of A (16 rows: 512 KiB) stays in L2.
	dotBlockK = 8192
)

// dotJob is one product C (=|+=) A·Wᵀ computed by gemmDot over weights of element type W.
type dotJob[W float32 | uint16] struct {
	c       []float32
	ldc     int
	m, n, k int
	body    int       // k rounded down to dotStep: the part the tile kernel covers
	xp      []float32 // the first body steps of A, permuted for the kernel, rows padded to dotTileX
	x       operand   // A itself, for the tail
	w       []W
	ldw     int
	add     bool
	kernel  func(sums, x *float32, ldx int, w *W, ldw, k, pf, groups int)
	tail    func(x []float32, w []W) float32
}

// gemmDot is gemm, with s's tile kernels, for A stored by rows (cs == 1, fp32) and B's transpose stored by rows
// (cs == 1): Linear's and LinearBF16's products with few rows, split over the pool by weight
// rows.
func gemmDot(s *isa, c []float32, ldc, m, n, k int, a, bt operand, add bool) {
	if bt.bf16 != nil {
		runDot(&dotJob[uint16]{c: c, ldc: ldc, m: m, n: n, k: k, x: a, w: bt.bf16, ldw: bt.rs, add: add,
			kernel: s.dotBF16, tail: dotBF16Generic}, true)
		return
	}
	runDot(&dotJob[float32]{c: c, ldc: ldc, m: m, n: n, k: k, x: a, w: bt.f32, ldw: bt.rs, add: add,
		kernel: s.dotF32, tail: dotGeneric}, false)
}

// runDot copies A into the kernel's layout (permuted for bf16 weights) and runs the job.
func runDot[W float32 | uint16](j *dotJob[W], permute bool) {
	j.body = j.k &^ (dotStep - 1)
	j.xp = make([]float32, roundUp(j.m, dotTileX)*j.body)
	for i := range j.m {
		dst, src := j.xp[i*j.body:(i+1)*j.body], j.x.f32[i*j.x.rs:][:j.body]
		if permute {
			permuteBF16Order(dst, src)
		} else {
			copy(dst, src)
		}
	}
	Parallel((j.n+dotTileRows-1)/dotTileRows, j.run)
}

// permuteBF16Order copies src to dst (lengths a multiple of 16) reordering each block of 16
// as its eight even-indexed elements followed by its eight odd ones.
func permuteBF16Order(dst, src []float32) {
	for b := 0; b < len(src); b += 16 {
		for j := range 8 {
			dst[b+j], dst[b+8+j] = src[b+2*j], src[b+2*j+1]
		}
	}
}

// run computes the columns of C for weight-row groups lo..hi: whole groups with the tile
// kernel, block by block along k (the block of A, all its rows, stays in L2, each tile's
// weights in L1), then the steps past body and the last, partial group in Go.
func (j *dotJob[W]) run(lo, hi int) {
	r0, r1 := lo*dotTileRows, min(hi*dotTileRows, j.n)
	full := min(r1, j.n/dotTileRows*dotTileRows) // the end of the whole groups
	if j.body == 0 {
		full = r0
	}
	sums := make([]float32, roundUp(j.m, dotTileX)*dotTileRows)
	for p0 := 0; p0 < j.body; p0 += dotBlockK {
		for r := r0; r < full; r += dotTileRows {
			j.tile(sums, r, p0)
		}
	}
	j.finish(r0, full, r1)
}

// tile adds (or stores, for the first block of C without add) the products of all rows of A
// with weight rows r..r+dotTileRows over steps p0..p0+dotBlockK.
func (j *dotJob[W]) tile(sums []float32, r, p0 int) {
	kb := min(dotBlockK, j.body-p0)
	groups := len(sums) / (dotTileRows * dotTileX)
	x := j.xp[p0:]
	_, _ = x[(groups*dotTileX-1)*j.body+kb-1], j.w[(r+dotTileRows-1)*j.ldw+p0+kb-1]
	next := dotTileRows * j.ldw * int(unsafe.Sizeof(j.w[0])) // the next tile, to prefetch
	j.kernel(&sums[0], &x[0], j.body, &j.w[r*j.ldw+p0], j.ldw, kb, next, groups)
	store := p0 == 0 && !j.add
	for i := range j.m {
		c, s := j.c[i*j.ldc+r:][:dotTileRows], sums[i/dotTileX*dotTileRows*dotTileX+i%dotTileX:]
		for q := range c {
			if store {
				c[q] = s[q*dotTileX]
			} else {
				c[q] += s[q*dotTileX]
			}
		}
	}
}

// finish adds the steps past body for weight rows r0..full and computes rows full..r1 of the
// weights, which the tile kernel did not touch, in Go.
func (j *dotJob[W]) finish(r0, full, r1 int) {
	for i := range j.m {
		x := j.x.f32[i*j.x.rs:][:j.k]
		c := j.c[i*j.ldc:]
		for r := r0; r < r1; r++ {
			w := j.w[r*j.ldw:][:j.k]
			switch {
			case r < full:
				if j.body < j.k {
					c[r] += j.tail(x[j.body:], w[j.body:])
				}
			case j.add:
				c[r] += j.tail(x, w)
			default:
				c[r] = j.tail(x, w)
			}
		}
	}
}
