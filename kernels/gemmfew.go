package kernels

// gemmFew is the product for A with few rows (see isa.fewMinF32) against Linear's weights (B's
// transpose stored by rows), a prefill of a few tokens through a large weight matrix. It
// computes Cᵀ instead of C: the micro-kernel broadcasts the weights, read in place and never
// packed, and multiplies them by A packed once in fewRows-wide panels, so no transposing pack
// of the weights costs time and, for a multiple of fewRows rows, no lane of a tile is padding.
// Each worker takes whole groups of fewCols weight rows and runs each group through all of k,
// so the weights stream from memory row by row and its tile of Cᵀ stays in L1. Each
// fewCols×fewRows tile of Cᵀ is summed slab by slab over the same kc slabs, in the same order
// within each, as the packed product sums C, so every element is bit for bit what gemmNarrow
// and gemmWide give it (see TestProductRowsDoNotDependOnRowCount).

const (
	fewRows = 16 // rows of A per tile: two ymm vectors
	fewCols = 6  // weight rows per tile
)

// usesFew reports whether gemm takes gemmFew for an m-row product with B's transpose bt.
func (s *isa) usesFew(m int, bt operand) bool {
	if bt.cs != 1 {
		return false
	}
	if bt.bf16 != nil {
		return s.fewBF16 != nil && m >= s.fewMinBF16 && m <= s.fewMaxBF16
	}
	return s.fewF32 != nil && m >= s.fewMinF32 && m <= s.fewMaxF32
}

// few is a product computed by gemmFew.
type few struct {
	s       *isa
	c       []float32
	ldc     int
	m, n, k int
	blocks  int       // ⌈m/fewRows⌉ blocks of A's rows
	x       []float32 // all of A, packed fewRows wide block by block, each slab by slab
	bt      operand
	add     bool
}

// gemmFew is gemm for the products usesFew accepts.
func gemmFew(s *isa, c []float32, ldc, m, n, k int, a, bt operand, add bool) {
	f := few{s: s, c: c, ldc: ldc, m: m, n: n, k: k, bt: bt, add: add}
	f.blocks = (m + fewRows - 1) / fewRows
	f.x = make([]float32, f.blocks*fewRows*k)
	for rb := range f.blocks {
		x := f.x[rb*fewRows*k:]
		for pc := 0; pc < k; pc += s.kc {
			a.packPanels(s, x[fewRows*pc:], rb*fewRows, min(fewRows, m-rb*fewRows), pc, min(s.kc, k-pc), fewRows)
		}
	}
	Parallel((n+fewCols-1)/fewCols, f.run)
}

// run computes the tiles of weight rows lo·fewCols..hi·fewCols.
func (f *few) run(lo, hi int) {
	t := make([]float32, f.blocks*fewCols*fewRows)
	for g := lo; g < hi; g++ {
		f.tile(t, g*fewCols)
	}
}

// tile computes the columns j0..j0+fewCols of C (fewer at the right edge) through the tile t.
func (f *few) tile(t []float32, j0 int) {
	cols := min(fewCols, f.n-j0)
	w := f.bt.from(j0)
	if cols < fewCols {
		w = f.padded(j0, cols)
	}
	if f.add {
		f.transfer(t, j0, cols, true)
	}
	for pc := 0; pc < f.k; pc += f.s.kc {
		kb, add := min(f.s.kc, f.k-pc), f.add || pc > 0
		for rb := range f.blocks {
			x, tb := &f.x[(rb*f.k+pc)*fewRows], &t[rb*fewCols*fewRows]
			if w.bf16 != nil {
				f.s.fewBF16(kb, &w.bf16[pc], w.rs, x, tb, add)
			} else {
				f.s.fewF32(kb, &w.f32[pc], w.rs, x, tb, add)
			}
		}
	}
	f.transfer(t, j0, cols, false)
}

// padded copies the last cols < fewCols weight rows from j0 on, zero-padded to fewCols rows,
// so that the kernel reads no weight past the end.
func (f *few) padded(j0, cols int) operand {
	src := f.bt.from(j0)
	if src.bf16 != nil {
		w := make([]uint16, fewCols*f.k)
		for j := range cols {
			copy(w[j*f.k:(j+1)*f.k], src.bf16[j*src.rs:])
		}
		return weightsBF16(w, f.k)
	}
	w := make([]float32, fewCols*f.k)
	for j := range cols {
		copy(w[j*f.k:(j+1)*f.k], src.f32[j*src.rs:])
	}
	return weightsF32(w, f.k)
}

// transfer copies the tile t to columns j0..j0+cols of C, or (load) those columns of C into t.
func (f *few) transfer(t []float32, j0, cols int, load bool) {
	for i := range f.m {
		row, ti := f.c[i*f.ldc+j0:][:cols], t[i/fewRows*fewCols*fewRows+i%fewRows:]
		for j := range row {
			if load {
				ti[j*fewRows] = row[j]
			} else {
				row[j] = ti[j*fewRows]
			}
		}
	}
}
