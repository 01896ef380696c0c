//go:build amd64 && !purego

#include "textflag.h"

// AVX2 loops of the float32 kernels (simd_amd64.go). Each does exactly the scalar
// loop's arithmetic in the same order, eight lanes at a time: separate multiplies and
// adds (no FMA), so every value is bitwise what the Go loop gives.

// The row kernels below work on nc blocks (channels) of n rows: block c's rows start
// dstC and srcC floats after block c-1's, rows dstLd and srcLd floats apart. Registers:
// R11 blocks left, R12/R13 the block's first dst/src, DI/SI the row's, CX rows left,
// DX = w, BX the last j+1 a vector step may start at, AX = j.

// func foldRows1AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int)
// dst[c*dstC+y*dstLd+j] += src[c*srcC+y*srcLd+j] for c < nc, y < n, j < w.
TEXT ·foldRows1AVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), R12
	MOVQ src+8(FP), R13
	MOVQ nc+16(FP), R11
	MOVQ w+48(FP), DX
	MOVQ dstLd+56(FP), R8
	MOVQ srcLd+64(FP), R9
	SHLQ $2, R8
	SHLQ $2, R9
	MOVQ DX, BX
	ANDQ $-8, BX

f1block:
	TESTQ R11, R11
	JLE   f1done
	MOVQ  R12, DI
	MOVQ  R13, SI
	MOVQ  n+40(FP), CX

f1row:
	TESTQ CX, CX
	JLE   f1nextblock
	XORQ  AX, AX

f1vec:
	CMPQ    AX, BX
	JGE     f1tail
	VMOVUPS (DI)(AX*4), Y0
	VADDPS  (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     f1vec

f1tail:
	CMPQ   AX, DX
	JGE    f1nextrow
	VMOVSS (DI)(AX*4), X0
	VADDSS (SI)(AX*4), X0, X0
	VMOVSS X0, (DI)(AX*4)
	INCQ   AX
	JMP    f1tail

f1nextrow:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ CX
	JMP  f1row

f1nextblock:
	MOVQ dstC+24(FP), AX
	LEAQ (R12)(AX*4), R12
	MOVQ srcC+32(FP), AX
	LEAQ (R13)(AX*4), R13
	DECQ R11
	JMP  f1block

f1done:
	VZEROUPPER
	RET

// Lane indices that spread eight values over sixteen positions, two vectors: value i
// goes to even position 2i.
DATA spreadLo<>+0(SB)/4, $0
DATA spreadLo<>+4(SB)/4, $0
DATA spreadLo<>+8(SB)/4, $1
DATA spreadLo<>+12(SB)/4, $1
DATA spreadLo<>+16(SB)/4, $2
DATA spreadLo<>+20(SB)/4, $2
DATA spreadLo<>+24(SB)/4, $3
DATA spreadLo<>+28(SB)/4, $3
GLOBL spreadLo<>(SB), RODATA|NOPTR, $32

DATA spreadHi<>+0(SB)/4, $4
DATA spreadHi<>+4(SB)/4, $4
DATA spreadHi<>+8(SB)/4, $5
DATA spreadHi<>+12(SB)/4, $5
DATA spreadHi<>+16(SB)/4, $6
DATA spreadHi<>+20(SB)/4, $6
DATA spreadHi<>+24(SB)/4, $7
DATA spreadHi<>+28(SB)/4, $7
GLOBL spreadHi<>(SB), RODATA|NOPTR, $32

// func foldRows2AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int)
// dst[c*dstC+y*dstLd+2j] += src[c*srcC+y*srcLd+j]. A vector step reads and writes
// sixteen positions of dst, the odd ones written back unchanged (a blend, not an add,
// so they keep every bit), and runs only while they all lie in the row: j+8 < w.
TEXT ·foldRows2AVX2(SB), NOSPLIT, $0-72
	MOVQ    dst+0(FP), R12
	MOVQ    src+8(FP), R13
	MOVQ    nc+16(FP), R11
	MOVQ    w+48(FP), DX
	MOVQ    dstLd+56(FP), R8
	MOVQ    srcLd+64(FP), R9
	SHLQ    $2, R8
	SHLQ    $2, R9
	VMOVUPS spreadLo<>(SB), Y6
	VMOVUPS spreadHi<>(SB), Y7
	MOVQ    DX, BX
	SUBQ    $8, BX

f2block:
	TESTQ R11, R11
	JLE   f2done
	MOVQ  R12, DI
	MOVQ  R13, SI
	MOVQ  n+40(FP), CX

f2row:
	TESTQ CX, CX
	JLE   f2nextblock
	XORQ  AX, AX
	MOVQ  DI, R10 // &dst[2j]

f2vec:
	CMPQ     AX, BX
	JGE      f2tail
	VMOVUPS  (SI)(AX*4), Y0
	VPERMPS  Y0, Y6, Y1
	VPERMPS  Y0, Y7, Y2
	VMOVUPS  (R10), Y3
	VMOVUPS  32(R10), Y4
	VADDPS   Y1, Y3, Y1
	VADDPS   Y2, Y4, Y2
	VBLENDPS $0x55, Y1, Y3, Y3
	VBLENDPS $0x55, Y2, Y4, Y4
	VMOVUPS  Y3, (R10)
	VMOVUPS  Y4, 32(R10)
	ADDQ     $8, AX
	ADDQ     $64, R10
	JMP      f2vec

f2tail:
	CMPQ   AX, DX
	JGE    f2nextrow
	VMOVSS (R10), X0
	VADDSS (SI)(AX*4), X0, X0
	VMOVSS X0, (R10)
	INCQ   AX
	ADDQ   $8, R10
	JMP    f2tail

f2nextrow:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ CX
	JMP  f2row

f2nextblock:
	MOVQ dstC+24(FP), AX
	LEAQ (R12)(AX*4), R12
	MOVQ srcC+32(FP), AX
	LEAQ (R13)(AX*4), R13
	DECQ R11
	JMP  f2block

f2done:
	VZEROUPPER
	RET

// func unfoldRows1AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int)
// dst[c*dstC+y*dstLd+j] = src[c*srcC+y*srcLd+j]: a copy of short rows without a call
// per row.
TEXT ·unfoldRows1AVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), R12
	MOVQ src+8(FP), R13
	MOVQ nc+16(FP), R11
	MOVQ w+48(FP), DX
	MOVQ dstLd+56(FP), R8
	MOVQ srcLd+64(FP), R9
	SHLQ $2, R8
	SHLQ $2, R9
	MOVQ DX, BX
	ANDQ $-8, BX

