package kernels

import (
	"math"
	"sync"
)

// q8_0 weights, llama.cpp's Q8_0 layout split in two arrays: every run of Q8Block consecutive
// weights along a row shares one IEEE fp16 scale d, and weight i of the run is d·q[i] with q an
// int8 (8.5 bits per weight, as in llama.cpp). Quants hold q row by row ([n×k]), scales the d
// of each run row by row ([n×k/Q8Block]).
//
// With at most MaxFewRows rows of x (decode), LinearQ8 computes what llama.cpp's Q8_0 dot
// product does: each row of x is quantized per run of 32 to int8, qx = round(x/dx) with
// dx = max|x|/127 over the run (kept in fp32, where llama.cpp rounds it to fp16), and
// out = Σ_runs d·dx·Σ_i q[i]·qx[i]; the integer sums are exact, the run terms are added in fp32,
// and every row comes out bit for bit as it does alone (LinearQ8Rows gives that for any row
// count). A run of x that holds NaN or ±Inf makes every output of its row NaN. With more rows
// (prefill), x stays fp32 and multiplies the weights widened to d·q (exact in fp32) in the
// blocked product of Linear, at the FMA rate; each output is then summed in the same order
// whatever the row count, so a row comes out bitwise the same in any product of more than
// MaxFewRows rows.

// Q8Block is the number of weights sharing one scale in the q8_0 format.
const Q8Block = 32

// q8RowBytes bounds the weights one block of rows spans in LinearQ8: about half of a core's
// L2, so that with several rows of x the block is read from memory once and then from cache.
const q8RowBytes = 256 << 10

// LinearQ8 computes each row as LinearQ8Rows does up to MaxFewRows rows, hence up to
// MaxRowwise, as Matrix.ApplyRows in the model needs: this fails to compile if MaxRowwise grows
// past MaxFewRows.
const _ = uint(MaxFewRows - MaxRowwise)

// LinearQ8 computes out[m×n] = x[m×k] · Wᵀ for q8_0 weights W (quants [n×k], scales
// [n×k/Q8Block], k a multiple of Q8Block; see above for exactly what is computed).
func LinearQ8(out, x []float32, quants []int8, scales []uint16, m, k, n int) {
	if m <= MaxFewRows {
		LinearQ8Rows(out, x, quants, scales, m, k, n)
		return
	}
	out, x, quants, scales = out[:m*n], x[:m*k], quants[:n*k], scales[:n*(k/Q8Block)]
	if fast == nil {
		Parallel(n, func(lo, hi int) { linearQ8ColumnsGeneric(out, x, quants, scales, m, k, n, lo, hi) })
		return
	}
	if n == 0 || k == 0 {
		clear(out)
		return
	}
	gemmQ8(out, m, n, k, rowMajor(x, k), weightsQ8(quants, scales, k))
}

// gemmQ8 is gemm (C = A·B, ldc = n) for q8_0 weights bt, through the blocked products that pack
// B, gemmNarrow or gemmWide, chosen as gemmOn chooses them: packing is where the weights are
// widened; gemm's other products read B in place, as fp32 or bf16 only.
func gemmQ8(c []float32, m, n, k int, a, bt operand) {
	s := fast.packedISA()
	if roundUp(m, s.mr)*min(s.kc, k) <= s.narrow {
		gemmNarrow(s, c, n, m, n, k, a, bt, false)
	} else {
		gemmWide(s, c, n, m, n, k, a, bt, false)
	}
}

// linearQ8ColumnsGeneric computes columns lo..hi of LinearQ8's product of many rows in Go, each
// output summed along k in order.
func linearQ8ColumnsGeneric(out, x []float32, quants []int8, scales []uint16, m, k, n, lo, hi int) {
	for i := range m {
		xi := x[i*k : i*k+k]
		for j := lo; j < hi; j++ {
			var s float32
			for p, q := range quants[j*k : j*k+k] {
				s += xi[p] * (F16ToFloat32(scales[(j*k+p)/Q8Block]) * float32(q))
			}
			out[i*n+j] = s
		}
	}
}

