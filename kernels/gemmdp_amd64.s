#include "textflag.h"

// The VDPBF16PS micro-kernel of the packed GEMM for bf16 weights (gemmdp.go): an 8×48 tile of C,
// c[i·ldc+j] (=|+=) Σ over pairs q < pairs and parts of a-pair(q, part, i) · b-pair(q, j), each
// 32-bit word of the packed panels holding the bf16 values of steps 2q (low half) and 2q+1
// (high half). VDPBF16PS multiplies the two pairs of a lane exactly and adds both products,
// odd one first, to the fp32 lane (denormals flushed, round to nearest even). A's panel holds
// per pair step parts·8 words: the 8 rows' hi pairs, then (parts = 2) their lo pairs. Per pair
// step the kernel loads the 48 B words into Z24–Z26 and, for each part and each of the 8 rows,
// issues 3 VDPBF16PS that broadcast A's word ({1to16}) into the row's accumulators (row r in
// Z(3r)–Z(3r+2)): 24 per part, so each accumulator waits 24 instructions for its previous sum.
// On Zen 4, alone on panels in L1, it ran at 86–92 % of the VDPBF16PS peak with x rounded and
// at 92–97 % of half of it with x split (a separate VPBROADCASTD per row ran no faster).
//
// The Go assembler has no mnemonic for VDPBF16PS: the bytes are spelled out, GNU as 2.40's
// encodings of the AT&T instructions each macro's comment gives.

// DPH0: Z0–Z2 += Z24–Z26 · row 0's hi pair, broadcast from 0(SI): GNU as's encoding of
// vdpbf16ps 0(%rsi){1to16}, %zmm24, %zmm0; vdpbf16ps 0(%rsi){1to16}, %zmm25, %zmm1; vdpbf16ps 0(%rsi){1to16}, %zmm26, %zmm2
#define DPH0 \
	BYTE $0x62; BYTE $0xf2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x06; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x0e; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x16

// DPH1: Z3–Z5 += Z24–Z26 · row 1's hi pair, broadcast from 4(SI): GNU as's encoding of
// vdpbf16ps 4(%rsi){1to16}, %zmm24, %zmm3; vdpbf16ps 4(%rsi){1to16}, %zmm25, %zmm4; vdpbf16ps 4(%rsi){1to16}, %zmm26, %zmm5
#define DPH1 \
	BYTE $0x62; BYTE $0xf2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x5e; BYTE $0x01; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x66; BYTE $0x01; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x6e; BYTE $0x01

// DPH2: Z6–Z8 += Z24–Z26 · row 2's hi pair, broadcast from 8(SI): GNU as's encoding of
// vdpbf16ps 8(%rsi){1to16}, %zmm24, %zmm6; vdpbf16ps 8(%rsi){1to16}, %zmm25, %zmm7; vdpbf16ps 8(%rsi){1to16}, %zmm26, %zmm8
#define DPH2 \
	BYTE $0x62; BYTE $0xf2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x76; BYTE $0x02; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x7e; BYTE $0x02; \
	BYTE $0x62; BYTE $0x72; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x46; BYTE $0x02

// DPH3: Z9–Z11 += Z24–Z26 · row 3's hi pair, broadcast from 12(SI): GNU as's encoding of
// vdpbf16ps 12(%rsi){1to16}, %zmm24, %zmm9; vdpbf16ps 12(%rsi){1to16}, %zmm25, %zmm10; vdpbf16ps 12(%rsi){1to16}, %zmm26, %zmm11
#define DPH3 \
	BYTE $0x62; BYTE $0x72; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x4e; BYTE $0x03; \
	BYTE $0x62; BYTE $0x72; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x56; BYTE $0x03; \
	BYTE $0x62; BYTE $0x72; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x5e; BYTE $0x03

// DPH4: Z12–Z14 += Z24–Z26 · row 4's hi pair, broadcast from 16(SI): GNU as's encoding of
// vdpbf16ps 16(%rsi){1to16}, %zmm24, %zmm12; vdpbf16ps 16(%rsi){1to16}, %zmm25, %zmm13; vdpbf16ps 16(%rsi){1to16}, %zmm26, %zmm14
#define DPH4 \
	BYTE $0x62; BYTE $0x72; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x66; BYTE $0x04; \
	BYTE $0x62; BYTE $0x72; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x6e; BYTE $0x04; \
	BYTE $0x62; BYTE $0x72; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x76; BYTE $0x04

// DPH5: Z15–Z17 += Z24–Z26 · row 5's hi pair, broadcast from 20(SI): GNU as's encoding of
// vdpbf16ps 20(%rsi){1to16}, %zmm24, %zmm15; vdpbf16ps 20(%rsi){1to16}, %zmm25, %zmm16; vdpbf16ps 20(%rsi){1to16}, %zmm26, %zmm17
#define DPH5 \
	BYTE $0x62; BYTE $0x72; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x7e; BYTE $0x05; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x46; BYTE $0x05; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x4e; BYTE $0x05

