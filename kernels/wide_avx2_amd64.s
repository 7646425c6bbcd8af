#include "textflag.h"

// The kernels of pathShared for AVX2 (ymm, 16 registers, FMA): wide_amd64.s's products in the
// frame of rows.h (ROWARGS, DPARGS, DPGROUP), for bf16 weights (widened in registers,
// VPMOVZXWD + VPSLLD) and fp32 weights, 16 steps per iteration. Each (x row, weight row) pair
// has one 8-lane accumulator, which takes k's steps 8 at a time in order, and one fixed
// reduction (REDUCEY), so the 2-, 4- and 6-row kernels' results equal the 1-row kernels' bit
// for bit. Every kernel is written once, for both weight types, as a macro of W (the load of 8
// weights into fp32 lanes: WIDEN or LOADF), H (the bytes of 8 weights) and S (of 16).
//
//   - 1 row: four weight rows, four accumulators;
//   - 2 rows: four weight rows, each weight load serving both x rows, eight accumulators;
//   - 4 rows: two weight rows, each x load serving both, eight accumulators;
//   - 6 rows: two weight rows, each x load serving both and each weight load six x rows,
//     twelve accumulators, enough FMAs in flight to cover their latency.
//
// Each call runs along all of k, x from L2, as the dot-product tiles of gemmdot_amd64.s do: on
// Zen 3 that streams the weights better than stretches of k with x in L1, as the AVX-512
// 8-row kernels take (bf16 15840×5280 weights, 6 rows: 8.6 ms against 11.8 with stretches of
// 512 steps, separate runs on the EPYC of DESIGN.md), and the 4- and 6-row kernels prefetch
// the next pair of weight rows rather than the same rows further on.

#include "rows.h"

#define HALFBF16 16
#define STEPBF16 32
#define HALFF32 32
#define STEPF32 64

// WIDEN loads 8 bf16 at addr into the fp32 lanes of y.
#define WIDEN(addr, y) \
	VPMOVZXWD addr, y; \
	VPSLLD    $16, y, y

// LOADF loads 8 fp32 weights at addr into y.
#define LOADF(addr, y) VMOVUPS addr, y

// REDUCEY stores the sum of the 8 lanes of accumulator y (x: its lower half) at dst.
#define REDUCEY(y, x, dst) \
	VEXTRACTF128 $1, y, X15; \
	VADDPS       X15, x, x; \
	VHADDPS      x, x, x; \
	VHADDPS      x, x, x; \
	VMOVSS       x, dst

#define ZERO4Y \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3

#define ZERO8Y \
	ZERO4Y; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7

#define ZERO12Y \
	ZERO8Y; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11

// LOAD4W(W, off) loads 8 weights at offset BX + off of the four weight rows R8–R11 into Y8–Y11.
#define LOAD4W(W, off) \
	W(off(R8)(BX*1), Y8); \
	W(off(R9)(BX*1), Y9); \
	W(off(R10)(BX*1), Y10); \
	W(off(R11)(BX*1), Y11)

// FMA4W(x, a) adds x (8 steps of one x row) times Y8–Y11 into the accumulators from a on.
#define FMA4W(x, a0, a1, a2, a3) \
	VFMADD231PS Y8, x, a0; \
	VFMADD231PS Y9, x, a1; \
	VFMADD231PS Y10, x, a2; \
	VFMADD231PS Y11, x, a3

// PREFETCH4 prefetches the four weight rows PFD bytes ahead.
#define PREFETCH4 \
	PREFETCHT0 PFD(R8)(BX*1); \
	PREFETCHT0 PFD(R9)(BX*1); \
	PREFETCHT0 PFD(R10)(BX*1); \
	PREFETCHT0 PFD(R11)(BX*1)

// STORE4AT(a0, a1, a2, a3, x0, x1, x2, x3, p) stores the sums of four weight rows for one x
// row at p.
#define STORE4AT(a0, a1, a2, a3, x0, x1, x2, x3, p) \
	REDUCEY(a0, x0, (p)); \
	REDUCEY(a1, x1, 4(p)); \
	REDUCEY(a2, x2, 8(p)); \
	REDUCEY(a3, x3, 12(p))

// NEXTGROUP moves to the next group of four weight rows, ending with the flags of the count.
#define NEXTGROUP \
	ADDQ $16, DI; \
	LEAQ (R11)(R14*1), R8; \
	DECQ R12

// ROWS1(W, H, S, group, loop): the 1-row kernel's body.
#define ROWS1(W, H, S, group, loop) \
group: \
	DPGROUP; \
	ZERO4Y; \
