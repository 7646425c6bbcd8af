#include "textflag.h"

// q8_0 dot products with AVX-512 VNNI: VPDPBUSD adds, per int32 lane, the four products of
// unsigned bytes (|q|, ≤ 128, by VPABSB) and signed bytes (qx with the sign of q moved on by a
// masked negation, |qx| ≤ 127), exactly; a zmm covers two runs of 32. The lanes, their fp32
// conversion, the scale d·dx (VCVTPH2PS of the fp16 d, VMULSS by dx) and the FMA into the
// accumulator are those of q8DotAVX2, whose two accumulators (even and odd runs) are the two
// halves of one zmm here, and the reduction is its own: every result equals q8DotAVX2's bit for
// bit. The 4-row kernel runs four rows of x against each weight load, each row as the 1-row
// kernel would.

// Q8W loads the weights of runs b, b+1 (64 int8) into Z2, |q| into Z3, their signs into K2, and
// the two fp16 scales widened into X5 (run b) and X8 (run b+1).
#define Q8W \
	VMOVDQU8  (R8), Z2; \
	VPABSB    Z2, Z3; \
	VPMOVB2M  Z2, K2; \
	MOVWLZX   (R9), AX; \
	VMOVD     AX, X5; \
	VCVTPH2PS X5, X5; \
	MOVWLZX   2(R9), AX; \
	VMOVD     AX, X8; \
	VCVTPH2PS X8, X8

// Q8X accumulates runs b, b+1 of the x row at qxaddr (its scales at dx0, dx1) into acc.
#define Q8X(qxaddr, dx0, dx1, acc) \
	VMOVDQU8     qxaddr, Z4; \
	VPSUBB       Z4, Z31, K2, Z4; \
	VPXORD       Z6, Z6, Z6; \
	VPDPBUSD     Z4, Z3, Z6; \
	VCVTDQ2PS    Z6, Z6; \
	VMULSS       dx0, X5, X9; \
	VBROADCASTSS X9, Z7; \
	VMULSS       dx1, X8, X10; \
	VBROADCASTSS X10, K3, Z7; \
	VFMADD231PS  Z6, Z7, acc

// Q8W1 and Q8X1 are Q8W and Q8X for the single run b (the last of an odd count): the upper
// lanes stay as they are (K1).
#define Q8W1 \
	VMOVDQU8  (R8), Y2; \
	VPABSB    Z2, Z3; \
	VPMOVB2M  Z2, K2; \
	MOVWLZX   (R9), AX; \
	VMOVD     AX, X5; \
	VCVTPH2PS X5, X5

#define Q8X1(qxaddr, dx0, acc) \
	VMOVDQU8     qxaddr, Y4; \
	VPSUBB       Z4, Z31, K2, Z4; \
	VPXORD       Z6, Z6, Z6; \
	VPDPBUSD     Z4, Z3, Z6; \
	VCVTDQ2PS    Z6, Z6; \
	VMULSS       dx0, X5, X9; \
	VBROADCASTSS X9, Z7; \
	VFMADD231PS  Z6, Z7, K1, acc

// Q8REDUCE stores the sum of acc's sixteen lanes (as q8DotAVX2 sums its two accumulators) at
// dst; X1 is scratch.
#define Q8REDUCE(z, y, x, dst) \
	VEXTRACTF64X4 $1, z, Y1; \
	VADDPS        Y1, y, y; \
	VEXTRACTF128  $1, y, X1; \
	VADDPS        X1, x, x; \
	VHADDPS       x, x, x; \
	VHADDPS       x, x, x; \
	VMOVSS        x, dst

// Q8MASKS sets Z31 = 0, K1 = the lower eight lanes, K3 = the upper eight.
#define Q8MASKS \
	VPXORD Z31, Z31, Z31; \
	MOVL   $0x00ff, AX; \
	KMOVW  AX, K1; \
	MOVL   $0xff00, AX; \
	KMOVW  AX, K3

// func q8DotVNNI(out *float32, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
// q8DotAVX2 with VNNI, bit for bit.
TEXT ·q8DotVNNI(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ qw+24(FP), R8
	MOVQ dw+32(FP), R9
	MOVQ rows+48(FP), R12
	Q8MASKS

v1row:
	MOVQ   qx+8(FP), SI
	MOVQ   dx+16(FP), R10
	MOVQ   blocks+40(FP), CX
	VPXORD Z0, Z0, Z0
	CMPQ   CX, $2
	JB     v1single

v1pair:
	PREFETCHT0 1024(R8)
	Q8W
	Q8X((SI), (R10), 4(R10), Z0)
	ADDQ       $64, SI
	ADDQ       $64, R8
	ADDQ       $8, R10
	ADDQ       $4, R9
	SUBQ       $2, CX
	CMPQ       CX, $2
	JAE        v1pair

v1single:
	TESTQ CX, CX
	JZ    v1reduce
	Q8W1
	Q8X1((SI), (R10), Z0)
	ADDQ  $32, R8
	ADDQ  $2, R9

v1reduce:
	Q8REDUCE(Z0, Y0, X0, (DI))
	ADDQ $4, DI
	DECQ R12
	JNZ  v1row
	VZEROUPPER
	RET

// func q8Dot4VNNI(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
// q8DotVNNI for four rows of x (back to back in qx and dx), sharing every weight load: row i's
// results at out[i·ldo + r].
TEXT ·q8Dot4VNNI(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ ldo+8(FP), DX
	SHLQ $2, DX
	LEAQ (DX)(DX*2), BX
	MOVQ qw+32(FP), R8
	MOVQ dw+40(FP), R9
	MOVQ blocks+48(FP), R11
	LEAQ (R11*4), R13       // bytes of one row's x scales
	LEAQ (R13)(R13*2), R15
	SHLQ $5, R11            // bytes of one row's x quants
	LEAQ (R11)(R11*2), R14
	MOVQ rows+56(FP), R12
	Q8MASKS

v4row:
	MOVQ   qx+16(FP), SI
	MOVQ   dx+24(FP), R10
	MOVQ   blocks+48(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	CMPQ   CX, $2
	JB     v4single

v4pair:
	PREFETCHT0 1024(R8)
	Q8W
	Q8X((SI), (R10), 4(R10), Z0)
	Q8X((SI)(R11*1), (R10)(R13*1), 4(R10)(R13*1), Z11)
	Q8X((SI)(R11*2), (R10)(R13*2), 4(R10)(R13*2), Z12)
	Q8X((SI)(R14*1), (R10)(R15*1), 4(R10)(R15*1), Z13)
	ADDQ       $64, SI
	ADDQ       $64, R8
	ADDQ       $8, R10
	ADDQ       $4, R9
	SUBQ       $2, CX
	CMPQ       CX, $2
	JAE        v4pair

v4single:
	TESTQ CX, CX
	JZ    v4reduce
	Q8W1
	Q8X1((SI), (R10), Z0)
	Q8X1((SI)(R11*1), (R10)(R13*1), Z11)
	Q8X1((SI)(R11*2), (R10)(R13*2), Z12)
	Q8X1((SI)(R14*1), (R10)(R15*1), Z13)
	ADDQ  $32, R8
	ADDQ  $2, R9

v4reduce:
	Q8REDUCE(Z0, Y0, X0, (DI))
	Q8REDUCE(Z11, Y11, X11, (DI)(DX*1))
	Q8REDUCE(Z12, Y12, X12, (DI)(DX*2))
	Q8REDUCE(Z13, Y13, X13, (DI)(BX*1))
	ADDQ $4, DI
	DECQ R12
	JNZ  v4row
	VZEROUPPER
	RET