// DPH6: Z18–Z20 += Z24–Z26 · row 6's hi pair, broadcast from 24(SI): GNU as's encoding of
// vdpbf16ps 24(%rsi){1to16}, %zmm24, %zmm18; vdpbf16ps 24(%rsi){1to16}, %zmm25, %zmm19; vdpbf16ps 24(%rsi){1to16}, %zmm26, %zmm20
#define DPH6 \
	BYTE $0x62; BYTE $0xe2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x56; BYTE $0x06; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x5e; BYTE $0x06; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x66; BYTE $0x06

// DPH7: Z21–Z23 += Z24–Z26 · row 7's hi pair, broadcast from 28(SI): GNU as's encoding of
// vdpbf16ps 28(%rsi){1to16}, %zmm24, %zmm21; vdpbf16ps 28(%rsi){1to16}, %zmm25, %zmm22; vdpbf16ps 28(%rsi){1to16}, %zmm26, %zmm23
#define DPH7 \
	BYTE $0x62; BYTE $0xe2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x6e; BYTE $0x07; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x76; BYTE $0x07; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x7e; BYTE $0x07

// DPL0: Z0–Z2 += Z24–Z26 · row 0's lo pair, broadcast from 32(SI): GNU as's encoding of
// vdpbf16ps 32(%rsi){1to16}, %zmm24, %zmm0; vdpbf16ps 32(%rsi){1to16}, %zmm25, %zmm1; vdpbf16ps 32(%rsi){1to16}, %zmm26, %zmm2
#define DPL0 \
	BYTE $0x62; BYTE $0xf2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x46; BYTE $0x08; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x4e; BYTE $0x08; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x56; BYTE $0x08

// DPL1: Z3–Z5 += Z24–Z26 · row 1's lo pair, broadcast from 36(SI): GNU as's encoding of
// vdpbf16ps 36(%rsi){1to16}, %zmm24, %zmm3; vdpbf16ps 36(%rsi){1to16}, %zmm25, %zmm4; vdpbf16ps 36(%rsi){1to16}, %zmm26, %zmm5
#define DPL1 \
	BYTE $0x62; BYTE $0xf2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x5e; BYTE $0x09; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x66; BYTE $0x09; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x6e; BYTE $0x09

// DPL2: Z6–Z8 += Z24–Z26 · row 2's lo pair, broadcast from 40(SI): GNU as's encoding of
// vdpbf16ps 40(%rsi){1to16}, %zmm24, %zmm6; vdpbf16ps 40(%rsi){1to16}, %zmm25, %zmm7; vdpbf16ps 40(%rsi){1to16}, %zmm26, %zmm8
#define DPL2 \
	BYTE $0x62; BYTE $0xf2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x76; BYTE $0x0a; \
	BYTE $0x62; BYTE $0xf2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x7e; BYTE $0x0a; \
	BYTE $0x62; BYTE $0x72; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x46; BYTE $0x0a

// DPL3: Z9–Z11 += Z24–Z26 · row 3's lo pair, broadcast from 44(SI): GNU as's encoding of
// vdpbf16ps 44(%rsi){1to16}, %zmm24, %zmm9; vdpbf16ps 44(%rsi){1to16}, %zmm25, %zmm10; vdpbf16ps 44(%rsi){1to16}, %zmm26, %zmm11
#define DPL3 \
	BYTE $0x62; BYTE $0x72; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x4e; BYTE $0x0b; \
	BYTE $0x62; BYTE $0x72; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x56; BYTE $0x0b; \
	BYTE $0x62; BYTE $0x72; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x5e; BYTE $0x0b

// DPL4: Z12–Z14 += Z24–Z26 · row 4's lo pair, broadcast from 48(SI): GNU as's encoding of
// vdpbf16ps 48(%rsi){1to16}, %zmm24, %zmm12; vdpbf16ps 48(%rsi){1to16}, %zmm25, %zmm13; vdpbf16ps 48(%rsi){1to16}, %zmm26, %zmm14
#define DPL4 \
	BYTE $0x62; BYTE $0x72; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x66; BYTE $0x0c; \
	BYTE $0x62; BYTE $0x72; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x6e; BYTE $0x0c; \
	BYTE $0x62; BYTE $0x72; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x76; BYTE $0x0c

// DPL5: Z15–Z17 += Z24–Z26 · row 5's lo pair, broadcast from 52(SI): GNU as's encoding of
// vdpbf16ps 52(%rsi){1to16}, %zmm24, %zmm15; vdpbf16ps 52(%rsi){1to16}, %zmm25, %zmm16; vdpbf16ps 52(%rsi){1to16}, %zmm26, %zmm17
#define DPL5 \
	BYTE $0x62; BYTE $0x72; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x7e; BYTE $0x0d; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x46; BYTE $0x0d; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x4e; BYTE $0x0d

