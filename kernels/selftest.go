package kernels

import (
	"errors"
	"fmt"
	"slices"
)

// selfTest runs each of s's assembly kernels once on small data whose products and sums are
// exact in fp32 (multiples of 1/8 below 1), so any correct kernel matches the Go reference
// bit for bit whatever its summation order. chooseISA rejects an implementation that fails:
// a wrong kernel must cost speed, never correctness.
func (s *isa) selfTest() error {
	if err := s.selfTestGemm(); err != nil {
		return err
	}
	if err := s.selfTestFew(); err != nil {
		return err
	}
	const rows = 8
	k := 2 * s.gemvStep
	x, w := exactData(k, 4), exactData(rows*k, 5)
	wb := make([]uint16, len(w))
	for i, v := range w {
		wb[i] = Float32ToBF16(v)
	}
	want, got := make([]float32, rows), make([]float32, rows)
	linearGeneric(want, x, w, 1, k, rows)
	s.gemvF32(&got[0], &x[0], &w[0], k, k, rows)
	if err := sameValues("gemv fp32 kernel", got, want); err != nil {
		return err
	}
	linearBF16Generic(want, x, wb, 1, k, rows)
	clear(got)
	s.gemvBF16(&got[0], &x[0], &wb[0], k, k, rows)
	if err := sameValues("gemv bf16 kernel", got, want); err != nil {
		return err
	}
	if s.gemv2BF16 != nil {
		x1 := exactData(k, 6)
		want1, got1 := make([]float32, rows), make([]float32, rows)
		linearBF16Generic(want1, x1, wb, 1, k, rows)
		s.gemv2BF16(&got[0], &got1[0], &x[0], &x1[0], &wb[0], k, k, rows)
		if err := errors.Join(sameValues("two-vector gemv bf16 kernel", got, want), sameValues("two-vector gemv bf16 kernel", got1, want1)); err != nil {
			return err
		}
	}
	if err := s.selfTestDot(x, w, wb, k, rows); err != nil {
		return err
	}
	if err := s.selfTestPack(); err != nil {
		return err
	}
	if err := s.selfTestQ8(); err != nil {
		return err
	}
	if err := s.selfTestRows(); err != nil {
		return err
	}
	return s.selfTestVector()
}

// selfTestGemm checks the packed GEMM micro-kernel, storing and adding, over 67 steps.
func (s *isa) selfTestGemm() error {
	const kc = 67
	a, b := exactData(kc*s.mr, 1), exactData(kc*s.nr, 2)
	for _, add := range []bool{false, true} {
		got, want := exactData(s.mr*s.nr, 3), exactData(s.mr*s.nr, 3)
		s.kernel(kc, &a[0], &b[0], &got[0], s.nr, add)
		for r := range s.mr {
			for j := range s.nr {
				var sum float32
				for p := range kc {
					sum += a[p*s.mr+r] * b[p*s.nr+j]
				}
				if add {
					want[r*s.nr+j] += sum
				} else {
					want[r*s.nr+j] = sum
				}
			}
		}
		if err := sameValues("gemm kernel", got, want); err != nil {
			return err
		}
	}
	return nil
}

// selfTestDPGemm checks the VDPBF16PS packed GEMM s through its driver, packs and micro-kernel,
// for both splits of x, on 9 rows (a full 8-row tile and an edge) of 70 steps against 49
// weight rows (a full 48-column tile and an edge), in slabs of 32 steps, so that the kernel
// stores and adds and B is packed both by the transposing pack and in Go. Rounded, x is exactly
// bf16; split, x has 11 significant bits (lo parts not 0), which hi + lo hold exactly.
func (s *isa) selfTestDPGemm() error {
	const m, k, n = 9, 70, 49
	w := exactData(n*k, 13)
	wb := make([]uint16, len(w))
	for i, v := range w {
		wb[i] = Float32ToBF16(v)
	}
	for _, parts := range []int{2, 1} {
		x := exactData(m*k, 12)
		if parts == 2 {
			for i := range x {
				x[i] += float32(i%7-3) / 1024
			}
		}
		want, got := make([]float32, m*n), exactData(m*n, 14)
		linearBF16Generic(want, x, wb, m, k, n)
		v := s.withParts(parts)
		v.kc = 32
		gemmDP(v, got, x, wb, m, k, n)
		if err := sameValues(fmt.Sprintf("VDPBF16PS gemm (%d parts)", parts), got, want); err != nil {
			return err
		}
	}
	return nil
}

