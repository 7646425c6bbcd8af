package kernels

// The blocked matrix product behind Linear and LinearBF16 (on pathPacked), MatMul and
// AccumulateTransposed, in the Goto/BLIS arrangement: C[m×n] (=|+=) A[m×k] · B[k×n] is cut
// into kc-deep slabs; each slab of B (nc columns) and of A (mc rows) is packed into micro-panels
// that the assembly micro-kernel streams through, so the kernel reads contiguous memory and
// the packed B panel stays in L1 while the packed A block stays in L2. Packing also absorbs the
// operands' layouts (transposed or not, fp32 or bf16; for the VDPBF16PS micro-kernel of
// gemmdp.go, bf16 pairs). Products with few rows take a variant without a shared B slab
// (gemmNarrow), where each worker packs B one micro-panel at a time, and those with at most 128
// rows (16 for bf16) against Linear's weights one that packs no weights at all (gemmFew,
// gemmfew.go); those with many rows let each worker pack B itself (gemmOwnSlabs). All of them
// sum every element of C in the same order.

// operand is a matrix read by the product, indexed (i, p) with p along the shared dimension k:
// element (i, p) is f32[i*rs+p*cs], for bf16 weights bf16[i*rs+p*cs], for q8_0 weights (cs = 1,
// rs a multiple of Q8Block) q8d[(i*rs+p)/Q8Block]·q8[i*rs+p]. One of rs and cs is 1. A is
// indexed (row, p) and B by its transpose, (column, p).
type operand struct {
	f32    []float32
	bf16   []uint16
	q8     []int8
	q8d    []uint16
	rs, cs int
}

// rowMajor views a row-major matrix with the given row length as rows indexed (row, p).
func rowMajor(a []float32, cols int) operand { return operand{f32: a, rs: cols, cs: 1} }

// colMajor views a row-major matrix with the given row length by its transpose: element
// (i, p) is a[p*cols+i].
func colMajor(a []float32, cols int) operand { return operand{f32: a, rs: 1, cs: cols} }

// weightsF32 views Linear weights w[n×k] as B's transpose.
func weightsF32(w []float32, k int) operand { return rowMajor(w, k) }

// weightsBF16 views bf16 Linear weights w[n×k] as B's transpose.
func weightsBF16(w []uint16, k int) operand { return operand{bf16: w, rs: k, cs: 1} }

// weightsQ8 views q8_0 Linear weights (quants q[n×k], scales d[n×k/Q8Block]) as B's transpose.
func weightsQ8(q []int8, d []uint16, k int) operand { return operand{q8: q, q8d: d, rs: k, cs: 1} }

// from returns the operand starting at index i.
func (o operand) from(i int) operand {
	switch {
	case o.q8 != nil:
		o.q8, o.q8d = o.q8[i*o.rs:], o.q8d[i*o.rs/Q8Block:]
	case o.bf16 != nil:
		o.bf16 = o.bf16[i*o.rs:]
	default:
		o.f32 = o.f32[i*o.rs:]
	}
	return o
}

// pack writes indices i0..i0+count (count ≤ width) of p0..p0+kc into one micro-panel:
// panel[p*width+r] = element (i0+r, p0+p); the rest of the panel must already be zero. It
// serves operands whose rows run along p (cs == 1); scatterPanels serves the others.
func (o operand) pack(s *isa, panel []float32, i0, count, p0, kc, width int) {
	switch {
	case s.parts > 0: // cs == 1, bf16 weights and fp32 activations
		o.packPairs(s, panel, i0, count, p0, kc, width)
	case o.q8 != nil: // cs == 1
		o.packQ8(s, panel, i0, count, p0, kc, width)
	case o.bf16 != nil: // cs == 1
		src := o.bf16[i0*o.rs+p0:]
		done := s.transposedBody(count, kc, width)
		if done > 0 {
			_ = src[(count-1)*o.rs+kc-1]
			s.packBF16(&panel[0], &src[0], o.rs, done, width)
		}
		for r := range count {
			for p, b := range src[r*o.rs+done : r*o.rs+kc] {
				panel[(p+done)*width+r] = BF16ToFloat32(b)
			}
		}
	default: // cs == 1
		src := o.f32[i0*o.rs+p0:]
		done := s.transposedBody(count, kc, width)
		switch {
		case done > 0:
			_ = src[(count-1)*o.rs+kc-1]
			s.packF32(&panel[0], &src[0], o.rs, done, width)
		case s.pack6F32 != nil && count == 6 && width == 6 && kc >= 8:
			done = kc &^ 7
			_, _ = src[5*o.rs+kc-1], panel[:len(panel)+2] // the kernel spills 2 floats past the panel
			s.pack6F32(&panel[0], &src[0], o.rs, done)
		}
		for r := range count {
			for p, v := range src[r*o.rs+done : r*o.rs+kc] {
				panel[(p+done)*width+r] = v
			}
		}
	}
}

