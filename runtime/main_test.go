package runtime_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/runtime/ort"
)

// TestMain leaves out the examples, which run ONNX Runtime, when its library is
// missing (a test would skip; an example cannot), unless EABS_REQUIRE_RUNTIMES is
// set, when they run and fail.
func TestMain(m *testing.M) {
	flag.Parse()
	if _, err := ort.LibraryPath(""); err != nil && os.Getenv(testenv.EnvRequire) == "" {
		fmt.Fprintf(os.Stderr, "runtime: examples skipped: ONNX Runtime: %v\n", err)
		flag.Set("test.run", "^Test")
	}
	os.Exit(m.Run())
}
