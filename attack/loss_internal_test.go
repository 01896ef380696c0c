package attack

import (
	"math"
	"testing"
)

// TestLossGradients checks each loss's derivative with respect to the logits against
// central differences.
func TestLossGradients(t *testing.T) {
	rows := [][]float32{
		{0.3, -1.2, 2.5, 0.7, -0.1},
		{3, 2, 1, 0.5, -4},
		{-1, 0.2, 0.1, 0.05, 2},
	}
	losses := map[string]lossFn{"ce": crossEntropy, "dlr": dlr, "lse-margin": lseMargin}
	for name, f := range losses {
		for r, z := range rows {
			for _, y := range []int{0, 2, 4} {
				_, dz := f(z, y)
				for j := range z {
					const h = 1e-3
					zp := append([]float32(nil), z...)
					zm := append([]float32(nil), z...)
					zp[j] += h
					zm[j] -= h
					lp, _ := f(zp, y)
					lm, _ := f(zm, y)
					fd := (lp - lm) / (float64(zp[j]) - float64(zm[j]))
					if math.Abs(dz[j]-fd) > 1e-3*math.Max(1, math.Abs(fd)) {
						t.Errorf("%s row %d label %d: d/dz%d = %.6f, central difference %.6f", name, r, y, j, dz[j], fd)
					}
				}
			}
		}
	}
	// Closed forms: CE of equal logits is log K; DLR of (3, 2, 1, 0.5, -4) for y = 0 is
	// -(3-2)/(3-1) = -0.5 and for y = 2 it is -(1-3)/(3-1) = 1.
	if l, _ := crossEntropy([]float32{1, 1, 1, 1}, 2); math.Abs(l-math.Log(4)) > 1e-12 {
		t.Errorf("CE of equal logits = %v, want log 4", l)
	}
	for _, c := range []struct {
		y    int
		want float64
	}{{0, -0.5}, {2, 1}} {
		if l, _ := dlr(rows[1], c.y); math.Abs(l-c.want) > 1e-9 {
			t.Errorf("DLR(%v, %d) = %v, want %v", rows[1], c.y, l, c.want)
		}
	}
}

// TestLSEMarginIsCEsMonotoneTransform: CE = log(1 + exp(M)) and grad CE = sigmoid(M) grad
// M (closed forms), so one evaluation's normalised step is the same for both; and where
// the true class leads by 300, CE's cotangent is all zero in float32 while M's keeps
// dz_y = -1 and the others summing to 1.
func TestLSEMarginIsCEsMonotoneTransform(t *testing.T) {
	rows := [][]float32{
		{0.3, -1.2, 2.5, 0.7, -0.1},
		{3, 2, 1, 0.5, -4},
		{-1, 0.2, 0.1, 0.05, 2},
	}
	for r, z := range rows {
		for _, y := range []int{0, 2, 4} {
			ce, dce := crossEntropy(z, y)
			m, dm := lseMargin(z, y)
			if want := math.Log1p(math.Exp(m)); math.Abs(ce-want) > 1e-12 {
				t.Errorf("row %d label %d: CE %.15g, log(1+exp(M)) %.15g", r, y, ce, want)
			}
			sig := 1 / (1 + math.Exp(-m))
			for k := range z {
				if math.Abs(dce[k]-sig*dm[k]) > 1e-12 {
					t.Errorf("row %d label %d: dCE/dz%d %.15g, sigmoid(M) dM/dz%d %.15g", r, y, k, dce[k], k, sig*dm[k])
				}
			}
		}
	}
	z := []float32{0, -300, -320, -350}
	_, dce := crossEntropy(z, 0)
	_, dm := lseMargin(z, 0)
	var nonzero int
	var others float64
	for k := range z {
		if float32(dce[k]) != 0 {
			nonzero++
		}
		if k > 0 {
			others += float64(float32(dm[k]))
		}
	}
	if nonzero != 0 {
		t.Fatalf("CE's float32 cotangent at a lead of 300 has %d nonzero entries; the premise of this test (it vanishes) is wrong: %v", nonzero, dce)
	}
	if float32(dm[0]) != -1 || math.Abs(others-1) > 1e-6 {
		t.Errorf("lseMargin's float32 cotangent at a lead of 300: dz_y %v, others summing to %v, want -1 and 1", float32(dm[0]), others)
	}
}