// DPL6: Z18–Z20 += Z24–Z26 · row 6's lo pair, broadcast from 56(SI): GNU as's encoding of
// vdpbf16ps 56(%rsi){1to16}, %zmm24, %zmm18; vdpbf16ps 56(%rsi){1to16}, %zmm25, %zmm19; vdpbf16ps 56(%rsi){1to16}, %zmm26, %zmm20
#define DPL6 \
	BYTE $0x62; BYTE $0xe2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x56; BYTE $0x0e; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x5e; BYTE $0x0e; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x66; BYTE $0x0e

// DPL7: Z21–Z23 += Z24–Z26 · row 7's lo pair, broadcast from 60(SI): GNU as's encoding of
// vdpbf16ps 60(%rsi){1to16}, %zmm24, %zmm21; vdpbf16ps 60(%rsi){1to16}, %zmm25, %zmm22; vdpbf16ps 60(%rsi){1to16}, %zmm26, %zmm23
#define DPL7 \
	BYTE $0x62; BYTE $0xe2; BYTE $0x3e; BYTE $0x50; BYTE $0x52; BYTE $0x6e; BYTE $0x0f; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x36; BYTE $0x50; BYTE $0x52; BYTE $0x76; BYTE $0x0f; \
	BYTE $0x62; BYTE $0xe2; BYTE $0x2e; BYTE $0x50; BYTE $0x52; BYTE $0x7e; BYTE $0x0f

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

// CVTHI is GNU as's encoding of vcvtne2ps2bf16 %zmm0, %zmm1, %zmm2: Z2 = the 32 bf16 roundings
// of Z0 (low half) and Z1 (high half), to nearest even, denormals to zero.
#define CVTHI BYTE $0x62; BYTE $0xf2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xd0

// CVTLO is GNU as's encoding of vcvtne2ps2bf16 %zmm0, %zmm1, %zmm6: CVTHI into Z6.
#define CVTLO BYTE $0x62; BYTE $0xf2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xf0

// WIDEN widens the 16 bf16 in y to fp32 in z.
#define WIDEN(y, z) VPMOVZXWD y, z; VPSLLD $16, z, z

// FINITE zeroes the lanes of z that are not finite (z − z is 0 only where z is), Z7 = 0.
#define FINITE(z) VSUBPS z, z, Z5; VCMPPS $0, Z7, Z5, K1; VMOVAPS.Z z, K1, z

// func dpSplitBF16(hi, lo *uint16, x *float32, n, parts int)
// hi[i] = bf16(x[i]) and, where parts = 2, lo[i] = bf16(x[i] − hi[i]), 0 where that is not
// finite (x NaN or ±Inf), for i < n (a positive multiple of 32): splitBF16's split, except that
// denormals become 0, as VDPBF16PS takes them anyway.
TEXT ·dpSplitBF16(SB), NOSPLIT, $0-40
	MOVQ   hi+0(FP), DI
	MOVQ   lo+8(FP), SI
	MOVQ   x+16(FP), AX
	MOVQ   n+24(FP), CX
	MOVQ   parts+32(FP), BX
	SHRQ   $5, CX
	VPXORD Z7, Z7, Z7

dpsplitloop:
	VMOVUPS (AX), Z0
	VMOVUPS 64(AX), Z1
	CVTHI
	VMOVDQU32 Z2, (DI)
	CMPQ    BX, $1
	JEQ     dpsplitnext
	WIDEN(Y2, Z3)
	VEXTRACTI64X4 $1, Z2, Y4
	WIDEN(Y4, Z4)
	VSUBPS  Z3, Z0, Z0
	VSUBPS  Z4, Z1, Z1
	FINITE(Z0)
	FINITE(Z1)
	CVTLO
	VMOVDQU32 Z6, (SI)

dpsplitnext:
	ADDQ $128, AX
	ADDQ $64, DI
	ADDQ $64, SI
	DECQ CX
	JNZ  dpsplitloop
	VZEROUPPER
	RET

// func prefetchRows(w *uint16, stride, rows, bytes int)
// Prefetches (PREFETCHT0) every 64-byte line of rows rows of bytes bytes (positive), stride
// bytes apart, from w on.
TEXT ·prefetchRows(SB), NOSPLIT, $0-32
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), DX
	MOVQ rows+16(FP), CX
	MOVQ bytes+24(FP), BX

prefetchrow:
	XORQ AX, AX

prefetchline:
	PREFETCHT0 (SI)(AX*1)
	ADDQ       $64, AX
	CMPQ       AX, BX
	JB         prefetchline
	ADDQ       DX, SI
	DECQ       CX
	JNZ        prefetchrow
	RET
