package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/shard"
)

func readCertify(t *testing.T, path string) certify.Report {
	t.Helper()
	var rep certify.Report
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestCertifyCLI: the labels name what is certified, two shards merge into the whole
// run, and ONNX Runtime reproduces the reference graph's certificates.
func TestCertifyCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the MNIST model")
	}
	dir := t.TempDir()
	common := []string{"certify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "3", "--starts", "20", "--steps", "2", "--restarts", "2", "--max-restarts", "2", "--batch", "2"}
	whole := filepath.Join(dir, "whole.json")
	out, err := run(t, append(common, "--json", whole, "--csv", filepath.Join(dir, "c.csv"))...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	label := "lower bound under exact inference, d_k from 2 restarts x 2 steps"
	csv, _ := os.ReadFile(filepath.Join(dir, "c.csv"))
	if !strings.Contains(out, label) || !strings.Contains(out, "not validated by attack") || !strings.Contains(string(csv), label) {
		t.Errorf("outputs do not name what is certified:\n%s\n%s", out, csv)
	}
	w := readCertify(t, whole)
	if w.Label != label || w.Summary.Label != label || w.Header.Kind != "certify" || w.Header.SampleN != 3 || len(w.Results) != 3 {
		t.Fatalf("report: label %q header %+v, %d results", w.Label, w.Header, len(w.Results))
	}
	var parts []shard.Part[certify.Result]
	var cliParts []string
	for _, s := range []string{"0/2", "1/2"} {
		if out, err := run(t, append(common, "--shard", s, "--out", filepath.Join(dir, "p-{shard}.json"))...); err != nil {
			t.Fatalf("shard %s: %v\n%s", s, err, out)
		}
		p := filepath.Join(dir, "p-"+strings.Replace(s, "/", "-of-", 1)+".json")
		cliParts = append(cliParts, p)
		r := readCertify(t, p)
		parts = append(parts, shard.Part[certify.Result]{Name: p, Header: r.Header, Samples: r.Results})
	}
	_, merged, s, err := certify.Merge(parts, certify.Levels)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range merged {
		if r.Index != w.Results[i].Index || r.Eps != w.Results[i].Eps {
			t.Errorf("merged shard result %d: index %d eps %v, whole run %d %v", i, r.Index, r.Eps, w.Results[i].Index, w.Results[i].Eps)
		}
	}
	if s.Median != w.Summary.Median {
		t.Errorf("merged median %v, whole %v", s.Median, w.Summary.Median)
	}
	// The same through the CLI: eabs report --merge of the parts equals the whole run
	// (eabs report --same compares every record).
	// Its --csv is the whole run's, byte for byte, and --plot writes a PNG.
	mergedPath, mergedCSV, mergedPNG := filepath.Join(dir, "merged.json"), filepath.Join(dir, "merged.csv"), filepath.Join(dir, "merged.png")
	if out, err := run(t, append(append([]string{"report", "--merge"}, cliParts...), "--out", mergedPath, "--csv", mergedCSV, "--plot", mergedPNG)...); err != nil {
		t.Fatalf("report --merge: %v\n%s", err, out)
	} else if !strings.Contains(out, label) || !strings.Contains(out, "median eps*") {
		t.Errorf("report --merge prints no certify summary:\n%s", out)
	}
	if out, err := run(t, "report", "--same", whole, mergedPath); err != nil {
		t.Errorf("merged certify parts differ from the whole run: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(mergedCSV); string(got) != string(csv) {
		t.Errorf("merged CSV differs from the whole run's:\n%s\nwant\n%s", got, csv)
	}
	if png, err := os.ReadFile(mergedPNG); err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Errorf("merged plot: %v, %d bytes, want a PNG", err, len(png))
	}
	if _, err := run(t, "report", whole, "--csv", filepath.Join(dir, "x.csv")); err == nil || !strings.Contains(err.Error(), "--csv applies to --merge") {
		t.Errorf("report --csv without --merge: %v, want it refused", err)
	}
	if _, err := run(t, "report", "--merge", cliParts[0], "--out", filepath.Join(dir, "half.json")); err == nil || !strings.Contains(err.Error(), "missing shard(s) 1/2") {
		t.Errorf("merging half the parts: %v, want the missing shard named", err)
	}
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	op := filepath.Join(dir, "ort.json")
	if out, err := run(t, append(common, "--runtime", "ort", "--json", op)...); err != nil {
		t.Fatalf("ort: %v\n%s", err, out)
	}
	o := readCertify(t, op)
	for i, r := range o.Results {
		if math.Abs(r.Eps-w.Results[i].Eps) > 1e-3 || r.Binding != w.Results[i].Binding {
			t.Errorf("image %d: ort eps %v binding %d, ref %v %d", r.Index, r.Eps, r.Binding, w.Results[i].Eps, w.Results[i].Binding)
		}
	}
}

func TestCertifySmoothingCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the MNIST CNN")
	}
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	p := filepath.Join(t.TempDir(), "s.json")
	out, err := run(t, "certify", "--smoothing", "0.25", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "2", "--samples", "300", "--n0", "20", "--smooth-batch", "100", "--json", p)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep certify.SmoothReport
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Header.Kind != "certify-smoothing" || len(rep.Results) != 2 || !strings.Contains(rep.Label, "sigma 0.25") || !strings.Contains(out, "randomized smoothing") {
		t.Errorf("report %+v\n%s", rep.Header, out)
	}
	for _, r := range rep.Results {
		// With 300 samples p_A <= 0.001^(1/300), so the radius is at most sigma * 2.24.
		if r.Radius < 0 || r.Radius > 0.25*2.25 || (r.Pred >= 0) != (r.PA > 0.5) {
			t.Errorf("certificate %+v", r)
		}
	}
}

