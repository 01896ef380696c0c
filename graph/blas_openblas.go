//go:build cgo && !noopenblas

package graph

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
void openblas_set_num_threads(int);
char* openblas_get_config(void);
*/
import "C"

import "unsafe"

// The kernels call OpenBLAS directly: its GEMM is several times faster than gonum's
// pure-Go one on these shapes. Build with -tags noopenblas (or CGO_ENABLED=0) to fall
// back to gonum. OpenBLAS runs single-threaded because the kernels already split each
// batch across GOMAXPROCS goroutines.
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
	BLAS = "openblas " + C.GoString(C.openblas_get_config())
}

func trans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}
