package floats

import (
	"math"
	"testing"
)

func TestArgmaxArgmin(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		v        []float32
		max, min int
	}{
		{nil, 0, 0},
		{[]float32{3}, 0, 0},
		{[]float32{1, 5, 2}, 1, 0},
		{[]float32{-1, -5, -2}, 0, 1},
		{[]float32{2, 7, 7, 0, 0}, 1, 3}, // ties go to the first
		{[]float32{float32(math.Inf(-1)), 0, float32(math.Inf(1))}, 2, 0},
		{[]float32{1, nan, 3}, 2, 0}, // NaN never wins a comparison
	}
	for _, tc := range tests {
		if got := Argmax(tc.v); got != tc.max {
			t.Errorf("Argmax(%v) = %d, want %d", tc.v, got, tc.max)
		}
		if got := Argmin(tc.v); got != tc.min {
			t.Errorf("Argmin(%v) = %d, want %d", tc.v, got, tc.min)
		}
	}
}

func TestSqDist(t *testing.T) {
	tests := []struct {
		a, b []float32
		want float64
	}{
		{nil, nil, 0},
		{[]float32{1, 2}, []float32{1, 2}, 0},
		{[]float32{0, 0}, []float32{3, 4}, 25},            // hand: 9 + 16
		{[]float32{1e20, 0}, []float32{-1e20, 0}, 4e40},   // overflows float32, not float64
		{[]float32{0.1, -0.2}, []float32{0.3, 0.1}, 0.13}, // hand: 0.04 + 0.09
	}
	for _, tc := range tests {
		got := SqDist(tc.a, tc.b)
		if math.Abs(got-tc.want) > 1e-7*math.Max(1, tc.want) {
			t.Errorf("SqDist(%v, %v) = %g, want %g", tc.a, tc.b, got, tc.want)
		}
	}
}
