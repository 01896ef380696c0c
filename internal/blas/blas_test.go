package blas

import (
	"math"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/eabs/eabs/internal/benchmetric"
	"github.com/eabs/eabs/internal/naive"
)

// TestSgemm checks the GEMM in use (OpenBLAS or gonum) against the float64 oracle
// naive.Dense, row by row, with and without transposes, alpha and beta.
func TestSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	// rowMajor returns the r×c matrix stored in v (transposed when tr) row-major in
	// float64.
	rowMajor := func(v []float32, r, c int, tr bool) []float64 {
		out := make([]float64, r*c)
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				if tr {
					out[i*c+j] = float64(v[j*r+i])
				} else {
					out[i*c+j] = float64(v[i*c+j])
				}
			}
		}
		return out
	}
	const m, n, k = 5, 7, 3
	for _, test := range []struct {
		tA, tB      bool
		alpha, beta float32
	}{
		{false, false, 1, 0},
		{true, false, 2, 0},
		{false, true, 1, 0.5},
		{true, true, -1, 1},
	} {
		a, b, c := fill(m*k), fill(k*n), fill(m*n)
		lda, ldb := k, n
		if test.tA {
			lda = m
		}
		if test.tB {
			ldb = k
		}
		opA, opB := rowMajor(a, m, k, test.tA), rowMajor(b, k, n, test.tB)
		want := make([]float64, 0, m*n)
		for i := 0; i < m; i++ {
			row := make([]float64, k)
			for p, v := range opA[i*k : (i+1)*k] {
				row[p] = float64(test.alpha) * v
			}
			bias := make([]float64, n)
			for j := range bias {
				bias[j] = float64(test.beta) * float64(c[i*n+j])
			}
			want = append(want, naive.Dense(row, opB, bias)...)
		}
		Sgemm(test.tA, test.tB, m, n, k, test.alpha, a, lda, b, ldb, test.beta, c, n)
		for i, w := range want {
			if math.Abs(float64(c[i])-w) > 1e-5*(1+math.Abs(w)) {
				t.Fatalf("%s, tA %v tB %v: c[%d] = %g, want %g", Name, test.tA, test.tB, i, c[i], w)
			}
		}
	}
}

// TestSgemv checks y = alpha*A*x + beta*y, A row-major with a row stride beyond its
// width, against a float64 loop.
func TestSgemv(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const m, n, lda = 9, 13, 16
	a, x, y := make([]float32, m*lda), make([]float32, n), make([]float32, m)
	for _, v := range [][]float32{a, x, y} {
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
	}
	const alpha, beta = 1.5, -0.5
	want := make([]float64, m)
	for i := range want {
		want[i] = beta * float64(y[i])
		for j := 0; j < n; j++ {
			want[i] += alpha * float64(a[i*lda+j]) * float64(x[j])
		}
	}
	Sgemv(m, n, alpha, a, lda, x, beta, y)
	for i, w := range want {
		if math.Abs(float64(y[i])-w) > 1e-5*(1+math.Abs(w)) {
			t.Fatalf("%s: y[%d] = %g, want %g", Name, i, y[i], w)
		}
	}
}

// BenchmarkSgemm1024 measures one core's practical float32 ceiling on this machine
// (a large square GEMM, single-threaded), the yardstick for the GFLOP/s that ONNX
// Runtime's convolutions reach in a latent step (results/bench/latent-step-profile.md).
func BenchmarkSgemm1024(b *testing.B) {
	const n = 1024
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*n)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	c := make([]float32, n*n)
	b.ResetTimer()
	for range b.N {
		Sgemm(false, false, n, n, n, 1, x, n, x, n, 0, c, n)
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestCoretypeHonoured: when OPENBLAS_CORETYPE names a kernel family (scripts/test.sh
// runs the suite under several), OpenBLAS must really use it; an unknown or
// unsupported name would silently test the default kernels again.
func TestCoretypeHonoured(t *testing.T) {
	ct := os.Getenv("OPENBLAS_CORETYPE")
	if ct == "" || !strings.HasPrefix(Name, "openblas") {
		t.Skipf("OPENBLAS_CORETYPE unset or not OpenBLAS (%s)", Name)
	}
	if !strings.Contains(strings.ToLower(Name), strings.ToLower(ct)) {
		t.Errorf("OPENBLAS_CORETYPE=%s, but OpenBLAS runs %q", ct, Name)
	}
}

// BenchmarkSgemm1024Parallel measures the machine's float32 ceiling: GOMAXPROCS
// single-threaded 1024x1024 SGEMMs at once, each on its own matrices (how the training
// kernels and inference workers use the cores). Its GFLOP/s is the peak that
// scripts/bench.sh passes to the other benchmarks (internal/benchmetric), and
// cpu-GFLOP/s the same FLOP per CPU second of the process, the peak of their CPU
// fractions.
func BenchmarkSgemm1024Parallel(b *testing.B) {
	const n = 1024
	// One pair of matrices per goroutine, filled before the clocks start.
	procs := goruntime.GOMAXPROCS(0)
	rng := rand.New(rand.NewPCG(1, 2))
	xs, cs := make([][]float32, procs), make([][]float32, procs)
	for p := range xs {
		xs[p], cs[p] = make([]float32, n*n), make([]float32, n*n)
		for i := range xs[p] {
			xs[p][i] = float32(rng.Float64())
		}
	}
	var next atomic.Int32
	b.ResetTimer()
	cpu0 := benchmetric.CPUTime()
	b.RunParallel(func(pb *testing.PB) {
		p := int(next.Add(1)-1) % procs
		x, c := xs[p], cs[p]
		for pb.Next() {
			Sgemm(false, false, n, n, n, 1, x, n, x, n, 0, c, n)
		}
	})
	cpu := benchmetric.CPUTime() - cpu0
	gflop := 2 * n * n * n * float64(b.N) / 1e9
	b.ReportMetric(gflop/b.Elapsed().Seconds(), "GFLOP/s")
	b.ReportMetric(gflop/b.Elapsed().Seconds()/float64(procs), "GFLOP/s/core")
	b.ReportMetric(gflop/cpu.Seconds(), "cpu-GFLOP/s")
}
