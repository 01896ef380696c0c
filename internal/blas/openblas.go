//go:build cgo && !noopenblas

package blas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
void openblas_set_num_threads(int);
char* openblas_get_config(void);
*/
import "C"

import "unsafe"

// OpenBLAS's GEMM is several times faster than gonum's pure-Go one on these shapes.
// It runs single-threaded because callers split their batches across GOMAXPROCS
// goroutines themselves.
func init() {
	C.openblas_set_num_threads(1)
	sgemm = func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		if m == 0 || n == 0 {
			return
		}
		C.cblas_sgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
			C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
			(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb), C.float(beta),
			(*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
	}
	dgemm = func(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
		if m == 0 || n == 0 {
			return
		}
		C.cblas_dgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
			C.double(alpha), (*C.double)(unsafe.Pointer(&a[0])), C.blasint(lda),
			(*C.double)(unsafe.Pointer(&b[0])), C.blasint(ldb), C.double(beta),
			(*C.double)(unsafe.Pointer(&c[0])), C.blasint(ldc))
	}
	sgemv = func(m, n int, alpha float32, a []float32, lda int, x []float32, beta float32, y []float32) {
		if m == 0 {
			return
		}
		C.cblas_sgemv(C.CblasRowMajor, C.CblasNoTrans, C.blasint(m), C.blasint(n), C.float(alpha),
			(*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda), (*C.float)(unsafe.Pointer(&x[0])), 1,
			C.float(beta), (*C.float)(unsafe.Pointer(&y[0])), 1)
	}
	Name = "openblas " + C.GoString(C.openblas_get_config())
}

func trans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}
