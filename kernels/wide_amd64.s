#include "textflag.h"

// Matrix-vector products over four weight rows and one or four rows of x, or two weight rows
// and eight rows of x (the 8-row kernels at the end), with fp32 FMAs, for bf16 weights
// (widened in registers, VPMOVZXWD + VPSLLD) and fp32 weights: the same frame as the VDPBF16PS
// kernels of dpbf16_amd64.s (whose DPARGS, DPGROUP, PFGROUP, REDUCE, ZERO16 and STORE16 they share, in
// rows.h), 16 steps per iteration. Every (x row, weight row) pair has one accumulator and one
// fixed reduction, so the 4- and 8-row kernels' results equal the 1-row kernels' bit for bit.

#include "rows.h"

#define FROW0 VFMADD231PS Z16, Z20, Z0; VFMADD231PS Z17, Z20, Z1; VFMADD231PS Z18, Z20, Z2; VFMADD231PS Z19, Z20, Z3
#define FROW1 VFMADD231PS Z16, Z21, Z4; VFMADD231PS Z17, Z21, Z5; VFMADD231PS Z18, Z21, Z6; VFMADD231PS Z19, Z21, Z7
#define FROW2 VFMADD231PS Z16, Z22, Z8; VFMADD231PS Z17, Z22, Z9; VFMADD231PS Z18, Z22, Z10; VFMADD231PS Z19, Z22, Z11
#define FROW3 VFMADD231PS Z16, Z23, Z12; VFMADD231PS Z17, Z23, Z13; VFMADD231PS Z18, Z23, Z14; VFMADD231PS Z19, Z23, Z15

// WIDEBF16 loads 16 bf16 of each of the four weight rows at offset BX, widened, and prefetches
// the next group (PFGROUP, PFNEXT2).
#define WIDEBF16 \
	VPMOVZXWD (R8)(BX*1), Z16; \
	VPMOVZXWD (R9)(BX*1), Z17; \
	VPMOVZXWD (R10)(BX*1), Z18; \
	VPMOVZXWD (R11)(BX*1), Z19; \
	VPSLLD    $16, Z16, Z16; \
	VPSLLD    $16, Z17, Z17; \
	VPSLLD    $16, Z18, Z18; \
	VPSLLD    $16, Z19, Z19; \
	PFNEXT2

// WIDEF32 loads 16 fp32 of each of the four weight rows at offset BX and prefetches the next
// group.
#define WIDEF32 \
	VMOVUPS (R8)(BX*1), Z16; \
	VMOVUPS (R9)(BX*1), Z17; \
	VMOVUPS (R10)(BX*1), Z18; \
	VMOVUPS (R11)(BX*1), Z19; \
	PFNEXT4

// STORE4 stores the four sums of the 1-row kernels and moves to the next group of weight rows.
#define STORE4 \
	REDUCE(Z0, Y0, X0, (DI)); \
	REDUCE(Z1, Y1, X1, 4(DI)); \
	REDUCE(Z2, Y2, X2, 8(DI)); \
	REDUCE(Z3, Y3, X3, 12(DI)); \
	ADDQ $16, DI; \
	LEAQ (R11)(R14*1), R8; \
	DECQ R12

#define ZERO4 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3

// LOADX4 loads 16 steps of the four x rows (row stride R13, three strides R15).
#define LOADX4 \
	VMOVUPS (AX), Z20; \
	VMOVUPS (AX)(R13*1), Z21; \
	VMOVUPS (AX)(R13*2), Z22; \
	VMOVUPS (AX)(R15*1), Z23

// The 8-row kernels (see rows.h) load x with FMAX, which adds the products of one x row with
// both weight rows.

// GROUP2 points R9 at the weight row after R8, R10 at x row 4, and restarts the walk along k.
#define GROUP2 \
	LEAQ (R8)(R14*1), R9; \
	LEAQ (SI)(R13*4), R10; \
	XORQ BX, BX; \
	MOVQ SI, AX

// FMAX loads 16 steps of one x row from addr into z and adds its products with both weight
// rows into a0 (Z26's) and a1 (Z27's).
#define FMAX(addr, z, a0, a1) \
	VMOVUPS     addr, z; \
	VFMADD231PS z, Z26, a0; \
	VFMADD231PS z, Z27, a1

#define FMA8PAIR \
	FMAX((AX), Z28, Z0, Z1); \
	FMAX((AX)(R13*1), Z29, Z2, Z3); \
	FMAX((AX)(R13*2), Z30, Z4, Z5); \
	FMAX((AX)(R15*1), Z31, Z6, Z7); \
	FMAX((R10), Z28, Z8, Z9); \
	FMAX((R10)(R13*1), Z29, Z10, Z11); \
	FMAX((R10)(R13*2), Z30, Z12, Z13); \
	FMAX((R10)(R15*1), Z31, Z14, Z15)

