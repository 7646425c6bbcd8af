#include "textflag.h"
#include "rows.h"

// bf16 dot products with VDPBF16PS (AVX512_BF16), which multiplies the 32 bf16 pairs of two
// zmm registers exactly and adds each pair, odd element first, into the 16 fp32 lanes of a
// third (denormals flushed, round to nearest even). The Go assembler has no mnemonic for it,
// so the instructions are spelled out as bytes below (encoded by GNU as 2.40, checked with
// objdump; the registers are fixed: accumulators Z0–Z15, weights Z16–Z19 and x Z20–Z23 in the
// 1- and 4-row kernels, weights Z26–Z27 and x Z28–Z31 in the 8-row one).
//
// The activations come prepared by splitBF16: per chunk of 32 steps, parts (1 or 2) chunks of
// 32 bf16, the first the rounded x, the second the bf16 rounding of what the first missed.
// Every (x row, weight row) pair has one accumulator that takes, chunk by chunk, the parts in
// order, and is reduced to a float by one fixed sequence (REDUCE) whatever the number of x
// rows: the 4- and 8-row kernels' results equal the 1-row kernel's bit for bit.

// DP00 is VDPBF16PS Z16, Z20, Z0: Z0 += x row 0 · weight row 0, pairwise.
#define DP00 BYTE $0x62; BYTE $0xb2; BYTE $0x5e; BYTE $0x40; BYTE $0x52; BYTE $0xc0
// DP01 is VDPBF16PS Z17, Z20, Z1: Z1 += x row 0 · weight row 1, pairwise.
#define DP01 BYTE $0x62; BYTE $0xb2; BYTE $0x5e; BYTE $0x40; BYTE $0x52; BYTE $0xc9
// DP02 is VDPBF16PS Z18, Z20, Z2: Z2 += x row 0 · weight row 2, pairwise.
#define DP02 BYTE $0x62; BYTE $0xb2; BYTE $0x5e; BYTE $0x40; BYTE $0x52; BYTE $0xd2
// DP03 is VDPBF16PS Z19, Z20, Z3: Z3 += x row 0 · weight row 3, pairwise.
#define DP03 BYTE $0x62; BYTE $0xb2; BYTE $0x5e; BYTE $0x40; BYTE $0x52; BYTE $0xdb
// DP10 is VDPBF16PS Z16, Z21, Z4: Z4 += x row 1 · weight row 0, pairwise.
#define DP10 BYTE $0x62; BYTE $0xb2; BYTE $0x56; BYTE $0x40; BYTE $0x52; BYTE $0xe0
// DP11 is VDPBF16PS Z17, Z21, Z5: Z5 += x row 1 · weight row 1, pairwise.
#define DP11 BYTE $0x62; BYTE $0xb2; BYTE $0x56; BYTE $0x40; BYTE $0x52; BYTE $0xe9
// DP12 is VDPBF16PS Z18, Z21, Z6: Z6 += x row 1 · weight row 2, pairwise.
#define DP12 BYTE $0x62; BYTE $0xb2; BYTE $0x56; BYTE $0x40; BYTE $0x52; BYTE $0xf2
// DP13 is VDPBF16PS Z19, Z21, Z7: Z7 += x row 1 · weight row 3, pairwise.
#define DP13 BYTE $0x62; BYTE $0xb2; BYTE $0x56; BYTE $0x40; BYTE $0x52; BYTE $0xfb
// DP20 is VDPBF16PS Z16, Z22, Z8: Z8 += x row 2 · weight row 0, pairwise.
#define DP20 BYTE $0x62; BYTE $0x32; BYTE $0x4e; BYTE $0x40; BYTE $0x52; BYTE $0xc0
// DP21 is VDPBF16PS Z17, Z22, Z9: Z9 += x row 2 · weight row 1, pairwise.
#define DP21 BYTE $0x62; BYTE $0x32; BYTE $0x4e; BYTE $0x40; BYTE $0x52; BYTE $0xc9
// DP22 is VDPBF16PS Z18, Z22, Z10: Z10 += x row 2 · weight row 2, pairwise.
#define DP22 BYTE $0x62; BYTE $0x32; BYTE $0x4e; BYTE $0x40; BYTE $0x52; BYTE $0xd2
// DP23 is VDPBF16PS Z19, Z22, Z11: Z11 += x row 2 · weight row 3, pairwise.
#define DP23 BYTE $0x62; BYTE $0x32; BYTE $0x4e; BYTE $0x40; BYTE $0x52; BYTE $0xdb
// DP30 is VDPBF16PS Z16, Z23, Z12: Z12 += x row 3 · weight row 0, pairwise.
#define DP30 BYTE $0x62; BYTE $0x32; BYTE $0x46; BYTE $0x40; BYTE $0x52; BYTE $0xe0
// DP31 is VDPBF16PS Z17, Z23, Z13: Z13 += x row 3 · weight row 1, pairwise.
#define DP31 BYTE $0x62; BYTE $0x32; BYTE $0x46; BYTE $0x40; BYTE $0x52; BYTE $0xe9
// DP32 is VDPBF16PS Z18, Z23, Z14: Z14 += x row 3 · weight row 2, pairwise.
#define DP32 BYTE $0x62; BYTE $0x32; BYTE $0x46; BYTE $0x40; BYTE $0x52; BYTE $0xf2
// DP33 is VDPBF16PS Z19, Z23, Z15: Z15 += x row 3 · weight row 3, pairwise.
#define DP33 BYTE $0x62; BYTE $0x32; BYTE $0x46; BYTE $0x40; BYTE $0x52; BYTE $0xfb

