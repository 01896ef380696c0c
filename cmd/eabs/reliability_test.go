package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime/ort"
)

// TestNothingLost: the data-loss repros of attack's results and state files. A --state
// equal to --out, and a --state that is a finished result, are refused before any work
// (the state is deleted when a run finishes); a finished result is not replaced without
// --force.
func TestNothingLost(t *testing.T) {
	dir := t.TempDir()
	p4 := []string{"attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "4", "--attacks", "pgd-linf", "--pgd-steps", "3", "--pgd-restarts", "1", "--sweep-n", "0"}
	res := filepath.Join(dir, "r.json")
	if out, err := run(t, append(p4, "--out", res, "--state", res)...); err == nil || !strings.Contains(err.Error(), "is the results file") {
		t.Errorf("--state equal to --out: %v\n%s", err, out)
	}
	if _, err := os.Stat(res); !os.IsNotExist(err) {
		t.Errorf("the refused run left %s (%v)", res, err)
	}
	if out, err := run(t, append(p4, "--out", res)...); err != nil {
		t.Fatalf("attack: %v\n%s", err, out)
	}
	before, _ := os.ReadFile(res)
	if out, err := run(t, append(p4, "--out", filepath.Join(dir, "new.json"), "--state", res)...); err == nil || !strings.Contains(err.Error(), "finished results file") {
		t.Errorf("--state naming a finished result: %v\n%s", err, out)
	}
	if out, err := run(t, append(p4, "--out", res, "--seed", "2")...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("replacing a finished result without --force: %v\n%s", err, out)
	}
	if after, err := os.ReadFile(res); err != nil || string(after) != string(before) {
		t.Errorf("the finished result was changed or removed (%v)", err)
	}
	if out, err := run(t, append(p4, "--out", res, "--seed", "2", "--force")...); err != nil {
		t.Errorf("--force: %v\n%s", err, out)
	}
}

// TestNoSilentAnswers: flags that would not act are refused, zero budgets are not read
// as the paper's, --n beyond the split is refused by every command, and an export whose
// files were changed or were made from other weights is refused by name.
func TestNoSilentAnswers(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--eot", "7"}, "--eot applies to the full inference"},
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--runtime", "ort"}, "--runtime applies to the full inference"},
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "101"}, "--n 101: want 1..100"},
		{[]string{"certify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "101"}, "--n 101: want 1..100"},
		{[]string{"attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "101", "--out", filepath.Join(t.TempDir(), "a.json")}, "--n 101: want 1..100"},
		{[]string{"attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--eps-l2", "0", "--out", filepath.Join(t.TempDir(), "a.json")}, "--eps-l2 0"},
		{[]string{"certify", "--smoothing", "0.25", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--validate"}, "--validate applies to the Appendix-A bound"},
		{[]string{"certify", "--smoothing", "0.25", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--csv", filepath.Join(t.TempDir(), "c.csv")}, "--csv applies to the Appendix-A bound"},
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "mnist", "--data-dir", filepath.Join(t.TempDir(), "none")}, "does not exist"},
	}
	for _, c := range cases {
		out, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eabs %s: err = %v (output %q), want one mentioning %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
	// "--eps-linf 8/255" is a budget, not an error.
	if _, err := parseBudget("8/255"); err != nil {
		t.Errorf("a fraction budget: %v", err)
	}
}

// TestExportIsVerified: an export folder whose ONNX files were changed after the export,
// or whose model.eabs is another model's, is an error naming the problem; it is never
// silently exported again.
func TestExportIsVerified(t *testing.T) {
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	exp := filepath.Join(t.TempDir(), "exp")
	if out, err := run(t, "export", "zoo:mnist-eabs", "--out-dir", exp); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	step := filepath.Join(exp, onnx.RoleLatentStep+".onnx")
	b, err := os.ReadFile(step)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(step, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"classify", exp, "--dataset", "mnist-sample", "--n", "1", "--starts", "5", "--infer-steps", "1"},
		{"crosscheck", exp, "--dataset", "mnist-sample", "--n", "1", "--full", "0"},
	} {
		if out, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "changed after the export") {
			t.Errorf("eabs %s on a changed export: %v\n%s", args[0], err, out)
		}
	}
	other := filepath.Join(t.TempDir(), "other")
	if out, err := run(t, "export", "zoo:mnist-abs", "--out-dir", other); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	mine, _ := os.ReadFile(filepath.Join(exp, "model.eabs"))
	if err := os.WriteFile(filepath.Join(other, "model.eabs"), mine, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "classify", other, "--dataset", "mnist-sample", "--n", "1"); err == nil || !strings.Contains(err.Error(), "exported from other weights") {
		t.Errorf("classify of an export of other weights: %v\n%s", err, out)
	}
}
