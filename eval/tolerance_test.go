package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestBudgetEdge: the budget tolerance (epsTol relative, 1e-7 absolute) accepts a
// distance just inside its edge and refuses one just outside, for both norms' typical
// budgets and a tiny one where the absolute term decides.
func TestBudgetEdge(t *testing.T) {
	for _, eps := range []float64{1.5, 0.3, 8.0 / 255, 1e-6} {
		edge := eps*(1+epsTol) + 1e-7
		tests := []struct {
			d    float64
			want bool
		}{
			{0, true},
			{eps, true},
			{math.Nextafter(edge, 0), true},
			{edge, true},
			{math.Nextafter(edge, 2*edge), false},
			{edge * (1 + 1e-6), false},
			{math.NaN(), false}, // a NaN distance is never within
		}
		for _, tc := range tests {
			if got := within(tc.d, eps); got != tc.want {
				t.Errorf("eps %g: within(%.17g) = %v, want %v", eps, tc.d, got, tc.want)
			}
		}
	}
}

// TestBudgetToleranceCoversFloat32Projection: what the tolerance is for. A candidate
// projected onto the L2 sphere or the Linf cube of the budget in float32, as the
// attacks do, measures within the budget in float64 (MNIST-sized images, random
// directions); the same candidate pushed 1e-4 beyond the sphere does not.
func TestBudgetToleranceCoversFloat32Projection(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const P = 784
	for trial := 0; trial < 200; trial++ {
		x := make([]float32, P)
		for i := range x {
			x[i] = float32(0.25 + 0.5*rng.Float64()) // inside: no clipping
		}
		dir := make([]float32, P)
		var n2 float32
		for i := range dir {
			dir[i] = float32(rng.NormFloat64())
			n2 += dir[i] * dir[i]
		}
		const eps = 1.5
		for _, scale := range []float32{1, 1 + 1e-4} {
			s := float32(eps) * scale / float32(math.Sqrt(float64(n2)))
			adv := make([]float32, P)
			for i := range adv {
				adv[i] = x[i] + dir[i]*s
			}
			l2, _, bad := distances(adv, x)
			if bad != "" {
				t.Fatal(bad)
			}
			if got, want := within(l2, eps), scale == 1; got != want {
				t.Fatalf("trial %d, scale %g: L2 %.9g within %v, want %v", trial, scale, l2, got, want)
			}
		}
		const linf = 0.3
		adv := make([]float32, P)
		for i := range adv {
			adv[i] = x[i] + float32(linf)*float32(math.Copysign(1, float64(dir[i])))
		}
		if _, d, _ := distances(adv, x); !within(d, linf) {
			t.Fatalf("trial %d: Linf %.9g at the cube's corner not within %g", trial, d, linf)
		}
	}
}

// TestBoxEdge: pixels exactly 0 and 1 are judged, the nearest float32 beyond either
// (and NaN) is refused, naming the pixel; distances are measured in float64.
func TestBoxEdge(t *testing.T) {
	x := []float32{0.5, 0.5, 0.5}
	tests := []struct {
		adv  []float32
		bad  string
		l2   float64
		linf float64
	}{
		{[]float32{0, 1, 0.5}, "", math.Sqrt(0.5), 0.5},
		{[]float32{0.5, 0.5, 0.5}, "", 0, 0},
		{[]float32{0.5, math.Nextafter32(1, 2), 0.5}, "pixel 1 is", 0, 0},
		{[]float32{math.Nextafter32(0, -1), 0.5, 0.5}, "pixel 0 is", 0, 0},
		{[]float32{0.5, 0.5, float32(math.NaN())}, "pixel 2 is NaN", 0, 0},
		{[]float32{math.Nextafter32(0.5, 1), 0.5, 0.5}, "", float64(math.Nextafter32(0.5, 1)) - 0.5, float64(math.Nextafter32(0.5, 1)) - 0.5},
	}
	for _, tc := range tests {
		l2, linf, bad := distances(tc.adv, x)
		if tc.bad != "" {
			if !strings.Contains(bad, tc.bad) || !strings.Contains(bad, "outside [0,1]") {
				t.Errorf("%v: %q, want it refused as %q... outside [0,1]", tc.adv, bad, tc.bad)
			}
			continue
		}
		if bad != "" || math.Abs(l2-tc.l2) > 1e-15 || math.Abs(linf-tc.linf) > 1e-15 {
			t.Errorf("%v: L2 %.17g Linf %.17g (%q), want %.17g %.17g", tc.adv, l2, linf, bad, tc.l2, tc.linf)
		}
	}
}
