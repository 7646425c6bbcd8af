// Macros shared by the row kernels of dpbf16_amd64.s and wide_amd64.s.

#define PFD 1024

// PFNEXT2 and PFNEXT4 prefetch into L2 (PREFETCHT1) the next group of four weight rows, DX (its
// start, rows being contiguous) plus four times the offset BX along the current rows, two or
// four lines: called once per 32 or 64 bytes of BX, they cover the next group as the loop
// covers this one. Each row's own prefetch a fixed distance ahead (PREFETCHT0, into L1) streamed
// worse: on Zen 4 (EPYC, one core, BenchmarkStream, read 32–34 GB/s) a 1-row VDPBF16PS product
// ran at 0.50–0.52 of a plain read with it, 0.57–0.60 without software prefetch and 0.70–0.73
// with this one.
#define PFNEXT2 \
	PREFETCHT1 (DX)(BX*4); \
	PREFETCHT1 64(DX)(BX*4)

#define PFNEXT4 \
	PFNEXT2; \
	PREFETCHT1 128(DX)(BX*4); \
	PREFETCHT1 192(DX)(BX*4)

// DPARGS loads the arguments every row kernel shares: out → DI, ldo → DX (bytes), x → SI,
// ldx → R13, w → R8, k → CX, ldw → R14 (R13, CX, R14 as bytes of 2-byte elements: kernels
// with 4-byte ones double them), groups of four weight rows → R12, parts → AX (then the
// walking x pointer). ROWARGS loads all but parts.
#define DPARGS \
	ROWARGS; \
	MOVQ parts+64(FP), AX

#define ROWARGS \
	MOVQ out+0(FP), DI; \
	MOVQ ldo+8(FP), DX; \
	SHLQ $2, DX; \
	MOVQ x+16(FP), SI; \
	MOVQ ldx+24(FP), R13; \
	SHLQ $1, R13; \
	MOVQ w+32(FP), R8; \
	MOVQ k+40(FP), CX; \
	SHLQ $1, CX; \
	MOVQ ldw+48(FP), R14; \
	SHLQ $1, R14; \
	MOVQ rows+56(FP), R12; \
	SHRQ $2, R12

// REDUCE stores the sum of the 16 lanes of accumulator z (y, x: its lower halves) at dst.
#define REDUCE(z, y, x, dst) \
	VEXTRACTF64X4 $1, z, Y24; \
	VADDPS        Y24, y, y; \
	VEXTRACTF32X4 $1, y, X25; \
	VADDPS        X25, x, x; \
	VHADDPS       x, x, x; \
	VHADDPS       x, x, x; \
	VMOVSS        x, dst

// DPGROUP points R9–R11 at the weight rows after R8 and restarts the walk along k.
#define DPGROUP \
	LEAQ (R8)(R14*1), R9; \
	LEAQ (R9)(R14*1), R10; \
	LEAQ (R10)(R14*1), R11; \
	XORQ BX, BX; \
	MOVQ SI, AX

// PFGROUP is DPGROUP that also points DX at the next group (see PFNEXT2).
#define PFGROUP \
	DPGROUP; \
	LEAQ (R11)(R14*1), DX

#define ZERO16 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15

// STORE16 stores the sixteen sums (x row i's four at out + i·ldo, ldo read again into R10, DX
// being DPGROUP's) and moves to the next group of weight rows; it ends with the flags of the
// group count.
#define STORE16 \
	REDUCE(Z0, Y0, X0, (DI)); \
	REDUCE(Z1, Y1, X1, 4(DI)); \
	REDUCE(Z2, Y2, X2, 8(DI)); \
	REDUCE(Z3, Y3, X3, 12(DI)); \
	MOVQ   ldo+8(FP), R10; \
	SHLQ   $2, R10; \
	LEAQ   (DI)(R10*1), R9; \
	REDUCE(Z4, Y4, X4, (R9)); \
	REDUCE(Z5, Y5, X5, 4(R9)); \
	REDUCE(Z6, Y6, X6, 8(R9)); \
	REDUCE(Z7, Y7, X7, 12(R9)); \
	ADDQ   R10, R9; \
	REDUCE(Z8, Y8, X8, (R9)); \
	REDUCE(Z9, Y9, X9, 4(R9)); \
	REDUCE(Z10, Y10, X10, 8(R9)); \
	REDUCE(Z11, Y11, X11, 12(R9)); \
	ADDQ   R10, R9; \
	REDUCE(Z12, Y12, X12, (R9)); \
	REDUCE(Z13, Y13, X13, 4(R9)); \
	REDUCE(Z14, Y14, X14, 8(R9)); \
	REDUCE(Z15, Y15, X15, 12(R9)); \
	ADDQ   $16, DI; \
	LEAQ   (R11)(R14*1), R8; \
	DECQ   R12