// DPW loads 32 bf16 of each of the four weight rows at offset BX and prefetches the next group.
#define DPW \
	VMOVDQU32 (R8)(BX*1), Z16; \
	VMOVDQU32 (R9)(BX*1), Z17; \
	VMOVDQU32 (R10)(BX*1), Z18; \
	VMOVDQU32 (R11)(BX*1), Z19; \
	PFNEXT4

#define DPROW0 DP00; DP01; DP02; DP03
#define DPROW1 DP10; DP11; DP12; DP13
#define DPROW2 DP20; DP21; DP22; DP23
#define DPROW3 DP30; DP31; DP32; DP33

// func dpBF16Rows1(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts int)
// out[r] = Σ over the prepared x (one row) · w[r], r < rows; k a positive multiple of 32, rows a
// positive multiple of 4, parts 1 or 2 (ldo and ldx unused).
TEXT ·dpBF16Rows1(SB), NOSPLIT, $0-72
	DPARGS
	MOVQ AX, R15

dp1group:
	PFGROUP
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   R15, $1
	JEQ    dp1round

dp1split:
	DPW
	VMOVDQU32 (AX), Z20
	DPROW0
	VMOVDQU32 64(AX), Z20
	DPROW0
	ADDQ      $128, AX
	ADDQ      $64, BX
	CMPQ      BX, CX
	JB        dp1split
	JMP       dp1store

dp1round:
	DPW
	VMOVDQU32 (AX), Z20
	DPROW0
	ADDQ      $64, AX
	ADDQ      $64, BX
	CMPQ      BX, CX
	JB        dp1round

dp1store:
	REDUCE(Z0, Y0, X0, (DI))
	REDUCE(Z1, Y1, X1, 4(DI))
	REDUCE(Z2, Y2, X2, 8(DI))
	REDUCE(Z3, Y3, X3, 12(DI))
	ADDQ $16, DI
	LEAQ (R11)(R14*1), R8
	DECQ R12
	JNZ  dp1group
	VZEROUPPER
	RET