loop: \
	PREFETCH4; \
	VMOVUPS (AX), Y12; \
	VMOVUPS 32(AX), Y13; \
	LOAD4W(W, 0); \
	FMA4W(Y12, Y0, Y1, Y2, Y3); \
	LOAD4W(W, H); \
	FMA4W(Y13, Y0, Y1, Y2, Y3); \
	ADDQ    $64, AX; \
	ADDQ    $S, BX; \
	CMPQ    BX, CX; \
	JB      loop; \
	STORE4AT(Y0, Y1, Y2, Y3, X0, X1, X2, X3, DI); \
	NEXTGROUP; \
	JNZ     group; \
	VZEROUPPER; \
	RET

// ROWS2(W, H, S, group, loop): the 2-row kernel's body; x row 1 at AX + R13, accumulators
// Y(4i+j) for x row i, weight row j.
#define ROWS2(W, H, S, group, loop) \
group: \
	DPGROUP; \
	ZERO8Y; \
loop: \
	PREFETCH4; \
	LOAD4W(W, 0); \
	VMOVUPS (AX), Y12; \
	VMOVUPS (AX)(R13*1), Y13; \
	FMA4W(Y12, Y0, Y1, Y2, Y3); \
	FMA4W(Y13, Y4, Y5, Y6, Y7); \
	LOAD4W(W, H); \
	VMOVUPS 32(AX), Y12; \
	VMOVUPS 32(AX)(R13*1), Y13; \
	FMA4W(Y12, Y0, Y1, Y2, Y3); \
	FMA4W(Y13, Y4, Y5, Y6, Y7); \
	ADDQ    $64, AX; \
	ADDQ    $S, BX; \
	CMPQ    BX, CX; \
	JB      loop; \
	STORE4AT(Y0, Y1, Y2, Y3, X0, X1, X2, X3, DI); \
	LEAQ    (DI)(DX*1), R9; \
	STORE4AT(Y4, Y5, Y6, Y7, X4, X5, X6, X7, R9); \
	NEXTGROUP; \
	JNZ     group; \
	VZEROUPPER; \
	RET

// FMAX2(addr, x, w0, w1, a0, a1) loads 8 steps of one x row from addr into x and adds its
// products with the two weight rows' w0, w1 into a0, a1.
#define FMAX2(addr, x, w0, w1, a0, a1) \
	VMOVUPS     addr, x; \
	VFMADD231PS w0, x, a0; \
	VFMADD231PS w1, x, a1

// FMA4X(off) adds 8 steps of the four x rows at AX + off (strides R13, R15 = 3·R13) times the
// two weight rows' Y12, Y13 into Y0–Y7 (Y(2i+j) for x row i, weight row j).
#define FMA4X(off) \
	FMAX2(off(AX), Y14, Y12, Y13, Y0, Y1); \
	FMAX2(off(AX)(R13*1), Y15, Y12, Y13, Y2, Y3); \
	FMAX2(off(AX)(R13*2), Y14, Y12, Y13, Y4, Y5); \
	FMAX2(off(AX)(R15*1), Y15, Y12, Y13, Y6, Y7)

// FMA6X(off) is FMA4X for six x rows, rows 4 and 5 at R10 + off, into Y0–Y11.
#define FMA6X(off) \
	FMA4X(off); \
	FMAX2(off(R10), Y14, Y12, Y13, Y8, Y9); \
	FMAX2(off(R10)(R13*1), Y15, Y12, Y13, Y10, Y11)

// LOAD2W(W, off) loads 8 weights at offset BX + off of the weight rows R8, R9 into Y12, Y13.
#define LOAD2W(W, off) \
	W(off(R8)(BX*1), Y12); \
	W(off(R9)(BX*1), Y13)

// STORE2AT(a0, a1, x0, x1) stores a pair of weight rows' sums for one x row at R10 and moves
// R10 to the next x row's.
#define STORE2AT(a0, a1, x0, x1) \
	REDUCEY(a0, x0, (R10)); \
	REDUCEY(a1, x1, 4(R10)); \
	ADDQ DX, R10

#define STORE4x2 \
	STORE2AT(Y0, Y1, X0, X1); \
	STORE2AT(Y2, Y3, X2, X3); \
	STORE2AT(Y4, Y5, X4, X5); \
	STORE2AT(Y6, Y7, X6, X7)

#define STORE6x2 \
	STORE4x2; \
	STORE2AT(Y8, Y9, X8, X9); \
	STORE2AT(Y10, Y11, X10, X11)

// PAIRARGS loads the 4- and 6-row kernels' arguments: ROWARGS's, x strides in R13 and R15,
// pairs of weight rows in R12.
#define PAIRARGS \
	ROWARGS; \
	SHLQ $1, R13; \
	LEAQ (R13)(R13*2), R15; \
	SHLQ $1, R12

