#include "textflag.h"

// q8_0 dot products of 1, 2 or 4 rows of x against each weight row (AVX2, F16C). Per run of 32,
// VPSIGNB moves the signs of the weights q onto the activations qx, so that VPMADDUBSW
// multiplies |q| (VPABSB: unsigned, ≤ 128) by ±qx (|qx| ≤ 127) into 16 exact int16 pair sums
// (≤ 32512, no saturation), VPMADDWD adds those into 8 int32 sums of four, which are converted
// to fp32 (exact) and accumulated with one FMA against the run's scale d·dx (the fp16 weight
// scale widened by VCVTPH2PS, times the fp32 activation scale). Every x row has two
// accumulators, one for the even runs and one for the odd ones, added and reduced at the end of
// the weight row: the 2- and 4-row kernels compute each row bit for bit as the 1-row kernel
// (and as the VNNI kernels of q8vnni_amd64.s).
//
// The scales d·dx of a chunk of up to Q8CHUNK runs are computed first, eight runs per
// VCVTPH2PS and VMULPS, into a table on the stack (row i's at i·Q8CHUNK·4 bytes), from which
// the run loop broadcasts them: the loop then spends on each run and x row only the load of
// qx, VPSIGNB, VPMADDUBSW, VPMADDWD, VCVTDQ2PS, the broadcast and the FMA, and on each run the
// load of the weights and VPABSB, shared by the rows.
//
// Registers: DI out, DX ldo in bytes, R8 quants, R9 weight scales (both advance through the
// weight rows), SI qx and R10 dx of the chunk (x row i at i·R11 and i·R13 bytes), R15 qx of x
// rows 2 and 3, BX the table, CX the runs left in the chunk, R14 in the weight row, R12 the
// weight rows left, AX scratch. Y15 holds 1 in every 16-bit lane, Y14 the weights, Y13 their
// magnitudes; Y0…Y7 are the accumulators (row i: even runs Y(2i), odd runs Y(2i+1)).

#define Q8CHUNK 128

// Q8ONES sets Y15 to 1 in every 16-bit lane.
#define Q8ONES \
	VPCMPEQW Y15, Y15, Y15; \
	VPSRLW   $15, Y15, Y15

// Q8TAB8 stores the scales of eight runs of x row i (their dx at dxaddr), from the fp16 weight
// scales widened in Y8, at the table cursor BX.
#define Q8TAB8(dxaddr, i) \
	VMULPS  dxaddr, Y8, Y9; \
	VMOVUPS Y9, (i*Q8CHUNK*4)(BX)

// Q8TAB1 is Q8TAB8 for one run (X8: its widened weight scale).
#define Q8TAB1(dxaddr, i) \
	VMULSS dxaddr, X8, X9; \
	VMOVSS X9, (i*Q8CHUNK*4)(BX)

// Q8W loads the weights of run j of the pair at R8 into Y14 and their magnitudes into Y13.
#define Q8W(j) \
	VMOVDQU (j*32)(R8), Y14; \
	VPABSB  Y14, Y13

// Q8X accumulates a run of an x row (its quants at qxaddr, its scale d·dx at tabaddr) into acc,
// against the weights in Y14 and Y13.
#define Q8X(qxaddr, tabaddr, acc) \
	VMOVDQU      qxaddr, Y8; \
	VPSIGNB      Y14, Y8, Y8; \
	VPMADDUBSW   Y8, Y13, Y8; \
	VPMADDWD     Y15, Y8, Y8; \
	VCVTDQ2PS    Y8, Y8; \
	VBROADCASTSS tabaddr, Y9; \
	VFMADD231PS  Y8, Y9, acc

// Q8REDUCE stores the sum of the even-run accumulator acc (xacc its lower half) and the odd-run
// one odd at dst: (acc + odd), its two halves added, then two horizontal adds.
#define Q8REDUCE(acc, xacc, odd, dst) \
	VADDPS       odd, acc, acc; \
	VEXTRACTF128 $1, acc, X9; \
	VADDPS       X9, xacc, xacc; \
	VHADDPS      xacc, xacc, xacc; \
	VHADDPS      xacc, xacc, xacc; \
	VMOVSS       xacc, dst

