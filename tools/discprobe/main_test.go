package main

import (
	"math"
	"testing"
)

// TestAUC checks the rank AUC against hand counts: the fraction of (a, b) pairs with
// a > b, ties counting half.
func TestAUC(t *testing.T) {
	for _, c := range []struct {
		a, b []float64
		want float64
	}{
		{[]float64{2, 3}, []float64{1}, 1},
		{[]float64{1}, []float64{2, 3}, 0},
		{[]float64{1, 3}, []float64{2}, 0.5},
		{[]float64{2, 2}, []float64{2}, 0.5},
		{[]float64{1, 2, 4}, []float64{0, 3}, 4.0 / 6},
	} {
		if got := auc(c.a, c.b); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("auc(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
