#include "textflag.h"

// Matrix-vector products out[r] = Σ_p w[r][p]·x[p], four weight rows at a time (row pointers
// R8–R11, byte offset BX into the rows), two accumulators per row. Weights stream from memory
// once, so each row is prefetched PFD bytes ahead; x stays in L1.

#define PFD 1024

// Arguments shared by all four kernels: out → DI, x → SI, first row → R8, row stride → DX
// (bytes, elemshift = log2 of the weight element size), end offset → CX, groups of 4 → R12.
#define ARGS(elemshift) \
	MOVQ out+0(FP), DI; \
	MOVQ x+8(FP), SI; \
	MOVQ w+16(FP), R8; \
	MOVQ k+24(FP), CX; \
	SHLQ $elemshift, CX; \
	MOVQ ldw+32(FP), DX; \
	SHLQ $elemshift, DX; \
	MOVQ rows+40(FP), R12; \
	SHRQ $2, R12

#define ROWPTRS \
	LEAQ (R8)(DX*1), R9; \
	LEAQ (R9)(DX*1), R10; \
	LEAQ (R10)(DX*1), R11; \
	XORQ BX, BX

#define PREFETCH4(off) \
	PREFETCHT0 PFD+off(R8)(BX*1); \
	PREFETCHT0 PFD+off(R9)(BX*1); \
	PREFETCHT0 PFD+off(R10)(BX*1); \
	PREFETCHT0 PFD+off(R11)(BX*1)

// REDUCE4 sums Y0, Y1, Y2, Y3 (eight lanes each) into X0 = [Σy0, Σy1, Σy2, Σy3], stores it at
// (DI), and moves to the next output and weight group.
#define REDUCE4 \
	VHADDPS      Y1, Y0, Y0; \
	VHADDPS      Y3, Y2, Y2; \
	VHADDPS      Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVUPS      X0, (DI); \
	ADDQ         $16, DI; \
	LEAQ         (R11)(DX*1), R8

// HALVE512 folds the two accumulators of a row (z, zhi) and the upper half of the zmm onto y.
#define HALVE512(z, zhi, y) \
	VADDPS        zhi, z, z; \
	VEXTRACTF64X4 $1, z, Y8; \
	VADDPS        Y8, y, y

#define ZERO512 \
	VXORPS Z0, Z0, Z0; \
	VXORPS Z1, Z1, Z1; \
	VXORPS Z2, Z2, Z2; \
	VXORPS Z3, Z3, Z3; \
	VXORPS Z4, Z4, Z4; \
	VXORPS Z5, Z5, Z5; \
	VXORPS Z6, Z6, Z6; \
	VXORPS Z7, Z7, Z7

#define ZERO256 \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7

// func gemvF32AVX512(out, x, w *float32, k, ldw, rows int)
// k is a positive multiple of 32 and rows a multiple of 4.
TEXT ·gemvF32AVX512(SB), NOSPLIT, $0-48
	ARGS(2)
	TESTQ R12, R12
	JZ    f512done

f512group:
	ROWPTRS
	ZERO512

f512loop:
	VMOVUPS     (SI)(BX*1), Z16
	VMOVUPS     64(SI)(BX*1), Z17
	PREFETCH4(0)
	PREFETCH4(64)
	VFMADD231PS (R8)(BX*1), Z16, Z0
	VFMADD231PS 64(R8)(BX*1), Z17, Z4
	VFMADD231PS (R9)(BX*1), Z16, Z1
	VFMADD231PS 64(R9)(BX*1), Z17, Z5
	VFMADD231PS (R10)(BX*1), Z16, Z2
	VFMADD231PS 64(R10)(BX*1), Z17, Z6
	VFMADD231PS (R11)(BX*1), Z16, Z3
	VFMADD231PS 64(R11)(BX*1), Z17, Z7
	ADDQ        $128, BX
	CMPQ        BX, CX
	JB          f512loop

	HALVE512(Z0, Z4, Y0)
	HALVE512(Z1, Z5, Y1)
	HALVE512(Z2, Z6, Y2)
	HALVE512(Z3, Z7, Y3)
	REDUCE4
	DECQ R12
	JNZ  f512group

f512done:
	VZEROUPPER
	RET

// WIDEN512 loads 32 bf16 weights of one row and accumulates them against x (Z16, Z17).
#define WIDEN512(row, t0, t1, acc0, acc1) \
	VPMOVZXWD   (row)(BX*1), t0; \
	VPMOVZXWD   32(row)(BX*1), t1; \
	VPSLLD      $16, t0, t0; \
	VPSLLD      $16, t1, t1; \
	VFMADD231PS t0, Z16, acc0; \
	VFMADD231PS t1, Z17, acc1

// func gemvBF16AVX512(out, x *float32, w *uint16, k, ldw, rows int)
// k is a positive multiple of 32 and rows a multiple of 4.
TEXT ·gemvBF16AVX512(SB), NOSPLIT, $0-48
	ARGS(1)
	TESTQ R12, R12
	JZ    b512done

b512group:
	ROWPTRS
	ZERO512

b512loop:
	VMOVUPS (SI)(BX*2), Z16
	VMOVUPS 64(SI)(BX*2), Z17
	PREFETCH4(0)
	WIDEN512(R8, Z18, Z19, Z0, Z4)
	WIDEN512(R9, Z20, Z21, Z1, Z5)
	WIDEN512(R10, Z22, Z23, Z2, Z6)
	WIDEN512(R11, Z24, Z25, Z3, Z7)
	ADDQ    $64, BX
	CMPQ    BX, CX
	JB      b512loop

	HALVE512(Z0, Z4, Y0)
	HALVE512(Z1, Z5, Y1)
	HALVE512(Z2, Z6, Y2)
	HALVE512(Z3, Z7, Y3)
	REDUCE4
	DECQ R12
	JNZ  b512group