// The 8-row (stretched) kernels of wide_amd64.s and dpbf16_amd64.s: two weight rows (Z26, Z27)
// against eight rows of x (rows 0–3 from AX, 4–7 from R10, strides R13 and R15 = 3·R13; each x
// load serves both weight rows), each pair (x row i, weight row j) with its own accumulator
// Z(2i+j): the 1-row kernels' order, so the same bits, with each weight load serving eight rows
// of x. So that a stretch of k of the eight x rows can stay in L1 while several weight rows pass
// over it, a call may cover only part of k: mode's bit 0 (rowsResume) starts each pair's
// accumulators from acc (16 zmm, 1 KiB, per pair of weight rows, in order) instead of zero, and
// bit 1 (rowsFinish) stores the reduced sums to out instead of the accumulators to acc,
// unreduced (so a product split in k keeps its bits). Their arguments are the row kernels'
// with mode and acc after parts.

// ROWS8ARGS loads the 8-row kernels' arguments: ROWARGS's, pairs of weight rows in R12, acc in
// R11; X8STRIDES then puts three x row strides in R15 (R13 in bytes by then).
#define ROWS8ARGS \
	ROWARGS; \
	SHLQ $1, R12; \
	MOVQ acc+80(FP), R11

#define X8STRIDES LEAQ (R13)(R13*2), R15

// ACC16(op) moves the sixteen accumulators between Z0–Z15 and the pair's 1 KiB at R11.
#define ACC16(op) \
	op(Z0, 0); op(Z1, 64); op(Z2, 128); op(Z3, 192); op(Z4, 256); op(Z5, 320); op(Z6, 384); op(Z7, 448); \
	op(Z8, 512); op(Z9, 576); op(Z10, 640); op(Z11, 704); op(Z12, 768); op(Z13, 832); op(Z14, 896); op(Z15, 960)

#define LOADACC(z, off) VMOVUPS off(R11), z
#define SPILLACC(z, off) VMOVUPS z, off(R11)

// START8 zeroes the accumulators or, with rowsResume, loads them from acc.
#define START8(resumed, started) \
	TESTQ $1, mode+72(FP); \
	JNZ   resumed; \
	ZERO16; \
	JMP   started; \
resumed: \
	ACC16(LOADACC); \
started:

// STORE2x8 stores the sixteen sums (x row i's two at out + i·ldo, ldo read again into DX,
// which a kernel may have used, R10 walking the rows) or, without rowsFinish, the accumulators
// to acc; then it moves to the next pair of weight rows and its acc, ending with the flags of
// the pair count.
#define STORE2x8(spill, next) \
	TESTQ  $2, mode+72(FP); \
	JZ     spill; \
	MOVQ   ldo+8(FP), DX; \
	SHLQ   $2, DX; \
	REDUCE(Z0, Y0, X0, (DI)); \
	REDUCE(Z1, Y1, X1, 4(DI)); \
	LEAQ   (DI)(DX*1), R10; \
	REDUCE(Z2, Y2, X2, (R10)); \
	REDUCE(Z3, Y3, X3, 4(R10)); \
	ADDQ   DX, R10; \
	REDUCE(Z4, Y4, X4, (R10)); \
	REDUCE(Z5, Y5, X5, 4(R10)); \
	ADDQ   DX, R10; \
	REDUCE(Z6, Y6, X6, (R10)); \
	REDUCE(Z7, Y7, X7, 4(R10)); \
	ADDQ   DX, R10; \
	REDUCE(Z8, Y8, X8, (R10)); \
	REDUCE(Z9, Y9, X9, 4(R10)); \
	ADDQ   DX, R10; \
	REDUCE(Z10, Y10, X10, (R10)); \
	REDUCE(Z11, Y11, X11, 4(R10)); \
	ADDQ   DX, R10; \
	REDUCE(Z12, Y12, X12, (R10)); \
	REDUCE(Z13, Y13, X13, 4(R10)); \
	ADDQ   DX, R10; \
	REDUCE(Z14, Y14, X14, (R10)); \
	REDUCE(Z15, Y15, X15, 4(R10)); \
	JMP    next; \
spill: \
	ACC16(SPILLACC); \
next: \
	ADDQ   $1024, R11; \
	ADDQ   $8, DI; \
	LEAQ   (R9)(R14*1), R8; \
	DECQ   R12