// DPX4 loads 32 steps of part off/64 of the four x rows (row stride R13, three strides R15).
#define DPX4(off) \
	VMOVDQU32 off(AX), Z20; \
	VMOVDQU32 off(AX)(R13*1), Z21; \
	VMOVDQU32 off(AX)(R13*2), Z22; \
	VMOVDQU32 off(AX)(R15*1), Z23

#define DPALL DPROW0; DPROW1; DPROW2; DPROW3

// func dpBF16Rows4(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts int)
// dpBF16Rows1 for four rows of prepared x (row i at x[i·ldx], its outputs at out[i·ldo]),
// sharing every load of the weights.
TEXT ·dpBF16Rows4(SB), NOSPLIT, $0-72
	DPARGS
	LEAQ (R13)(R13*2), R15
	CMPQ AX, $1
	JEQ  dp4round

dp4split:
	PFGROUP
	ZERO16

dp4splitk:
	DPW
	DPX4(0)
	DPALL
	DPX4(64)
	DPALL
	ADDQ $128, AX
	ADDQ $64, BX
	CMPQ BX, CX
	JB   dp4splitk
	STORE16
	JNZ  dp4split
	VZEROUPPER
	RET

dp4round:
	PFGROUP
	ZERO16

dp4roundk:
	DPW
	DPX4(0)
	DPALL
	ADDQ $64, AX
	ADDQ $64, BX
	CMPQ BX, CX
	JB   dp4roundk
	STORE16
	JNZ  dp4round
	VZEROUPPER
	RET

// The 8-row kernel (see rows.h): weight rows Z26 and Z27, x rows i and i+4 in Z(28+i).

// DP8X0 is VDPBF16PS Z26, Z28, Z0; VDPBF16PS Z27, Z28, Z1: x row 0 · both weight rows.
#define DP8X0 BYTE $0x62; BYTE $0x92; BYTE $0x1e; BYTE $0x40; BYTE $0x52; BYTE $0xc2; BYTE $0x62; BYTE $0x92; BYTE $0x1e; BYTE $0x40; BYTE $0x52; BYTE $0xcb
// DP8X1 is VDPBF16PS Z26, Z29, Z2; VDPBF16PS Z27, Z29, Z3: x row 1 · both weight rows.
#define DP8X1 BYTE $0x62; BYTE $0x92; BYTE $0x16; BYTE $0x40; BYTE $0x52; BYTE $0xd2; BYTE $0x62; BYTE $0x92; BYTE $0x16; BYTE $0x40; BYTE $0x52; BYTE $0xdb
// DP8X2 is VDPBF16PS Z26, Z30, Z4; VDPBF16PS Z27, Z30, Z5: x row 2 · both weight rows.
#define DP8X2 BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xe2; BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xeb
// DP8X3 is VDPBF16PS Z26, Z31, Z6; VDPBF16PS Z27, Z31, Z7: x row 3 · both weight rows.
#define DP8X3 BYTE $0x62; BYTE $0x92; BYTE $0x06; BYTE $0x40; BYTE $0x52; BYTE $0xf2; BYTE $0x62; BYTE $0x92; BYTE $0x06; BYTE $0x40; BYTE $0x52; BYTE $0xfb
// DP8X4 is VDPBF16PS Z26, Z28, Z8; VDPBF16PS Z27, Z28, Z9: x row 4 · both weight rows.
#define DP8X4 BYTE $0x62; BYTE $0x12; BYTE $0x1e; BYTE $0x40; BYTE $0x52; BYTE $0xc2; BYTE $0x62; BYTE $0x12; BYTE $0x1e; BYTE $0x40; BYTE $0x52; BYTE $0xcb
// DP8X5 is VDPBF16PS Z26, Z29, Z10; VDPBF16PS Z27, Z29, Z11: x row 5 · both weight rows.
#define DP8X5 BYTE $0x62; BYTE $0x12; BYTE $0x16; BYTE $0x40; BYTE $0x52; BYTE $0xd2; BYTE $0x62; BYTE $0x12; BYTE $0x16; BYTE $0x40; BYTE $0x52; BYTE $0xdb
// DP8X6 is VDPBF16PS Z26, Z30, Z12; VDPBF16PS Z27, Z30, Z13: x row 6 · both weight rows.
#define DP8X6 BYTE $0x62; BYTE $0x12; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xe2; BYTE $0x62; BYTE $0x12; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xeb
// DP8X7 is VDPBF16PS Z26, Z31, Z14; VDPBF16PS Z27, Z31, Z15: x row 7 · both weight rows.
#define DP8X7 BYTE $0x62; BYTE $0x12; BYTE $0x06; BYTE $0x40; BYTE $0x52; BYTE $0xf2; BYTE $0x62; BYTE $0x12; BYTE $0x06; BYTE $0x40; BYTE $0x52; BYTE $0xfb

