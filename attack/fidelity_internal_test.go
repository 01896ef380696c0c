package attack

import (
	"math"
	"math/rand/v2"
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

// TestSquareLinfWindowAlwaysChanges: the reference Square-Linf redraws a window's signs
// until the window changes, so it never spends a query on the unchanged best point. On
// 2x2 one-channel images the window is one pixel; with every pixel of best at x + eps, a
// draw changes it only with the sign -, so every proposal must set exactly one pixel to
// x - eps. Capped at 10 draws, one proposal in 2^10 came back unchanged (about 20 of
// these 20,000). Where no sign can change the window (eps below float32's resolution
// at 0.5), the proposal is best itself and must come back rather than loop.
func TestSquareLinfWindowAlwaysChanges(t *testing.T) {
	const h, w, eps = 2, 2, 0.1
	a := Square{Lp: Linf, Eps: eps}
	x := []float32{0.5, 0.5, 0.5, 0.5}
	best := make([]float32, len(x))
	for k := range best {
		best[k] = x[k] + float32(eps)
	}
	dst := make([]float32, len(x))
	r := rand.New(rand.NewPCG(1, 2))
	for it := 0; it < 20000; it++ {
		a.proposeLinf(dst, best, x, 0.05, r, 1, h, w)
		changed := 0
		for k := range dst {
			if dst[k] == best[k] {
				continue
			}
			changed++
			if want := x[k] - float32(eps); dst[k] != want {
				t.Fatalf("proposal %d: pixel %d = %v, want x - eps = %v", it, k, dst[k], want)
			}
		}
		if changed != 1 {
			t.Fatalf("proposal %d changed %d pixels, want 1", it, changed)
		}
	}
	tiny := Square{Lp: Linf, Eps: 1e-9}
	tiny.proposeLinf(dst, x, x, 0.05, r, 1, h, w)
	for k := range dst {
		if dst[k] != x[k] {
			t.Fatalf("eps 1e-9: pixel %d = %v, want x = %v", k, dst[k], x[k])
		}
	}
}