b512done:
	VZEROUPPER
	RET

// func gemvF32AVX2(out, x, w *float32, k, ldw, rows int)
// k is a positive multiple of 16 and rows a multiple of 4.
TEXT ·gemvF32AVX2(SB), NOSPLIT, $0-48
	ARGS(2)
	TESTQ R12, R12
	JZ    f256done

f256group:
	ROWPTRS
	ZERO256

f256loop:
	VMOVUPS     (SI)(BX*1), Y8
	VMOVUPS     32(SI)(BX*1), Y9
	PREFETCH4(0)
	VFMADD231PS (R8)(BX*1), Y8, Y0
	VFMADD231PS 32(R8)(BX*1), Y9, Y4
	VFMADD231PS (R9)(BX*1), Y8, Y1
	VFMADD231PS 32(R9)(BX*1), Y9, Y5
	VFMADD231PS (R10)(BX*1), Y8, Y2
	VFMADD231PS 32(R10)(BX*1), Y9, Y6
	VFMADD231PS (R11)(BX*1), Y8, Y3
	VFMADD231PS 32(R11)(BX*1), Y9, Y7
	ADDQ        $64, BX
	CMPQ        BX, CX
	JB          f256loop

	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	REDUCE4
	DECQ R12
	JNZ  f256group

f256done:
	VZEROUPPER
	RET

// WIDEN256 loads 16 bf16 weights of one row and accumulates them against x (Y8, Y9).
#define WIDEN256(row, t0, t1, acc0, acc1) \
	VPMOVZXWD   (row)(BX*1), t0; \
	VPMOVZXWD   16(row)(BX*1), t1; \
	VPSLLD      $16, t0, t0; \
	VPSLLD      $16, t1, t1; \
	VFMADD231PS t0, Y8, acc0; \
	VFMADD231PS t1, Y9, acc1

// func gemvBF16AVX2(out, x *float32, w *uint16, k, ldw, rows int)
// k is a positive multiple of 16 and rows a multiple of 4.
TEXT ·gemvBF16AVX2(SB), NOSPLIT, $0-48
	ARGS(1)
	TESTQ R12, R12
	JZ    b256done

b256group:
	ROWPTRS
	ZERO256

b256loop:
	VMOVUPS (SI)(BX*2), Y8
	VMOVUPS 32(SI)(BX*2), Y9
	PREFETCH4(0)
	WIDEN256(R8, Y10, Y11, Y0, Y4)
	WIDEN256(R9, Y12, Y13, Y1, Y5)
	WIDEN256(R10, Y14, Y15, Y2, Y6)
	WIDEN256(R11, Y10, Y11, Y3, Y7)
	ADDQ    $32, BX
	CMPQ    BX, CX
	JB      b256loop

	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	REDUCE4
	DECQ R12
	JNZ  b256group

b256done:
	VZEROUPPER
	RET

// func gemv2BF16AVX2(out0, out1, x0, x1 *float32, w *uint16, k, ldw, rows int)
// gemvBF16AVX2 for two vectors at once: out0[r] = Σ_p w[r][p]·x0[p] and out1[r] likewise
// with x1, each bit for bit as gemvBF16AVX2 computes it (the same two accumulators per row and
// vector, the same order of additions, the same final reduction), but every widened weight
// serves both vectors. Two weight rows at a time (R8, R9); k is a positive multiple of 16 and
// rows a multiple of 4.
TEXT ·gemv2BF16AVX2(SB), NOSPLIT, $0-64
	MOVQ out0+0(FP), DI
	MOVQ out1+8(FP), R14
	MOVQ x0+16(FP), SI
	MOVQ x1+24(FP), R13
	MOVQ w+32(FP), R8
	MOVQ k+40(FP), CX
	SHLQ $1, CX
	MOVQ ldw+48(FP), DX
	SHLQ $1, DX
	MOVQ rows+56(FP), R12
	SHRQ $1, R12
	TESTQ R12, R12
	JZ    b2done

b2pair:
	LEAQ (R8)(DX*1), R9
	XORQ BX, BX
	ZERO256

b2loop:
	VMOVUPS     (SI)(BX*2), Y8
	VMOVUPS     32(SI)(BX*2), Y9
	VMOVUPS     (R13)(BX*2), Y10
	VMOVUPS     32(R13)(BX*2), Y11
	PREFETCHT0  PFD(R8)(BX*1)
	PREFETCHT0  PFD(R9)(BX*1)
	VPMOVZXWD   (R8)(BX*1), Y12
	VPMOVZXWD   16(R8)(BX*1), Y13
	VPMOVZXWD   (R9)(BX*1), Y14
	VPMOVZXWD   16(R9)(BX*1), Y15
	VPSLLD      $16, Y12, Y12
	VPSLLD      $16, Y13, Y13
	VPSLLD      $16, Y14, Y14
	VPSLLD      $16, Y15, Y15
	VFMADD231PS Y12, Y8, Y0
	VFMADD231PS Y13, Y9, Y4
	VFMADD231PS Y14, Y8, Y1
	VFMADD231PS Y15, Y9, Y5
	VFMADD231PS Y12, Y10, Y2
	VFMADD231PS Y13, Y11, Y6
	VFMADD231PS Y14, Y10, Y3
	VFMADD231PS Y15, Y11, Y7
	ADDQ        $32, BX
	CMPQ        BX, CX
	JB          b2loop

	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVLPS      X0, (DI)
	VMOVHPS      X0, (R14)
	ADDQ         $8, DI
	ADDQ         $8, R14
	LEAQ         (R9)(DX*1), R8
	DECQ         R12
	JNZ          b2pair

b2done:
	VZEROUPPER
	RET
