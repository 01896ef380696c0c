package adam

import (
	"math"
	"testing"
)

// TestStepByHand: Adam's bias-corrected first step is lr*sign(g) whatever |g|, and a
// second step with gradient h is lr*m2/(sqrt(v2)+eps) with the moments worked out by
// hand: m2 = (0.1*0.9*g + 0.1*h)/(1-0.81), v2 = (0.001*0.999*g^2 + 0.001*h^2)/(1-0.999^2).
func TestStepByHand(t *testing.T) {
	tests := []struct {
		p0, g, h float64
	}{
		{1, 3, 3},
		{0, -0.002, 5},
		{-2, 1e3, -1e3},
		{0.5, 0, 2},
	}
	const lr = 0.05
	for _, tc := range tests {
		a := New(lr, 1)
		p := []float32{float32(tc.p0)}
		a.Step(p, []float32{float32(tc.g)})
		want1 := tc.p0
		if tc.g != 0 {
			want1 -= lr * tc.g / (math.Abs(tc.g) + 1e-8)
		}
		if math.Abs(float64(p[0])-want1) > 1e-6 {
			t.Errorf("g %g: first step to %g, want %g", tc.g, p[0], want1)
		}
		a.Step(p, []float32{float32(tc.h)})
		m2 := (0.1*0.9*tc.g + 0.1*tc.h) / (1 - 0.9*0.9)
		v2 := (0.001*0.999*tc.g*tc.g + 0.001*tc.h*tc.h) / (1 - 0.999*0.999)
		want2 := want1 - lr*m2/(math.Sqrt(v2)+1e-8)
		if math.Abs(float64(p[0])-want2) > 1e-6 {
			t.Errorf("g %g, h %g: second step to %g, want %g", tc.g, tc.h, p[0], want2)
		}
	}
}
