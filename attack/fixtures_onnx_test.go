package attack_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/internal/onnxfixtures"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ort"
)

// TestAutoAttackPlainONNXFixtures: APGD-T, FAB-T and untargeted FAB (few steps, 2
// targets) run on every PyTorch-exported classifier of ../shared/onnx-models, opened
// as eval opens a plain .onnx with gradients (ONNX Runtime, the onnx/grad graph; a
// fixed-batch model image by image), on its 16 reference inputs in one call, labelled
// with the model's predictions: the answers keep the budget and the box, each claim
// matches the model's verdict, and FAB-T finds an adversarial for most inputs.
func TestAutoAttackPlainONNXFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ONNX Runtime")
	}
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	for _, f := range onnxfixtures.Load(t) {
		t.Run(f.Name, func(t *testing.T) {
			var o adapt.Options
			if f.Output == "probabilities" {
				o.Kind = grad.Probabilities
			}
			src := &runtime.Source{Arg: f.Path, Path: f.Path, ONNX: f.Path, Adapt: o}
			c, err := runtime.OpenClassifier(ort.Engine, src, runtime.Options{Threads: 1, Gradients: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var x []float32
			for _, in := range f.Inputs {
				x = append(x, in...)
			}
			n, k := len(f.Inputs), c.Classes()
			// The model's own predictions as labels, so that every input is attacked (the
			// random-weight models misclassify most of their reference labels).
			z, err := c.Logits(x, n)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]int, n)
			for i := range y {
				y[i] = floats.Argmax(z[i*k : (i+1)*k])
			}
			for _, a := range []attack.Attack{
				attack.APGDT{Lp: attack.Linf, Eps: 0.05, Steps: 4, Targets: 2},
				attack.FAB{Lp: attack.L2, Eps: 0.5, Steps: 4, Targets: 2},
				attack.FAB{Lp: attack.Linf, Steps: 3, Untargeted: true},
			} {
				found, err := a.Run(context.Background(), c, x, y, n, rand.New(rand.NewPCG(1, 1)))
				if err != nil {
					t.Fatalf("%s: %v", a.Name(), err)
				}
				eps := 0.0
				if ap, ok := a.(attack.APGDT); ok {
					eps = ap.Eps
				}
				if err := attacktest.Check(c, x, y, n, found, a.Norm(), eps, -1); err != nil {
					t.Errorf("%s: %v", a.Name(), err)
				}
				fooled := 0
				for _, ok := range found.Ok {
					if ok {
						fooled++
					}
				}
				t.Logf("%s: %d of %d inputs misclassified, %d queries for the first", a.Name(), fooled, n, found.Queries[0])
				if _, ok := a.(attack.FAB); ok && fooled < n/2 {
					t.Errorf("%s found an adversarial for %d of %d inputs", a.Name(), fooled, n)
				}
			}
		})
	}
}
