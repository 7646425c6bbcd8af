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
// 0.88–0.92 with PREFETCHT1 4 KiB ahead, 0.91–0.93 with none.
#define Q8PF PREFETCHT1 8192(R8)

// Q8WAT loads the weights of runs b, b+1 (64 int8 at q) as unsigned bytes q+128 into zq and
// their scales (at d) into zd = [d_b ×8, d_b+1 ×8] (yd its lower half); Q8W does so for R8, R9
// into Z2, Z8.
#define Q8WAT(q, d, zq, yd, zd) \
	VMOVDQU8     q, zq; \
	VPXORD       Z31, zq, zq; \
	VPBROADCASTD d, yd; \
	VCVTPH2PS    yd, zd; \
	VPERMPS      zd, Z29, zd

#define Q8W Q8WAT((R8), (R9), Z2, Y8, Z8)

// Q8W1AT is Q8WAT for the single run b (the last of an odd count): the upper 32 bytes read as 0.
#define Q8W1AT(q, d, zq, yd, zd) \
	VMOVDQU8.Z   q, K4, zq; \
	VPXORD       Z31, zq, zq; \
	VPBROADCASTW d, yd; \
	VCVTPH2PS    yd, zd

#define Q8W1 Q8W1AT((R8), (R9), Z2, Y8, Z8)

// Q8XW accumulates into acc the pair of runs of the x row at qxaddr (its corrections at daddr,
// scales at saddr) against the weights zq, zd of Q8WAT, t0 and t1 scratch; Q8X does so for
// Q8W's.
#define Q8XW(qxaddr, daddr, saddr, zq, zd, t0, t1, acc) \
	VMOVDQU32   daddr, t0; \
	VPDPBUSD    qxaddr, zq, t0; \
	VCVTDQ2PS   t0, t0; \
	VMULPS      saddr, zd, t1; \
	VFMADD231PS t0, t1, acc

#define Q8X(qxaddr, daddr, saddr, acc) Q8XW(qxaddr, daddr, saddr, Z2, Z8, Z6, Z7, acc)

// Q8X1W is Q8XW for the single run: only the lower eight lanes of acc change (K1).
#define Q8X1W(qxaddr, daddr, saddr, zq, zd, t0, t1, acc) \
	VMOVDQU32   daddr, t0; \
	VPDPBUSD    qxaddr, zq, t0; \
	VCVTDQ2PS   t0, t0; \
	VMULPS      saddr, zd, t1; \
	VFMADD231PS t0, t1, K1, acc

