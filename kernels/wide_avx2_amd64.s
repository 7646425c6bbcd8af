#include "textflag.h"

// The kernels of pathShared for AVX2 (ymm, 16 registers, FMA): wide_amd64.s's products with
// the frame of rows.h (ROWARGS, DPARGS, DPGROUP), for bf16 weights (widened in registers,
// VPMOVZXWD + VPSLLD) and fp32 weights, 16 steps per iteration. Each (x row, weight row) pair
// has one 8-lane accumulator, which takes k's steps 8 at a time in order, and one fixed
// reduction (REDUCEY), so the 4- and 8-row kernels' results equal the 1-row kernels' bit for
// bit. The 1-row kernels take four weight rows at a time (four accumulators); the 4- and 8-row
// kernels two weight rows (Y8–Y11, both halves of the 16 steps) against four rows of x, whose
// loads (Y12, Y13) each serve both weight rows: eight accumulators, Y0–Y7, Y(2i+j) for x row i
// and weight row j. The 8-row kernels run that twice per pair of weight rows, for x rows 0–3
// and 4–7, the second time reading the pair's stretch of weights from L1.

#include "rows.h"

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

// WIDEN loads 8 bf16 at addr into fp32 lanes of y.
#define WIDEN(addr, y) \
	VPMOVZXWD addr, y; \
	VPSLLD    $16, y, y

// FMA1(x, w0, w1, w2, w3) adds x (8 steps of the x row) times the four weight rows' 8 steps
// into Y0–Y3.
#define FMA1(x, w0, w1, w2, w3) \
	VFMADD231PS w0, x, Y0; \
	VFMADD231PS w1, x, Y1; \
	VFMADD231PS w2, x, Y2; \
	VFMADD231PS w3, x, Y3

// STORE4Y stores the four sums of the 1-row kernels and moves to the next group of weight rows,
// ending with the flags of the group count.
#define STORE4Y \
	REDUCEY(Y0, X0, (DI)); \
	REDUCEY(Y1, X1, 4(DI)); \
	REDUCEY(Y2, X2, 8(DI)); \
	REDUCEY(Y3, X3, 12(DI)); \
	ADDQ $16, DI; \
	LEAQ (R11)(R14*1), R8; \
	DECQ R12

// FMAX2(addr, x, w0, w1, a0, a1) loads 8 steps of one x row from addr into x and adds its
// products with the weight rows' w0, w1 into a0, a1.
#define FMAX2(addr, x, w0, w1, a0, a1) \
	VMOVUPS     addr, x; \
	VFMADD231PS w0, x, a0; \
	VFMADD231PS w1, x, a1

// FMA4X(off, w0, w1) adds 8 steps of the four x rows at AX + off (strides R13, R15 = 3·R13)
// times the two weight rows' w0, w1 into Y0–Y7.
#define FMA4X(off, w0, w1) \
	FMAX2(off(AX), Y12, w0, w1, Y0, Y1); \
	FMAX2(off(AX)(R13*1), Y13, w0, w1, Y2, Y3); \
	FMAX2(off(AX)(R13*2), Y12, w0, w1, Y4, Y5); \
	FMAX2(off(AX)(R15*1), Y13, w0, w1, Y6, Y7)

// PAIRBF16 runs 16 steps of the bf16 weight rows R8, R9 (offset BX) against four x rows and
// advances AX and BX.
#define PAIRBF16 \
	WIDEN((R8)(BX*1), Y8); \
	WIDEN((R9)(BX*1), Y9); \
	WIDEN(16(R8)(BX*1), Y10); \
	WIDEN(16(R9)(BX*1), Y11); \
	PREFETCHT0 PFD(R8)(BX*1); \
	PREFETCHT0 PFD(R9)(BX*1); \
	FMA4X(0, Y8, Y9); \
	FMA4X(32, Y10, Y11); \
	ADDQ $64, AX; \
	ADDQ $32, BX

// PAIRF32 is PAIRBF16 for fp32 weights.
#define PAIRF32 \
	VMOVUPS    (R8)(BX*1), Y8; \
	VMOVUPS    (R9)(BX*1), Y9; \
	VMOVUPS    32(R8)(BX*1), Y10; \
	VMOVUPS    32(R9)(BX*1), Y11; \
	PREFETCHT0 PFD(R8)(BX*1); \
	PREFETCHT0 PFD(R9)(BX*1); \
	FMA4X(0, Y8, Y9); \
	FMA4X(32, Y10, Y11); \
	ADDQ $64, AX; \
	ADDQ $64, BX