u1block:
	TESTQ R11, R11
	JLE   u1done
	MOVQ  R12, DI
	MOVQ  R13, SI
	MOVQ  n+40(FP), CX

u1row:
	TESTQ CX, CX
	JLE   u1nextblock
	XORQ  AX, AX

u1vec:
	CMPQ    AX, BX
	JGE     u1tail
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     u1vec

u1tail:
	CMPQ   AX, DX
	JGE    u1nextrow
	VMOVSS (SI)(AX*4), X0
	VMOVSS X0, (DI)(AX*4)
	INCQ   AX
	JMP    u1tail

u1nextrow:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ CX
	JMP  u1row

u1nextblock:
	MOVQ dstC+24(FP), AX
	LEAQ (R12)(AX*4), R12
	MOVQ srcC+32(FP), AX
	LEAQ (R13)(AX*4), R13
	DECQ R11
	JMP  u1block

u1done:
	VZEROUPPER
	RET

// func unfoldRows2AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int)
// dst[c*dstC+y*dstLd+j] = src[c*srcC+y*srcLd+2j]. A vector step reads sixteen values
// of src, and runs only while they all lie in the row: j+8 < w.
TEXT ·unfoldRows2AVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), R12
	MOVQ src+8(FP), R13
	MOVQ nc+16(FP), R11
	MOVQ w+48(FP), DX
	MOVQ dstLd+56(FP), R8
	MOVQ srcLd+64(FP), R9
	SHLQ $2, R8
	SHLQ $2, R9
	MOVQ DX, BX
	SUBQ $8, BX

u2block:
	TESTQ R11, R11
	JLE   u2done
	MOVQ  R12, DI
	MOVQ  R13, SI
	MOVQ  n+40(FP), CX