// LinearQ8Rows is LinearQ8 with its quantized activations for any row count m: every output row
// equals LinearQ8's for that row alone, bitwise, and rows share each read of the weights.
func LinearQ8Rows(out, x []float32, quants []int8, scales []uint16, m, k, n int) {
	blocks := k / Q8Block
	out, x, quants, scales = out[:m*n], x[:m*k], quants[:n*k], scales[:n*blocks]
	if blocks == 0 {
		clear(out)
		return
	}
	qx, dx := make([]int8, m*k), make([]float32, m*blocks)
	for i := range m {
		QuantizeQ8Activations(qx[i*k:(i+1)*k], dx[i*blocks:(i+1)*blocks], x[i*k:(i+1)*k])
	}
	s := fast
	lq, ld, ldq, ldd := q8Inputs(s, qx, dx, m, blocks)
	rowsPerBlock := max(q8RowBytes/(k+2*blocks), 1)
	Parallel(n, func(lo, hi int) {
		for r0 := lo; r0 < hi; r0 += rowsPerBlock {
			r1 := min(r0+rowsPerBlock, hi)
			qw, dw := quants[r0*k:r1*k], scales[r0*blocks:r1*blocks]
			i := 0
			for ; s != nil && s.q8DotN != nil && i+s.q8Rows <= m; i += s.q8Rows {
				_ = out[(i+s.q8Rows-1)*n+r1-1]
				s.q8DotN(&out[i*n+r0], n, &lq[i*ldq], &ld[i*ldd], &qw[0], &dw[0], blocks, r1-r0)
			}
			if s != nil && s.q8Dot2 != nil && i+2 <= m {
				_ = out[(i+1)*n+r1-1]
				s.q8Dot2(&out[i*n+r0], n, &lq[i*ldq], &ld[i*ldd], &qw[0], &dw[0], blocks, r1-r0)
				i += 2
			}
			for ; i < m; i++ {
				o := out[i*n+r0 : i*n+r1]
				if s != nil && s.q8Dot != nil {
					s.q8Dot(&o[0], &lq[i*ldq], &ld[i*ldd], &qw[0], &dw[0], blocks, len(o))
				} else {
					dotQ8Rows(o, qx[i*k:(i+1)*k], dx[i*blocks:(i+1)*blocks], qw, dw)
				}
			}
		}
	})
}

// q8Inputs returns m rows of quantized activations as s's q8_0 kernels read them, with their
// row strides.
func q8Inputs(s *isa, qx []int8, dx []float32, m, blocks int) (q []int8, d []float32, ldq, ldd int) {
	if s == nil || s.q8Layout == nil {
		return qx, dx, blocks * Q8Block, blocks
	}
	return s.q8Layout(qx, dx, m, blocks)
}

// q8LayoutVNNI lays out activations for the VNNI kernels (see q8vnni_amd64.s): per row, the
// quants padded with zeros to whole pairs of runs, and per pair of runs 16 int32 corrections
// −128·Σ of four quants (lane j of run b + half covering quants 4j…4j+3 of that run) then 16
// scales (the run's dx in its eight lanes); a missing second run has zeros.
func q8LayoutVNNI(qx []int8, dx []float32, m, blocks int) (q []int8, d []float32, ldq, ldd int) {
	pairs := (blocks + 1) / 2
	ldq, ldd = pairs*2*Q8Block, pairs*32
	q, d = make([]int8, m*ldq), make([]float32, m*ldd)
	for i := range m {
		copy(q[i*ldq:], qx[i*blocks*Q8Block:(i+1)*blocks*Q8Block])
		for b := range blocks {
			run := qx[(i*blocks+b)*Q8Block:][:Q8Block]
			lanes := d[i*ldd+b/2*32+b%2*8:]
			for j := range 8 {
				sum := int32(run[4*j]) + int32(run[4*j+1]) + int32(run[4*j+2]) + int32(run[4*j+3])
				lanes[j] = math.Float32frombits(uint32(-128 * sum))
				lanes[16+j] = dx[i*blocks+b]
			}
		}
	}
	return q, d, ldq, ldd
}

// dotQ8Rows is the portable q8_0 kernel: out[r] = Σ_b d[r][b]·dx[b]·Σ_i qw[r][32b+i]·qx[32b+i]
// for every weight row r < len(out) (rows of len(dx) runs, back to back in qw and dw).
func dotQ8Rows(out []float32, qx []int8, dx []float32, qw []int8, dw []uint16) {
	blocks := len(dx)
	for r := range out {
		var s float32
		for b, d := range dw[r*blocks : (r+1)*blocks] {
			w, a := qw[(r*blocks+b)*Q8Block:][:Q8Block], qx[b*Q8Block:][:Q8Block]
			var si int32
			for i, q := range w {
				si += int32(q) * int32(a[i])
			}
			s += F16ToFloat32(d) * dx[b] * float32(si)
		}
		out[r] = s
	}
}

