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
	losses := map[string]lossFn{"ce": crossEntropy, "dlr": dlr}
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