// Q8CHUNKSTART sets CX to the runs of the next chunk and BX to the table; it jumps to done when
// the weight row has no runs left.
#define Q8CHUNKSTART(done) \
	MOVQ  R14, CX; \
	TESTQ CX, CX; \
	JZ    done; \
	CMPQ  CX, $Q8CHUNK; \
	JBE   2(PC); \
	MOVQ  $Q8CHUNK, CX; \
	SUBQ  CX, R14; \
	LEAQ  (SP), BX

// The table loops advance R9, R10 and BX over the chunk's runs; the run loops SI, R15, R8 and BX.

// func q8DotAVX2(out *float32, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
// out[r] = Σ_b f16(dw[r·blocks+b])·dx[b]·Σ_i qw[(r·blocks+b)·32+i]·qx[32b+i] for r < rows;
// blocks and rows are positive.
TEXT ·q8DotAVX2(SB), 0, $512-56
	MOVQ out+0(FP), DI
	MOVQ qw+24(FP), R8
	MOVQ dw+32(FP), R9
	MOVQ rows+48(FP), R12
	Q8ONES

q1row:
	MOVQ   qx+8(FP), SI
	MOVQ   dx+16(FP), R10
	MOVQ   blocks+40(FP), R14
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

q1chunk:
	Q8CHUNKSTART(q1reduce)
	MOVQ CX, AX

q1tab8:
	CMPQ      AX, $8
	JB        q1tab1
	VCVTPH2PS (R9), Y8
	Q8TAB8((R10), 0)
	ADDQ      $16, R9
	ADDQ      $32, R10
	ADDQ      $32, BX
	SUBQ      $8, AX
	JMP       q1tab8

q1tab1:
	TESTQ     AX, AX
	JZ        q1runs
	VPINSRW   $0, (R9), X8, X8
	VCVTPH2PS X8, X8
	Q8TAB1((R10), 0)
	ADDQ      $2, R9
	ADDQ      $4, R10
	ADDQ      $4, BX
	DECQ      AX
	JMP       q1tab1

q1runs:
	LEAQ (SP), BX

q1pair:
	CMPQ       CX, $2
	JB         q1single
	PREFETCHT0 2048(R8) // 2 KiB ahead: 0.92× the time of 1 KiB ahead, 4 KiB no better
	Q8W(0)
	Q8X(0(SI), 0(BX), Y0)
	Q8W(1)
	Q8X(32(SI), 4(BX), Y1)
	ADDQ       $64, SI
	ADDQ       $64, R8
	ADDQ       $8, BX
	SUBQ       $2, CX
	JMP        q1pair

q1single:
	TESTQ CX, CX
	JZ    q1chunk
	Q8W(0)
	Q8X(0(SI), 0(BX), Y0)
	ADDQ  $32, SI
	ADDQ  $32, R8
	JMP   q1chunk

q1reduce:
	Q8REDUCE(Y0, X0, Y1, (DI))
	ADDQ $4, DI
	DECQ R12
	JNZ  q1row
	VZEROUPPER
	RET

// func q8Dot2AVX2(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
// q8DotAVX2 for two rows of x at once (qx, dx: the rows back to back, blocks·32 quants and
// blocks scales each), sharing every load of the weights: out[r] and out[ldo+r], each bit for
// bit as q8DotAVX2 gives it.
TEXT ·q8Dot2AVX2(SB), 0, $1024-64
	MOVQ out+0(FP), DI
	MOVQ ldo+8(FP), DX
	SHLQ $2, DX
	MOVQ qw+32(FP), R8
	MOVQ dw+40(FP), R9
	MOVQ blocks+48(FP), R11
	LEAQ (R11*4), R13       // bytes of one row's scales
	SHLQ $5, R11            // bytes of one row's quants
	MOVQ rows+56(FP), R12
	Q8ONES

