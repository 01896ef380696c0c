package onnxgo

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// TestClassifierAgainstOracle runs the tiny CNN in onnx-go on batch sizes that take
// 1, several and many images, twice each on the same compiled
// graphs, against the float64 oracle's logits.
func TestClassifierAgainstOracle(t *testing.T) {
	w := runtimetest.Weights(t, "cnn", 7)
	c, err := NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := naive.New(w)
	a := w.Spec.Arch
	P, K := a.Pixels(), a.Classes
	rng := rand.New(rand.NewPCG(7, 1))
	var worst float64
	for rep := 0; rep < 2; rep++ {
		for _, batch := range []int{1, 3, 35} {
			x := uniform(rng, batch*P, 0, 1)
			got, err := c.Logits(x, batch)
			if err != nil {
				t.Fatalf("Logits(batch %d): %v", batch, err)
			}
			if len(got) != batch*K {
				t.Fatalf("Logits(batch %d) returned %d values, want %d", batch, len(got), batch*K)
			}
			var want []float64
			for b := 0; b < batch; b++ {
				want = append(want, o.Logits(naive.ImageFrom32(a.InC, a.InH, a.InW, x[b*P:(b+1)*P]))...)
			}
			d := deviation(got, want)
			if d > tol {
				t.Errorf("Logits(batch %d), run %d: deviation %.3g from the oracle", batch, rep, d)
			}
			worst = max(worst, d)
		}
	}
	t.Logf("largest deviation from the float64 oracle: %.2g", worst)
	if _, err := c.Logits(make([]float32, P+1), 1); err == nil {
		t.Error("Logits accepted an image of the wrong size")
	}
}

func TestClassifierRefusesGenerative(t *testing.T) {
	_, err := NewClassifier(runtimetest.Weights(t, "eabs", 1))
	if err == nil || !strings.Contains(err.Error(), "not a CNN") {
		t.Errorf("NewClassifier(eabs) error = %v, want one saying it is not a CNN", err)
	}
}

func TestClassifierBatchInvariance(t *testing.T) {
	w := runtimetest.Weights(t, "cnn", 4)
	c, err := NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runtimetest.CheckClassifierBatchInvariance(t, c, w.Spec.Arch.Pixels(), rand.New(rand.NewPCG(4, 4)))
}
