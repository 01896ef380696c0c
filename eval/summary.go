package eval

import (
	"fmt"
	"math"
	"slices"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/stats"
)

// Alpha is the level of the confidence intervals (95%).
const Alpha = 0.05

// FlatAbove is the accuracy above which the largest-budget point of the accuracy-vs-eps
// sweep flags a flat curve: at two to four times the paper's budgets every attack worth
// its name breaks (nearly) every sample, and a curve that stays up means a broken
// attack or a masked gradient.
const FlatAbove = 0.1

// Rate is k successes out of n with the Clopper-Pearson 95% interval.
type Rate struct {
	K   int     `json:"k"`
	N   int     `json:"n"`
	Acc float64 `json:"acc"`
	Lo  float64 `json:"lo"`
	Hi  float64 `json:"hi"`
}

// NewRate returns k/n with its interval (zero for n = 0).
func NewRate(k, n int) Rate {
	r := Rate{K: k, N: n}
	if n > 0 {
		r.Acc = float64(k) / float64(n)
		r.Lo, r.Hi, _ = stats.ClopperPearson(k, n, Alpha)
	}
	return r
}

// AttackSummary is one attack's column.
type AttackSummary struct {
	Name string      `json:"name"`
	Norm attack.Norm `json:"norm"`
	Eps  float64     `json:"eps"`
	// Robust counts the samples robust after this attack.
	Robust Rate `json:"robust"`
	// Ran counts the samples attacked; Skipped those correct but already broken by an
	// earlier attack of the norm (then Robust is cumulative over the norm's attacks so
	// far, not this attack's own accuracy).
	Ran     int `json:"ran"`
	Skipped int `json:"skipped"`
	// Found counts verified adversarial examples (at any distance); MedianDist is the
	// median of their distances in the attack's norm.
	Found      int      `json:"found"`
	MedianDist *float64 `json:"median_dist,omitempty"`
	Queries    float64  `json:"mean_queries"`
	Rejected   int      `json:"rejected"`
	// Overturned counts the samples on which the verdict overturned at least one
	// candidate the attacker believed adversarial (AttackRecord.Overturned).
	Overturned int `json:"overturned,omitempty"`
	// ScaledOut counts the samples a minimum-norm attack broke only with its candidate
	// scaled out to the budget (AttackRecord.Scaled): the candidate itself, at the
	// boundary, was classified correctly.
	ScaledOut int `json:"scaled_out,omitempty"`
}

// NormSummary is the "All" column of a norm: robust against every attack of the norm.
type NormSummary struct {
	Norm   attack.Norm `json:"norm"`
	Eps    float64     `json:"eps"`
	Robust Rate        `json:"robust"`
}

// Point is one point of an accuracy-vs-eps curve.
type Point struct {
	Eps float64 `json:"eps"`
	Acc float64 `json:"acc"`
	N   int     `json:"n"`
	// From is "distances" (the smallest verified adversarial distance of every attack
	// of the norm: an upper bound on accuracy at eps) or the sweep attack's name.
	From string `json:"from"`
}

// Curve is a norm's accuracy-vs-eps self-check.
type Curve struct {
	Norm   attack.Norm `json:"norm"`
	Points []Point     `json:"points"`
	// Checked: a sweep at a larger budget ran; Flat: its accuracy at the largest budget
	// stays above FlatAbove.
	Checked bool   `json:"checked"`
	Flat    bool   `json:"flat"`
	Note    string `json:"note,omitempty"`
}

// Checks are the self-checks written into every result.
type Checks struct {
	// RandomisedSamples counts samples whose two clean verdicts differed.
	RandomisedSamples int  `json:"randomised_samples"`
	Randomised        bool `json:"randomised"`
	// Gradient rows handed to attacks, and those all zero or with NaN/Inf.
	GradRows int `json:"grad_rows"`
	GradZero int `json:"grad_zero"`
	GradNaN  int `json:"grad_nan"`
	// BlindRobust counts the (sample, attack) pairs robust after an attack whose every
	// gradient row was zero: the attack never saw a direction, so "robust" there is a
	// masked gradient, not robustness. A run-wide share of zero rows can stay small while
	// a few samples are entirely masked (3 of 200 on the GTSRB-10 E-ABS before PGD's loss
	// became lseMargin).
	BlindRobust int `json:"blind_robust,omitempty"`
	// Rejected candidates (outside [0,1], NaN, a bounded attack beyond its budget).
	Rejected int     `json:"rejected"`
	Curves   []Curve `json:"curves"`
	// Warnings restate in words every check that failed.
	Warnings []string `json:"warnings,omitempty"`
}

