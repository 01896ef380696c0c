// Package blas is the row-major GEMM the reference graph's kernels and the inference
// start search use: OpenBLAS through cgo when available (the default build), gonum's
// pure-Go implementation otherwise (-tags noopenblas, or CGO_ENABLED=0).
package blas

import (
	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// Name says which implementation is in use, for run manifests.
var Name = "gonum"

var (
	sgemm = func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		blas32.Implementation().Sgemm(tr(tA), tr(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
	dgemm = func(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
		blas64.Implementation().Dgemm(tr(tA), tr(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
	sgemv = func(m, n int, alpha float32, a []float32, lda int, x []float32, beta float32, y []float32) {
		blas32.Implementation().Sgemv(gblas.NoTrans, m, n, alpha, a, lda, x, 1, beta, y, 1)
	}
)

func tr(t bool) gblas.Transpose {
	if t {
		return gblas.Trans
	}
	return gblas.NoTrans
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major float32 matrices with
// op(A) m x k and op(B) k x n; lda, ldb, ldc are the row strides as stored.
func Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm for float64.
func Dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sgemv computes y = alpha*A*x + beta*y for a row-major float32 m x n matrix A with row
// stride lda and contiguous x (n) and y (m).
func Sgemv(m, n int, alpha float32, a []float32, lda int, x []float32, beta float32, y []float32) {
	sgemv(m, n, alpha, a, lda, x, beta, y)
}