q2row:
	MOVQ   qx+16(FP), SI
	MOVQ   dx+24(FP), R10
	MOVQ   blocks+48(FP), R14
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

q2chunk:
	Q8CHUNKSTART(q2reduce)
	MOVQ CX, AX

q2tab8:
	CMPQ      AX, $8
	JB        q2tab1
	VCVTPH2PS (R9), Y8
	Q8TAB8((R10), 0)
	Q8TAB8((R10)(R13*1), 1)
	ADDQ      $16, R9
	ADDQ      $32, R10
	ADDQ      $32, BX
	SUBQ      $8, AX
	JMP       q2tab8

q2tab1:
	TESTQ     AX, AX
	JZ        q2runs
	VPINSRW   $0, (R9), X8, X8
	VCVTPH2PS X8, X8
	Q8TAB1((R10), 0)
	Q8TAB1((R10)(R13*1), 1)
	ADDQ      $2, R9
	ADDQ      $4, R10
	ADDQ      $4, BX
	DECQ      AX
	JMP       q2tab1

q2runs:
	LEAQ (SP), BX

q2pair:
	CMPQ       CX, $2
	JB         q2single
	PREFETCHT0 1024(R8)
	Q8W(0)
	Q8X(0(SI), 0(BX), Y0)
	Q8X(0(SI)(R11*1), 512(BX), Y2)
	Q8W(1)
	Q8X(32(SI), 4(BX), Y1)
	Q8X(32(SI)(R11*1), 516(BX), Y3)
	ADDQ       $64, SI
	ADDQ       $64, R8
	ADDQ       $8, BX
	SUBQ       $2, CX
	JMP        q2pair

q2single:
	TESTQ CX, CX
	JZ    q2chunk
	Q8W(0)
	Q8X(0(SI), 0(BX), Y0)
	Q8X(0(SI)(R11*1), 512(BX), Y2)
	ADDQ  $32, SI
	ADDQ  $32, R8
	JMP   q2chunk

q2reduce:
	Q8REDUCE(Y0, X0, Y1, (DI))
	Q8REDUCE(Y2, X2, Y3, (DI)(DX*1))
	ADDQ $4, DI
	DECQ R12
	JNZ  q2row
	VZEROUPPER
	RET

// func q8Dot4AVX2(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int)
// q8Dot2AVX2 for four rows of x: out[i·ldo+r] for i < 4, each bit for bit as q8DotAVX2 gives it.
TEXT ·q8Dot4AVX2(SB), 0, $2048-64
	MOVQ out+0(FP), DI
	MOVQ ldo+8(FP), DX
	SHLQ $2, DX
	MOVQ qw+32(FP), R8
	MOVQ dw+40(FP), R9
	MOVQ blocks+48(FP), R11
	LEAQ (R11*4), R13
	SHLQ $5, R11
	MOVQ rows+56(FP), R12
	Q8ONES

q4row:
	MOVQ   qx+16(FP), SI
	MOVQ   dx+24(FP), R10
	MOVQ   blocks+48(FP), R14
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

q4chunk:
	Q8CHUNKSTART(q4reduce)
	MOVQ CX, AX
	LEAQ (R10)(R13*2), R15 // dx of x rows 2 and 3

q4tab8:
	CMPQ      AX, $8
	JB        q4tab1
	VCVTPH2PS (R9), Y8
	Q8TAB8((R10), 0)
	Q8TAB8((R10)(R13*1), 1)
	Q8TAB8((R15), 2)
	Q8TAB8((R15)(R13*1), 3)
	ADDQ      $16, R9
	ADDQ      $32, R10
	ADDQ      $32, R15
	ADDQ      $32, BX
	SUBQ      $8, AX
	JMP       q4tab8