// transposedBody returns how many of kc steps the assembly transposing pack covers for a
// panel of count rows out of width: whole 8×8 blocks of a full panel whose width is a
// multiple of 8, or none.
func (s *isa) transposedBody(count, kc, width int) int {
	if s.packF32 == nil || count != width || width%8 != 0 {
		return 0
	}
	return kc &^ 7
}

// packPanels packs indices i0..i0+count of p0..p0+kc into ⌈count/width⌉ micro-panels of kc×width,
// zero-padding the last one.
func (o operand) packPanels(s *isa, dst []float32, i0, count, p0, kc, width int) {
	if o.rs == 1 && o.f32 != nil && s.parts == 0 {
		o.scatterPanels(dst, i0, count, p0, kc, width)
		return
	}
	depth := s.depth(o, kc)
	for q := 0; q < count; q += width {
		panel := dst[q*depth : (q+width)*depth]
		w := min(width, count-q)
		if w < width {
			clear(panel)
		}
		o.pack(s, panel, i0+q, w, p0, kc, width)
	}
}

// scatterPanels is packPanels for an operand whose indices i are contiguous (rs == 1): each of
// the kc source rows is read once, left to right, and dealt out to the panels.
func (o operand) scatterPanels(dst []float32, i0, count, p0, kc, width int) {
	if rem := count % width; rem != 0 {
		clear(dst[(count-rem)*kc : (count-rem+width)*kc])
	}
	for p := range kc {
		row := o.f32[(p0+p)*o.cs+i0:][:count]
		for q := 0; q < count; q += width {
			at := q*kc + p*width
			copy(dst[at:at+min(width, count-q)], row[q:])
		}
	}
}

// depthA and depthB are how many words a packed panel of A and of B holds per row or column
// for kb steps: kb for the fp32 kernels, which take a float per step; for the VDPBF16PS one
// (parts > 0), which takes a word per pair of steps, ⌈kb/2⌉ for B and parts·⌈kb/2⌉ for A (see
// packPairs). depth is the one for operand o (A's holds fp32, B's the weights).
func (s *isa) depthA(kb int) int {
	if s.parts == 0 {
		return kb
	}
	return s.parts * ((kb + 1) / 2)
}

func (s *isa) depthB(kb int) int {
	if s.parts == 0 {
		return kb
	}
	return (kb + 1) / 2
}

func (s *isa) depth(o operand, kb int) int {
	if o.bf16 != nil {
		return s.depthB(kb)
	}
	return s.depthA(kb)
}

func roundUp(n, multiple int) int { return (n + multiple - 1) / multiple * multiple }

// gemm computes C (=|+=) A·B where C is m×n with row stride ldc, A is m×k and bt is B's
// transpose (n×k).
func gemm(c []float32, ldc, m, n, k int, a, bt operand, add bool) {
	gemmOn(fast.packedISA(), c, ldc, m, n, k, a, bt, add)
}