#define Q8X1(qxaddr, daddr, saddr, acc) Q8X1W(qxaddr, daddr, saddr, Z2, Z8, Z6, Z7, acc)

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
// q8DotAVX2 with VNNI, bit for bit, over one row of x laid out by q8LayoutVNNI (qx, dx). Weight
// rows go in fours (each R11 bytes of quants, R13 of scales after the one before; BX, DX three
// of those), four independent sums side by side, each added in q8DotAVX2's order, so that each
// pass over x (three times the quants' bytes, from L2 once k outgrows L1) serves four weight
// rows, while the next four are prefetched into L2 (R15, four lines per pair of runs); the last
// rows go two (likewise) and one at a time. On Zen 4 (EPYC, BenchmarkStream, read 18–34 GB/s
// under other load) the 1-row product of 5280×17920 weights read them at 0.93–0.95 of a plain
// read's rate so, 0.52–0.63 a row at a time; on 15840×5280 (x in L1) the same either way.
TEXT ·q8DotVNNI(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ qw+24(FP), R8
	MOVQ dw+32(FP), R9
	MOVQ rows+48(FP), R12
	MOVQ blocks+40(FP), R11
	LEAQ (R11)(R11*1), R13
	SHLQ $5, R11
	Q8CONST
	LEAQ (R11)(R11*2), BX
	LEAQ (R13)(R13*2), DX
	CMPQ R12, $4
	JB   v4done

v4row:
	MOVQ   qx+8(FP), SI
	MOVQ   dx+16(FP), R10
	MOVQ   blocks+40(FP), CX
	LEAQ   (R8)(R11*4), R15
	VPXORD Z0, Z0, Z0
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	CMPQ   CX, $2
	JB     v4single

v4pair:
	PREFETCHT1 (R15)
	PREFETCHT1 64(R15)
	PREFETCHT1 128(R15)
	PREFETCHT1 192(R15)
	Q8W
	Q8WAT((R8)(R11*1), (R9)(R13*1), Z3, Y9, Z9)
	Q8WAT((R8)(R11*2), (R9)(R13*2), Z4, Y14, Z14)
	Q8WAT((R8)(BX*1), (R9)(DX*1), Z5, Y15, Z15)
	Q8X((SI), (R10), 64(R10), Z0)
	Q8XW((SI), (R10), 64(R10), Z3, Z9, Z16, Z17, Z10)
	Q8XW((SI), (R10), 64(R10), Z4, Z14, Z18, Z19, Z11)
	Q8XW((SI), (R10), 64(R10), Z5, Z15, Z20, Z21, Z12)
	ADDQ       $64, SI
	ADDQ       $64, R8
	ADDQ       $256, R15
	ADDQ       $128, R10
	ADDQ       $4, R9
	SUBQ       $2, CX
	CMPQ       CX, $2
	JAE        v4pair

v4single:
	TESTQ CX, CX
	JZ    v4reduce
	Q8W1
	Q8W1AT((R8)(R11*1), (R9)(R13*1), Z3, Y9, Z9)
	Q8W1AT((R8)(R11*2), (R9)(R13*2), Z4, Y14, Z14)
	Q8W1AT((R8)(BX*1), (R9)(DX*1), Z5, Y15, Z15)
	Q8X1((SI), (R10), 64(R10), Z0)
	Q8X1W((SI), (R10), 64(R10), Z3, Z9, Z16, Z17, Z10)
	Q8X1W((SI), (R10), 64(R10), Z4, Z14, Z18, Z19, Z11)
	Q8X1W((SI), (R10), 64(R10), Z5, Z15, Z20, Z21, Z12)
	ADDQ  $32, R8
	ADDQ  $2, R9

v4reduce:
	Q8REDUCE(Z0, Y0, X0, (DI))
	Q8REDUCE(Z10, Y10, X10, 4(DI))
	Q8REDUCE(Z11, Y11, X11, 8(DI))
	Q8REDUCE(Z12, Y12, X12, 12(DI))
	ADDQ $16, DI
	ADDQ BX, R8
	ADDQ DX, R9
	SUBQ $4, R12
	CMPQ R12, $4
	JAE  v4row

v4done:
	CMPQ R12, $2
	JB   v1rows

v2row:
	MOVQ   qx+8(FP), SI
	MOVQ   dx+16(FP), R10
	MOVQ   blocks+40(FP), CX
	LEAQ   (R8)(R11*2), R15
	VPXORD Z0, Z0, Z0
	VPXORD Z10, Z10, Z10
	CMPQ   CX, $2
	JB     v2single

v2pair:
	PREFETCHT1 (R15)
	PREFETCHT1 64(R15)
	Q8W
	Q8WAT((R8)(R11*1), (R9)(R13*1), Z3, Y9, Z9)
	Q8X((SI), (R10), 64(R10), Z0)
	Q8XW((SI), (R10), 64(R10), Z3, Z9, Z16, Z17, Z10)
	ADDQ       $64, SI
	ADDQ       $64, R8
	ADDQ       $128, R15
	ADDQ       $128, R10
	ADDQ       $4, R9
	SUBQ       $2, CX
	CMPQ       CX, $2
	JAE        v2pair

v2single:
	TESTQ CX, CX
	JZ    v2reduce
	Q8W1
	Q8W1AT((R8)(R11*1), (R9)(R13*1), Z3, Y9, Z9)
	Q8X1((SI), (R10), 64(R10), Z0)
	Q8X1W((SI), (R10), 64(R10), Z3, Z9, Z16, Z17, Z10)
	ADDQ  $32, R8
	ADDQ  $2, R9

v2reduce:
	Q8REDUCE(Z0, Y0, X0, (DI))
	Q8REDUCE(Z10, Y10, X10, 4(DI))
	ADDQ  $8, DI
	ADDQ  R11, R8
	ADDQ  R13, R9
	SUBQ  $2, R12

v1rows:
	TESTQ R12, R12
	JZ    v1done

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

v1done:
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