// RobustBench is a norm's AutoAttack result in the terms RobustBench lists a model by
// (Croce et al. 2021): threat model, budget, number of test points, clean and robust
// accuracy. Robust is the norm's "All", which is AutoAttack's robust accuracy when the
// norm's attacks are exactly AutoAttack's, in its order (AttackSpec.Suite); a norm with
// other attacks has no RobustBench line.
type RobustBench struct {
	ThreatModel string  `json:"threat_model"`
	Eps         float64 `json:"eps"`
	N           int     `json:"n"`
	CleanAcc    float64 `json:"clean_acc"`
	RobustAcc   float64 `json:"autoattack_acc"`
	// Version is AutoAttack's ("standard" or "plus").
	Version string `json:"version"`
}

// Summary is what the records of a result add up to.
type Summary struct {
	N       int             `json:"n"`
	Clean   Rate            `json:"clean"`
	Attacks []AttackSummary `json:"attacks"`
	All     []NormSummary   `json:"all"`
	// RobustBench has a line per norm that ran AutoAttack alone.
	RobustBench []RobustBench `json:"robustbench,omitempty"`
	Checks      Checks        `json:"checks"`
}

// ThreatModel is a norm's name as RobustBench and AutoAttack write it ("Linf", "L2").
func ThreatModel(n attack.Norm) string {
	switch n {
	case attack.Linf:
		return "Linf"
	case attack.L2:
		return "L2"
	}
	return string(n)
}

// autoAttackOnly returns the version of AutoAttack whose attacks, alone and in its
// order, are those of norm n in r ("" for none).
func (r *Result) autoAttackOnly(n attack.Norm) string {
	for _, v := range attack.AutoAttackVersions {
		want, err := attack.AutoAttack(v, n, attack.Settings{Eps: 1})
		if err != nil {
			continue
		}
		i := 0
		for _, a := range r.Settings.Attacks {
			if a.Norm != n {
				continue
			}
			if i == len(want) || a.Name != want[i].Name() || a.Suite != AutoAttackSuite(v) {
				i = -1
				break
			}
			i++
		}
		if i == len(want) {
			return v
		}
	}
	return ""
}

// NormEps returns the budget of a norm: the largest eps among its attacks.
func (r *Result) NormEps(n attack.Norm) float64 {
	e := 0.0
	for _, a := range r.Settings.Attacks {
		if a.Norm == n {
			e = math.Max(e, a.Eps)
		}
	}
	return e
}

// RobustAll reports whether record rec is robust against every attack of norm n at
// the norm's budget.
func (r *Result) RobustAll(rec *Record, n attack.Norm) bool {
	if !rec.CleanCorrect {
		return false
	}
	for i, a := range r.Settings.Attacks {
		if a.Norm == n && !rec.Attacks[i].Robust {
			return false
		}
	}
	return true
}

// MinDist returns the smallest verified adversarial distance of record rec in norm n
// over all attacks of the norm (0 for a misclassified clean image, +Inf when none).
func (r *Result) MinDist(rec *Record, n attack.Norm) float64 {
	if !rec.CleanCorrect {
		return 0
	}
	d := math.Inf(1)
	for i, a := range r.Settings.Attacks {
		if a.Norm == n && rec.Attacks[i].Dist != nil {
			d = math.Min(d, *rec.Attacks[i].Dist)
		}
	}
	return d
}

