package attack

import (
	"math"
	"testing"
)

// TestAPGDUpdate checks one momentum step against a hand computation: L2, the ball and
// box not binding.
func TestAPGDUpdate(t *testing.T) {
	x := []float32{0.5, 0.5}
	o := []float32{0.5, 0.5} // previous iterate
	c := []float32{0.6, 0.5} // current iterate
	g := []float32{3, 4}     // unit direction (0.6, 0.8)
	const eta, eps, mom = 0.1, 1, 0.75
	apgdUpdate(L2, c, o, g, x, eta, eps, mom)
	// z = c + 0.1 (0.6, 0.8) = (0.66, 0.58); c' = c + 0.75 (z - c) + 0.25 (c - o)
	//   = (0.6 + 0.045 + 0.025, 0.5 + 0.06 + 0) = (0.67, 0.56).
	want := []float64{0.67, 0.56}
	for i := range want {
		if math.Abs(float64(c[i])-want[i]) > 1e-6 {
			t.Errorf("c'[%d] = %v, want %v", i, c[i], want[i])
		}
	}
	if o[0] != 0.6 || o[1] != 0.5 {
		t.Errorf("previous iterate %v, want [0.6 0.5]", o)
	}
	// Linf with eps 0.15: z = P(c + 0.1 sign(g)) = (0.65, 0.6); c + 0.75 (z - c) +
	// 0.25 (c - o) = (0.6 + 0.0375 + 0.025, 0.5 + 0.075) = (0.6625, 0.575), whose first
	// pixel leaves the ball around 0.5 and is projected to 0.65.
	c, o = []float32{0.6, 0.5}, []float32{0.5, 0.5}
	apgdUpdate(Linf, c, o, g, x, 0.1, 0.15, mom)
	want = []float64{0.65, 0.575}
	for i := range want {
		if math.Abs(float64(c[i])-want[i]) > 1e-6 {
			t.Errorf("Linf c'[%d] = %v, want %v", i, c[i], want[i])
		}
	}
}

// TestAPGDHalve checks both conditions of the checkpoint test.
func TestAPGDHalve(t *testing.T) {
	tests := []struct {
		h               []float64
		k               int
		reducedLast     bool
		lastCheck, best float64
		want            bool
	}{
		// 4 steps, 3 rising: 3 <= 0.75*4 halves (condition 1).
		{[]float64{0, 1, 2, 3, 2.5}, 4, true, 0, 3, true},
		// 4 of 4 rising: no halving.
		{[]float64{0, 1, 2, 3, 4}, 4, true, 0, 4, false},
		// 4 of 4 rising but not halved last time and no improvement since: condition 2.
		{[]float64{0, 1, 2, 3, 4}, 4, false, 4, 4, true},
		// the same with an improvement: no halving.
		{[]float64{0, 1, 2, 3, 4}, 4, false, 3.5, 4, false},
		// only the last k steps count: the early fall is outside the window.
		{[]float64{5, 0, 1, 2, 3, 4}, 4, true, 0, 4, false},
	}
	for i, test := range tests {
		if got := apgdHalve(test.h, test.k, 0.75, test.reducedLast, test.lastCheck, test.best); got != test.want {
			t.Errorf("case %d: apgdHalve = %v, want %v", i, got, test.want)
		}
	}
}