// func wideBF16Rows1(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)
// out[r] = x · w[r] for r < rows (a positive multiple of 4), k a positive multiple of 16; ldo,
// ldx and parts unused.
TEXT ·wideBF16Rows1(SB), NOSPLIT, $0-72
	DPARGS
	SHLQ $1, R13

wb1group:
	PFGROUP
	ZERO4

wb1k:
	WIDEBF16
	VMOVUPS (AX), Z20
	FROW0
	ADDQ    $64, AX
	ADDQ    $32, BX
	CMPQ    BX, CX
	JB      wb1k
	STORE4
	JNZ     wb1group
	VZEROUPPER
	RET

// func wideBF16Rows4(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int)
// wideBF16Rows1 for four rows of x (row i at x[i·ldx], outputs at out[i·ldo]).
TEXT ·wideBF16Rows4(SB), NOSPLIT, $0-72
	DPARGS
	SHLQ $1, R13
	LEAQ (R13)(R13*2), R15

wb4group:
	PFGROUP
	ZERO16

wb4k:
	WIDEBF16
	LOADX4
	FROW0
	FROW1
	FROW2
	FROW3
	ADDQ $64, AX
	ADDQ $32, BX
	CMPQ BX, CX
	JB   wb4k
	STORE16
	JNZ  wb4group
	VZEROUPPER
	RET

// func wideF32Rows1(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)
// wideBF16Rows1 for fp32 weights.
TEXT ·wideF32Rows1(SB), NOSPLIT, $0-72
	DPARGS
	SHLQ $1, R13
	SHLQ $1, CX
	SHLQ $1, R14

wf1group:
	PFGROUP
	ZERO4

wf1k:
	WIDEF32
	VMOVUPS (AX), Z20
	FROW0
	ADDQ    $64, AX
	ADDQ    $64, BX
	CMPQ    BX, CX
	JB      wf1k
	STORE4
	JNZ     wf1group
	VZEROUPPER
	RET

// func wideF32Rows4(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int)
// wideBF16Rows4 for fp32 weights.
TEXT ·wideF32Rows4(SB), NOSPLIT, $0-72
	DPARGS
	SHLQ $1, R13
	SHLQ $1, CX
	SHLQ $1, R14
	LEAQ (R13)(R13*2), R15

wf4group:
	PFGROUP
	ZERO16

wf4k:
	WIDEF32
	LOADX4
	FROW0
	FROW1
	FROW2
	FROW3
	ADDQ $64, AX
	ADDQ $64, BX
	CMPQ BX, CX
	JB   wf4k
	STORE16
	JNZ  wf4group
	VZEROUPPER
	RET

// func wideBF16Rows8(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts, mode int, acc *float32)
// wideBF16Rows1 for eight rows of x (row i at x[i·ldx], outputs at out[i·ldo]), over part
// of k as mode says (see above).
TEXT ·wideBF16Rows8(SB), NOSPLIT, $0-88
	ROWS8ARGS
	SHLQ $1, R13
	X8STRIDES

wb8group:
	GROUP2
	START8(wb8resumed, wb8started)

wb8k:
	VPMOVZXWD  (R8)(BX*1), Z26
	VPMOVZXWD  (R9)(BX*1), Z27
	VPSLLD     $16, Z26, Z26
	VPSLLD     $16, Z27, Z27
	PREFETCHT0 PFD(R8)(BX*1)
	PREFETCHT0 PFD(R9)(BX*1)
	FMA8PAIR
	ADDQ       $64, AX
	ADDQ       $64, R10
	ADDQ       $32, BX
	CMPQ       BX, CX
	JB         wb8k
	STORE2x8(wb8spill, wb8next)
	JNZ        wb8group
	VZEROUPPER
	RET

// func wideF32Rows8(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts, mode int, acc *float32)
// wideBF16Rows8 for fp32 weights.
TEXT ·wideF32Rows8(SB), NOSPLIT, $0-88
	ROWS8ARGS
	SHLQ $1, R13
	X8STRIDES
	SHLQ $1, CX
	SHLQ $1, R14

wf8group:
	GROUP2
	START8(wf8resumed, wf8started)

wf8k:
	VMOVUPS    (R8)(BX*1), Z26
	VMOVUPS    (R9)(BX*1), Z27
	PREFETCHT0 PFD(R8)(BX*1)
	PREFETCHT0 PFD(R9)(BX*1)
	FMA8PAIR
	ADDQ       $64, AX
	ADDQ       $64, R10
	ADDQ       $64, BX
	CMPQ       BX, CX
	JB         wf8k
	STORE2x8(wf8spill, wf8next)
	JNZ        wf8group
	VZEROUPPER
	RET
