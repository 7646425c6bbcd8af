#include "textflag.h"

// Dot-product tiles for products with few rows: for each of `groups` groups of four rows i of
// x (row stride ldx floats, groups back to back) and three weight rows r (read in place, row
// stride ldw elements), sums[12g+4r+i] = Σ_p w[r][p]·x[4g+i][p] over k steps (a positive
// multiple of 16). Twelve ymm accumulators each hold eight partial sums along p; per step the
// three weight vectors are widened once into Y12–Y14 and each x vector, loaded once into Y15,
// meets all three. The weight rows stay in L1 across the groups; the three rows pf bytes
// further on (the next tile) are prefetched meanwhile, so that memory and arithmetic overlap.

// bf16hi keeps the upper bf16 of each 32-bit lane: the odd-indexed weight, already an fp32.
DATA bf16hi<>+0(SB)/8, $0xffff0000ffff0000
DATA bf16hi<>+8(SB)/8, $0xffff0000ffff0000
DATA bf16hi<>+16(SB)/8, $0xffff0000ffff0000
DATA bf16hi<>+24(SB)/8, $0xffff0000ffff0000
GLOBL bf16hi<>(SB), RODATA|NOPTR, $32

// DOTARGS loads sums → DI, x → SI, the x row stride → DX (bytes), the weight row pointers →
// R12, R13, R14, the end offset into the weights → CX and the prefetch offset → R8 (bytes,
// elemshift = log2 of the weight element size).
#define DOTARGS(elemshift) \
	MOVQ sums+0(FP), DI; \
	MOVQ x+8(FP), SI; \
	MOVQ ldx+16(FP), DX; \
	SHLQ $2, DX; \
	MOVQ w+24(FP), R12; \
	MOVQ ldw+32(FP), AX; \
	SHLQ $elemshift, AX; \
	LEAQ (R12)(AX*1), R13; \
	LEAQ (R13)(AX*1), R14; \
	MOVQ k+40(FP), CX; \
	SHLQ $elemshift, CX; \
	MOVQ pf+48(FP), R8

// DOTGROUP points R9–R11 at the group's other x rows and clears the offset BX and the
// accumulators.
#define DOTGROUP \
	LEAQ   (SI)(DX*1), R9; \
	LEAQ   (R9)(DX*1), R10; \
	LEAQ   (R10)(DX*1), R11; \
	XORQ   BX, BX; \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11

// PREFETCH3 prefetches the line at offset BX of the three weight rows R8 bytes ahead.
#define PREFETCH3 \
	LEAQ       (R12)(R8*1), AX; \
	PREFETCHT0 (AX)(BX*1); \
	LEAQ       (R13)(R8*1), AX; \
	PREFETCHT0 (AX)(BX*1); \
	LEAQ       (R14)(R8*1), AX; \
	PREFETCHT0 (AX)(BX*1)

// FMA3 loads eight floats of one x row and accumulates them against the three weight vectors.
#define FMA3(xaddr, a0, a1, a2) \
	VMOVUPS     xaddr, Y15; \
	VFMADD231PS Y15, Y12, a0; \
	VFMADD231PS Y15, Y13, a1; \
	VFMADD231PS Y15, Y14, a2

// FMA12 runs FMA3 for the four x rows at byte offset off (scale: bytes of x per weight byte).
#define FMA12(off, scale) \
	FMA3(off(SI)(BX*scale), Y0, Y4, Y8); \
	FMA3(off(R9)(BX*scale), Y1, Y5, Y9); \
	FMA3(off(R10)(BX*scale), Y2, Y6, Y10); \
	FMA3(off(R11)(BX*scale), Y3, Y7, Y11)

// REDUCE4 stores [Σa, Σb, Σc, Σd] (the lanes of each accumulator summed) at off(DI).
#define REDUCE4(a, b, c, d, xa, xb, off) \
	VHADDPS      b, a, a; \
	VHADDPS      d, c, c; \
	VHADDPS      c, a, a; \
	VEXTRACTF128 $1, a, xb; \
	VADDPS       xb, xa, xa; \
	VMOVUPS      xa, off(DI)

// DOTNEXT stores the group's twelve sums and moves to the next group, or returns.
#define DOTNEXT(label) \
	REDUCE4(Y0, Y1, Y2, Y3, X0, X1, 0); \
	REDUCE4(Y4, Y5, Y6, Y7, X4, X5, 16); \
	REDUCE4(Y8, Y9, Y10, Y11, X8, X9, 32); \
	ADDQ $48, DI; \
	LEAQ (R11)(DX*1), SI; \
	DECQ groups+56(FP); \
	JNZ  label; \
	VZEROUPPER; \
	RET

// func dotTileF32AVX2(sums, x *float32, ldx int, w *float32, ldw, k, pf, groups int)
TEXT ·dotTileF32AVX2(SB), NOSPLIT, $0-64
	DOTARGS(2)

f32group:
	DOTGROUP

f32loop:
	PREFETCH3
	VMOVUPS (R12)(BX*1), Y12
	VMOVUPS (R13)(BX*1), Y13
	VMOVUPS (R14)(BX*1), Y14
	FMA12(0, 1)
	VMOVUPS 32(R12)(BX*1), Y12
	VMOVUPS 32(R13)(BX*1), Y13
	VMOVUPS 32(R14)(BX*1), Y14
	FMA12(32, 1)
	ADDQ    $64, BX
	CMPQ    BX, CX
	JB      f32loop
	DOTNEXT(f32group)

// func dotTileBF16AVX2(sums, x *float32, ldx int, w *uint16, ldw, k, pf, groups int)
// x is permuted in blocks of 16 (see permuteBF16Order): the eight even-indexed elements, then
// the eight odd ones, matching a 32-byte load of sixteen bf16 weights split into the lower
// halves of its 32-bit lanes (shifted up) and the upper halves (masked).
TEXT ·dotTileBF16AVX2(SB), NOSPLIT, $0-64
	DOTARGS(1)

b16group:
	DOTGROUP

b16loop:
	PREFETCH3
	VMOVDQU (R12)(BX*1), Y12
	VMOVDQU (R13)(BX*1), Y13
	VMOVDQU (R14)(BX*1), Y14
	VPSLLD  $16, Y12, Y12
	VPSLLD  $16, Y13, Y13
	VPSLLD  $16, Y14, Y14
	FMA12(0, 2)
	VMOVDQU (R12)(BX*1), Y12
	VMOVDQU (R13)(BX*1), Y13
	VMOVDQU (R14)(BX*1), Y14
	VPAND   bf16hi<>(SB), Y12, Y12
	VPAND   bf16hi<>(SB), Y13, Y13
	VPAND   bf16hi<>(SB), Y14, Y14
	FMA12(32, 2)
	ADDQ    $32, BX
	CMPQ    BX, CX
	JB      b16loop
	DOTNEXT(b16group)
