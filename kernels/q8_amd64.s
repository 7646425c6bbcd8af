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