q4tab1:
	TESTQ     AX, AX
	JZ        q4runs
	VPINSRW   $0, (R9), X8, X8
	VCVTPH2PS X8, X8
	Q8TAB1((R10), 0)
	Q8TAB1((R10)(R13*1), 1)
	Q8TAB1((R15), 2)
	Q8TAB1((R15)(R13*1), 3)
	ADDQ      $2, R9
	ADDQ      $4, R10
	ADDQ      $4, R15
	ADDQ      $4, BX
	DECQ      AX
	JMP       q4tab1

q4runs:
	LEAQ (SP), BX
	LEAQ (SI)(R11*2), R15 // qx of x rows 2 and 3

q4pair:
	CMPQ       CX, $2
	JB         q4single
	PREFETCHT0 1024(R8)
	Q8W(0)
	Q8X(0(SI), 0(BX), Y0)
	Q8X(0(SI)(R11*1), 512(BX), Y2)
	Q8X(0(R15), 1024(BX), Y4)
	Q8X(0(R15)(R11*1), 1536(BX), Y6)
	Q8W(1)
	Q8X(32(SI), 4(BX), Y1)
	Q8X(32(SI)(R11*1), 516(BX), Y3)
	Q8X(32(R15), 1028(BX), Y5)
	Q8X(32(R15)(R11*1), 1540(BX), Y7)
	ADDQ       $64, SI
	ADDQ       $64, R15
	ADDQ       $64, R8
	ADDQ       $8, BX
	SUBQ       $2, CX
	JMP        q4pair

q4single:
	TESTQ CX, CX
	JZ    q4chunk
	Q8W(0)
	Q8X(0(SI), 0(BX), Y0)
	Q8X(0(SI)(R11*1), 512(BX), Y2)
	Q8X(0(R15), 1024(BX), Y4)
	Q8X(0(R15)(R11*1), 1536(BX), Y6)
	ADDQ  $32, SI
	ADDQ  $32, R8
	JMP   q4chunk

q4reduce:
	LEAQ (DI)(DX*2), AX
	Q8REDUCE(Y0, X0, Y1, (DI))
	Q8REDUCE(Y2, X2, Y3, (DI)(DX*1))
	Q8REDUCE(Y4, X4, Y5, (AX))
	Q8REDUCE(Y6, X6, Y7, (AX)(DX*1))
	ADDQ $4, DI
	DECQ R12
	JNZ  q4row
	VZEROUPPER
	RET

// func q8ToF32AVX2(dst *float32, q *int8, d *uint16, runs, pf int)
// dst[32b+i] = f16(d[b])·q[32b+i] for b < runs (positive): the weights of q8_0 runs widened to
// fp32, exactly (an 8-bit integer times an 11-bit significand). The quants pf bytes further on
// are prefetched: a packed panel reads too short a stretch of each row for the hardware
// prefetcher, so it asks for the next panel's.
TEXT ·q8ToF32AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ q+8(FP), SI
	MOVQ d+16(FP), R9
	MOVQ runs+24(FP), CX
	MOVQ pf+32(FP), DX

q8f32run:
	PREFETCHT0   (SI)(DX*1)
	VPINSRW      $0, (R9), X8, X8
	VCVTPH2PS    X8, X8
	VBROADCASTSS X8, Y8
	VPMOVSXBD    (SI), Y0
	VPMOVSXBD    8(SI), Y1
	VPMOVSXBD    16(SI), Y2
	VPMOVSXBD    24(SI), Y3
	VCVTDQ2PS    Y0, Y0
	VCVTDQ2PS    Y1, Y1
	VCVTDQ2PS    Y2, Y2
	VCVTDQ2PS    Y3, Y3
	VMULPS       Y8, Y0, Y0
	VMULPS       Y8, Y1, Y1
	VMULPS       Y8, Y2, Y2
	VMULPS       Y8, Y3, Y3
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	VMOVUPS      Y2, 64(DI)
	VMOVUPS      Y3, 96(DI)
	ADDQ         $32, SI
	ADDQ         $2, R9
	ADDQ         $128, DI
	DECQ         CX
	JNZ          q8f32run
	VZEROUPPER
	RET
