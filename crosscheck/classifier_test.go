package crosscheck

import (
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/runtime/onnxgo"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// shifted adds d to class k's logit of every image: a broken export of the last layer.
type shifted struct {
	Logitser
	k int
	d float32
}

func (s shifted) Logits(x []float32, batch int) ([]float32, error) {
	l, err := s.Logitser.Logits(x, batch)
	for b := 0; b < batch && err == nil; b++ {
		l[b*len(l)/batch+s.k] += s.d
	}
	return l, err
}

// fixed returns the same logits whatever the images.
type fixed []float32

func (f fixed) Logits(x []float32, batch int) ([]float32, error) { return f[:batch*2], nil }

func TestRunClassifier(t *testing.T) {
	w := runtimetest.Weights(t, "cnn", 3)
	a := w.Spec.Arch
	rng := rand.New(rand.NewPCG(3, 3))
	set := &data.Set{N: 5, C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes, Images: make([]float32, 5*a.Pixels()), Labels: make([]int, 5)}
	for i := range set.Images {
		set.Images[i] = float32(rng.Float64())
	}
	r, err := ref.NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g, err := onnxgo.NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	opt := Options{Batch: 2}
	tests := []struct {
		name     string
		other    Logitser
		pass     bool
		maxAbsLo float64 // the logits' max difference must be at least this
		maxAbsHi float64 // and at most this
	}{
		{"itself", r, true, 0, 0},
		{"onnx-go", g, true, 0, 1e-5},
		{"shifted 1e-6", shifted{r, 1, 1e-6}, true, 0.5e-6, 2e-6},
		{"shifted 1e-2", shifted{r, 1, 1e-2}, false, 0.99e-2, 1.01e-2},
	}
	for _, test := range tests {
		rep, err := RunClassifier(r, test.other, a.Classes, "ref", test.name, set, opt)
		if err != nil {
			t.Fatalf("%s: %v", test.name, err)
		}
		if rep.Pass != test.pass || len(rep.Rows) != 1 || rep.PredImages != set.N {
			t.Errorf("%s: pass %v, %d rows, %d prediction images; want pass %v, 1 row, %d", test.name, rep.Pass, len(rep.Rows), rep.PredImages, test.pass, set.N)
			continue
		}
		if d := rep.Rows[0].MaxAbs; d < test.maxAbsLo || d > test.maxAbsHi {
			t.Errorf("%s: max abs difference %g, want in [%g, %g]", test.name, d, test.maxAbsLo, test.maxAbsHi)
		}
	}

	// Predictions: two images of two classes, the second a near-tie the other engine
	// breaks the other way, the first a clear disagreement.
	two := &data.Set{N: 2, C: 1, H: 1, W: 1, Classes: 2, Images: make([]float32, 2), Labels: make([]int, 2)}
	rep, err := RunClassifier(fixed{1, 0, 5, 5.00001}, fixed{0, 1, 5.00001, 5}, 2, "a", "b", two, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pass || rep.PredAgree != 0 || len(rep.PredMismatch) != 2 || rep.PredTies != 1 {
		t.Errorf("prediction report %+v: want a failure with 2 mismatches, 1 of them a tie", rep)
	}
	if _, err := RunClassifier(r, r, a.Classes+1, "ref", "ref", set, opt); err == nil {
		t.Error("a class count unlike the images' was accepted")
	}
}
