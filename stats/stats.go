// Package stats holds the two tests a robustness table needs: exact (Clopper-Pearson)
// confidence intervals for an accuracy measured on n samples, and McNemar's exact test
// for whether two models differ on the same samples. Both are exact rather than normal
// approximations because robust accuracies sit near 0 or 1, where those fail.
package stats

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// ClopperPearson returns the two-sided confidence interval of level 1-alpha for a
// binomial proportion with k successes in n trials: the alpha/2 quantile of
// Beta(k, n-k+1) and the 1-alpha/2 quantile of Beta(k+1, n-k), with the closed ends
// 0 at k = 0 and 1 at k = n.
func ClopperPearson(k, n int, alpha float64) (lo, hi float64, err error) {
	if n <= 0 || k < 0 || k > n {
		return 0, 0, fmt.Errorf("stats: %d successes in %d trials", k, n)
	}
	if !(alpha > 0 && alpha < 1) {
		return 0, 0, fmt.Errorf("stats: alpha %g outside (0, 1)", alpha)
	}
	lo, hi = 0, 1
	if k > 0 {
		lo = distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(alpha / 2)
	}
	if k < n {
		hi = distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - alpha/2)
	}
	return lo, hi, nil
}

// McNemar is the exact (binomial) McNemar test on paired outcomes: b samples where
// only the first model is right, c where only the second is. Under the null hypothesis
// that both are equally good, the discordant pairs split as Binomial(b+c, 1/2); the
// two-sided p-value is 2 P(X <= min(b, c)), capped at 1 (1 when there is no
// discordant pair).
func McNemar(b, c int) (float64, error) {
	if b < 0 || c < 0 {
		return 0, fmt.Errorf("stats: negative discordant counts %d, %d", b, c)
	}
	if b+c == 0 {
		return 1, nil
	}
	p := 2 * distuv.Binomial{N: float64(b + c), P: 0.5}.CDF(float64(min(b, c)))
	return math.Min(p, 1), nil
}
