#include "textflag.h"

// GEMM micro-kernels: c[i·ldc+j] (+)= Σ_{p<kc} a[p·MR+i]·b[p·NR+j] for an MR×NR tile, with a
// and b packed panels (see gemm.go). Each k step loads the NR values of b into two vector registers,
// broadcasts the MR values of a in turn and issues 2·MR FMAs into the accumulators.
//
// The AVX2 kernel runs 4 k steps per loop iteration and prefetches its C tile before the loop;
// on Zen 3 in a 1024³ product the unrolling gained 15 % and the prefetch 8 % (software
// prefetching of packed A ahead of the loads gained nothing measurable, the hardware
// prefetcher follows it).
//
// Registers: CX kc, SI a, DI b, DX current row of c, R8 ldc in bytes, AX add, R9 (AVX2) the
// row of c being prefetched.

#define GEMM_ARGS \
	MOVQ kc+0(FP), CX; \
	MOVQ a+8(FP), SI; \
	MOVQ b+16(FP), DI; \
	MOVQ c+24(FP), DX; \
	MOVQ ldc+32(FP), R8; \
	SHLQ $2, R8; \
	MOVBLZX add+40(FP), AX

// PREFETCH_C6 asks for the 6 rows of the C tile (64 bytes each, so up to 2 cache lines) while
// the k loop runs: C is read or written only at the end, and its rows, ldc apart, are too far
// apart for the hardware prefetcher.
#define PREFETCH_C6 \
	MOVQ DX, R9; \
	PREFETCHT0 (R9); PREFETCHT0 60(R9); ADDQ R8, R9; \
	PREFETCHT0 (R9); PREFETCHT0 60(R9); ADDQ R8, R9; \
	PREFETCHT0 (R9); PREFETCHT0 60(R9); ADDQ R8, R9; \
	PREFETCHT0 (R9); PREFETCHT0 60(R9); ADDQ R8, R9; \
	PREFETCHT0 (R9); PREFETCHT0 60(R9); ADDQ R8, R9; \
	PREFETCHT0 (R9); PREFETCHT0 60(R9)

// FMA_ROW broadcasts a[off] into t and adds t·(b0, b1) to (acc0, acc1).
#define FMA_ROW(off, t, b0, b1, acc0, acc1) \
	VBROADCASTSS off(SI), t; \
	VFMADD231PS b0, t, acc0; \
	VFMADD231PS b1, t, acc1

// STORE_ROW writes (acc0, acc1) to the current row of c (vector size vs bytes) and moves DX on.
#define STORE_ROW(vs, acc0, acc1) \
	VMOVUPS acc0, (DX); \
	VMOVUPS acc1, vs(DX); \
	ADDQ R8, DX

// ADD_STORE_ROW is STORE_ROW adding the old contents of the row.
#define ADD_STORE_ROW(vs, acc0, acc1) \
	VADDPS (DX), acc0, acc0; \
	VADDPS vs(DX), acc1, acc1; \
	STORE_ROW(vs, acc0, acc1)

// The transposed 6×16 kernels compute a tile of Cᵀ: t[j·16+i] (+)= Σ_{p<kc} w[j·ldw+p]·x[p·16+i]
// for 6 weight rows j read in place (Linear's weights, rows along k) and 16 rows i of A packed
// as a 16-wide panel; the tile t is contiguous. Each k step loads the 16 values of x into Y0
// and Y1, broadcasts the 6 weights of step p in turn (widening bf16 ones) and issues 12 FMAs.
// Registers: CX kc, SI weight row 0, R11 weight row 3, R10 ldw in bytes, DI x, DX t, R8 the
// tile's row length in bytes (64), AX add.

#define TGEMM_ARGS(elemshift) \
	MOVQ kc+0(FP), CX; \
	MOVQ w+8(FP), SI; \
	MOVQ ldw+16(FP), R10; \
	SHLQ $elemshift, R10; \
	MOVQ x+24(FP), DI; \
	MOVQ t+32(FP), DX; \
	MOVBLZX add+40(FP), AX; \
	MOVQ $64, R8; \
	LEAQ (SI)(R10*2), R11; \
	ADDQ R10, R11

#define ZERO_ACC12 \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11; \
	VXORPS Y12, Y12, Y12; \
	VXORPS Y13, Y13, Y13; \
	VXORPS Y14, Y14, Y14; \
	VXORPS Y15, Y15, Y15

// BCAST_F32 and BCAST_BF16 broadcast one weight (at mem) to the 8 lanes of t as fp32.
#define BCAST_F32(mem, t) VBROADCASTSS mem, t
#define BCAST_BF16(mem, t) VPBROADCASTW mem, t; VPSLLD $16, t, t

