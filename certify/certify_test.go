package certify

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func TestRadius(t *testing.T) {
	// Hand-computed: eps_k = (d_k^2 - l_y) / (2 d_k + 2 r).
	tests := []struct {
		name    string
		y       int
		ly, r   float64
		d       []float64
		eps     float64
		binding int
		valid   bool
	}{
		// k=1: (9-4)/(6+2) = 0.625; k=2: (16-4)/(8+2) = 1.2.
		{"two rivals", 0, 4, 1, []float64{1.5, 3, 4}, 0.625, 1, true},
		// k=0: (1-2)/(2+2) < 0: the label is not the best class: radius 0.
		{"no margin", 1, 2, 1, []float64{1, 0.5}, 0, 0, true},
		// k=1: (0.25-0.04)/(1+0.2) = 0.175 >= d_1? no: 0.175 < 0.5, valid.
		{"small", 0, 0.04, 0.1, []float64{0.2, 0.5}, 0.175, 1, true},
		// k=1: (4-0)/(4+0) = 1 < d_1 = 2. The condition always holds for l, r >= 0:
		// (d^2-l)/(2d+2r) <= d/2.
		{"perfect reconstruction", 0, 0, 0, []float64{0, 2}, 1, 1, true},
		// A rival that reconstructs x exactly (d_1 = 0, r = 0): 0/0 certifies nothing.
		{"degenerate", 0, 0, 0, []float64{0, 0}, 0, 1, false},
		// A rival whose radius is undefined certifies nothing, wherever it is: k=1
		// alone would give (4-1)/(4+1) = 0.6.
		{"NaN after a rival", 0, 1, 0.5, []float64{0, 2, math.NaN()}, 0, 2, false},
		{"NaN before a rival", 0, 1, 0.5, []float64{0, math.NaN(), 2}, 0, 1, false},
		{"infinite d_k", 0, 1, 0.5, []float64{0, 2, math.Inf(1)}, 0, 2, false},
		{"infinite d_k before a rival", 0, 1, 0.5, []float64{0, math.Inf(1), 2}, 0, 1, false},
		{"NaN l*_y", 0, math.NaN(), 0.5, []float64{0, 2}, 0, 1, false},
	}
	for _, test := range tests {
		eps, b, valid := Radius(test.y, test.ly, test.r, test.d)
		if !(math.Abs(eps-test.eps) <= 1e-12) || b != test.binding || valid != test.valid {
			t.Errorf("%s: Radius = (%v, %d, %v), want (%v, %d, %v)", test.name, eps, b, valid, test.eps, test.binding, test.valid)
		}
	}
}

// TestCertifyStructure checks facts that must hold between the two minimisations on a
// tiny model: l*_y = r^2 + prior(z*_y) >= r^2, and the prior-free distance is no worse
// than the prior-including optimum's reconstruction error (d_k^2 <= l*_k, as the prior
// is non-negative), up to the optimiser's slack.
func TestCertifyStructure(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 7)
	opt := Options{Infer: infer.Options{Starts: 64, Steps: 40, LR: 0.05, BankSeed: 3}, Restarts: 2, Chunk: 16}
	c, err := New(w, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := w.Spec.Arch
	const batch = 3
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*a.Pixels())
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	// Certify each image against the class the model predicts, so radii are positive.
	probe, err := c.Certify(x, []int{0, 0, 0}, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int, batch)
	for b := range labels {
		labels[b] = probe[b].Pred
	}
	res, err := c.Certify(x, labels, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	for b, r := range res {
		y := r.Label
		if r.L[y] < r.R*r.R*(1-1e-5) {
			t.Errorf("image %d: l*_y %v < r^2 %v", b, r.L[y], r.R*r.R)
		}
		for k := range r.D {
			if r.D[k]*r.D[k] > r.L[k]*1.05+1e-3 {
				t.Errorf("image %d class %d: d_k^2 %v exceeds l*_k %v: the prior-free minimisation is worse than the constrained one", b, k, r.D[k]*r.D[k], r.L[k])
			}
		}
		if r.Pred != y || r.Binding == y || r.Binding < 0 || r.Eps < 0 {
			t.Errorf("image %d: %+v", b, r)
		}
		eps, _, _ := Radius(y, r.L[y], r.R, r.D)
		if eps != r.Eps {
			t.Errorf("image %d: eps %v, Radius gives %v", b, r.Eps, eps)
		}
	}
	// A misclassified image certifies nothing.
	wrong := (labels[0] + 1) % a.Classes
	res, err = c.Certify(x[:a.Pixels()], []int{wrong}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Eps != 0 || res[0].Binding != -1 {
		t.Errorf("misclassified image: eps %v binding %d, want 0 and -1", res[0].Eps, res[0].Binding)
	}
}