// TestCertifyValidateCLI: --validate runs every --validate-attacks on both targets of
// every certified image and records the budget it ran with.
func TestCertifyValidateCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the MNIST model")
	}
	p := filepath.Join(t.TempDir(), "v.json")
	out, err := run(t, "certify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "2", "--starts", "20", "--steps", "2", "--restarts", "1",
		"--validate", "--validate-attacks", "pgd-l2,ddn,lda", "--validate-steps", "3", "--validate-restarts", "1", "--validate-verdict-eot", "2", "--json", p)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "PGD-L2 3 steps x 1 restarts, DDN 3 steps, lda inside eps* (attacker warm start 1 step(s), EOT 1 on the deployed model; verdict EOT 2)") {
		t.Errorf("stdout does not say what validated:\n%s", out)
	}
	rep := readCertify(t, p)
	if v := rep.Validation; v == nil || strings.Join(v.Attacks, ",") != "pgd-l2,ddn,lda" || v.Steps != 3 || v.Warm != 1 || v.VerdictEOT != 2 {
		t.Fatalf("validation config %+v", rep.Validation)
	}
	validated := 0
	for _, r := range rep.Results {
		if r.Eps <= 0 {
			if r.Validation != nil {
				t.Errorf("image %d certifies nothing but was validated", r.Index)
			}
			continue
		}
		validated++
		if r.Validation == nil || len(r.Validation.Checks) != 2 {
			t.Fatalf("image %d: validation %+v", r.Index, r.Validation)
		}
		for i, ch := range r.Validation.Checks {
			if ch.Target != []string{"exact", "deployed"}[i] || (!ch.Violated && strings.Join(ch.Attacks, ",") != "pgd-l2,ddn,lda") {
				t.Errorf("image %d check %d: %+v", r.Index, i, ch)
			}
		}
	}
	if validated == 0 || rep.Summary.Validated != validated {
		t.Errorf("%d certified images, summary says %d validated", validated, rep.Summary.Validated)
	}
}

func TestCertifyErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"certify", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "1"}, "--smoothing"},
		{[]string{"certify", "--smoothing", "0.5", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "1"}, "classifier"},
		{[]string{"certify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "1", "--restarts", "0", "--starts", "2"}, "restarts"},
		{[]string{"certify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "1", "--shard", "3/2"}, "shard"},
		{[]string{"certify", "--smoothing", "-1", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--n", "1"}, "--smoothing -1"},
		{[]string{"certify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "1", "--validate", "--validate-attacks", "pgd-l2,fgsm"}, `unknown attack "fgsm"`},
		{[]string{"certify", "zoo:mnist-eabs", "--dataset", "mnist-sample", "--n", "1", "--validate", "--validate-warm", "-2"}, "--validate-warm"},
	}
	for _, c := range cases {
		out, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eabs %s: err = %v (output %q), want one mentioning %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}