// TSTEP is one k step of the transposed kernel: weights at byte offset wo of each row, x at
// byte offset xo from DI.
#define TSTEP(BCAST, wo, xo) \
	VMOVUPS xo(DI), Y0; \
	VMOVUPS (xo+32)(DI), Y1; \
	BCAST(wo(SI), Y2); \
	VFMADD231PS Y0, Y2, Y4; \
	VFMADD231PS Y1, Y2, Y5; \
	BCAST(wo(SI)(R10*1), Y3); \
	VFMADD231PS Y0, Y3, Y6; \
	VFMADD231PS Y1, Y3, Y7; \
	BCAST(wo(SI)(R10*2), Y2); \
	VFMADD231PS Y0, Y2, Y8; \
	VFMADD231PS Y1, Y2, Y9; \
	BCAST(wo(R11), Y3); \
	VFMADD231PS Y0, Y3, Y10; \
	VFMADD231PS Y1, Y3, Y11; \
	BCAST(wo(R11)(R10*1), Y2); \
	VFMADD231PS Y0, Y2, Y12; \
	VFMADD231PS Y1, Y2, Y13; \
	BCAST(wo(R11)(R10*2), Y3); \
	VFMADD231PS Y0, Y3, Y14; \
	VFMADD231PS Y1, Y3, Y15

// TSTORE writes (or adds, AX ≠ 0) the 12 accumulators to the tile and returns.
#define TSTORE(name) \
	TESTQ AX, AX; \
	JZ    name; \
	ADD_STORE_ROW(32, Y4, Y5); \
	ADD_STORE_ROW(32, Y6, Y7); \
	ADD_STORE_ROW(32, Y8, Y9); \
	ADD_STORE_ROW(32, Y10, Y11); \
	ADD_STORE_ROW(32, Y12, Y13); \
	ADD_STORE_ROW(32, Y14, Y15); \
	VZEROUPPER; \
	RET

// TOVERWRITE is TSTORE's other branch.
#define TOVERWRITE \
	STORE_ROW(32, Y4, Y5); \
	STORE_ROW(32, Y6, Y7); \
	STORE_ROW(32, Y8, Y9); \
	STORE_ROW(32, Y10, Y11); \
	STORE_ROW(32, Y12, Y13); \
	STORE_ROW(32, Y14, Y15); \
	VZEROUPPER; \
	RET

// func gemmKernelAVX512(kc int, a, b, c *float32, ldc int, add bool)
TEXT ·gemmKernelAVX512(SB), NOSPLIT, $0-41
	GEMM_ARGS
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
	TESTQ CX, CX
	JZ gemmKernelAVX512_store
gemmKernelAVX512_loop:
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	FMA_ROW(0, Z2, Z0, Z1, Z8, Z9)
	FMA_ROW(4, Z3, Z0, Z1, Z10, Z11)
	FMA_ROW(8, Z2, Z0, Z1, Z12, Z13)
	FMA_ROW(12, Z3, Z0, Z1, Z14, Z15)
	FMA_ROW(16, Z2, Z0, Z1, Z16, Z17)
	FMA_ROW(20, Z3, Z0, Z1, Z18, Z19)
	FMA_ROW(24, Z2, Z0, Z1, Z20, Z21)
	FMA_ROW(28, Z3, Z0, Z1, Z22, Z23)
	FMA_ROW(32, Z2, Z0, Z1, Z24, Z25)
	FMA_ROW(36, Z3, Z0, Z1, Z26, Z27)
	FMA_ROW(40, Z2, Z0, Z1, Z28, Z29)
	FMA_ROW(44, Z3, Z0, Z1, Z30, Z31)
	ADDQ $48, SI
	ADDQ $128, DI
	DECQ CX
	JNZ gemmKernelAVX512_loop
gemmKernelAVX512_store:
	TESTQ AX, AX
	JZ gemmKernelAVX512_overwrite
	ADD_STORE_ROW(64, Z8, Z9)
	ADD_STORE_ROW(64, Z10, Z11)
	ADD_STORE_ROW(64, Z12, Z13)
	ADD_STORE_ROW(64, Z14, Z15)
	ADD_STORE_ROW(64, Z16, Z17)
	ADD_STORE_ROW(64, Z18, Z19)
	ADD_STORE_ROW(64, Z20, Z21)
	ADD_STORE_ROW(64, Z22, Z23)
	ADD_STORE_ROW(64, Z24, Z25)
	ADD_STORE_ROW(64, Z26, Z27)
	ADD_STORE_ROW(64, Z28, Z29)
	ADD_STORE_ROW(64, Z30, Z31)
	VZEROUPPER
	RET
gemmKernelAVX512_overwrite:
	STORE_ROW(64, Z8, Z9)
	STORE_ROW(64, Z10, Z11)
	STORE_ROW(64, Z12, Z13)
	STORE_ROW(64, Z14, Z15)
	STORE_ROW(64, Z16, Z17)
	STORE_ROW(64, Z18, Z19)
	STORE_ROW(64, Z20, Z21)
	STORE_ROW(64, Z22, Z23)
	STORE_ROW(64, Z24, Z25)
	STORE_ROW(64, Z26, Z27)
	STORE_ROW(64, Z28, Z29)
	STORE_ROW(64, Z30, Z31)
	VZEROUPPER
	RET

