#include "textflag.h"

// Transposing packs for the blocked product: dst[p*width+r] = src[r*rs+p] for r < width and
// p < kc (both positive multiples of 8), in 8×8 blocks transposed in registers (unpack,
// shuffle, lane permute). They pack Linear's operands, whose rows run along k; the bf16
// variant widens each weight on the way. Registers: R8/R11/R12 point at rows 0/3/6 of the
// current 8-row group (AX = row stride in bytes), BX/R13/R14 at columns 0/3/6 of the current
// 8-column block of dst (DX = width·4), CX counts the 8-column blocks, R9 the row groups.
// Each row is read for only kc elements before the next group, too short a stretch for the
// hardware prefetcher, so R10/R15 (rows 8 and 11) prefetch the next group's rows.

#define PACK_ARGS(elemshift) \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), SI; \
	MOVQ rs+16(FP), AX; \
	SHLQ $elemshift, AX; \
	MOVQ width+32(FP), DX; \
	MOVQ DX, R9; \
	SHLQ $2, DX; \
	SHRQ $3, R9

// GROUP_PTRS points R8, R11, R12 at rows 0, 3, 6 of the group starting at SI and BX at DI,
// and loads the block count.
#define GROUP_PTRS \
	MOVQ SI, R8; \
	LEAQ (R8)(AX*2), R11; \
	ADDQ AX, R11; \
	LEAQ (R11)(AX*2), R12; \
	ADDQ AX, R12; \
	LEAQ (R8)(AX*8), R10; \
	LEAQ (R11)(AX*8), R15; \
	MOVQ DI, BX; \
	MOVQ kc+24(FP), CX; \
	SHRQ $3, CX

// PREFETCH_NEXT prefetches the current columns of rows 8–15.
#define PREFETCH_NEXT \
	PREFETCHT0 (R10); \
	PREFETCHT0 (R10)(AX*1); \
	PREFETCHT0 (R10)(AX*2); \
	PREFETCHT0 (R15); \
	PREFETCHT0 (R15)(AX*1); \
	PREFETCHT0 (R15)(AX*2); \
	PREFETCHT0 (R12)(AX*8); \
	PREFETCHT0 (R15)(AX*4)

// NEXT_BLOCK moves the row pointers on by n bytes.
#define NEXT_BLOCK(n) \
	ADDQ $n, R8; \
	ADDQ $n, R11; \
	ADDQ $n, R12; \
	ADDQ $n, R10; \
	ADDQ $n, R15

// LOADF32 loads 8 floats from each of the 8 rows into Y0–Y7.
#define LOADF32 \
	VMOVUPS (R8), Y0; \
	VMOVUPS (R8)(AX*1), Y1; \
	VMOVUPS (R8)(AX*2), Y2; \
	VMOVUPS (R11), Y3; \
	VMOVUPS (R11)(AX*1), Y4; \
	VMOVUPS (R11)(AX*2), Y5; \
	VMOVUPS (R12), Y6; \
	VMOVUPS (R12)(AX*1), Y7

#define WIDEN(mem, y) \
	VPMOVZXWD mem, y; \
	VPSLLD    $16, y, y

// LOADBF16 loads 8 bf16 values from each of the 8 rows, widened to fp32, into Y0–Y7.
#define LOADBF16 \
	WIDEN((R8), Y0); \
	WIDEN((R8)(AX*1), Y1); \
	WIDEN((R8)(AX*2), Y2); \
	WIDEN((R11), Y3); \
	WIDEN((R11)(AX*1), Y4); \
	WIDEN((R11)(AX*2), Y5); \
	WIDEN((R12), Y6); \
	WIDEN((R12)(AX*1), Y7)

