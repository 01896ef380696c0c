package grad_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/runtime/ort"
)

// initORT initialises ONNX Runtime, or skips the test when the library is missing
// (fails it under EABS_REQUIRE_RUNTIMES=1).
func initORT(tb testing.TB) {
	tb.Helper()
	lib, err := ort.LibraryPath("")
	if err != nil {
		testenv.SkipOrFail(tb, "ONNX Runtime: %v", err)
	}
	if err := ort.Init(lib); err != nil {
		tb.Fatal(err)
	}
}

// While keep is set, openGrad writes its graphs there and lists them in written, for
// the ONNX checker to read after the subtests that wrote them have ended.
var (
	keep    string
	written []string
)

// openGrad writes a gradient graph to a temporary file and opens it with one thread;
// context prefixes an error.
func openGrad(tb testing.TB, r *grad.Result, context ...any) *ort.Session {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "grad.onnx")
	if keep != "" {
		path = filepath.Join(keep, fmt.Sprintf("grad%d.onnx", len(written)))
		written = append(written, path)
	}
	if err := r.WriteFile(path); err != nil {
		tb.Fatal(err)
	}
	s, err := ort.Open(path, ort.Options{IntraOpThreads: 1})
	if err != nil {
		tb.Fatal(append(context, err)...)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// sharedDir returns a folder of ../shared (beside the checkout), or $env when set;
// tests that need it skip when it is absent (a clone without the shared fixtures).
func sharedDir(tb testing.TB, env, name string) string {
	tb.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", name)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		tb.Skipf("no folder %s (set %s): skipping the test on the shared fixtures", dir, env)
	}
	return dir
}

// maxAbs returns the largest absolute value.
func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// maxDiff returns the largest absolute difference of float32 got and float64 want.
func maxDiff(got []float32, want []float64) float64 {
	m := 0.0
	for i, w := range want {
		m = math.Max(m, math.Abs(float64(got[i])-w))
	}
	return m
}