// STORE4x2 stores the eight sums of a pair of weight rows (x row i's two at R10 + i·ldo).
#define STORE4x2 \
	REDUCEY(Y0, X0, (R10)); \
	REDUCEY(Y1, X1, 4(R10)); \
	ADDQ DX, R10; \
	REDUCEY(Y2, X2, (R10)); \
	REDUCEY(Y3, X3, 4(R10)); \
	ADDQ DX, R10; \
	REDUCEY(Y4, X4, (R10)); \
	REDUCEY(Y5, X5, 4(R10)); \
	ADDQ DX, R10; \
	REDUCEY(Y6, X6, (R10)); \
	REDUCEY(Y7, X7, 4(R10))

// PAIRSTART points R9 at the weight row after R8.
#define PAIRSTART LEAQ (R8)(R14*1), R9

// NEXTPAIR moves to the next pair of weight rows, ending with the flags of the pair count.
#define NEXTPAIR \
	ADDQ $8, DI; \
	LEAQ (R9)(R14*1), R8; \
	DECQ R12

// PAIRARGS loads the 4-row kernels' arguments: ROWARGS's, x strides in R13 and R15, pairs of
// weight rows in R12.
#define PAIRARGS \
	ROWARGS; \
	SHLQ $1, R13; \
	LEAQ (R13)(R13*2), R15; \
	SHLQ $1, R12

// ACC8(op) moves the eight accumulators between Y0–Y7 and the 256 bytes at R10.
#define ACC8(op) \
	op(Y0, 0); op(Y1, 32); op(Y2, 64); op(Y3, 96); op(Y4, 128); op(Y5, 160); op(Y6, 192); op(Y7, 224)

#define LOADACCY(y, off) VMOVUPS off(R10), y
#define SPILLACCY(y, off) VMOVUPS y, off(R10)

// START8Y zeroes the accumulators or, with rowsResume, loads them from R10.
#define START8Y(resumed, started) \
	TESTQ $1, mode+64(FP); \
	JNZ   resumed; \
	ZERO8Y; \
	JMP   started; \
resumed: \
	ACC8(LOADACCY); \
started:

// FINISH8Y stores the eight sums (out rows from R10, as STORE4x2) with rowsFinish or else the
// accumulators to AX.
#define FINISH8Y(spill, done) \
	TESTQ $2, mode+64(FP); \
	JZ    spill; \
	STORE4x2; \
	JMP   done; \
spill: \
	MOVQ  AX, R10; \
	ACC8(SPILLACCY); \
done:

// func wideBF16Rows1AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)
// out[r] = x · w[r] for r < rows (a positive multiple of 4), k a positive multiple of 16; ldo,
// ldx and parts unused.
TEXT ·wideBF16Rows1AVX2(SB), NOSPLIT, $0-72
	DPARGS

yb1group:
	DPGROUP
	ZERO4Y

yb1k:
	WIDEN((R8)(BX*1), Y4)
	WIDEN((R9)(BX*1), Y5)
	WIDEN((R10)(BX*1), Y6)
	WIDEN((R11)(BX*1), Y7)
	WIDEN(16(R8)(BX*1), Y8)
	WIDEN(16(R9)(BX*1), Y9)
	WIDEN(16(R10)(BX*1), Y10)
	WIDEN(16(R11)(BX*1), Y11)
	PREFETCHT0 PFD(R8)(BX*1)
	PREFETCHT0 PFD(R9)(BX*1)
	PREFETCHT0 PFD(R10)(BX*1)
	PREFETCHT0 PFD(R11)(BX*1)
	VMOVUPS    (AX), Y12
	VMOVUPS    32(AX), Y13
	FMA1(Y12, Y4, Y5, Y6, Y7)
	FMA1(Y13, Y8, Y9, Y10, Y11)
	ADDQ       $64, AX
	ADDQ       $32, BX
	CMPQ       BX, CX
	JB         yb1k
	STORE4Y
	JNZ        yb1group
	VZEROUPPER
	RET

// func wideF32Rows1AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)
// wideBF16Rows1AVX2 for fp32 weights.
TEXT ·wideF32Rows1AVX2(SB), NOSPLIT, $0-72
	DPARGS
	SHLQ $1, CX
	SHLQ $1, R14

yf1group:
	DPGROUP
	ZERO4Y

