//go:build !amd64 || purego

package graph

// useAVX2 is false: the kernels run their Go loops.
var useAVX2 = false

func foldRows1AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int) {
	panic("graph: no AVX2")
}
func foldRows2AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int) {
	panic("graph: no AVX2")
}
func unfoldRows1AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int) {
	panic("graph: no AVX2")
}
func unfoldRows2AVX2(dst, src *float32, nc, dstC, srcC, n, w, dstLd, srcLd int) {
	panic("graph: no AVX2")
}
func bnActRowAVX2(o, x *float32, n int, sc, sh, f0, f1 float32) { panic("graph: no AVX2") }
func bnGradXRowAVX2(o, x, y, dy *float32, n int, scale, mean, a, d, f0, f1 float32) {
	panic("graph: no AVX2")
}
