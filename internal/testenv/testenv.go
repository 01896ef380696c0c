// Package testenv decides what a test does when the machine lacks something it needs
// from outside Go (ONNX Runtime, Python's onnx checker): on a developer's machine it
// skips, so `go test ./...` works on a fresh clone; with EABS_REQUIRE_RUNTIMES=1, which
// .ci/run sets, it fails, so CI can never pass by skipping the cross-runtime checks.
package testenv

import (
	"fmt"
	"os"
	"strconv"
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
