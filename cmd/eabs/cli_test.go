package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/eabs/eabs/crosscheck"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/stats"
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
		rep, err := eval.ReadClassify(js)
		if err != nil || len(rep.Records) != 4 || rep.Accuracy == nil || rep.Run.Runtime != rt {
			t.Errorf("classify --runtime %s report: %+v (%v)", rt, rep, err)
			continue
		}
		a := rep.Accuracy
		lo, hi, _ := stats.ClopperPearson(a.K, a.N, 0.05)
		if a.N != 4 || math.Abs(a.Lo-lo) > 1e-12 || math.Abs(a.Hi-hi) > 1e-12 || lo > a.Acc || hi < a.Acc {
			t.Errorf("classify --runtime %s: interval [%g, %g] for %d/%d, want the Clopper-Pearson [%g, %g] around %g", rt, a.Lo, a.Hi, a.K, a.N, lo, hi, a.Acc)
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
	s1, err := runtime.Load("zoo:mnist-cnn")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := runtime.Load(filepath.Join(dir, "model.eabs"))
	if err != nil {
		t.Fatal(err)
	}
	w1, m1, w2, m2 := s1.Weights, s1.Meta, s2.Weights, s2.Meta
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

// TestExportRefusesToOverwrite: export writes into a new or empty folder; a non-empty
// one needs --force, which removes the stale files of an earlier export (here an
// E-ABS export's encoder.onnx before a CNN export) and keeps the user's other files;
// a training run's model.eabs is not replaced by another model even with --force.
func TestExportRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"encoder.onnx": "earlier export", "model.eabs": "earlier model", "notes.txt": "mine"} {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	// the staging folder of an export killed before it finished
	os.MkdirAll(filepath.Join(dir, ".eabs-export-123", "x"), 0o755)
	_, err := run(t, "export", "zoo:mnist-cnn", "--out", dir)
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("export into a non-empty folder: err = %v, want a refusal mentioning --force", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model.eabs")); string(b) != "earlier model" {
		t.Fatal("a refused export changed model.eabs")
	}
	if out, err := run(t, "export", "zoo:mnist-cnn", "--out", dir, "--force"); err != nil {
		t.Fatalf("export --force: %v\n%s", err, out)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"cnn.onnx", "export.json", "model.eabs", "notes.txt"}; !slices.Equal(names, want) {
		t.Errorf("after export --force the folder holds %v, want %v", names, want)
	}
	if _, err := runtime.Load(filepath.Join(dir, "model.eabs")); err != nil {
		t.Errorf("model.eabs after export --force: %v", err)
	}

	runDir := t.TempDir()
	os.WriteFile(filepath.Join(runDir, "checkpoint.eabs"), []byte("a run's checkpoint"), 0o644)
	os.WriteFile(filepath.Join(runDir, "model.eabs"), []byte("a run's model"), 0o644)
	_, err = run(t, "export", "zoo:mnist-cnn", "--out", runDir, "--force")
	if err == nil || !strings.Contains(err.Error(), "training run") {
		t.Errorf("export --force into a training run: err = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(filepath.Join(runDir, "model.eabs")); string(b) != "a run's model" {
		t.Error("export replaced a training run's model.eabs")
	}
}

// writeIDX writes the four MNIST IDX files holding no images, under root/mnist.
func writeEmptyMNIST(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "mnist")
	os.MkdirAll(dir, 0o755)
	images := []byte{0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28}
	labels := []byte{0, 0, 8, 1, 0, 0, 0, 0}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"train-images-idx3-ubyte", images}, {"train-labels-idx1-ubyte", labels}, {"t10k-images-idx3-ubyte", images}, {"t10k-labels-idx1-ubyte", labels}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBadInvocations is the table of invocations a user can get wrong: each must
