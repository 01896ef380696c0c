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
