package attack

import (
	"math"
	"testing"
)

// TestCrossEntropyAtLargeMargins: where the true class leads by 300 the cross-entropy is
// log(1 + e^-300 + e^-320) = e^-300 + e^-320 to float64 precision (the next term,
// e^-600/2, is below it by 1e-130); computed as logsumexp(z) - z_y it was exactly 0, so
// APGD-CE saw every iterate at the same loss. Its gradient cotangent, sigmoid(M) dM/dz,
// is e^-300 (1 + e^-20) in dz_y's magnitude, still representable in float64.
func TestCrossEntropyAtLargeMargins(t *testing.T) {
	z := []float32{0, -300, -320}
	want := math.Exp(-300) + math.Exp(-320)
	l, dz := crossEntropy(z, 0)
	if math.Abs(l-want) > 1e-12*want {
		t.Errorf("CE(%v, 0) = %g, want %g", z, l, want)
	}
	if math.Abs(dz[0]+want) > 1e-12*want || math.Abs(dz[1]-math.Exp(-300)) > 1e-12*math.Exp(-300) {
		t.Errorf("dCE/dz = %g, want (-%g, %g, %g)", dz, want, math.Exp(-300), math.Exp(-320))
	}
	// Margins of 700 still give distinct, ordered losses.
	l1, _ := crossEntropy([]float32{0, -700}, 0)
	l2, _ := crossEntropy([]float32{0, -701}, 0)
	if !(l1 > l2 && l2 > 0) {
		t.Errorf("CE at margins 700 and 701: %g and %g, want decreasing and positive", l1, l2)
	}
}
