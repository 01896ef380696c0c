package crosscheck

import (
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		name       string
		ref, other []float32
		tol        Tolerance
		pass       bool
	}{
		{"equal", []float32{1, 2}, []float32{1, 2}, Tolerance{Abs: 1e-9}, true},
		{"abs ok", []float32{0, 1}, []float32{1e-6, 1}, Tolerance{Abs: 1e-5}, true},
		{"abs broken", []float32{0, 1}, []float32{1e-4, 1}, Tolerance{Abs: 1e-5}, false},
		{"rel ok", []float32{1000}, []float32{1000.05}, Tolerance{Rel: 1e-4}, true},
		{"rel broken", []float32{1000}, []float32{1000.5}, Tolerance{Rel: 1e-4}, false},
		// A tiny entry next to a large one in its row is judged against the large one.
		{"row ok", []float32{100, 0.001}, []float32{100, 0.002}, Tolerance{Rel: 1e-4, Row: 2}, true},
		{"row broken", []float32{100, 0.001, 0.001, 0.001}, []float32{100, 0.001, 0.001, 0.002}, Tolerance{Rel: 1e-4, Row: 2}, false},
		{"length", []float32{1, 2}, []float32{1}, Tolerance{Abs: 1}, false},
		{"nan", []float32{1}, []float32{float32(nan())}, Tolerance{Abs: 1, Rel: 1}, false},
	}
	for _, test := range tests {
		if got := compare(test.name, test.ref, test.other, test.tol); got.Pass != test.pass {
			t.Errorf("%s: pass = %v, want %v (%+v)", test.name, got.Pass, test.pass, got)
		}
	}
}

func nan() float64 { var z float64; return z / z }

// faulty wraps a runtime and corrupts its decoder outputs slightly, as a broken export
// would.
type faulty struct{ *ref.Model }

func (f faulty) Decode(z []float32, batch int) ([]float32, error) {
	r, err := f.Model.Decode(z, batch)
	for i := range r {
		r[i] += 1e-3
	}
	return r, err
}

func TestRunFindsDisagreement(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 2)
	a := w.Spec.Arch
	m1, _ := ref.New(w)
	m2, _ := ref.New(w)
	defer m1.Close()
	defer m2.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	set := &data.Set{N: 3, C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes, Images: make([]float32, 3*a.Pixels()), Labels: []int{0, 1, 2}}
	for i := range set.Images {
		set.Images[i] = float32(rng.Float64())
	}
	opt := Options{Batch: 2, FullImages: 2, Infer: infer.Options{Starts: 16, Steps: 3, LR: 0.05, BankSeed: 1}, Seed: 4}
	same, err := Run(m1, m2, "ref", "ref", set, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !same.Pass || same.PredAgree != 2 {
		t.Errorf("a runtime against itself: %+v", same)
	}
	for _, r := range same.Rows {
		if r.MaxAbs != 0 {
			t.Errorf("%s differs from itself by %g", r.Tensor, r.MaxAbs)
		}
	}
	bad, err := Run(m1, faulty{m2}, "ref", "faulty", set, opt)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Pass {
		t.Fatal("a runtime with corrupted decoders passed")
	}
	for _, r := range bad.Rows {
		if r.Tensor == "decoders.rec" && r.Pass {
			t.Errorf("decoders.rec passed with a 1e-3 error: %+v", r)
		}
		if r.Tensor == "encoder.mu" && !r.Pass {
			t.Errorf("encoder.mu failed though the encoder is intact: %+v", r)
		}
	}
}