u2row:
	TESTQ CX, CX
	JLE   u2nextblock
	XORQ  AX, AX
	MOVQ  SI, R10 // &src[2j]

u2vec:
	CMPQ    AX, BX
	JGE     u2tail
	VMOVUPS (R10), Y0
	VMOVUPS 32(R10), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VPERMPD $0xd8, Y2, Y2
	VMOVUPS Y2, (DI)(AX*4)
	ADDQ    $8, AX
	ADDQ    $64, R10
	JMP     u2vec

u2tail:
	CMPQ   AX, DX
	JGE    u2nextrow
	VMOVSS (R10), X0
	VMOVSS X0, (DI)(AX*4)
	INCQ   AX
	ADDQ   $8, R10
	JMP    u2tail

u2nextrow:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ CX
	JMP  u2row

u2nextblock:
	MOVQ dstC+24(FP), AX
	LEAQ (R12)(AX*4), R12
	MOVQ srcC+32(FP), AX
	LEAQ (R13)(AX*4), R13
	DECQ R11
	JMP  u2block

u2done:
	VZEROUPPER
	RET

// func bnActRowAVX2(o, x *float32, n int, sc, sh, f0, f1 float32)
// o[j] = y*f[y > 0] with y = x[j]*sc + sh, for j < n rounded down to a multiple of 8.
TEXT ·bnActRowAVX2(SB), NOSPLIT, $0-40
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), DX
	VBROADCASTSS sc+24(FP), Y4
	VBROADCASTSS sh+28(FP), Y5
	VBROADCASTSS f0+32(FP), Y6
	VBROADCASTSS f1+36(FP), Y7
	VXORPS       Y8, Y8, Y8
	ANDQ         $-8, DX
	XORQ         AX, AX

actloop:
	CMPQ      AX, DX
	JGE       actdone
	VMOVUPS   (SI)(AX*4), Y0
	VMULPS    Y4, Y0, Y0
	VADDPS    Y5, Y0, Y0
	VCMPPS    $0x1e, Y8, Y0, Y1 // y > 0, false for NaN (as the Go comparison)
	VBLENDVPS Y1, Y7, Y6, Y2
	VMULPS    Y2, Y0, Y0
	VMOVUPS   Y0, (DI)(AX*4)
	ADDQ      $8, AX
	JMP       actloop

actdone:
	VZEROUPPER
	RET

// func bnGradXRowAVX2(o, x, y, dy *float32, n int, scale, mean, a, d, f0, f1 float32)
// o[j] = scale*dy[j]*f[y[j] > 0] + a*(x[j]-mean) + d, evaluated left to right as Go
// does, for j < n rounded down to a multiple of 8.
TEXT ·bnGradXRowAVX2(SB), NOSPLIT, $0-64
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), R8
	MOVQ         dy+24(FP), R9
	MOVQ         n+32(FP), DX
	VBROADCASTSS scale+40(FP), Y4
	VBROADCASTSS mean+44(FP), Y5
	VBROADCASTSS a+48(FP), Y6
	VBROADCASTSS d+52(FP), Y7
	VBROADCASTSS f0+56(FP), Y8
	VBROADCASTSS f1+60(FP), Y9
	VXORPS       Y10, Y10, Y10
	ANDQ         $-8, DX
	XORQ         AX, AX

gxloop:
	CMPQ      AX, DX
	JGE       gxdone
	VMOVUPS   (R9)(AX*4), Y0
	VMULPS    Y4, Y0, Y0        // scale*g
	VMOVUPS   (R8)(AX*4), Y1
	VCMPPS    $0x1e, Y10, Y1, Y1 // y > 0
	VBLENDVPS Y1, Y9, Y8, Y2
	VMULPS    Y2, Y0, Y0        // (scale*g)*f
	VMOVUPS   (SI)(AX*4), Y3
	VSUBPS    Y5, Y3, Y3        // x-mean
	VMULPS    Y6, Y3, Y3        // a*(x-mean)
	VADDPS    Y3, Y0, Y0
	VADDPS    Y7, Y0, Y0
	VMOVUPS   Y0, (DI)(AX*4)
	ADDQ      $8, AX
	JMP       gxloop

gxdone:
	VZEROUPPER
	RET