// selfTestQ8 checks the q8_0 kernel, where the implementation has one, on 3 rows of 3 runs
// (a pair and a single) whose scales are powers of two, so every sum is exact.
func (s *isa) selfTestQ8() error {
	if s.q8Dot == nil {
		return nil
	}
	const rows, blocks = 3, 3
	qx, qw := make([]int8, blocks*Q8Block), make([]int8, rows*blocks*Q8Block)
	for i := range qx {
		qx[i] = int8((i*37)%255 - 127)
	}
	for i := range qw {
		qw[i] = int8((i*91+5)%256 - 128) // -128 included
	}
	dx, dw := []float32{0.5, 0.25, 2}, make([]uint16, rows*blocks)
	for i := range dw {
		dw[i] = Float32ToF16(float32(int(1)<<(i%4)) / 64)
	}
	want, got := make([]float32, rows), make([]float32, rows)
	dotQ8Rows(want, qx, dx, qw, dw)
	lq, ld, _, _ := q8Inputs(s, qx, dx, 1, blocks)
	s.q8Dot(&got[0], &lq[0], &ld[0], &qw[0], &dw[0], blocks, rows)
	if err := sameValues("q8_0 kernel", got, want); err != nil || s.q8DotN == nil {
		return err
	}
	if err := s.selfTestQ8Rows(s.q8DotN, s.q8Rows, qx, dx, qw, dw, want); err != nil || s.q8Dot2 == nil {
		return err
	}
	return s.selfTestQ8Rows(s.q8Dot2, 2, qx, dx, qw, dw, want)
}

// selfTestQ8Rows checks the multi-row q8_0 kernel dot of n rows of x against dotQ8Rows: the
// first row of x is selfTestQ8's (qx, dx, whose products with qw, dw are want), each next one
// the previous reversed, with other scales (still exact).
func (s *isa) selfTestQ8Rows(dot func(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int),
	n int, qx []int8, dx []float32, qw []int8, dw []uint16, want []float32) error {
	blocks, rows := len(dx), len(want)
	qxN, dxN := slices.Clone(qx), slices.Clone(dx)
	wantN, gotN := make([]float32, n*rows), make([]float32, n*rows)
	copy(wantN, want)
	for i := 1; i < n; i++ {
		next := slices.Clone(qxN[(i-1)*len(qx):])
		slices.Reverse(next)
		qxN, dxN = append(qxN, next...), append(dxN, 0.25, 1, 0.5)
		dotQ8Rows(wantN[i*rows:(i+1)*rows], qxN[i*len(qx):], dxN[i*blocks:], qw, dw)
	}
	lq, ld, _, _ := q8Inputs(s, qxN, dxN, n, blocks)
	dot(&gotN[0], rows, &lq[0], &ld[0], &qw[0], &dw[0], blocks, rows)
	return sameValues(fmt.Sprintf("%d-row q8_0 kernel", n), gotN, wantN)
}

