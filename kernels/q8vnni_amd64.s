#include "textflag.h"

// q8_0 dot products with AVX-512 VNNI over activations laid out by q8LayoutVNNI: per x row, the
// quants padded to whole pairs of runs (64 bytes each), and per pair 128 bytes of 16 int32
// corrections followed by 16 fp32 activation scales (run b's in the lower eight lanes, run
// b+1's in the upper). VPDPBUSD adds, per int32 lane, four products of unsigned bytes (the
// weights q + 128, by an XOR with 0x80) and signed bytes (qx), exactly, onto the correction
// −128·Σqx of those four, which leaves Σ q·qx: the int32 lanes of q8DotAVX2. Their fp32
// conversion, the scale d·dx (VCVTPH2PS of the fp16 d, times dx) and the FMA into the
// accumulator are q8DotAVX2's too, whose two accumulators (even and odd runs) are the two halves
// of one zmm here, and the reduction is its own: every result equals q8DotAVX2's bit for bit.
// The 4-row kernel runs four rows of x against each weight load, each as the 1-row kernel.

// Q8PF prefetches the weights 8 KiB ahead into L2. On Zen 4 (EPYC, BenchmarkStream, 15840×5280,
// one and two cores, read 19–31 GB/s under other load) the 1-row product read its weights at
// 1.01–1.02 of a plain read's rate with it, 0.81–0.84 with PREFETCHT0 1 KiB ahead (into L1),
// 0.88–0.92 with PREFETCHT1 4 KiB ahead, 0.91–0.93 with none. Two weight rows side by side
// (two sums in flight) measured no better.
#define Q8PF PREFETCHT1 8192(R8)

// Q8W loads the weights of runs b, b+1 (64 int8) as unsigned bytes q+128 into Z2 and their
// scales into Z8 = [d_b ×8, d_b+1 ×8].
#define Q8W \
	VMOVDQU8     (R8), Z2; \
	VPXORD       Z31, Z2, Z2; \
	VPBROADCASTD (R9), Y8; \
	VCVTPH2PS    Y8, Z8; \
	VPERMPS      Z8, Z29, Z8

// Q8W1 is Q8W for the single run b (the last of an odd count): the upper 32 bytes read as 0.
#define Q8W1 \
	VMOVDQU8.Z   (R8), K4, Z2; \
	VPXORD       Z31, Z2, Z2; \
	VPBROADCASTW (R9), Y8; \
	VCVTPH2PS    Y8, Z8

// Q8X accumulates the pair of runs of the x row at qxaddr (its corrections at daddr, scales at
// saddr) into acc.
#define Q8X(qxaddr, daddr, saddr, acc) \
	VMOVDQU32   daddr, Z6; \
	VPDPBUSD    qxaddr, Z2, Z6; \
	VCVTDQ2PS   Z6, Z6; \
	VMULPS      saddr, Z8, Z7; \
	VFMADD231PS Z6, Z7, acc

// Q8X1 is Q8X for the single run: only the lower eight lanes of acc change (K1).
#define Q8X1(qxaddr, daddr, saddr, acc) \
	VMOVDQU32   daddr, Z6; \
	VPDPBUSD    qxaddr, Z2, Z6; \
	VCVTDQ2PS   Z6, Z6; \
	VMULPS      saddr, Z8, Z7; \
	VFMADD231PS Z6, Z7, K1, acc

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

// Q8CONST sets Z31 = 0x80 in every byte, Z29 = the lane indices [0 ×8, 1 ×8], K1 = the lower
// eight lanes, K4 = the lower 32 bytes.
#define Q8CONST \
	MOVL         $0x80, AX; \
	VPBROADCASTB AX, Z31; \
	VPXORD       Z29, Z29, Z29; \
	MOVL         $0xff00, AX; \
	KMOVW        AX, K3; \
	MOVL         $1, AX; \
	VPBROADCASTD AX, K3, Z29; \
	MOVL         $0x00ff, AX; \
	KMOVW        AX, K1; \
	MOVQ         $0xffffffff, AX; \
	KMOVQ        AX, K4

// Q8STRIDES sets R11 = the bytes of one x row's quants and R14 = of its corrections and scales
// (from the run count in CX).
#define Q8STRIDES \
	LEAQ 1(CX), R11; \
	SHRQ $1, R11; \
	SHLQ $6, R11; \
	LEAQ (R11*2), R14

// func q8DotVNNI(out *float32, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
// q8DotAVX2 with VNNI, bit for bit, over one row of x laid out by q8LayoutVNNI (qx, dx).
TEXT ·q8DotVNNI(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ qw+24(FP), R8
	MOVQ dw+32(FP), R9
	MOVQ rows+48(FP), R12
	Q8CONST

v1row:
	MOVQ   qx+8(FP), SI
	MOVQ   dx+16(FP), R10
	MOVQ   blocks+40(FP), CX
	VPXORD Z0, Z0, Z0
	CMPQ   CX, $2
	JB     v1single

v1pair:
	Q8PF
	Q8W
	Q8X((SI), (R10), 64(R10), Z0)
	ADDQ       $64, SI
	ADDQ       $64, R8
	ADDQ       $128, R10
	ADDQ       $4, R9
	SUBQ       $2, CX
	CMPQ       CX, $2
	JAE        v1pair

v1single:
	TESTQ CX, CX
	JZ    v1reduce
	Q8W1
	Q8X1((SI), (R10), 64(R10), Z0)
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
// q8DotVNNI for four rows of x (laid out back to back), sharing every weight load: row i's
// results at out[i·ldo + r].
TEXT ·q8Dot4VNNI(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ ldo+8(FP), DX
	SHLQ $2, DX
	MOVQ qw+32(FP), R8
	MOVQ dw+40(FP), R9
	MOVQ blocks+48(FP), CX
	Q8STRIDES
	LEAQ (R11)(R11*2), R15
	LEAQ (R14)(R14*2), BX
	MOVQ rows+56(FP), R12
	Q8CONST

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
	Q8PF
	Q8W
	Q8X((SI), (R10), 64(R10), Z0)
	Q8X((SI)(R11*1), (R10)(R14*1), 64(R10)(R14*1), Z11)
	Q8X((SI)(R11*2), (R10)(R14*2), 64(R10)(R14*2), Z12)
	Q8X((SI)(R15*1), (R10)(BX*1), 64(R10)(BX*1), Z13)
	ADDQ       $64, SI
	ADDQ       $64, R8
	ADDQ       $128, R10
	ADDQ       $4, R9
	SUBQ       $2, CX
	CMPQ       CX, $2
	JAE        v4pair

v4single:
	TESTQ CX, CX
	JZ    v4reduce
	Q8W1
	Q8X1((SI), (R10), 64(R10), Z0)
	Q8X1((SI)(R11*1), (R10)(R14*1), 64(R10)(R14*1), Z11)
	Q8X1((SI)(R11*2), (R10)(R14*2), 64(R10)(R14*2), Z12)
	Q8X1((SI)(R15*1), (R10)(BX*1), 64(R10)(BX*1), Z13)
	ADDQ  $32, R8
	ADDQ  $2, R9

v4reduce:
	LEAQ (DX)(DX*2), AX
	Q8REDUCE(Z0, Y0, X0, (DI))
	Q8REDUCE(Z11, Y11, X11, (DI)(DX*1))
	Q8REDUCE(Z12, Y12, X12, (DI)(DX*2))
	Q8REDUCE(Z13, Y13, X13, (DI)(AX*1))
	ADDQ $4, DI
	DECQ R12
	JNZ  v4row
	VZEROUPPER
	RET