// AVX2_STEP is one k step of the 6×16 kernel: the 16 values of b at byte offset bo from DI in
// Y0 and Y1, the 6 values of a at byte offset ao from SI broadcast in turn, 12 FMAs.
#define AVX2_STEP(ao, bo) \
	VMOVUPS bo(DI), Y0; \
	VMOVUPS (bo+32)(DI), Y1; \
	FMA_ROW(ao, Y2, Y0, Y1, Y4, Y5); \
	FMA_ROW(ao+4, Y3, Y0, Y1, Y6, Y7); \
	FMA_ROW(ao+8, Y2, Y0, Y1, Y8, Y9); \
	FMA_ROW(ao+12, Y3, Y0, Y1, Y10, Y11); \
	FMA_ROW(ao+16, Y2, Y0, Y1, Y12, Y13); \
	FMA_ROW(ao+20, Y3, Y0, Y1, Y14, Y15)

// func gemmKernelAVX2(kc int, a, b, c *float32, ldc int, add bool)
TEXT ·gemmKernelAVX2(SB), NOSPLIT, $0-41
	GEMM_ARGS
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
	PREFETCH_C6
	SUBQ $4, CX
	JL gemmKernelAVX2_tail
gemmKernelAVX2_loop4:
	AVX2_STEP(0, 0)
	AVX2_STEP(24, 64)
	AVX2_STEP(48, 128)
	AVX2_STEP(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	SUBQ $4, CX
	JGE gemmKernelAVX2_loop4
gemmKernelAVX2_tail:
	ADDQ $4, CX
	JZ gemmKernelAVX2_store
gemmKernelAVX2_loop1:
	AVX2_STEP(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ gemmKernelAVX2_loop1
gemmKernelAVX2_store:
	TESTQ AX, AX
	JZ gemmKernelAVX2_overwrite
	ADD_STORE_ROW(32, Y4, Y5)
	ADD_STORE_ROW(32, Y6, Y7)
	ADD_STORE_ROW(32, Y8, Y9)
	ADD_STORE_ROW(32, Y10, Y11)
	ADD_STORE_ROW(32, Y12, Y13)
	ADD_STORE_ROW(32, Y14, Y15)
	VZEROUPPER
	RET
gemmKernelAVX2_overwrite:
	STORE_ROW(32, Y4, Y5)
	STORE_ROW(32, Y6, Y7)
	STORE_ROW(32, Y8, Y9)
	STORE_ROW(32, Y10, Y11)
	STORE_ROW(32, Y12, Y13)
	STORE_ROW(32, Y14, Y15)
	VZEROUPPER
	RET


// func gemmKernelT6F32AVX2(kc int, w *float32, ldw int, x, t *float32, add bool)
TEXT ·gemmKernelT6F32AVX2(SB), NOSPLIT, $0-41
	TGEMM_ARGS(2)
	ZERO_ACC12
	SUBQ $4, CX
	JL   tf32tail
tf32loop4:
	TSTEP(BCAST_F32, 0, 0)
	TSTEP(BCAST_F32, 4, 64)
	TSTEP(BCAST_F32, 8, 128)
	TSTEP(BCAST_F32, 12, 192)
	ADDQ $16, SI
	ADDQ $16, R11
	ADDQ $256, DI
	SUBQ $4, CX
	JGE  tf32loop4
tf32tail:
	ADDQ $4, CX
	JZ   tf32store
tf32loop1:
	TSTEP(BCAST_F32, 0, 0)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $64, DI
	DECQ CX
	JNZ  tf32loop1
tf32store:
	TSTORE(tf32overwrite)
tf32overwrite:
	TOVERWRITE

// func gemmKernelT6BF16AVX2(kc int, w *uint16, ldw int, x, t *float32, add bool)
TEXT ·gemmKernelT6BF16AVX2(SB), NOSPLIT, $0-41
	TGEMM_ARGS(1)
	ZERO_ACC12
	SUBQ $4, CX
	JL   tbf16tail
tbf16loop4:
	TSTEP(BCAST_BF16, 0, 0)
	TSTEP(BCAST_BF16, 2, 64)
	TSTEP(BCAST_BF16, 4, 128)
	TSTEP(BCAST_BF16, 6, 192)
	ADDQ $8, SI
	ADDQ $8, R11
	ADDQ $256, DI
	SUBQ $4, CX
	JGE  tbf16loop4
tbf16tail:
	ADDQ $4, CX
	JZ   tbf16store
tbf16loop1:
	TSTEP(BCAST_BF16, 0, 0)
	ADDQ $2, SI
	ADDQ $2, R11
	ADDQ $64, DI
	DECQ CX
	JNZ  tbf16loop1
tbf16store:
	TSTORE(tbf16overwrite)
tbf16overwrite:
	TOVERWRITE
