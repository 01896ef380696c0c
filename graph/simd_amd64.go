//go:build amd64 && !purego

package graph

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2 loops of simd_amd64.s for float32 kernels. They compute
// bitwise what the Go loops compute (TestSIMDMatchesGo), only eight lanes at a time;
// build with -tags purego to leave them out.
var useAVX2 = cpu.X86.HasAVX2

//go:noescape
func foldRows1AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int)

//go:noescape
func foldRows2AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int)

//go:noescape
func unfoldRows1AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int)

//go:noescape
func unfoldRows2AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int)

//go:noescape
func bnActRowAVX2(o, x *float32, n int, sc, sh, f0, f1 float32)

//go:noescape
func bnGradXRowAVX2(o, x, y, dy *float32, n int, scale, mean, a, d, f0, f1 float32)
