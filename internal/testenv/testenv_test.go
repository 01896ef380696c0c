package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test ended instead of ending it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skip(args ...any)               { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

func TestSkipOrFail(t *testing.T) {
	for _, c := range []struct {
		env              string
		skip, fail, also string
	}{
		{env: "", skip: "no ORT"},
		{env: "0", skip: "no ORT"},
		{env: "false", skip: "no ORT"},
		{env: "1", fail: "no ORT", also: "EABS_REQUIRE_RUNTIMES=1"},
		{env: "true", fail: "no ORT", also: "EABS_REQUIRE_RUNTIMES=1"},
		{env: "yes please", fail: "no ORT", also: `EABS_REQUIRE_RUNTIMES="yes please": want 1`},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(EnvRequire, c.env)
			r := &recorder{}
			SkipOrFail(r, "no %s", "ORT")
			if c.skip != "" && (r.skipped != c.skip || r.failed != "") {
				t.Errorf("%s=%q: skipped %q, failed %q; want a skip %q", EnvRequire, c.env, r.skipped, r.failed, c.skip)
			}
			if c.fail != "" && (r.skipped != "" || !strings.HasPrefix(r.failed, c.fail) || !strings.Contains(r.failed, c.also)) {
				t.Errorf("%s=%q: skipped %q, failed %q; want a failure starting %q and naming %q", EnvRequire, c.env, r.skipped, r.failed, c.fail, c.also)
			}
		})
	}
}
