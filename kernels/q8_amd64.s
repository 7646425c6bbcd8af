#include "textflag.h"

// q8_0 dot products, one weight row at a time: per run of 32, VPSIGNB moves the signs of the
// weights q onto the activations qx, so that VPMADDUBSW multiplies |q| (unsigned, ≤ 128) by
// ±qx (|qx| ≤ 127) into 16 exact int16 pair sums (≤ 32512, no saturation), VPMADDWD adds those
// into 8 int32 sums of four, which are converted to fp32 (exact) and accumulated with one FMA
// against the run's d·dx (the fp16 weight scale widened by VCVTPH2PS, times the fp32
// activation scale). Two accumulators take alternate runs.

// Q8RUN accumulates run i (0 or 1 of a pair) into acc.
#define Q8RUN(i, acc) \
	VMOVDQU      (i*32)(R8), Y2; \
	VMOVDQU      (i*32)(SI), Y3; \
	VPSIGNB      Y2, Y2, Y4; \
	VPSIGNB      Y2, Y3, Y3; \
	VPMADDUBSW   Y3, Y4, Y4; \
	VPMADDWD     Y15, Y4, Y4; \
	VCVTDQ2PS    Y4, Y4; \
	MOVWLZX      (i*2)(R9), AX; \
	VMOVD        AX, X5; \
	VCVTPH2PS    X5, X5; \
	VMULSS       (i*4)(R10), X5, X5; \
	VBROADCASTSS X5, Y5; \
	VFMADD231PS  Y4, Y5, acc

// func q8DotAVX2(out *float32, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
// out[r] = Σ_b f16(dw[r·blocks+b])·dx[b]·Σ_i qw[(r·blocks+b)·32+i]·qx[32b+i] for r < rows;
// blocks and rows are positive.
TEXT ·q8DotAVX2(SB), NOSPLIT, $0-56
	MOVQ     out+0(FP), DI
	MOVQ     qw+24(FP), R8
	MOVQ     dw+32(FP), R9
	MOVQ     rows+48(FP), R12
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15 // 1 in every 16-bit lane

q8row:
	MOVQ   qx+8(FP), SI
	MOVQ   dx+16(FP), R10
	MOVQ   blocks+40(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	CMPQ   CX, $2
	JB     q8single

q8pair:
	PREFETCHT0 1024(R8)
	Q8RUN(0, Y0)
	Q8RUN(1, Y1)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $8, R10
	ADDQ $4, R9
	SUBQ $2, CX
	CMPQ CX, $2
	JAE  q8pair

q8single:
	TESTQ CX, CX
	JZ    q8reduce
	Q8RUN(0, Y0)
	ADDQ  $32, R8
	ADDQ  $2, R9

q8reduce:
	VADDPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, (DI)
	ADDQ         $4, DI
	DECQ         R12
	JNZ          q8row
	VZEROUPPER
	RET

// Q8ROW2 accumulates one run of the x row at qxaddr (scale at dxaddr) into acc, against the
// weights already in Y2 (q), Y4 (|q|) and X5 (d); t0, t1 are scratch.
#define Q8ROW2(qxaddr, dxaddr, t0, t1, acc) \
	VMOVDQU      qxaddr, t0; \
	VPSIGNB      Y2, t0, t0; \
	VPMADDUBSW   t0, Y4, t0; \
	VPMADDWD     Y15, t0, t0; \
	VCVTDQ2PS    t0, t0; \
	VMULSS       dxaddr, X5, X6; \
	VBROADCASTSS X6, t1; \
	VFMADD231PS  t0, t1, acc

// REDUCE1 stores the sum of acc's eight lanes (xacc its lower half) at dst.
#define REDUCE1(acc, xacc, dst) \
	VEXTRACTF128 $1, acc, X1; \
	VADDPS       X1, xacc, xacc; \
	VHADDPS      xacc, xacc, xacc; \
	VHADDPS      xacc, xacc, xacc; \
	VMOVSS       xacc, dst

// Q8R2RUN accumulates run i (0 or 1 of a pair) of both rows of x into accA and accB, loading
// and widening the weights once.
#define Q8R2RUN(i, accA, accB) \
	VMOVDQU   (i*32)(R8), Y2; \
	VPSIGNB   Y2, Y2, Y4; \
	MOVWLZX   (i*2)(R9), AX; \
	VMOVD     AX, X5; \
	VCVTPH2PS X5, X5; \
	Q8ROW2((i*32)(SI), (i*4)(R10), Y7, Y8, accA); \
	Q8ROW2((i*32)(SI)(R11*1), (i*4)(R10)(R13*1), Y9, Y10, accB)

// func q8Dot2AVX2(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
// q8DotAVX2 for two rows of x at once (qx, dx: the rows back to back, blocks·32 quants and
// blocks scales each), sharing every load and widening of the weights: out[r] and out[ldo+r],
// each bit for bit as q8DotAVX2 gives it (the same two accumulators per row, even and odd runs).
TEXT ·q8Dot2AVX2(SB), NOSPLIT, $0-64
	MOVQ     out+0(FP), DI
	MOVQ     ldo+8(FP), DX
	SHLQ     $2, DX
	MOVQ     qw+32(FP), R8
	MOVQ     dw+40(FP), R9
	MOVQ     blocks+48(FP), R11
	LEAQ     (R11*4), R13 // bytes of one row's scales
	SHLQ     $5, R11      // bytes of one row's quants
	MOVQ     rows+56(FP), R12
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15

q8r2row:
	MOVQ   qx+16(FP), SI
	MOVQ   dx+24(FP), R10
	MOVQ   blocks+48(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y3, Y3, Y3
	VXORPS Y11, Y11, Y11
	CMPQ   CX, $2
	JB     q8r2single

q8r2pair:
	PREFETCHT0 1024(R8)
	Q8R2RUN(0, Y0, Y3)
	Q8R2RUN(1, Y1, Y11)
	ADDQ       $64, SI
	ADDQ       $64, R8
	ADDQ       $8, R10
	ADDQ       $4, R9
	SUBQ       $2, CX
	CMPQ       CX, $2
	JAE        q8r2pair

q8r2single:
	TESTQ CX, CX
	JZ    q8r2reduce
	Q8R2RUN(0, Y0, Y3)
	ADDQ  $32, R8
	ADDQ  $2, R9

q8r2reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y11, Y3, Y3
	REDUCE1(Y0, X0, (DI))
	REDUCE1(Y3, X3, (DI)(DX*1))
	ADDQ   $4, DI
	DECQ   R12
	JNZ    q8r2row
	VZEROUPPER
	RET
