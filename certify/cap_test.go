package certify

import (
	"math"
	"testing"

	"github.com/eabs/eabs/infer"
)

// trapFake has latent size 1, two pixels and two classes. Class 1 decodes
// G_1(z) = (2((z-0.3)^2 - 1), 2.5 - 0.5(z-0.3)), whose distance to x = (0, 0) has a
// shallow local minimum near z = -0.6 (d ~ 2.97) left of the encoder's start z = 0 and
// the global one near z = 1.36 (d ~ 1.985) behind a small rise to its right: at z = 0
// the distance's slope, 1.092*4 - 2.65 > 0, sends a descent left. The discriminator
// D(z) = sigmoid(4z + c), weighted by beta = 2, adds -beta*log D(z), whose slope at
// z = 0 (-4 for c = 0, ~-8 for c = -8) sends the model's own inference right, over the
// rise, into the global basin. So the prior-free distance search misses what the
// model's inference evaluates. Class 0, the label, decodes G_0(z) = (z - shift, 1).
func trapFake(c, shift float64) *fakeModel {
	dec := func(k int, z []float64) ([]float64, []float64) {
		if k == 0 {
			return []float64{z[0] - shift, 1}, []float64{1, 0}
		}
		u := z[0] - 0.3
		return []float64{2 * (u*u - 1), 2.5 - 0.5*u}, []float64{4 * u, -0.5}
	}
	return newFake(2, 1, 2, 2, []float64{4}, c, dec)
}

// TestCertifyCapsByEvaluatedPoints: d_k must be bounded by every point any search
// evaluated. On trapFake the distance search alone stops in class 1's local minimum
// (d ~ 2.97, eps* overstated by ~0.5); the model's inference evaluates points of the
// global basin, so d_1 and eps* must match the brute-force minima, and in the
// certificate d_k^2 never exceeds l_k or the smallest reconstruction error evaluated.
// With c = 0 the prior vanishes in the basin and the model's optimum z*_1 itself is
// that close; with c = -8 the prior still pulls at z = 1.36 and drags z*_1 past the
// basin (sqrt(l_1) ~ 2.94, so l_1 barely bounds d_1): only a point on the way does.
func TestCertifyCapsByEvaluatedPoints(t *testing.T) {
	for _, tc := range []struct {
		name     string
		c, shift float64
	}{{"at the optimum", 0, 0}, {"on the way", -8, 2}} {
		f := trapFake(tc.c, tc.shift)
		// No bank (the encoder's start z = 0 for both searches), one restart.
		opt := Options{Infer: infer.Options{Starts: 0, Steps: 300, LR: 0.02, BankSeed: 1}, Restarts: 1}
		c, err := NewWith(f, f.withBeta(0), opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Certify([]float32{0, 0}, []int{0}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		l, rr, d := bruteForce(f, []float64{0, 0})
		// The hand values above, checked on the grid: the test's premise.
		if math.Abs(d[1]-1.985) > 0.01 || l[0] > l[1] {
			t.Fatalf("%s: brute force d_1 %.4f (want ~1.985), l %v: the fake is not what the test describes", tc.name, d[1], l)
		}
		want := (d[1]*d[1] - l[0]) / (2*d[1] + 2*rr[0])
		if r.DSearch[1] < d[1]+0.5 || want < 0.1 {
			t.Fatalf("%s: the distance search found d_1 %.4f (brute force %.4f), eps* %.4f: the test checks nothing", tc.name, r.DSearch[1], d[1], want)
		}
		if r.Pred != 0 || math.Abs(r.L[0]-l[0]) > 1e-3 || math.Abs(r.R-rr[0]) > 1e-2 { // l*_0 is flat at its minimum: r is known less well
			t.Fatalf("%s: pred %d l*_0 %.5f r %.5f, brute force l*_0 %.5f r %.5f", tc.name, r.Pred, r.L[0], r.R, l[0], rr[0])
		}
		t.Logf("%s: d_1: search %.4f, sqrt(l_1) %.4f, certificate %.4f, brute force %.4f; eps* %.4f, brute force %.4f",
			tc.name, r.DSearch[1], math.Sqrt(r.L[1]), r.D[1], d[1], r.Eps, want)
		if math.Abs(r.D[1]-d[1]) > 5e-3 {
			t.Errorf("%s: d_1 %.5f, brute-force minimum %.5f (the distance search's %.5f): the points the model's inference evaluated do not bound d_k", tc.name, r.D[1], d[1], r.DSearch[1])
		}
		if math.Abs(r.Eps-want) > 5e-3 {
			t.Errorf("%s: eps* %.5f, from the brute-force minima %.5f", tc.name, r.Eps, want)
		}
		for k := range r.D {
			if r.D[k]*r.D[k] > r.L[k] || r.D[k]*r.D[k] > r.RecMin[k] {
				t.Errorf("%s: class %d: d_k^2 %v exceeds l_k %v or the smallest evaluated reconstruction error %v", tc.name, k, r.D[k]*r.D[k], r.L[k], r.RecMin[k])
			}
		}
	}
}

// TestSqrtDown: the certificate's d_k^2 never exceeds the value it comes from.
func TestSqrtDown(t *testing.T) {
	for _, v := range []float64{0, 1, 2, 3.94, 1e-300, 0.1 + 0.2, 8.85, 123456.789} {
		d := sqrtDown(v)
		if d*d > v || math.Abs(d-math.Sqrt(v)) > 1e-15*(1+math.Sqrt(v)) {
			t.Errorf("sqrtDown(%v) = %v: square %v", v, d, d*d)
		}
	}
}