// DP8W loads 32 bf16 of both weight rows at offset BX and prefetches into L2 the same steps of
// the weight rows stretchBlock (8) rows on (SI, DX: see DPGROUP8), which the next call over
// this stretch reads, so the next block of weight rows streams in as this one passes over x.
#define DP8W \
	VMOVDQU32  (R8)(BX*1), Z26; \
	VMOVDQU32  (R9)(BX*1), Z27; \
	PREFETCHT1 (SI)(BX*1); \
	PREFETCHT1 (DX)(BX*1)

// DP8X loads 32 steps of the eight x rows at off and adds their products.
#define DP8X(off) \
	VMOVDQU32 off(AX), Z28; \
	DP8X0; \
	VMOVDQU32 off(AX)(R13*1), Z29; \
	DP8X1; \
	VMOVDQU32 off(AX)(R13*2), Z30; \
	DP8X2; \
	VMOVDQU32 off(AX)(R15*1), Z31; \
	DP8X3; \
	VMOVDQU32 off(R10), Z28; \
	DP8X4; \
	VMOVDQU32 off(R10)(R13*1), Z29; \
	DP8X5; \
	VMOVDQU32 off(R10)(R13*2), Z30; \
	DP8X6; \
	VMOVDQU32 off(R10)(R15*1), Z31; \
	DP8X7

// DPGROUP8 points R9 at the weight row after R8, SI and DX at the rows 8 on (DP8W), AX and R10
// at x rows 0 and 4, and restarts the walk along k.
#define DPGROUP8 \
	LEAQ (R8)(R14*1), R9; \
	LEAQ (R8)(R14*8), SI; \
	LEAQ (R9)(R14*8), DX; \
	MOVQ x+16(FP), AX; \
	LEAQ (AX)(R13*4), R10; \
	XORQ BX, BX

// func dpBF16Rows8(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts, mode int, acc *float32)
// dpBF16Rows1 for eight rows of x prepared in one part (parts must be 1: see gemvDP; row i at
// x[i·ldx], its outputs at out[i·ldo]), over part of k as mode says (see rows.h), sharing every
// load of the weights.
TEXT ·dpBF16Rows8(SB), NOSPLIT, $0-88
	ROWS8ARGS
	X8STRIDES

dp8group:
	DPGROUP8
	START8(dp8resumed, dp8started)

dp8k:
	DP8W
	DP8X(0)
	ADDQ $64, AX
	ADDQ $64, R10
	ADDQ $64, BX
	CMPQ BX, CX
	JB   dp8k
	STORE2x8(dp8spill, dp8next)
	JNZ dp8group
	VZEROUPPER
	RET

// func dpLoopBF16(n int)
// Runs n iterations of 16 independent VDPBF16PS chains (1024 flops each): the bf16
// dot-product peak.
TEXT ·dpLoopBF16(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	ZERO16
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	TESTQ  CX, CX
	JZ     dploopdone

dploop:
	DPALL
	DECQ CX
	JNZ  dploop

dploopdone:
	VZEROUPPER
	RET