// Summarize adds up the records of r.
func Summarize(r *Result) *Summary {
	n := len(r.Records)
	s := &Summary{N: n}
	clean := 0
	for i := range r.Records {
		if r.Records[i].CleanCorrect {
			clean++
		}
		if r.Records[i].Randomised {
			s.Checks.RandomisedSamples++
		}
	}
	s.Checks.Randomised = s.Checks.RandomisedSamples > 0
	s.Clean = NewRate(clean, n)
	for ai, a := range r.Settings.Attacks {
		as := AttackSummary{Name: a.Name, Norm: a.Norm, Eps: a.Eps}
		robust, queries := 0, 0
		var dists []float64
		for i := range r.Records {
			rec := &r.Records[i]
			ar := rec.Attacks[ai]
			if ar.Robust {
				robust++
			}
			if ar.Ran {
				as.Ran++
				queries += ar.Queries
			} else if rec.CleanCorrect {
				as.Skipped++
			}
			if ar.Dist != nil {
				as.Found++
				dists = append(dists, *ar.Dist)
			}
			if ar.Rejected != "" {
				as.Rejected++
			}
			if ar.Overturned > 0 {
				as.Overturned++
			}
			if ar.Scaled != nil && ar.Dist != nil && *ar.Dist == ar.Scaled.Dist && ar.Scaled.Pred == ar.Pred {
				as.ScaledOut++
			}
			s.Checks.GradRows += ar.GradRows
			s.Checks.GradZero += ar.GradZero
			s.Checks.GradNaN += ar.GradNaN
			if ar.Robust && ar.GradRows > 0 && ar.GradZero == ar.GradRows {
				s.Checks.BlindRobust++
			}
		}
		as.Robust = NewRate(robust, n)
		if as.Ran > 0 {
			as.Queries = float64(queries) / float64(as.Ran)
		}
		if len(dists) > 0 {
			m := median(dists)
			as.MedianDist = &m
		}
		s.Checks.Rejected += as.Rejected
		s.Attacks = append(s.Attacks, as)
	}
	for _, nm := range r.Norms() {
		k := 0
		for i := range r.Records {
			if r.RobustAll(&r.Records[i], nm) {
				k++
			}
		}
		s.All = append(s.All, NormSummary{Norm: nm, Eps: r.NormEps(nm), Robust: NewRate(k, n)})
		if v := r.autoAttackOnly(nm); v != "" {
			s.RobustBench = append(s.RobustBench, RobustBench{ThreatModel: ThreatModel(nm), Eps: r.NormEps(nm), N: n,
				CleanAcc: s.Clean.Acc, RobustAcc: NewRate(k, n).Acc, Version: v})
		}
		s.Checks.Curves = append(s.Checks.Curves, curve(r, nm))
	}
	c := &s.Checks
	if c.Randomised {
		c.Warnings = append(c.Warnings, fmt.Sprintf("randomised model: %d of %d clean images got different logits from two verdicts (expected for E-ABS's noisy inference; a deterministic model should give none)", c.RandomisedSamples, n))
	}
	if c.GradNaN > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d of %d gradient rows held NaN or Inf", c.GradNaN, c.GradRows))
	}
	if c.GradRows > 0 && float64(c.GradZero) > 0.1*float64(c.GradRows) {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d of %d gradient rows were all zero (masked or saturated gradients)", c.GradZero, c.GradRows))
	}
	if c.BlindRobust > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d sample-attack pairs counted robust got nothing but zero gradient rows (masked gradients: the attack never moved by its gradient)", c.BlindRobust))
	}
	if c.Rejected > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d candidates rejected (outside [0,1] or beyond a bounded attack's budget): an attack bug", c.Rejected))
	}
	for _, cv := range c.Curves {
		if cv.Flat {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: accuracy-vs-eps stays above %.2f at the largest budget: %s", cv.Norm, FlatAbove, cv.Note))
		}
	}
	return s
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// curve is norm nm's accuracy-vs-eps self-check: accuracy at fractions of the budget
// from the smallest adversarial distances, then each sweep attack of the norm at its
// larger budget on the sweep samples.
func curve(r *Result, nm attack.Norm) Curve {
	cv := Curve{Norm: nm}
	eps := r.NormEps(nm)
	n := len(r.Records)
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
		k := 0
		for i := range r.Records {
			if r.MinDist(&r.Records[i], nm) > f*eps*(1+epsTol)+1e-7 {
				k++
			}
		}
		if n > 0 {
			cv.Points = append(cv.Points, Point{Eps: f * eps, Acc: float64(k) / float64(n), N: n, From: "distances"})
		}
	}
	var last *Point
	for si, a := range r.Settings.Sweep {
		if a.Norm != nm {
			continue
		}
		k, m := 0, 0
		for i := range r.Records {
			rec := &r.Records[i]
			if si < len(rec.Sweep) {
				m++
				if rec.CleanCorrect && rec.Sweep[si].Robust {
					k++
				}
			}
		}
		if m == 0 {
			continue
		}
		p := Point{Eps: a.Eps, Acc: float64(k) / float64(m), N: m, From: a.Name}
		cv.Points = append(cv.Points, p)
		if last == nil || p.Eps >= last.Eps {
			last = &cv.Points[len(cv.Points)-1]
		}
	}
	if last == nil {
		cv.Note = "no sweep at a larger budget ran (--sweep-n 0 or no bounded attack of this norm)"
		return cv
	}
	cv.Checked = true
	if last.Acc > FlatAbove {
		cv.Flat = true
		cv.Note = fmt.Sprintf("%s at eps %g leaves %.2f of %d samples robust", last.From, last.Eps, last.Acc, last.N)
	}
	return cv
}