// fail before any long work, with exit status 1 and a message holding the words
// listed (the flag, its allowed range, or both sides of a mismatch).
func TestBadInvocations(t *testing.T) {
	dir := t.TempDir()
	emptyRoot := filepath.Join(dir, "empty")
	writeEmptyMNIST(t, emptyRoot)
	aFile := filepath.Join(dir, "a-file")
	os.WriteFile(aFile, []byte("x"), 0o644)
	// A traffic-sign model (3x32x32, 10 classes), to be run on MNIST.
	traffic := filepath.Join(dir, "traffic.eabs")
	spec, err := models.NewSpec("gtsrb-10", "cnn")
	if err != nil {
		t.Fatal(err)
	}
	tw, err := models.NewWeights(spec, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if err := models.SaveModel(traffic, tw, map[string]string{"dataset": "gtsrb-10"}); err != nil {
		t.Fatal(err)
	}
	renamedModel := filepath.Join(dir, "weights.bin")
	if err := models.SaveModel(renamedModel, tw, nil); err != nil {
		t.Fatal(err)
	}
	modelDir := filepath.Join(dir, "copied-model")
	os.MkdirAll(modelDir, 0o755)
	if err := models.SaveModel(filepath.Join(modelDir, "model.eabs"), tw, nil); err != nil {
		t.Fatal(err)
	}
	const m = "zoo:mnist-cnn"
	ds := []string{"--dataset", "mnist-sample"}
	cases := []struct {
		args []string
		want []string
	}{
		// --n: at least 1, the whole split only with --all
		{[]string{"attack", m, "--n", "-5"}, []string{"--n -5", "at least 1", "--all"}},
		{[]string{"attack", m, "--n", "0"}, []string{"--n 0", "at least 1"}},
		{[]string{"certify", m, "--n", "0"}, []string{"--n 0", "at least 1"}},
		{[]string{"crosscheck", m, "--n", "0"}, []string{"--n 0", "at least 1"}},
		{append([]string{"classify", m, "--n", "0"}, ds...), []string{"--n 0", "at least 1"}},
		{append([]string{"classify", m, "--n", "-1"}, ds...), []string{"--n -1", "at least 1"}},
		{append([]string{"classify", m, "--n", "5", "--all"}, ds...), []string{"--n or --all"}},
		{[]string{"attack", m, "--n", "5", "--all", "--out", filepath.Join(dir, "r.json")}, []string{"--n or --all"}},
		{[]string{"demo", "--n", "500"}, []string{"--n 500", "between 1 and 100"}},
		{[]string{"crosscheck", m, "--full", "-1"}, []string{"--full -1", "at least 0"}},
		// attack settings: no value silently replaced by another
		{[]string{"attack", m, "--eot", "-1"}, []string{"--eot -1", "at least 1"}},
		{[]string{"attack", m, "--eot", "0"}, []string{"--eot 0", "at least 1"}},
		{[]string{"attack", m, "--pgd-restarts", "-1"}, []string{"--pgd-restarts -1", "at least 0"}},
		{[]string{"attack", m, "--pgd-steps", "0"}, []string{"--pgd-steps 0", "at least 1"}},
		{[]string{"attack", m, "--basin-targets", "-1"}, []string{"--basin-targets -1", "at least 0"}},
		{[]string{"attack", m, "--basin-candidates", "-2"}, []string{"--basin-candidates -2", "at least 0"}},
		{[]string{"attack", m, "--verdict-eot", "0"}, []string{"--verdict-eot 0", "at least 1"}},
		{[]string{"attack", m, "--eps-l2", "NaN"}, []string{"--eps-l2 NaN", "finite"}},
		{[]string{"attack", m, "--eps-l2", "-0.3"}, []string{"--eps-l2 -0.3", "> 0"}},
		{[]string{"attack", m, "--eps-linf", "+Inf"}, []string{"--eps-linf +Inf", "finite"}},
		{[]string{"attack", m, "--eps-linf", "1.5"}, []string{"--eps-linf 1.5", "<= 1"}},
		{[]string{"attack", m, "--attack-batch", "0"}, []string{"--attack-batch 0", "at least 1"}},
		{[]string{"attack", m, "--shard-count", "-1"}, []string{"--shard-count -1", "at least 0"}},
		{[]string{"attack", m, "--batch", "0"}, []string{"--batch 0", "at least 1"}},
		{[]string{"attack", m, "--workers", "0"}, []string{"--workers 0", "between 1 and 1024"}},
		// inference settings
		{append([]string{"classify", m, "--eot", "0"}, ds...), []string{"--eot 0", "at least 1"}},
		{append([]string{"classify", m, "--batch", "-2"}, ds...), []string{"--batch -2", "at least 1"}},
		{append([]string{"classify", m, "--threads", "0"}, ds...), []string{"--threads 0"}},
		{append([]string{"classify", m, "--starts", "-1"}, ds...), []string{"--starts -1", "at least 0"}},
		{append([]string{"classify", m, "--steps", "-1"}, ds...), []string{"--steps -1", "at least 0"}},
		{append([]string{"classify", m, "--lr", "0"}, ds...), []string{"--lr 0", "> 0"}},
		{[]string{"certify", m, "--lr", "NaN"}, []string{"--lr NaN", "finite"}},
		{[]string{"export", m, "--out", filepath.Join(dir, "x"), "--starts", "-4"}, []string{"--starts -4"}},
		// training
		{[]string{"train", "--epochs", "0"}, []string{"--epochs 0", "at least 1"}},
		{[]string{"train", "--batch", "-1"}, []string{"--batch -1"}},
		{[]string{"train", "--lr", "NaN"}, []string{"--lr NaN", "finite"}},
		{[]string{"train", "--val-frac", "1"}, []string{"--val-frac 1", "<= 0.9"}},
		{[]string{"train", "--noise", "-0.5"}, []string{"--noise -0.5", "or -1"}},
		{[]string{"train", "--checkpoint-steps", "-1"}, []string{"--checkpoint-steps -1"}},
		{[]string{"train", "--pgd-steps", "0"}, []string{"--pgd-steps 0"}},
		// data inspect: bounded sizes (the picture used to exhaust memory)
		{[]string{"data", "inspect", "mnist-sample", "--per-class", "100000"}, []string{"--per-class 100000", "between 1 and 100"}},
		{[]string{"data", "inspect", "mnist-sample", "--scale", "0"}, []string{"--scale 0"}},
		{[]string{"data", "inspect", "gtsrb-10", "--per-class", "100", "--scale", "16"}, []string{"--per-class 100 --scale 16", "more than"}},
		// output paths, checked before any work
		{append([]string{"classify", m, "--json", filepath.Join(aFile, "r.json")}, ds...), []string{"--json", "is a file"}},
		{append([]string{"classify", m, "--csv", dir}, ds...), []string{"--csv", "is a directory"}},
		{[]string{"attack", m, "--out", filepath.Join(aFile, "r.json")}, []string{"--out", "is a file"}},
		{[]string{"report", "--merge", "p.json", "--out", dir}, []string{"--out", "is a directory"}},
		{[]string{"train", "--out", aFile}, []string{"--out", "is a file"}},
		{[]string{"train", "--dataset", "mnist-sample", "--model", "cnn", "--out", modelDir}, []string{"model.eabs", "--force"}},
		{append([]string{"classify", m, "--json", traffic}, ds...), []string{"--json " + traffic, "does not replace"}},
		{append([]string{"classify", m, "--csv", renamedModel}, ds...), []string{"--csv", "model, checkpoint or ONNX"}},
		{append([]string{"classify", m, "--json", filepath.Join(dir, "r.out"), "--csv", filepath.Join(dir, "r.out")}, ds...), []string{"--json", "--csv", "both name", "replace"}},
		// choices
		{append([]string{"classify", m, "--runtime", "gpu"}, ds...), []string{"--runtime \"gpu\"", "ort, ref"}},
		{append([]string{"classify", m, "--split", "dev"}, ds...), []string{"--split \"dev\"", "test, train, val"}},
		{[]string{"data", "inspect", "mnist-sample", "--split", "val"}, []string{"--split \"val\"", "train, test"}},
		{[]string{"train", "--resume", "--force"}, []string{"--resume", "--force", "one of them"}},
		// data the model cannot classify, and no data at all
		{append([]string{"classify", traffic, "--n", "3"}, ds...), []string{"model " + traffic + " expects 3x32x32 images and 10 classes", "data mnist-sample has 1x28x28 and 10"}},
		{append([]string{"attack", traffic, "--n", "3", "--out", filepath.Join(dir, "r.json")}, ds...), []string{"expects 3x32x32", "has 1x28x28"}},
		{[]string{"attack", m, "--dataset", "mnist", "--data-dir", emptyRoot, "--n", "5", "--out", filepath.Join(dir, "r.json")}, []string{"no images"}},
		{[]string{"certify", "zoo:mnist-eabs", "--dataset", "mnist", "--data-dir", emptyRoot}, []string{"no images"}},
		{[]string{"certify", m, "--dataset", "mnist-sample"}, []string{"generative model", "--smoothing"}},
		{[]string{"certify", m, "--smoothing", "-0.25"}, []string{"--smoothing -0.25", ">= 0"}},
		{[]string{"certify", m, "--alpha", "0"}, []string{"--alpha 0", "> 0"}},
		{[]string{"classify", m, "--dataset", "mnist", "--data-dir", emptyRoot}, []string{"no images"}},
	}
	for _, c := range cases {
		name := strings.Join(c.args, " ")
		out, err := run(t, c.args...)
		var stderr bytes.Buffer
		if code := exitCode(err, &stderr); code != exitError {
			t.Errorf("eabs %s: exit status %d, want %d (err %v)", name, code, exitError, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("eabs %s: error %q lacks %q (output %q)", name, err, w, out)
			}
		}
	}
}

// TestEveryFlagHasARule: every numeric and output flag of every command is validated
// (validate.go's flagRules); a new flag without a rule fails here, naming it.
func TestEveryFlagHasARule(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if needsRule(f) && ruleFor(c, f.Name) == nil {
				t.Errorf("eabs %s --%s (%s) has no validation rule in flagRules", c.CommandPath(), f.Name, f.Value.Type())
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(NewRootCmd())
}

// TestCrosscheckClassifier: a zoo CNN is cross-checked on its logits and predictions by
// ONNX Runtime and onnx-go against the reference graph, and the report says so.
func TestCrosscheckClassifier(t *testing.T) {
	if err := ort.Init(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	js := filepath.Join(t.TempDir(), "cc.json")
	out, err := run(t, "crosscheck", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "8", "--batch", "3", "--json", js)
	if err != nil {
		t.Fatalf("crosscheck: %v\n%s", err, out)
	}
	var rep crosscheck.Result
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Pass || len(rep.Runs) != 2 || rep.Inference != nil || rep.Tolerances["cnn.logits"].Rel == 0 {
		t.Fatalf("report: pass %v, %d runs, inference %v, tolerances %v; want a pass of ort and onnx-go, no inference settings", rep.Pass, len(rep.Runs), rep.Inference, rep.Tolerances)
	}
	for _, r := range rep.Runs {
		if r.Images != 8 || r.PredAgree != 8 || len(r.Rows) != 1 || r.Rows[0].N != 80 {
			t.Errorf("%s run: %d images, %d predictions agree, rows %+v", r.Other, r.Images, r.PredAgree, r.Rows)
		}
	}
}

// TestFlagHelpIsShort: a flag's help says what it is in a line or two; the reasons go
// in the command's long help or the docs.
func TestFlagHelpIsShort(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if len(f.Usage) > 200 {
				t.Errorf("eabs %s --%s: help of %d characters, want at most 200", c.Name(), f.Name, len(f.Usage))
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(NewRootCmd())
}

// TestVersionAndCompletion: eabs version names the build; completion offers zoo models
// for MODEL and attack names for --attacks, continuing a comma-separated list.
func TestVersionAndCompletion(t *testing.T) {
	if out, err := run(t, "version"); err != nil || !strings.Contains(out, "go1.") {
		t.Errorf("eabs version: %q, %v", out, err)
	}
	if out, _ := run(t, "__complete", "attack", ""); !strings.Contains(out, "zoo:mnist-eabs") {
		t.Errorf("MODEL completion lacks the zoo:\n%s", out)
	}
	if out, _ := run(t, "__complete", "attack", "zoo:mnist-cnn", "--attacks", "pgd-l2,"); !strings.Contains(out, "pgd-l2,square-linf") {
		t.Errorf("--attacks completion does not continue the list:\n%s", out)
	}
	if out, _ := run(t, "__complete", "classify", "zoo:mnist-cnn", "--runtime", ""); !strings.Contains(out, "ort\nref") {
		t.Errorf("--runtime completion:\n%s", out)
	}
}

// TestMisleadingErrors: errors name the real problem: an old flag name given with its
// new one, --smoothing 0, an empty .onnx, a repeated sweep factor, --init with a plain
// ONNX file.
func TestMisleadingErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.onnx")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--json", filepath.Join(dir, "a.json"), "--out", filepath.Join(dir, "b.json")}, "--json is the old name of --out"},
		{[]string{"certify", "--smoothing", "0", "zoo:mnist-cnn", "--dataset", "mnist-sample"}, "--smoothing 0: the noise sigma must be positive"},
		{[]string{"classify", empty, "--dataset", "mnist-sample"}, "is empty, not an ONNX model"},
		{[]string{"attack", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--sweep-factors", "2,4,2", "--out", filepath.Join(dir, "s.json")}, "the factor 2 is given twice"},
		{[]string{"train", "--dataset", "mnist-sample", "--model", "adv-l2", "--init", empty, "--out-dir", filepath.Join(dir, "run")}, "plain ONNX file"},
	}
	for _, c := range cases {
		out, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eabs %s: err = %v (output %q), want one mentioning %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}

// tinyLogits classifies 2 embedded MNIST images with the zoo E-ABS on the reference
// graph (20 starts, the given Adam steps) with extra flags, and returns their logits.
func tinyLogits(t *testing.T, steps int) func(extra ...string) []float32 {
	dir := t.TempDir()
	return func(extra ...string) []float32 {
		t.Helper()
		p := filepath.Join(dir, strings.Join(extra, "")+"c.json")
		args := append([]string{"classify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "2", "--runtime", "ref", "--starts", "20", "--infer-steps", strconv.Itoa(steps), "--out", p}, extra...)
		if out, err := run(t, args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		r, err := eval.ReadClassify(p)
		if err != nil {
			t.Fatal(err)
		}
		var v []float32
		for _, rec := range r.Records {
			v = append(v, rec.Logits...)
		}
		return v
	}
}

// TestInferBeta: --infer-beta replaces the prior weight of the inference: the model's
// own value gives its logits bit for bit, another value other logits.
func TestInferBeta(t *testing.T) {
	logits := tinyLogits(t, 2)
	base, one, zero := logits(), logits("--infer-beta", "1"), logits("--infer-beta", "0")
	if !slices.Equal(base, one) {
		t.Errorf("--infer-beta 1 (the model's) changed the logits")
	}
	if slices.Equal(base, zero) {
		t.Errorf("--infer-beta 0 left the logits as they were")
	}
}

// TestInferExact: --infer-exact classifies by the mean alone, so the noise seed no
// longer matters (the sampling inference's logits change with it), and on a CNN the
// flag is refused.
func TestInferExact(t *testing.T) {
	logits := tinyLogits(t, 3)
	if slices.Equal(logits("--seed", "1"), logits("--seed", "2")) {
		t.Fatalf("the sampling inference gave the same logits for two noise seeds: the test cannot tell exact inference apart")
	}
	if !slices.Equal(logits("--infer-exact", "--seed", "1"), logits("--infer-exact", "--seed", "2")) {
		t.Errorf("--infer-exact: the logits depend on the noise seed")
	}
	if _, err := run(t, "classify", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "2", "--infer-exact"); err == nil || !strings.Contains(err.Error(), "--infer-exact applies to the full inference") {
		t.Errorf("--infer-exact on a CNN: %v, want it refused", err)
	}
}

// TestReportComparesClassifications: eabs report on classification results writes
// the ablation table (the counts against the files' own records) and refuses the
// attack report's flags.
func TestReportComparesClassifications(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	var correct []int
	for _, args := range [][]string{{"classify", "zoo:mnist-cnn"}, {"classify", "zoo:mnist-eabs", "--amortized"}} {
		p := filepath.Join(dir, strings.TrimPrefix(args[1], "zoo:")+".json")
		if out, err := run(t, append(args, "--dataset", "mnist-sample", "--n", "6", "--out", p)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		r, err := eval.ReadClassify(p)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for _, rec := range r.Records {
			if rec.Correct {
				k++
			}
		}
		paths, correct = append(paths, p), append(correct, k)
	}
	out, err := run(t, append([]string{"report", "--names", "cnn,encoder", "--out-dir", filepath.Join(dir, "cmp")}, paths...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for i, name := range []string{"cnn", "encoder"} {
		if want := fmt.Sprintf("| %s | %d/6 |", name, correct[i]); !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cmp", "classify-table.json")); err != nil {
		t.Error(err)
	}
	if _, err := run(t, append([]string{"report", "--grid-n", "3"}, paths...)...); err == nil || !strings.Contains(err.Error(), "--grid-n applies to attack results") {
		t.Errorf("--grid-n on classification results: %v", err)
	}
}
