package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/runtime/ort"
)

// TestAttackPlainONNX: eabs attack runs a gradient-free attack on a plain exported
// classifier file (the zoo CNN's cnn.onnx) through ONNX Runtime, within the query
// budget given, and refuses a gradient attack on it with a message saying why.
func TestAttackPlainONNX(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ONNX Runtime")
	}
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	dir := t.TempDir()
	if _, err := run(t, "export", "zoo:mnist-cnn", "--out", filepath.Join(dir, "exp")); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "exp", "cnn.onnx")
	out := filepath.Join(dir, "sq.json")
	if _, err := run(t, "attack", model, "--dataset", "mnist-sample", "--attacks", "square-linf", "--n", "4", "--queries", "60", "--sweep-n", "0", "--out", out); err != nil {
		t.Fatal(err)
	}
	r, err := eval.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Records) != 4 || r.Model != "cnn" {
		t.Fatalf("%d records of model %q, want 4 of cnn", len(r.Records), r.Model)
	}
	for _, rec := range r.Records {
		for _, a := range rec.Attacks {
			if a.Queries > 60 {
				t.Errorf("sample %d: %s spent %d queries, budget 60", rec.Pos, a.Name, a.Queries)
			}
			if a.Ran && a.Queries == 0 {
				t.Errorf("sample %d: %s ran with no query counted", rec.Pos, a.Name)
			}
		}
	}
	_, err = run(t, "attack", model, "--dataset", "mnist-sample", "--attacks", "pgd-l2", "--n", "2", "--sweep-n", "0", "--out", filepath.Join(dir, "pgd.json"))
	if err == nil || !strings.Contains(err.Error(), "needs") {
		t.Errorf("pgd-l2 on a plain ONNX classifier: error %v, want one saying what the attack needs", err)
	}
	if _, err := run(t, "attack", model, "--attacks", "square-linf", "--out", filepath.Join(dir, "x.json")); err == nil || !strings.Contains(err.Error(), "--dataset") {
		t.Errorf("plain ONNX without --dataset: error %v, want one asking for --dataset", err)
	}
}
