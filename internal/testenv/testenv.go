// Package testenv decides what a test does when the machine lacks something it needs
// from outside Go (ONNX Runtime, Python's onnx checker): on a developer's machine it
// skips, so `go test ./...` works on a fresh clone; with EABS_REQUIRE_RUNTIMES=1, which
// .ci/run sets, it fails, so CI can never pass by skipping the cross-runtime checks.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// EnvRequire names the variable that turns missing-runtime skips into failures.
const EnvRequire = "EABS_REQUIRE_RUNTIMES"

// required reads EnvRequire: unset or empty is false; otherwise a strconv.ParseBool
// spelling (1, 0, true, false, ...).
func required() (bool, error) {
	v := os.Getenv(EnvRequire)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want 1 (missing runtimes fail tests) or 0 (they skip them)", EnvRequire, v)
	}
	return b, nil
}

// SkipOrFail reports that something the test needs is missing: it skips the test
// with the message, or, when EABS_REQUIRE_RUNTIMES is set to 1, fails it.
func SkipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	req, err := required()
	if err != nil {
		tb.Fatalf("%s; and %v", msg, err)
		return
	}
	if req {
		tb.Fatalf("%s (%s=1: a missing runtime fails instead of skipping; scripts/setup.sh installs it)", msg, EnvRequire)
		return
	}
	tb.Skip(msg)
}

// checkerPython is the interpreter whose onnx module (Debian's python3-onnx, which
// scripts/setup.sh installs) the ONNX checker runs in.
const checkerPython = "/usr/bin/python3"

// OnnxCheck runs the ONNX checker (check_model with full_check, so shape inference
// too) on every file, and fails the test naming the first file it rejects. Without
// Python's onnx module it skips or fails as SkipOrFail does.
func OnnxCheck(tb testing.TB, files []string) {
	tb.Helper()
	if err := exec.Command(checkerPython, "-c", "import onnx").Run(); err != nil {
		SkipOrFail(tb, "the ONNX checker: %s cannot import onnx: %v", checkerPython, err)
		return
	}
	const script = `import onnx, sys
for p in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(p), full_check=True)
    print("ok", p)`
	out, err := exec.Command(checkerPython, append([]string{"-c", script}, files...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("onnx.checker: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "ok "); got != len(files) {
		tb.Errorf("checker passed %d of %d files:\n%s", got, len(files), out)
	}
}
