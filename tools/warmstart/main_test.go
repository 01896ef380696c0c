package main

import (
	"math"
	"testing"
)

func TestClopperPearson(t *testing.T) {
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
		tol    float64
	}{
		// R: binom.test(8, 10)$conf.int
		{8, 10, 0.4439045, 0.9747893, 1e-6},
		// closed forms at the edges: (alpha/2)^(1/n) and 1 - (alpha/2)^(1/n)
		{0, 20, 0, 1 - math.Pow(0.025, 1.0/20), 1e-9},
		{20, 20, math.Pow(0.025, 1.0/20), 1, 1e-9},
	} {
		ci := clopperPearson(tc.k, tc.n, 0.05)
		if math.Abs(ci[0]-tc.lo) > tc.tol || math.Abs(ci[1]-tc.hi) > tc.tol {
			t.Errorf("clopperPearson(%d, %d) = %v, want [%v, %v]", tc.k, tc.n, ci, tc.lo, tc.hi)
		}
	}
}

func TestMcNemar(t *testing.T) {
	for _, tc := range []struct {
		b, c int
		want float64
	}{
		{0, 0, 1},
		{1, 9, 2 * 11.0 / 1024}, // 2 * P(X <= 1), X ~ Binomial(10, 1/2)
		{5, 5, 1},               // capped at 1
		{0, 7, 2.0 / 128},
	} {
		if got := mcnemar(tc.b, tc.c); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("mcnemar(%d, %d) = %v, want %v", tc.b, tc.c, got, tc.want)
		}
	}
}