// selfTestRows checks the row kernels, where the implementation has them, against 8 weight
// rows: the VDPBF16PS ones for both splits of x on 13 rows of x (8 + 4 + 1 for rounded x with
// the 8-row kernel, else 4 + 4 + 4 + 1) of stretchSteps + 2·dpStep + 3 steps (a tail in Go);
// the FMA ones for both weight types on 13, 16 and 15 rows (AVX-512: 8 + 4 + 1, 8 + 8,
// 8 + 4 + 1 + 1 + 1; AVX2: 6 + 6 + 1, 6 + 6 + 4, 6 + 6 + 2 + 1) of stretchSteps + 2·sharedStep
// + 3 steps, so that the stretched kernels run in two stretches (resuming, finishing) and every
// kernel runs.
func (s *isa) selfTestRows() error {
	var errs []error
	if s.dpBF16Rows1 != nil {
		c := newRowsCase(13, stretchSteps+2*dpStep+3)
		for _, parts := range []int{1, 2} {
			errs = append(errs, c.check(fmt.Sprintf("VDPBF16PS kernels (%d parts)", parts), c.wantBF16,
				func() { gemvDP(s, c.got, c.x, c.wb, c.m, c.k, c.n, parts) }))
		}
	}
	if !s.sharedF32.ok() {
		return errors.Join(errs...)
	}
	for _, m := range []int{13, 16, 15} {
		c := newRowsCase(m, stretchSteps+2*sharedStep+3)
		errs = append(errs,
			c.check(fmt.Sprintf("FMA row kernels, %d rows, bf16", m), c.wantBF16,
				func() { gemvShared(s, c.got, c.x, weightsBF16(c.wb, c.k), c.m, c.k, c.n) }),
			c.check(fmt.Sprintf("FMA row kernels, %d rows, fp32", m), c.wantF32,
				func() { gemvShared(s, c.got, c.x, weightsF32(c.w, c.k), c.m, c.k, c.n) }))
	}
	return errors.Join(errs...)
}

// rowsCase is one product of selfTestRows: m rows of x against n = 8 weight rows of k steps,
// exact values (so every order of summation gives the reference's bits), and the reference
// results for bf16 and fp32 weights.
type rowsCase struct {
	m, n, k           int
	x, w              []float32
	wb                []uint16
	wantBF16, wantF32 []float32
	got               []float32
}

func newRowsCase(m, k int) *rowsCase {
	c := &rowsCase{m: m, n: 8, k: k, x: exactData(m*k, 9), w: exactData(8*k, 10)}
	c.wb = make([]uint16, len(c.w))
	for i, v := range c.w {
		c.wb[i] = Float32ToBF16(v)
	}
	c.wantBF16, c.wantF32, c.got = make([]float32, m*c.n), make([]float32, m*c.n), make([]float32, m*c.n)
	linearBF16Generic(c.wantBF16, c.x, c.wb, m, k, c.n)
	linearGeneric(c.wantF32, c.x, c.w, m, k, c.n)
	return c
}

// check runs run, which writes c.got, and compares c.got with want.
func (c *rowsCase) check(what string, want []float32, run func()) error {
	clear(c.got)
	run()
	return sameValues(what, c.got, want)
}

// selfTestDot checks the dot-product tiles, where the implementation has them, through
// gemmDot on 5 rows of A (two tile groups, one partial) against the first 6 weight rows (two
// tiles).
func (s *isa) selfTestDot(x, w []float32, wb []uint16, k, rows int) error {
	if s.dotF32 == nil {
		return nil
	}
	const m, n = 5, 6
	a := make([]float32, 0, m*k)
	for i := range m {
		a = append(a, x[i:]...)
		a = append(a, x[:i]...)
	}
	want, got := make([]float32, m*n), make([]float32, m*n)
	for _, bf16 := range []bool{false, true} {
		if bf16 {
			linearBF16Generic(want, a, wb[:n*k], m, k, n)
			gemmDot(s, got, n, m, n, k, rowMajor(a, k), weightsBF16(wb, k), false)
		} else {
			linearGeneric(want, a, w[:n*k], m, k, n)
			gemmDot(s, got, n, m, n, k, rowMajor(a, k), weightsF32(w, k), false)
		}
		if err := sameValues(fmt.Sprintf("dot tile kernel (bf16 %v)", bf16), got, want); err != nil {
			return err
		}
	}
	return nil
}