// TRANSPOSE_STORE transposes Y0–Y7 (row i in Yi), stores column j at BX + j·DX and moves BX
// on by 8 columns.
#define TRANSPOSE_STORE \
	VUNPCKLPS  Y1, Y0, Y8; \
	VUNPCKHPS  Y1, Y0, Y9; \
	VUNPCKLPS  Y3, Y2, Y10; \
	VUNPCKHPS  Y3, Y2, Y11; \
	VUNPCKLPS  Y5, Y4, Y12; \
	VUNPCKHPS  Y5, Y4, Y13; \
	VUNPCKLPS  Y7, Y6, Y14; \
	VUNPCKHPS  Y7, Y6, Y15; \
	VSHUFPS    $0x44, Y10, Y8, Y0; \
	VSHUFPS    $0xEE, Y10, Y8, Y1; \
	VSHUFPS    $0x44, Y11, Y9, Y2; \
	VSHUFPS    $0xEE, Y11, Y9, Y3; \
	VSHUFPS    $0x44, Y14, Y12, Y4; \
	VSHUFPS    $0xEE, Y14, Y12, Y5; \
	VSHUFPS    $0x44, Y15, Y13, Y6; \
	VSHUFPS    $0xEE, Y15, Y13, Y7; \
	LEAQ       (BX)(DX*2), R13; \
	ADDQ       DX, R13; \
	LEAQ       (R13)(DX*2), R14; \
	ADDQ       DX, R14; \
	VPERM2F128 $0x20, Y4, Y0, Y8; \
	VPERM2F128 $0x20, Y5, Y1, Y9; \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15; \
	VMOVUPS    Y8, (BX); \
	VMOVUPS    Y9, (BX)(DX*1); \
	VMOVUPS    Y10, (BX)(DX*2); \
	VMOVUPS    Y11, (R13); \
	VMOVUPS    Y12, (R13)(DX*1); \
	VMOVUPS    Y13, (R13)(DX*2); \
	VMOVUPS    Y14, (R14); \
	VMOVUPS    Y15, (R14)(DX*1); \
	LEAQ       (R14)(DX*2), BX

// func packTransposeF32AVX2(dst, src *float32, rs, kc, width int)
TEXT ·packTransposeF32AVX2(SB), NOSPLIT, $0-40
	PACK_ARGS(2)

f32group:
	GROUP_PTRS

f32block:
	PREFETCH_NEXT
	LOADF32
	TRANSPOSE_STORE
	NEXT_BLOCK(32)
	DECQ CX
	JNZ  f32block

	LEAQ (SI)(AX*8), SI
	ADDQ $32, DI
	DECQ R9
	JNZ  f32group
	VZEROUPPER
	RET

// func packTransposeBF16AVX2(dst *float32, src *uint16, rs, kc, width int)
TEXT ·packTransposeBF16AVX2(SB), NOSPLIT, $0-40
	PACK_ARGS(1)

b16group:
	GROUP_PTRS

b16block:
	PREFETCH_NEXT
	LOADBF16
	TRANSPOSE_STORE
	NEXT_BLOCK(16)
	DECQ CX
	JNZ  b16block

	LEAQ (SI)(AX*8), SI
	ADDQ $32, DI
	DECQ R9
	JNZ  b16group
	VZEROUPPER
	RET

// LOAD6F32 loads 8 floats from each of rows 0–5 into Y0–Y5 and zeroes Y6, Y7.
#define LOAD6F32 \
	VMOVUPS (R8), Y0; \
	VMOVUPS (R8)(AX*1), Y1; \
	VMOVUPS (R8)(AX*2), Y2; \
	VMOVUPS (R11), Y3; \
	VMOVUPS (R11)(AX*1), Y4; \
	VMOVUPS (R11)(AX*2), Y5; \
	VXORPS  Y6, Y6, Y6; \
	VXORPS  Y7, Y7, Y7

// func packTranspose6F32AVX2(dst, src *float32, rs, kc int)
// The transposing pack for panels of 6 rows (width 6, the AVX2 micro-kernel's A side). Each
// column is stored as 8 floats, so it spills 2 zeros into the next column, which the next
// store overwrites; the last column spills 2 floats past dst[kc·6], which the caller provides.
TEXT ·packTranspose6F32AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), BX
	MOVQ src+8(FP), R8
	MOVQ rs+16(FP), AX
	SHLQ $2, AX
	MOVQ $24, DX
	LEAQ (R8)(AX*2), R11
	ADDQ AX, R11
	MOVQ kc+24(FP), CX
	SHRQ $3, CX

six:
	LOAD6F32
	TRANSPOSE_STORE
	ADDQ $32, R8
	ADDQ $32, R11
	DECQ CX
	JNZ  six
	VZEROUPPER
	RET
