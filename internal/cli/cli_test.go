package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/runtime/ort"
)

// run executes the eabs command tree in-process.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestPipeline trains a few steps of MNIST E-ABS on the embedded sample, exports it,
// classifies with both runtimes and cross-checks them: every command of the pipeline
// end to end, on the real architecture, in seconds.
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	dir := t.TempDir()
	runDir, exp := filepath.Join(dir, "run"), filepath.Join(dir, "export")
	if out, err := run(t, "train", "--dataset", "mnist-sample", "--model", "eabs", "--epochs", "1", "--batch", "32", "--max-train", "64", "--out", runDir); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	for _, f := range []string{"model.eabs", "checkpoint.eabs", "metrics.csv", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Errorf("train wrote no %s", f)
		}
	}
	if out, err := run(t, "export", runDir, "--out", exp); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	for _, rt := range []string{"ort", "ref"} {
		js := filepath.Join(dir, rt+".json")
		out, err := run(t, "classify", exp, "--dataset", "mnist-sample", "--n", "4", "--batch", "2", "--starts", "20", "--steps", "2", "--runtime", rt, "--json", js)
		if err != nil {
			t.Fatalf("classify --runtime %s: %v\n%s", rt, err, out)
		}
		var rep ClassifyReport
		b, _ := os.ReadFile(js)
		if err := json.Unmarshal(b, &rep); err != nil || rep.N != 4 || rep.Accuracy == nil || rep.Runtime != rt {
			t.Errorf("classify --runtime %s report: %+v (%v)", rt, rep, err)
		}
	}
	out, err := run(t, "crosscheck", exp, "--dataset", "mnist-sample", "--n", "4", "--full", "2", "--starts", "20", "--steps", "2", "--batch", "2")
	if err != nil {
		t.Fatalf("crosscheck: %v\n%s", err, out)
	}
	if !strings.Contains(out, "ort vs ref on 4 images: PASS") || !strings.Contains(out, "onnx-go vs ref") {
		t.Errorf("crosscheck output lacks the verdicts:\n%s", out)
	}
}

func TestErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.eabs")
	os.WriteFile(bad, []byte("EABSFILE\x01\x00\x00\x00garbage"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"classify", bad, "--dataset", "mnist-sample"}, "bad.eabs"},
		{[]string{"classify", filepath.Join(dir, "missing.eabs"), "--dataset", "mnist-sample"}, "missing.eabs"},
		{[]string{"classify", "zoo:no-such-model", "--dataset", "mnist-sample"}, "no model"},
		{[]string{"train", "--dataset", "cifar10"}, "cifar10"},
		{[]string{"train", "--dataset", "mnist-sample", "--model", "xyz"}, "unknown model"},
		{[]string{"classify", "--frobnicate"}, "unknown flag"},
		{[]string{"data", "inspect", "nope"}, "unknown dataset"},
	}
	for _, c := range cases {
		out, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eabs %s: err = %v (output %q), want one mentioning %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}

func TestMissingORTLibrarySaysHowToInstall(t *testing.T) {
	t.Setenv("EABS_ORT_LIB", filepath.Join(t.TempDir(), "libonnxruntime.so"))
	_, err := run(t, "classify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "1", "--runtime", "ort")
	if err == nil || !strings.Contains(err.Error(), "scripts/setup.sh") || !strings.Contains(err.Error(), "EABS_ORT_LIB") {
		t.Errorf("classify with a missing ONNX Runtime: %v, want the install hint", err)
	}
}

// TestExportZooModel exports an embedded model, which has no file to copy: the
// directory must still hold a model.eabs with the same weights and metadata.
func TestExportZooModel(t *testing.T) {
	dir := t.TempDir()
	if out, err := run(t, "export", "zoo:mnist-cnn", "--out", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	w1, m1, _, err := loadWeights("zoo:mnist-cnn")
	if err != nil {
		t.Fatal(err)
	}
	w2, m2, _, err := loadWeights(filepath.Join(dir, "model.eabs"))
	if err != nil {
		t.Fatal(err)
	}
	if m1["dataset"] != m2["dataset"] || m2["dataset"] == "" {
		t.Errorf("dataset %q, want %q", m2["dataset"], m1["dataset"])
	}
	p1, p2 := w1.Params, w2.Params
	if len(p1) != len(p2) {
		t.Fatalf("%d parameters, want %d", len(p2), len(p1))
	}
	for i := range p1 {
		if !slices.Equal(p1[i].Data, p2[i].Data) {
			t.Errorf("parameter %s differs", p1[i].Name)
		}
	}
}
