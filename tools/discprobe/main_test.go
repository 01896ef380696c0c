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

// TestGaussKL checks the diagonal Gaussian-fit KL against a hand computation: two
// dimensions, rows (1, 0) and (3, 0.5) and (2, -0.5): dimension 0 has mean 2 and
// variance 2/3, dimension 1 mean 0 and variance 1/6.
func TestGaussKL(t *testing.T) {
	z := []float32{1, 0, 3, 0.5, 2, -0.5}
	want := 0.5*(2.0/3+4-1-math.Log(2.0/3)) + 0.5*(1.0/6-1-math.Log(1.0/6))
	if got := gaussKL(z, 2); math.Abs(got-want) > 1e-9 {
		t.Errorf("gaussKL = %v, want %v", got, want)
	}
}