// PAIRSTART points R9 at the weight row after R8, SI at the one after R9 (the next pair, which
// the loop prefetches) and restarts the walk along k.
#define PAIRSTART \
	LEAQ (R8)(R14*1), R9; \
	LEAQ (R9)(R14*1), SI; \
	XORQ BX, BX; \
	MOVQ x+16(FP), AX

// NEXTPAIR moves to the next pair of weight rows, ending with the flags of the pair count.
#define NEXTPAIR \
	ADDQ $8, DI; \
	LEAQ (R9)(R14*1), R8; \
	DECQ R12

// ROWSN(W, H, S, ZERO, FMA, STORE, pair, loop) is the body of the 4- and 6-row kernels: the
// accumulators cleared with ZERO, FMA (FMA4X or FMA6X) for each half of the 16 steps while the
// next pair of weight rows is prefetched (SI + 2·BX walks it, weight rows being contiguous),
// the sums stored with STORE.
#define ROWSN(W, H, S, ZERO, FMA, STORE, pair, loop) \
pair: \
	PAIRSTART; \
	LEAQ  (AX)(R13*4), R10; \
	ZERO; \
loop: \
	PREFETCHT0 (SI)(BX*2); \
	PREFETCHT0 64(SI)(BX*2); \
	LOAD2W(W, 0); \
	FMA(0); \
	LOAD2W(W, H); \
	FMA(32); \
	ADDQ  $64, AX; \
	ADDQ  $64, R10; \
	ADDQ  $S, BX; \
	CMPQ  BX, CX; \
	JB    loop; \
	MOVQ  DI, R10; \
	STORE; \
	NEXTPAIR; \
	JNZ   pair; \
	VZEROUPPER; \
	RET

// func wideBF16Rows1AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)
// out[r] = x · w[r] for r < rows (a positive multiple of 4), k a positive multiple of 16; ldo,
// ldx and parts unused.
TEXT ·wideBF16Rows1AVX2(SB), NOSPLIT, $0-72
	DPARGS
	ROWS1(WIDEN, HALFBF16, STEPBF16, yb1group, yb1k)

// func wideF32Rows1AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)
// wideBF16Rows1AVX2 for fp32 weights.
TEXT ·wideF32Rows1AVX2(SB), NOSPLIT, $0-72
	DPARGS
	SHLQ $1, CX
	SHLQ $1, R14
	ROWS1(LOADF, HALFF32, STEPF32, yf1group, yf1k)

// func wideBF16Rows2AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)
// wideBF16Rows1AVX2 for two rows of x (row i at x[i·ldx], outputs at out[i·ldo]).
TEXT ·wideBF16Rows2AVX2(SB), NOSPLIT, $0-72
	DPARGS
	SHLQ $1, R13
	ROWS2(WIDEN, HALFBF16, STEPBF16, yb2group, yb2k)

// func wideF32Rows2AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)
// wideBF16Rows2AVX2 for fp32 weights.
TEXT ·wideF32Rows2AVX2(SB), NOSPLIT, $0-72
	DPARGS
	SHLQ $1, R13
	SHLQ $1, CX
	SHLQ $1, R14
	ROWS2(LOADF, HALFF32, STEPF32, yf2group, yf2k)

// func wideBF16Rows4AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)
// wideBF16Rows1AVX2 for four rows of x (row i at x[i·ldx], outputs at out[i·ldo]).
TEXT ·wideBF16Rows4AVX2(SB), NOSPLIT, $0-72
	PAIRARGS
	ROWSN(WIDEN, HALFBF16, STEPBF16, ZERO8Y, FMA4X, STORE4x2, yb4pair, yb4k)

// func wideF32Rows4AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)
// wideBF16Rows4AVX2 for fp32 weights.
TEXT ·wideF32Rows4AVX2(SB), NOSPLIT, $0-72
	PAIRARGS
	SHLQ $1, CX
	SHLQ $1, R14
	ROWSN(LOADF, HALFF32, STEPF32, ZERO8Y, FMA4X, STORE4x2, yf4pair, yf4k)

// func wideBF16Rows6AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)
// wideBF16Rows4AVX2 for six rows of x.
TEXT ·wideBF16Rows6AVX2(SB), NOSPLIT, $0-72
	PAIRARGS
	ROWSN(WIDEN, HALFBF16, STEPBF16, ZERO12Y, FMA6X, STORE6x2, yb6pair, yb6k)

// func wideF32Rows6AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)
// wideBF16Rows6AVX2 for fp32 weights.
TEXT ·wideF32Rows6AVX2(SB), NOSPLIT, $0-72
	PAIRARGS
	SHLQ $1, CX
	SHLQ $1, R14
	ROWSN(LOADF, HALFF32, STEPF32, ZERO12Y, FMA6X, STORE6x2, yf6pair, yf6k)
