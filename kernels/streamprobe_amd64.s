#include "textflag.h"

// func probeRows4(w *byte, rowBytes, ldw, groups, dist, mode int) uint64
// A probe of the weight stream (BenchmarkStream): the loads of the 1-row kernels without their
// arithmetic, over groups of four weight rows (rowBytes each, ldw bytes apart), 64 bytes of each
// row per iteration in the kernels' order, OR-ed together. mode 0: no software prefetch; 1:
// PREFETCHT0 dist bytes ahead on each row (the row kernels' prefetch until Zen 4); 2: PREFETCHT1
// of the next group of four rows (rows.h's PFNEXT4); 3: the group read as one stream instead
// (rows contiguous), four lines per iteration.
TEXT ·probeRows4(SB), NOSPLIT, $0-56
	MOVQ   w+0(FP), R8
	MOVQ   rowBytes+8(FP), CX
	MOVQ   ldw+16(FP), R14
	MOVQ   groups+24(FP), R12
	MOVQ   dist+32(FP), DX
	MOVQ   mode+40(FP), AX
	VPXORD Z0, Z0, Z0

pgroup:
	LEAQ (R8)(R14*1), R9
	LEAQ (R9)(R14*1), R10
	LEAQ (R10)(R14*1), R11
	LEAQ (R11)(R14*1), R15
	XORQ BX, BX
	CMPQ AX, $1
	JEQ  pdist
	CMPQ AX, $2
	JEQ  pnext
	CMPQ AX, $3
	JEQ  pseq

pnone:
	VPORD (R8)(BX*1), Z0, Z0
	VPORD (R9)(BX*1), Z0, Z0
	VPORD (R10)(BX*1), Z0, Z0
	VPORD (R11)(BX*1), Z0, Z0
	ADDQ  $64, BX
	CMPQ  BX, CX
	JB    pnone
	JMP   pend

pdist:
	LEAQ       (BX)(DX*1), SI
	PREFETCHT0 (R8)(SI*1)
	PREFETCHT0 (R9)(SI*1)
	PREFETCHT0 (R10)(SI*1)
	PREFETCHT0 (R11)(SI*1)
	VPORD      (R8)(BX*1), Z0, Z0
	VPORD      (R9)(BX*1), Z0, Z0
	VPORD      (R10)(BX*1), Z0, Z0
	VPORD      (R11)(BX*1), Z0, Z0
	ADDQ       $64, BX
	CMPQ       BX, CX
	JB         pdist
	JMP        pend

pnext:
	PREFETCHT1 (R15)(BX*4)
	PREFETCHT1 64(R15)(BX*4)
	PREFETCHT1 128(R15)(BX*4)
	PREFETCHT1 192(R15)(BX*4)
	VPORD      (R8)(BX*1), Z0, Z0
	VPORD      (R9)(BX*1), Z0, Z0
	VPORD      (R10)(BX*1), Z0, Z0
	VPORD      (R11)(BX*1), Z0, Z0
	ADDQ       $64, BX
	CMPQ       BX, CX
	JB         pnext
	JMP        pend

pseq:
	VPORD (R8)(BX*4), Z0, Z0
	VPORD 64(R8)(BX*4), Z0, Z0
	VPORD 128(R8)(BX*4), Z0, Z0
	VPORD 192(R8)(BX*4), Z0, Z0
	ADDQ  $64, BX
	CMPQ  BX, CX
	JB    pseq

pend:
	MOVQ          R15, R8
	DECQ          R12
	JNZ           pgroup
	VEXTRACTI64X4 $1, Z0, Y1
	VPOR          Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPOR          X1, X0, X0
	MOVQ          X0, AX
	MOVQ          AX, ret+48(FP)
	VZEROUPPER
	RET
