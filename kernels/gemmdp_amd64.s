#include "textflag.h"

// The VDPBF16PS micro-kernel of the packed GEMM for bf16 weights (gemmdp.go): an 8×48 tile of C,
// c[i·ldc+j] (=|+=) Σ over pairs q < pairs and parts of a-pair(q, part, i) · b-pair(q, j), each
// 32-bit word of the packed panels holding the bf16 values of steps 2q (low half) and 2q+1
// (high half). VDPBF16PS multiplies the two pairs of a lane exactly and adds both products,
// odd one first, to the fp32 lane (denormals flushed, round to nearest even). Per pair step the
// kernel loads the 48 B words into Z24–Z26 and, for each of the 8 rows and each part (hi, then
// lo where parts = 2), broadcasts A's word and issues 3 VDPBF16PS into the row's accumulators
// (row r in Z(3r)–Z(3r+2)): 24 per part, so each accumulator waits 24 instructions for its
// previous sum. A's panel holds per pair step parts·8 words: the 8 rows' hi pairs, then their lo
// pairs.
//
// The Go assembler has no mnemonic for VDPBF16PS: the bytes are spelled out (an EVEX encoder
// checked against GNU as 2.40's; the registers are fixed as above, broadcasts in Z27–Z30).

// DPH0: Z0–Z2 += row 0's hi pair (broadcast to Z27) · Z24–Z26.
#define DPH0 \
	VPBROADCASTD 0(SI), Z27; \
	BYTE $0x62; BYTE $0x92; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xc3; \
	BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xcb; \
	BYTE $0x62; BYTE $0x92; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xd3

// DPH1: Z3–Z5 += row 1's hi pair (broadcast to Z28) · Z24–Z26.
#define DPH1 \
	VPBROADCASTD 4(SI), Z28; \
	BYTE $0x62; BYTE $0x92; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xdc; \
	BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xe4; \
	BYTE $0x62; BYTE $0x92; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xec

// DPH2: Z6–Z8 += row 2's hi pair (broadcast to Z27) · Z24–Z26.
#define DPH2 \
	VPBROADCASTD 8(SI), Z27; \
	BYTE $0x62; BYTE $0x92; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xf3; \
	BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xfb; \
	BYTE $0x62; BYTE $0x12; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xc3

// DPH3: Z9–Z11 += row 3's hi pair (broadcast to Z28) · Z24–Z26.
#define DPH3 \
	VPBROADCASTD 12(SI), Z28; \
	BYTE $0x62; BYTE $0x12; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xcc; \
	BYTE $0x62; BYTE $0x12; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xd4; \
	BYTE $0x62; BYTE $0x12; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xdc

// DPH4: Z12–Z14 += row 4's hi pair (broadcast to Z27) · Z24–Z26.
#define DPH4 \
	VPBROADCASTD 16(SI), Z27; \
	BYTE $0x62; BYTE $0x12; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xe3; \
	BYTE $0x62; BYTE $0x12; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xeb; \
	BYTE $0x62; BYTE $0x12; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xf3

// DPH5: Z15–Z17 += row 5's hi pair (broadcast to Z28) · Z24–Z26.
#define DPH5 \
	VPBROADCASTD 20(SI), Z28; \
	BYTE $0x62; BYTE $0x12; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xfc; \
	BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xc4; \
	BYTE $0x62; BYTE $0x82; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xcc

// DPH6: Z18–Z20 += row 6's hi pair (broadcast to Z27) · Z24–Z26.
#define DPH6 \
	VPBROADCASTD 24(SI), Z27; \
	BYTE $0x62; BYTE $0x82; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xd3; \
	BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xdb; \
	BYTE $0x62; BYTE $0x82; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xe3

// DPH7: Z21–Z23 += row 7's hi pair (broadcast to Z28) · Z24–Z26.
#define DPH7 \
	VPBROADCASTD 28(SI), Z28; \
	BYTE $0x62; BYTE $0x82; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xec; \
	BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xf4; \
	BYTE $0x62; BYTE $0x82; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xfc

// DPL0: Z0–Z2 += row 0's lo pair (broadcast to Z29) · Z24–Z26.
#define DPL0 \
	VPBROADCASTD 32(SI), Z29; \
	BYTE $0x62; BYTE $0x92; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xc5; \
	BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xcd; \
	BYTE $0x62; BYTE $0x92; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xd5

// DPL1: Z3–Z5 += row 1's lo pair (broadcast to Z30) · Z24–Z26.
#define DPL1 \
	VPBROADCASTD 36(SI), Z30; \
	BYTE $0x62; BYTE $0x92; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xde; \
	BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xe6; \
	BYTE $0x62; BYTE $0x92; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xee

// DPL2: Z6–Z8 += row 2's lo pair (broadcast to Z29) · Z24–Z26.
#define DPL2 \
	VPBROADCASTD 40(SI), Z29; \
	BYTE $0x62; BYTE $0x92; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xf5; \
	BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xfd; \
	BYTE $0x62; BYTE $0x12; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xc5

// DPL3: Z9–Z11 += row 3's lo pair (broadcast to Z30) · Z24–Z26.
#define DPL3 \
	VPBROADCASTD 44(SI), Z30; \
	BYTE $0x62; BYTE $0x12; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xce; \
	BYTE $0x62; BYTE $0x12; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xd6; \
	BYTE $0x62; BYTE $0x12; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xde

// DPL4: Z12–Z14 += row 4's lo pair (broadcast to Z29) · Z24–Z26.
#define DPL4 \
	VPBROADCASTD 48(SI), Z29; \
	BYTE $0x62; BYTE $0x12; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xe5; \
	BYTE $0x62; BYTE $0x12; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xed; \
	BYTE $0x62; BYTE $0x12; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xf5

