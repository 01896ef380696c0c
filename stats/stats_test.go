package stats

import (
	"math"
	"testing"
)

func TestClopperPearson(t *testing.T) {
	tests := []struct {
		k, n   int
		lo, hi float64
		tol    float64
		why    string
	}{
		// k = 0: hi = 1 - (alpha/2)^(1/n); k = n: lo = (alpha/2)^(1/n) (closed forms).
		{0, 10, 0, 1 - math.Pow(0.025, 0.1), 1e-12, "k=0 closed form"},
		{10, 10, math.Pow(0.025, 0.1), 1, 1e-12, "k=n closed form"},
		{0, 500, 0, 1 - math.Pow(0.025, 1.0/500), 1e-12, "k=0, n=500"},
		// n = 1, k = 0 or 1 are the same closed forms with n = 1: [0, 0.975], [0.025, 1].
		{0, 1, 0, 0.975, 1e-12, "n=1 k=0"},
		{1, 1, 0.025, 1, 1e-12, "n=1 k=1"},
		// Published: Clopper & Pearson's example as tabulated by e.g. R's binom.test(5, 10):
		// 95% CI 0.187086, 0.812914 (binom.test prints 0.1870860 0.8129140).
		{5, 10, 0.1870860, 0.8129140, 5e-7, "binom.test(5, 10)"},
		// binom.test(3, 20): 0.03207 0.37893 (R prints 0.03207094 0.37892683).
		{3, 20, 0.03207094, 0.37892683, 5e-8, "binom.test(3, 20)"},
	}
	for _, tt := range tests {
		lo, hi, err := ClopperPearson(tt.k, tt.n, 0.05)
		if err != nil {
			t.Fatalf("%s: %v", tt.why, err)
		}
		if math.Abs(lo-tt.lo) > tt.tol || math.Abs(hi-tt.hi) > tt.tol {
			t.Errorf("%s: ClopperPearson(%d, %d) = [%.9f, %.9f], want [%.9f, %.9f] within %g", tt.why, tt.k, tt.n, lo, hi, tt.lo, tt.hi, tt.tol)
		}
	}
	// The k = 1, n = 2 interval solves P(X >= 1 | p) = 0.025 and P(X <= 1 | p) = 0.025
	// for X ~ Binomial(2, p): 1-(1-lo)^2 = 0.025 and 1-hi^2 = 0.025.
	lo, hi, _ := ClopperPearson(1, 2, 0.05)
	if wl, wh := 1-math.Sqrt(0.975), math.Sqrt(0.975); math.Abs(lo-wl) > 1e-12 || math.Abs(hi-wh) > 1e-12 {
		t.Errorf("ClopperPearson(1, 2) = [%g, %g], want [%g, %g]", lo, hi, wl, wh)
	}
	for _, bad := range [][2]int{{-1, 5}, {6, 5}, {0, 0}} {
		if _, _, err := ClopperPearson(bad[0], bad[1], 0.05); err == nil {
			t.Errorf("ClopperPearson(%d, %d) accepted", bad[0], bad[1])
		}
	}
	if _, _, err := ClopperPearson(1, 5, 1.5); err == nil {
		t.Error("alpha 1.5 accepted")
	}
}

func TestMcNemar(t *testing.T) {
	tests := []struct {
		b, c int
		p    float64
	}{
		{0, 0, 1},
		// b=0, c=5: 2 * 0.5^5 = 1/16.
		{0, 5, 2.0 / 32},
		{5, 0, 2.0 / 32},
		// b=1, c=4: 2 * (1 + 5) / 32 = 12/32.
		{1, 4, 12.0 / 32},
		// b=2, c=2: 2 * (1+4+6)/16 = 22/16 -> capped at 1.
		{2, 2, 1},
		// b=1, c=9: 2 * (1 + 10) / 1024 = 22/1024.
		{1, 9, 22.0 / 1024},
		// b=3, c=12: 2 * (1 + 15 + 105 + 455) / 32768 = 1152/32768.
		{3, 12, 1152.0 / 32768},
	}
	for _, tt := range tests {
		p, err := McNemar(tt.b, tt.c)
		if err != nil || math.Abs(p-tt.p) > 1e-12 {
			t.Errorf("McNemar(%d, %d) = %g, %v; want %g", tt.b, tt.c, p, err, tt.p)
		}
	}
	if _, err := McNemar(-1, 2); err == nil {
		t.Error("negative count accepted")
	}
}