yf1k:
	PREFETCHT0 PFD(R8)(BX*1)
	PREFETCHT0 PFD(R9)(BX*1)
	PREFETCHT0 PFD(R10)(BX*1)
	PREFETCHT0 PFD(R11)(BX*1)
	VMOVUPS    (AX), Y12
	VMOVUPS    32(AX), Y13
	VMOVUPS    (R8)(BX*1), Y4
	VMOVUPS    (R9)(BX*1), Y5
	VMOVUPS    (R10)(BX*1), Y6
	VMOVUPS    (R11)(BX*1), Y7
	VMOVUPS    32(R8)(BX*1), Y8
	VMOVUPS    32(R9)(BX*1), Y9
	VMOVUPS    32(R10)(BX*1), Y10
	VMOVUPS    32(R11)(BX*1), Y11
	FMA1(Y12, Y4, Y5, Y6, Y7)
	FMA1(Y13, Y8, Y9, Y10, Y11)
	ADDQ       $64, AX
	ADDQ       $64, BX
	CMPQ       BX, CX
	JB         yf1k
	STORE4Y
	JNZ        yf1group
	VZEROUPPER
	RET

// func wideBF16Rows4AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)
// wideBF16Rows1AVX2 for four rows of x (row i at x[i·ldx], outputs at out[i·ldo]).
TEXT ·wideBF16Rows4AVX2(SB), NOSPLIT, $0-72
	PAIRARGS

yb4pair:
	PAIRSTART
	XORQ BX, BX
	MOVQ SI, AX
	ZERO8Y

yb4k:
	PAIRBF16
	CMPQ BX, CX
	JB   yb4k
	MOVQ DI, R10
	STORE4x2
	NEXTPAIR
	JNZ  yb4pair
	VZEROUPPER
	RET

// func wideF32Rows4AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)
// wideBF16Rows4AVX2 for fp32 weights.
TEXT ·wideF32Rows4AVX2(SB), NOSPLIT, $0-72
	PAIRARGS
	SHLQ $1, CX
	SHLQ $1, R14

yf4pair:
	PAIRSTART
	XORQ BX, BX
	MOVQ SI, AX
	ZERO8Y

yf4k:
	PAIRF32
	CMPQ BX, CX
	JB   yf4k
	MOVQ DI, R10
	STORE4x2
	NEXTPAIR
	JNZ  yf4pair
	VZEROUPPER
	RET

// The 8-row kernels (rowKernel8): per pair of weight rows, the 4-row kernels' loop for x rows
// 0–3 (outputs from out, accumulators at acc) and then for x rows 4–7 (outputs from
// out + 4·ldo, accumulators at acc + 256 bytes), over part of k as mode says (see
// wide_amd64.s); each pair's accumulators take 512 bytes of acc.

// HALF8(pair, xrows, accoff, outrows, resumed, started, kloop, spill, done) runs one half.
#define ROWS8PAIR(PAIR, loop0, r0, s0, p0, d0, loop1, r1, s1, p1, d1) \
	PAIRSTART; \
	MOVQ  R11, R10; \
	START8Y(r0, s0); \
	XORQ  BX, BX; \
	MOVQ  SI, AX; \
loop0: \
	PAIR; \
	CMPQ  BX, CX; \
	JB    loop0; \
	MOVQ  DI, R10; \
	MOVQ  R11, AX; \
	FINISH8Y(p0, d0); \
	LEAQ  256(R11), R10; \
	START8Y(r1, s1); \
	XORQ  BX, BX; \
	LEAQ  (SI)(R13*4), AX; \
loop1: \
	PAIR; \
	CMPQ  BX, CX; \
	JB    loop1; \
	LEAQ  (DI)(DX*4), R10; \
	LEAQ  256(R11), AX; \
	FINISH8Y(p1, d1); \
	ADDQ  $512, R11; \
	NEXTPAIR

// func wideBF16Rows8AVX2(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, mode int, acc *float32)
// wideBF16Rows1AVX2 for eight rows of x (row i at x[i·ldx], outputs at out[i·ldo]), over part
// of k as mode says.
TEXT ·wideBF16Rows8AVX2(SB), NOSPLIT, $0-80
	PAIRARGS
	MOVQ acc+72(FP), R11

yb8pair:
	ROWS8PAIR(PAIRBF16, yb8k0, yb8r0, yb8s0, yb8p0, yb8d0, yb8k1, yb8r1, yb8s1, yb8p1, yb8d1)
	JNZ yb8pair
	VZEROUPPER
	RET

// func wideF32Rows8AVX2(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, mode int, acc *float32)
// wideBF16Rows8AVX2 for fp32 weights.
TEXT ·wideF32Rows8AVX2(SB), NOSPLIT, $0-80
	PAIRARGS
	SHLQ $1, CX
	SHLQ $1, R14
	MOVQ acc+72(FP), R11

yf8pair:
	ROWS8PAIR(PAIRF32, yf8k0, yf8r0, yf8s0, yf8p0, yf8d0, yf8k1, yf8r1, yf8s1, yf8p1, yf8d1)
	JNZ yf8pair
	VZEROUPPER
	RET