// DPL5: Z15–Z17 += row 5's lo pair (broadcast to Z30) · Z24–Z26.
#define DPL5 \
	VPBROADCASTD 52(SI), Z30; \
	BYTE $0x62; BYTE $0x12; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xfe; \
	BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xc6; \
	BYTE $0x62; BYTE $0x82; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xce

// DPL6: Z18–Z20 += row 6's lo pair (broadcast to Z29) · Z24–Z26.
#define DPL6 \
	VPBROADCASTD 56(SI), Z29; \
	BYTE $0x62; BYTE $0x82; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xd5; \
	BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xdd; \
	BYTE $0x62; BYTE $0x82; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xe5

// DPL7: Z21–Z23 += row 7's lo pair (broadcast to Z30) · Z24–Z26.
#define DPL7 \
	VPBROADCASTD 60(SI), Z30; \
	BYTE $0x62; BYTE $0x82; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xee; \
	BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xf6; \
	BYTE $0x62; BYTE $0x82; BYTE $0x2e; BYTE $0x40; BYTE $0x52; BYTE $0xfe

// DPB loads the pair step's 48 B words.
#define DPB \
	VMOVDQU32 (DI), Z24; \
	VMOVDQU32 64(DI), Z25; \
	VMOVDQU32 128(DI), Z26

// DPSTORE writes a row's accumulators to the current row of C and moves DX on a row.
#define DPSTORE(a0, a1, a2) \
	VMOVUPS a0, (DX); \
	VMOVUPS a1, 64(DX); \
	VMOVUPS a2, 128(DX); \
	ADDQ    R8, DX

// DPADDSTORE is DPSTORE adding the row's old contents.
#define DPADDSTORE(a0, a1, a2) \
	VADDPS  (DX), a0, a0; \
	VADDPS  64(DX), a1, a1; \
	VADDPS  128(DX), a2, a2; \
	DPSTORE(a0, a1, a2)

// func gemmKernelDP8x48(pairs, parts int, a, b, c *float32, ldc int, add bool)
// pairs ≥ 1; parts 1 (x rounded) or 2 (split in hi and lo). Registers: CX pairs, BX parts, SI
// a, DI b, DX the current row of c, R8 ldc in bytes, AX add.
TEXT ·gemmKernelDP8x48(SB), NOSPLIT, $0-49
	MOVQ    pairs+0(FP), CX
	MOVQ    parts+8(FP), BX
	MOVQ    a+16(FP), SI
	MOVQ    b+24(FP), DI
	MOVQ    c+32(FP), DX
	MOVQ    ldc+40(FP), R8
	SHLQ    $2, R8
	MOVBLZX add+48(FP), AX
	VPXORD  Z0, Z0, Z0
	VPXORD  Z1, Z1, Z1
	VPXORD  Z2, Z2, Z2
	VPXORD  Z3, Z3, Z3
	VPXORD  Z4, Z4, Z4
	VPXORD  Z5, Z5, Z5
	VPXORD  Z6, Z6, Z6
	VPXORD  Z7, Z7, Z7
	VPXORD  Z8, Z8, Z8
	VPXORD  Z9, Z9, Z9
	VPXORD  Z10, Z10, Z10
	VPXORD  Z11, Z11, Z11
	VPXORD  Z12, Z12, Z12
	VPXORD  Z13, Z13, Z13
	VPXORD  Z14, Z14, Z14
	VPXORD  Z15, Z15, Z15
	VPXORD  Z16, Z16, Z16
	VPXORD  Z17, Z17, Z17
	VPXORD  Z18, Z18, Z18
	VPXORD  Z19, Z19, Z19
	VPXORD  Z20, Z20, Z20
	VPXORD  Z21, Z21, Z21
	VPXORD  Z22, Z22, Z22
	VPXORD  Z23, Z23, Z23
	CMPQ    BX, $1
	JEQ     dpround

dpsplit:
	DPB
	DPH0; DPH1; DPH2; DPH3; DPH4; DPH5; DPH6; DPH7
	DPL0; DPL1; DPL2; DPL3; DPL4; DPL5; DPL6; DPL7
	ADDQ    $64, SI
	ADDQ    $192, DI
	DECQ    CX
	JNZ     dpsplit
	JMP     dpstore

dpround:
	DPB
	DPH0; DPH1; DPH2; DPH3; DPH4; DPH5; DPH6; DPH7
	ADDQ    $32, SI
	ADDQ    $192, DI
	DECQ    CX
	JNZ     dpround

dpstore:
	TESTQ   AX, AX
	JZ      dpoverwrite
	DPADDSTORE(Z0, Z1, Z2)
	DPADDSTORE(Z3, Z4, Z5)
	DPADDSTORE(Z6, Z7, Z8)
	DPADDSTORE(Z9, Z10, Z11)
	DPADDSTORE(Z12, Z13, Z14)
	DPADDSTORE(Z15, Z16, Z17)
	DPADDSTORE(Z18, Z19, Z20)
	DPADDSTORE(Z21, Z22, Z23)
	VZEROUPPER
	RET

dpoverwrite:
	DPSTORE(Z0, Z1, Z2)
	DPSTORE(Z3, Z4, Z5)
	DPSTORE(Z6, Z7, Z8)
	DPSTORE(Z9, Z10, Z11)
	DPSTORE(Z12, Z13, Z14)
	DPSTORE(Z15, Z16, Z17)
	DPSTORE(Z18, Z19, Z20)
	DPSTORE(Z21, Z22, Z23)
	VZEROUPPER
	RET