// selfTestFew checks gemmFew's transposed kernels, storing and adding, over 67 steps of
// fp32 and bf16 weights whose rows lie 3 elements apart beyond their length.
func (s *isa) selfTestFew() error {
	if s.fewF32 == nil || s.fewBF16 == nil {
		return nil
	}
	const kc, ldw = 67, 70
	w, x := exactData(fewCols*ldw, 9), exactData(kc*fewRows, 10)
	wb := make([]uint16, len(w))
	for i, v := range w {
		wb[i] = Float32ToBF16(v)
	}
	for _, add := range []bool{false, true} {
		want := exactData(fewCols*fewRows, 11)
		for j := range fewCols {
			for i := range fewRows {
				var sum float32
				for p := range kc {
					sum += w[j*ldw+p] * x[p*fewRows+i]
				}
				if add {
					want[j*fewRows+i] += sum
				} else {
					want[j*fewRows+i] = sum
				}
			}
		}
		got := exactData(fewCols*fewRows, 11)
		s.fewF32(kc, &w[0], ldw, &x[0], &got[0], add)
		if err := sameValues(fmt.Sprintf("transposed gemm kernel (add %v)", add), got, want); err != nil {
			return err
		}
		got = exactData(fewCols*fewRows, 11)
		s.fewBF16(kc, &wb[0], ldw, &x[0], &got[0], add)
		if err := sameValues(fmt.Sprintf("transposed gemm kernel, bf16 (add %v)", add), got, want); err != nil {
			return err
		}
	}
	return nil
}

// selfTestPack checks the transposing packs on a 16-row, 16-step block of a wider matrix.
func (s *isa) selfTestPack() error {
	if s.packF32 == nil {
		return nil
	}
	const width, kc, rs = 16, 16, 21
	src := exactData(width*rs, 8)
	srcBF16 := make([]uint16, len(src))
	for i, v := range src {
		srcBF16[i] = Float32ToBF16(v)
	}
	want := make([]float32, kc*width)
	for r := range width {
		for p := range kc {
			want[p*width+r] = src[r*rs+p]
		}
	}
	got := make([]float32, kc*width)
	s.packF32(&got[0], &src[0], rs, kc, width)
	if err := sameValues("fp32 transposing pack", got, want); err != nil {
		return err
	}
	clear(got)
	s.packBF16(&got[0], &srcBF16[0], rs, kc, width)
	if err := sameValues("bf16 transposing pack", got, want); err != nil || s.pack6F32 == nil {
		return err
	}
	want6, got6 := make([]float32, kc*6), make([]float32, kc*6+2)
	for r := range 6 {
		for p := range kc {
			want6[p*6+r] = src[r*rs+p]
		}
	}
	s.pack6F32(&got6[0], &src[0], rs, kc)
	return sameValues("6-row transposing pack", got6[:kc*6], want6)
}

// selfTestVector checks the vector helpers on 2·vecBlock elements.
func (s *isa) selfTestVector() error {
	const n = 2 * vecBlock
	x, y := exactData(n, 6), exactData(n, 7)
	if got, want := s.dot(&x[0], &y[0], n), dotGeneric(x, y); got != want {
		return fmt.Errorf("dot kernel gave %g, want %g", got, want)
	}
	got, want := append([]float32(nil), y...), append([]float32(nil), y...)
	s.axpy(&got[0], &x[0], 0.5, n)
	axpyGeneric(want, x, 0.5)
	if err := sameValues("axpy kernel", got, want); err != nil {
		return err
	}
	s.add(&got[0], &x[0], &y[0], n)
	addGeneric(want, x, y)
	if err := sameValues("add kernel", got, want); err != nil {
		return err
	}
	s.scale(&got[0], -0.25, n)
	scaleGeneric(want, -0.25)
	if err := sameValues("scale kernel", got, want); err != nil {
		return err
	}
	s.exp(&got[0], &x[0], -3, 0.5, n)
	for i, v := range x {
		want[i] = Exp(float32(-3*v) - 0.5)
	}
	return sameValues("exp kernel", got, want)
}

// exactData returns n multiples of 1/8 in [-0.75, 0.75], varying with seed.
func exactData(n, seed int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((i*7+seed*5)%13-6) / 8
	}
	return v
}

func sameValues(what string, got, want []float32) error {
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("%s: element %d = %g, want %g", what, i, got[i], want[i])
		}
	}
	return nil
}