// QuantizeQ8Activations quantizes x (a multiple of Q8Block long) per run of Q8Block into q and
// the runs' scales d: d = max|x|/127, q = x/d rounded half away from zero (0 where d = 0). A
// run holding NaN or ±Inf gets d = NaN and q = 0.
func QuantizeQ8Activations(q []int8, d, x []float32) {
	for b := range d {
		run, qs := x[b*Q8Block:][:Q8Block], q[b*Q8Block:][:Q8Block]
		amax := float32(0)
		for _, v := range run {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		switch {
		case !(amax <= math.MaxFloat32): // NaN or Inf
			d[b] = float32(math.NaN())
			clear(qs)
		case amax == 0:
			d[b] = 0
			clear(qs)
		default:
			d[b] = amax / 127
			inv := 127 / amax
			for i, v := range run {
				qs[i] = int8(math.Round(float64(v * inv)))
			}
		}
	}
}

// QuantizeQ8 quantizes one run of Q8Block weights as llama.cpp's quantize_row_q8_0 does: d =
// max|w|/127 stored as fp16 (rounded to nearest even), q = w·(1/d) rounded half away from zero.
// It reports false when the run holds NaN or ±Inf or its scale overflows fp16.
func QuantizeQ8(q []int8, w []float32) (scale uint16, ok bool) {
	amax := float32(0)
	for _, v := range w[:Q8Block] {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	if !(amax <= math.MaxFloat32) {
		return 0, false
	}
	d := amax / 127
	scale = Float32ToF16(d)
	if scale&0x7c00 == 0x7c00 {
		return 0, false
	}
	inv := float32(0)
	if d != 0 {
		inv = 1 / d
	}
	for i, v := range w[:Q8Block] {
		q[i] = int8(math.Round(float64(v * inv)))
	}
	return scale, true
}

// F16ToFloat32 widens an IEEE 754 half-precision bit pattern exactly.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp, mant := uint32(h>>10)&0x1f, uint32(h&0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	}
	v := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// Float32ToF16 rounds f to the nearest IEEE 754 half (ties to even): values past the largest
// finite half become ±Inf, NaN stays NaN, tiny values become subnormals or zero.
func Float32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	a := u & 0x7fffffff
	switch {
	case a > 0x7f800000:
		return sign | 0x7e00
	case a >= 0x477ff000: // rounds to ≥ 65520: overflow (Inf itself included)
		return sign | 0x7c00
	case a >= 0x38800000: // normal half
		a += 0x0fff + (a>>13)&1
		return sign | uint16((a-0x38000000)>>13)
	}
	// subnormal half: a value of mant · 2⁻²⁴, rounded to nearest even
	v := math.Float32frombits(a) * (1 << 24)
	return sign | uint16(math.RoundToEven(float64(v)))
}

// q8PackRows is the most floats of widened q8_0 weights packQ8 keeps: 32 rows (AVX-512's
// micro-panel) of a 256-deep slab.
const q8PackRows = 32 * 256

// q8PackBuffers holds packQ8's buffers between calls.
var q8PackBuffers = sync.Pool{New: func() any { return new([q8PackRows]float32) }}

// packQ8 is pack for q8_0 weights: every weight widened to d·q, exact in fp32. Whole panels
// whose slab starts on a run are widened row by row by s.q8ToF32 (prefetching the next panel's
// rows) and transposed by s.packF32; the rest goes through the Go loop, which gives the same
// values.
func (o operand) packQ8(s *isa, panel []float32, i0, count, p0, kc, width int) {
	if s.q8ToF32 != nil && s.transposedBody(count, kc, width) == kc && p0%Q8Block == 0 &&
		kc%Q8Block == 0 && count*kc <= q8PackRows {
		buf := q8PackBuffers.Get().(*[q8PackRows]float32)
		defer q8PackBuffers.Put(buf)
		rows := buf[:count*kc]
		for r := range count {
			at := (i0+r)*o.rs + p0
			_, _ = o.q8[at+kc-1], o.q8d[(at+kc-1)/Q8Block]
			s.q8ToF32(&rows[r*kc], &o.q8[at], &o.q8d[at/Q8Block], kc/Q8Block, width*o.rs)
		}
		s.packF32(&panel[0], &rows[0], kc, kc, width)
		return
	}
	for r := range count {
		at := (i0+r)*o.rs + p0
		for p, q := range o.q8[at : at+kc] {
			panel[p*width+r] = F16ToFloat32(o.q8d[(at+p)/Q8Block]) * float32(q)
		}
	}
}
