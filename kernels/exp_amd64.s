#include "textflag.h"

// Constants of Exp (exp.go) as float32 bit patterns, broadcast from memory.
DATA expConsts<>+0(SB)/4, $0x42b17217  // expMax
DATA expConsts<>+4(SB)/4, $0xc2aeac50  // expMin
DATA expConsts<>+8(SB)/4, $0x3fb8aa3b  // log2 e
DATA expConsts<>+12(SB)/4, $0x4b400000 // 1.5·2^23: adding and subtracting it rounds to an integer
DATA expConsts<>+16(SB)/4, $0x3f318000 // ln2Hi
DATA expConsts<>+20(SB)/4, $0xb95e8083 // ln2Lo
DATA expConsts<>+24(SB)/4, $0x39506967 // polynomial, highest degree first
DATA expConsts<>+28(SB)/4, $0x3ab743ce
DATA expConsts<>+32(SB)/4, $0x3c088908
DATA expConsts<>+36(SB)/4, $0x3d2aa9c1
DATA expConsts<>+40(SB)/4, $0x3e2aaaaa
DATA expConsts<>+44(SB)/4, $0x3f000000
DATA expConsts<>+48(SB)/4, $0x3f800000 // 1
DATA expConsts<>+52(SB)/4, $127        // exponent bias (an integer)
DATA expConsts<>+56(SB)/4, $0x7f800000 // +Inf
GLOBL expConsts<>(SB), RODATA|NOPTR, $60

// POLY_STEP does p = p·r + c for the coefficient at offset off (unfused, as exp.go).
#define POLY_STEP(off) \
	VMULPS       Y1, Y4, Y4; \
	VBROADCASTSS expConsts<>+off(SB), Y5; \
	VADDPS       Y5, Y4, Y4

// func expAVX2(dst, src *float32, scale, shift float32, n int)
//
// dst[i] = Exp(scale·src[i] − shift) for n a multiple of 8: the vector form of Exp in exp.go,
// operation for operation (no fused multiply-adds), so both give the same bits.
// Y0 x, Y1 r, Y2 fn, Y3 n, Y4 p and y, Y5 scratch; Y6–Y13 constants.
TEXT ·expAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	VBROADCASTSS scale+16(FP), Y14
	VBROADCASTSS shift+20(FP), Y15
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JZ           expdone
	VBROADCASTSS expConsts<>+0(SB), Y6
	VBROADCASTSS expConsts<>+4(SB), Y7
	VBROADCASTSS expConsts<>+8(SB), Y8
	VBROADCASTSS expConsts<>+12(SB), Y9
	VBROADCASTSS expConsts<>+16(SB), Y10
	VBROADCASTSS expConsts<>+20(SB), Y11
	VBROADCASTSS expConsts<>+48(SB), Y12
	VBROADCASTSS expConsts<>+52(SB), Y13

exploop:
	VMOVUPS (SI), Y0
	VMULPS  Y14, Y0, Y0 // x = scale·src − shift
	VSUBPS  Y15, Y0, Y0

	// Clamp into [expMin, expMax]; the lanes outside are replaced at the end.
	VMAXPS Y7, Y0, Y1
	VMINPS Y6, Y1, Y1

	// fn = round(x·log2e), n = int(fn); r = x − fn·ln2Hi − fn·ln2Lo.
	VMULPS     Y8, Y1, Y2
	VADDPS     Y9, Y2, Y2
	VSUBPS     Y9, Y2, Y2
	VCVTTPS2DQ Y2, Y3
	VMULPS     Y10, Y2, Y4
	VSUBPS     Y4, Y1, Y1
	VMULPS     Y11, Y2, Y4
	VSUBPS     Y4, Y1, Y1

	// p(r), then y = p·r·r + r + 1.
	VBROADCASTSS expConsts<>+24(SB), Y4
	POLY_STEP(28)
	POLY_STEP(32)
	POLY_STEP(36)
	POLY_STEP(40)
	POLY_STEP(44)
	VMULPS Y1, Y4, Y4
	VMULPS Y1, Y4, Y4
	VADDPS Y1, Y4, Y4
	VADDPS Y12, Y4, Y4

	// Where n > 127: y doubled (y + y) and n decremented (n + (−1)).
	VPCMPGTD Y13, Y3, Y5
	VANDPS   Y5, Y4, Y2
	VADDPS   Y2, Y4, Y4
	VPADDD   Y5, Y3, Y3

	// y · 2^n, with 2^n built in the exponent bits.
	VPADDD Y13, Y3, Y3
	VPSLLD $23, Y3, Y3
	VMULPS Y3, Y4, Y4

	// Lanes outside the range: +Inf above expMax, 0 below expMin, NaN stays NaN.
	VCMPPS       $0x1e, Y6, Y0, Y5 // x > expMax
	VBROADCASTSS expConsts<>+56(SB), Y2
	VBLENDVPS    Y5, Y2, Y4, Y4
	VCMPPS       $0x11, Y7, Y0, Y5 // x < expMin
	VANDNPS      Y4, Y5, Y4
	VCMPPS       $0x03, Y0, Y0, Y5 // x is NaN
	VBLENDVPS    Y5, Y0, Y4, Y4

	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     exploop

expdone:
	VZEROUPPER
	RET
