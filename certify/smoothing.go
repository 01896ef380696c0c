package certify

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/internal/floats"
	"gonum.org/v1/gonum/stat/distuv"
)

// Smoothing is randomized smoothing's CERTIFY (Cohen, Rosenfeld & Kolter 2019,
// Algorithm 1) for any classifier f: the smoothed classifier g(x) = argmax_c
// P(f(x + N(0, sigma^2 I)) = c). N0 noisy copies select the top class c_A, N more
// estimate how often f returns it, and p_A is lower-bounded by the one-sided
// Clopper-Pearson bound at level 1 - Alpha; g is certified to return c_A within the
// L2 radius sigma * Phi^-1(p_A) when p_A > 1/2, and abstains otherwise. The noise is
// not clipped to the pixel range (the smoothed classifier is defined on R^d, and the
// base models were trained on unclipped noise).
type Smoothing struct {
	Sigma float64 `json:"sigma"`
	N0    int     `json:"n0"`
	N     int     `json:"n"`
	Alpha float64 `json:"alpha"`
	// Batch is the number of noisy copies classified per call.
	Batch int `json:"batch"`
}

// DefaultSmoothing is Cohen et al.'s setting: n0 = 100, n = 100,000, alpha = 0.001.
func DefaultSmoothing(sigma float64) Smoothing {
	return Smoothing{Sigma: sigma, N0: 100, N: 100_000, Alpha: 0.001, Batch: 1000}
}

// Label names what the radii are.
func (s Smoothing) Label() string {
	return fmt.Sprintf("randomized smoothing (Cohen et al. 2019) sigma %g, n0 %d, n %d, alpha %g: holds with probability 1 - alpha for the smoothed classifier", s.Sigma, s.N0, s.N, s.Alpha)
}

func (s Smoothing) check() error {
	if !(s.Sigma > 0) || math.IsInf(s.Sigma, 0) {
		return fmt.Errorf("certify: smoothing sigma %g must be positive", s.Sigma)
	}
	if s.N0 < 1 || s.N < 1 || s.Batch < 1 {
		return fmt.Errorf("certify: smoothing n0 %d, n %d and batch %d must be positive", s.N0, s.N, s.Batch)
	}
	if !(s.Alpha > 0 && s.Alpha < 1) {
		return fmt.Errorf("certify: smoothing alpha %g must be in (0, 1)", s.Alpha)
	}
	return nil
}

// SmoothResult is the smoothing certificate of one image.
type SmoothResult struct {
	Index int `json:"index"`
	Pos   int `json:"position"`
	Label int `json:"label"`
	// Pred is c_A, or -1 when the smoothed classifier abstains.
	Pred int `json:"pred"`
	// CountA is how many of the N estimation samples f classified as c_A; PA is the
	// Clopper-Pearson lower bound of p_A.
	CountA int     `json:"count_a"`
	PA     float64 `json:"p_a_lower"`
	// Radius is sigma * Phi^-1(PA), 0 when abstaining.
	Radius  float64 `json:"radius"`
	Seconds float64 `json:"seconds"`
}

// Position implements shard.Positioned.
func (r SmoothResult) Position() int { return r.Pos }

// Correct says that the smoothed classifier returned the label.
func (r SmoothResult) Correct() bool { return r.Pred == r.Label }

// Certify runs CERTIFY on one image x (C, H, W) with label y; rng is the noise's only
// source.
func (s Smoothing) Certify(m attack.Classifier, x []float32, y int, rng *rand.Rand) (SmoothResult, error) {
	res := SmoothResult{Label: y, Pred: -1}
	if err := s.check(); err != nil {
		return res, err
	}
	sel, err := s.counts(m, x, s.N0, rng)
	if err != nil {
		return res, err
	}
	cA := 0
	for k, c := range sel {
		if c > sel[cA] {
			cA = k
		}
	}
	est, err := s.counts(m, x, s.N, rng)
	if err != nil {
		return res, err
	}
	res.CountA = est[cA]
	res.PA = ClopperPearsonLower(est[cA], s.N, s.Alpha)
	if res.PA > 0.5 {
		res.Pred = cA
		res.Radius = s.Sigma * distuv.UnitNormal.Quantile(res.PA)
	}
	return res, nil
}

// counts classifies n noisy copies of x and counts the predictions per class.
func (s Smoothing) counts(m attack.Classifier, x []float32, n int, rng *rand.Rand) ([]int, error) {
	K, P := m.Classes(), len(x)
	c := make([]int, K)
	buf := make([]float32, min(s.Batch, n)*P)
	for done := 0; done < n; {
		b := min(s.Batch, n-done)
		xb := buf[:b*P]
		for i := 0; i < b; i++ {
			for j, v := range x {
				xb[i*P+j] = v + float32(s.Sigma*rng.NormFloat64())
			}
		}
		logits, err := m.Logits(xb, b)
		if err != nil {
			return nil, err
		}
		if len(logits) != b*K {
			return nil, fmt.Errorf("certify: the classifier returned %d logits for %d images of %d classes", len(logits), b, K)
		}
		for i := 0; i < b; i++ {
			row := logits[i*K : (i+1)*K]
			for _, v := range row {
				if math.IsNaN(float64(v)) {
					return nil, fmt.Errorf("certify: the classifier returned NaN logits")
				}
			}
			c[floats.Argmax(row)]++
		}
		done += b
	}
	return c, nil
}

// ClopperPearsonLower is the one-sided (1 - alpha) lower confidence bound on a
// binomial proportion with k successes in n trials: the alpha quantile of
// Beta(k, n - k + 1), 0 when k = 0 (what Cohen et al.'s code gets from statsmodels'
// proportion_confint(k, n, 2*alpha, "beta")).
func ClopperPearsonLower(k, n int, alpha float64) float64 {
	if k <= 0 {
		return 0
	}
	return distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(alpha)
}

// SmoothSummary aggregates smoothing certificates.
type SmoothSummary struct {
	Label     string  `json:"label,omitempty"`
	N         int     `json:"n"`
	Correct   int     `json:"correct"`
	Abstain   int     `json:"abstain"`
	Median    float64 `json:"median_radius"`
	Certified []Level `json:"certified"`
}

// SummariseSmoothing counts, at each radius, the images whose smoothed prediction is
// the label with a radius at least that large.
func SummariseSmoothing(rs []SmoothResult, levels []float64) SmoothSummary {
	s := SmoothSummary{N: len(rs)}
	conv := make([]Result, len(rs))
	for i, r := range rs {
		if r.Pred < 0 {
			s.Abstain++
		}
		pred := r.Pred
		if pred < 0 {
			pred = r.Label + 1 // abstaining counts as wrong
		}
		if r.Correct() {
			s.Correct++
		}
		conv[i] = Result{Label: r.Label, Pred: pred, Eps: r.Radius, Valid: true}
	}
	cs := Summarise(conv, levels)
	s.Median, s.Certified = cs.Median, cs.Certified
	return s
}