// gemmOn is gemm with s's packed kernels.
func gemmOn(s *isa, c []float32, ldc, m, n, k int, a, bt operand, add bool) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !add {
			for i := range m {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	switch {
	case s.usesFew(m, bt):
		gemmFew(s, c, ldc, m, n, k, a, bt, add)
	case bt.cs == 1 && roundUp(m, s.mr)*min(s.kc, k) <= s.narrow:
		gemmNarrow(s, c, ldc, m, n, k, a, bt, add)
	default:
		gemmWide(s, c, ldc, m, n, k, a, bt, add)
	}
}

// gemmWide is gemm for products with many rows or with B stored by rows. For each kc×nc slab
// of B the workers first pack the slab together, then compute it: split by rows of C when
// there are enough (each worker packing its own A blocks, both sharing the packed slab), by
// columns otherwise (each packing all of the few rows of A).
func gemmWide(s *isa, c []float32, ldc, m, n, k int, a, bt operand, add bool) {
	rowPanels := (m + s.mr - 1) / s.mr
	byRows := rowPanels >= 2*Workers()
	if byRows && s.ownSlabs > 0 && m >= s.ownSlabs {
		gemmOwnSlabs(s, c, ldc, m, n, k, a, bt, add)
		return
	}
	// Buffers are allocated per call and sized to the product: a pool would keep up to a slab
	// per concurrent caller alive between calls, for a saving that is small next to the work.
	b := make([]float32, min(s.kc, k)*roundUp(min(s.nc, n), s.nr))
	for jc := 0; jc < n; jc += s.nc {
		nb := min(s.nc, n-jc)
		colPanels := (nb + s.nr - 1) / s.nr
		for pc := 0; pc < k; pc += s.kc {
			kb := min(s.kc, k-pc)
			Parallel(colPanels, func(lo, hi int) {
				bt.packPanels(s, b[lo*s.nr*s.depthB(kb):], jc+lo*s.nr, min(hi*s.nr, nb)-lo*s.nr, pc, kb, s.nr)
			})
			blk := block{s: s, c: c[jc:], ldc: ldc, a: a, b: b, pc: pc, kb: kb, add: add || pc > 0}
			if byRows {
				Parallel(rowPanels, func(lo, hi int) { blk.run(lo*s.mr, min(hi*s.mr, m), 0, nb) })
			} else {
				Parallel(colPanels, func(lo, hi int) { blk.run(0, m, lo*s.nr, min(hi*s.nr, nb)) })
			}
		}
	}
}

// gemmOwnSlabs is gemmWide for products with enough rows that packing B twice costs little
// next to the work: the workers split the rows of C once, for the whole product, and each packs
// every slab of B itself, so that they never wait for each other between slabs (a worker
// slowed by other load on the machine holds the other up only at the end). The slabs, blocks
// and micro-kernel are gemmWide's, so every element of C is summed in the same order.
func gemmOwnSlabs(s *isa, c []float32, ldc, m, n, k int, a, bt operand, add bool) {
	Parallel((m+s.mr-1)/s.mr, func(lo, hi int) {
		b := make([]float32, min(s.kc, k)*roundUp(min(s.nc, n), s.nr))
		for jc := 0; jc < n; jc += s.nc {
			nb := min(s.nc, n-jc)
			for pc := 0; pc < k; pc += s.kc {
				kb := min(s.kc, k-pc)
				bt.packPanels(s, b, jc, nb, pc, kb, s.nr)
				blk := block{s: s, c: c[jc:], ldc: ldc, a: a, b: b, pc: pc, kb: kb, add: add || pc > 0}
				blk.run(lo*s.mr, min(hi*s.mr, m), 0, nb)
			}
		}
	})
}

// narrowChunk is how many floats of C (256 KiB) gemmNarrow keeps close while it runs through
// all of k.
const narrowChunk = 64 << 10

// gemmNarrow is gemm for A with few rows (see isa.narrow) and B stored by columns (Linear's
// weights), typically a prefill through a large weight matrix, where the cost is streaming B
// from memory once. A is packed whole up front (the workers splitting its slabs), then the
// workers split the columns of C with a single Parallel call and no barrier per slab: each packs
// one nr-wide micro-panel of B at a time into its own L1-sized buffer and uses it at once for
// all rows, reading the packed slab of A from L2. The columns go in chunks whose part of C
// stays cached across the kc slabs.
func gemmNarrow(s *isa, c []float32, ldc, m, n, k int, a, bt operand, add bool) {
	nw := narrow{s: s, c: c, ldc: ldc, m: m, n: n, k: k, bt: bt, add: add}
	slabs := (k + s.kc - 1) / s.kc
	nw.a = make([]float32, nw.slab(k)+2*slabs)
	Parallel(slabs, func(lo, hi int) {
		for pc := lo * s.kc; pc < min(hi*s.kc, k); pc += s.kc {
			a.packPanels(s, nw.a[nw.slab(pc):], 0, m, pc, min(s.kc, k-pc), s.mr)
		}
	})
	Parallel((n+s.nr-1)/s.nr, nw.run)
}

// narrow is a product computed by gemmNarrow.
type narrow struct {
	s       *isa
	c       []float32
	ldc     int
	m, n, k int
	a       []float32 // all of A, packed slab by slab (see slab)
	bt      operand
	add     bool
}

// slab is where the packed slab of A from step pc (a multiple of kc) starts in nw.a: the slabs
// lie in order, 2 floats apart for pack6F32's spill, which must not reach the next slab while
// another worker packs it.
func (nw *narrow) slab(pc int) int {
	return roundUp(nw.m, nw.s.mr)*nw.s.depthA(pc) + 2*(pc/nw.s.kc)
}

// run computes column panels lo..hi of C.
func (nw *narrow) run(lo, hi int) {
	s := nw.s
	scratch := make([]float32, min(s.kc, nw.k)*s.nr+s.mr*s.nr) // a B micro-panel, an edge tile
	chunk := max(narrowChunk/(roundUp(nw.m, s.mr)*s.nr), 1)    // column panels per chunk
	for j0 := lo; j0 < hi; j0 += chunk {
		end := min(j0+chunk, hi)
		for pc := 0; pc < nw.k; pc += s.kc {
			for jp := j0; jp < end; jp++ {
				next, nextPC := jp+1, pc // the panel packed next
				if next == end {
					next, nextPC = j0, pc+s.kc
				}
				nw.panel(jp*s.nr, pc, min(s.kc, nw.k-pc), scratch, next*s.nr, nextPC)
			}
		}
	}
}

// panel packs B's micro-panel of columns col..col+nr over slab pc..pc+kb into scratch and
// adds its product with the slab of A to C (or stores it, for the first slab of a new C).
// Where s prefetches bf16 weights, each tile first asks for its share of the rows of the panel
// packed next (columns next.., slab nextPC), so that they come from memory during the tiles.
func (nw *narrow) panel(col, pc, kb int, scratch []float32, next, nextPC int) {
	s := nw.s
	b, edge := scratch[:kb*s.nr], scratch[len(scratch)-s.mr*s.nr:]
	cols := min(s.nr, nw.n-col)
	nw.bt.packPanels(s, b, col, cols, pc, kb, s.nr)
	a := nw.a[nw.slab(pc):]
	prefetch := s.prefetchBF16 != nil && nw.bt.bf16 != nil && nextPC < nw.k
	tiles := (nw.m + s.mr - 1) / s.mr
	share := (s.nr + tiles - 1) / tiles // rows of the next panel per tile
	for t := range tiles {
		if r0, r1 := next+t*share, min(next+(t+1)*share, next+s.nr, nw.n); prefetch && r0 < r1 {
			s.prefetchBF16(&nw.bt.bf16[r0*nw.bt.rs+nextPC], 2*nw.bt.rs, r1-r0, 2*min(s.kc, nw.k-nextPC))
		}
		ir := t * s.mr
		s.tile(nw.c[ir*nw.ldc+col:], nw.ldc, min(s.mr, nw.m-ir), cols, kb, a[ir*s.depthA(kb):], b, nw.add || pc > 0, edge)
	}
}

// block is one packed kc-deep slab of B, to be multiplied by the matching slab of A.
type block struct {
	s      *isa
	c      []float32 // C from the slab's first column
	ldc    int
	a      operand
	b      []float32 // the packed slab
	pc, kb int       // the slab's first index and depth along k
	add    bool
}

// run computes rows i0..i1 and slab columns j0..j1 (j0 a multiple of nr) of the product,
// packing A in blocks of mc rows.
func (blk *block) run(i0, i1, j0, j1 int) {
	s, kb := blk.s, blk.kb
	aSize := roundUp(min(s.mc, i1-i0), s.mr) * s.depthA(kb)
	scratch := make([]float32, aSize+2+s.mr*s.nr) // packed A, pack6F32's spill, an edge tile
	packedA, edge := scratch[:aSize], scratch[aSize+2:]
	for ic := i0; ic < i1; ic += s.mc {
		mb := min(s.mc, i1-ic)
		blk.a.packPanels(s, packedA, ic, mb, blk.pc, kb, s.mr)
		for jr := j0; jr < j1; jr += s.nr {
			for ir := 0; ir < mb; ir += s.mr {
				s.tile(blk.c[(ic+ir)*blk.ldc+jr:], blk.ldc, min(s.mr, mb-ir), min(s.nr, j1-jr), kb,
					packedA[ir*s.depthA(kb):], blk.b[jr*s.depthB(kb):], blk.add, edge)
			}
		}
	}
}

// tile runs the micro-kernel for one rows×cols tile of C (at most mr×nr). Partial tiles at the
// edges go through scratch so the kernel never writes outside C.
func (s *isa) tile(c []float32, ldc, rows, cols, kc int, a, b []float32, add bool, scratch []float32) {
	_, _ = a[s.depthA(kc)*s.mr-1], b[s.depthB(kc)*s.nr-1]
	if rows == s.mr && cols == s.nr {
		_ = c[(s.mr-1)*ldc+s.nr-1]
		s.kernel(kc, &a[0], &b[0], &c[0], ldc, add)
		return
	}
	s.kernel(kc, &a[0], &b[0], &scratch[0], s.nr, false)
	for r := range rows {
		dst, src := c[r*ldc:r*ldc+cols], scratch[r*s.nr:r*s.nr+cols]
		if add {
			for j, v := range src {
				dst[j] += v
			}
		} else {
			copy(dst, src)
		}
	}
}
