package certify

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/attack"
	"gonum.org/v1/gonum/stat/distuv"
)

// linearClassifier has two classes with logits (w.x + b, 0): under Gaussian noise the
// smoothed classifier's p_A is Phi(|w.x + b| / (sigma ||w||)), so its true certified
// radius sigma * Phi^-1(p_A) is the distance |w.x + b| / ||w|| to the boundary.
type linearClassifier struct {
	w []float64
	b float64
}

func (l linearClassifier) Classes() int { return 2 }

func (l linearClassifier) Logits(x []float32, batch int) ([]float32, error) {
	P := len(l.w)
	out := make([]float32, 2*batch)
	for i := 0; i < batch; i++ {
		s := l.b
		for j, w := range l.w {
			s += w * float64(x[i*P+j])
		}
		out[2*i] = float32(s)
	}
	return out, nil
}

func (l linearClassifier) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	logits, _ := l.Logits(x, batch)
	v := cot(logits)
	P := len(l.w)
	g := make([]float32, len(x))
	for i := 0; i < batch; i++ {
		for j, w := range l.w {
			g[i*P+j] = v[2*i] * float32(w)
		}
	}
	return logits, g, nil
}

// at returns a point at signed distance m from the boundary (class 0 when m > 0).
func (l linearClassifier) at(m float64, base []float64) []float32 {
	var s, n2 float64
	for j, w := range l.w {
		s += w * base[j]
		n2 += w * w
	}
	t := (m*math.Sqrt(n2) - l.b - s) / n2
	x := make([]float32, len(l.w))
	for j, w := range l.w {
		x[j] = float32(base[j] + t*w)
	}
	return x
}

func TestSmoothingLinear(t *testing.T) {
	lc := linearClassifier{w: []float64{0.5, -1, 2, 0.25, 1, -0.5}, b: 0.3}
	base := []float64{0.2, 0.4, 0.1, 0.9, 0.5, 0.3}
	sm := DefaultSmoothing(0.5)
	sm.Batch = 5000
	rng := rand.New(rand.NewPCG(1, 2))
	for _, m := range []float64{0.1, 0.4, 1.0, -0.7} {
		x := lc.at(m, base)
		want, label := math.Abs(m), 0
		if m < 0 {
			label = 1
		}
		r, err := sm.Certify(lc, x, label, rng)
		if err != nil {
			t.Fatal(err)
		}
		if r.Pred != label {
			t.Errorf("margin %v: pred %d, want %d", m, r.Pred, label)
			continue
		}
		// The bound sits below the truth by about z_{1-alpha} standard errors of p_A.
		p := distuv.UnitNormal.CDF(want / sm.Sigma)
		slack := sm.Sigma * (distuv.UnitNormal.Quantile(p) - distuv.UnitNormal.Quantile(p-4.5*math.Sqrt(p*(1-p)/float64(sm.N))))
		if r.Radius > want || r.Radius < want-slack {
			t.Errorf("margin %v: radius %.4f, want in [%.4f, %.4f]", m, r.Radius, want-slack, want)
		}
	}
	// On the boundary p_A = 1/2: abstain.
	r, err := sm.Certify(lc, lc.at(0, base), 0, rng)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pred != -1 || r.Radius != 0 {
		t.Errorf("on the boundary: pred %d radius %v, want abstention", r.Pred, r.Radius)
	}
	if _, err := (Smoothing{Sigma: 0, N0: 1, N: 1, Alpha: 0.001, Batch: 1}).Certify(lc, lc.at(1, base), 0, rng); err == nil {
		t.Error("sigma 0 accepted")
	}
}

// TestClopperPearsonLower checks the bound against the binomial tail it inverts:
// P(X >= k | n, p_lower) = alpha, summed term by term.
func TestClopperPearsonLower(t *testing.T) {
	tail := func(k, n int, p float64) float64 {
		var s float64
		for i := k; i <= n; i++ {
			lg, _ := math.Lgamma(float64(n + 1))
			a, _ := math.Lgamma(float64(i + 1))
			b, _ := math.Lgamma(float64(n - i + 1))
			s += math.Exp(lg - a - b + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
		}
		return s
	}
	for _, c := range []struct {
		k, n  int
		alpha float64
	}{{5, 20, 0.001}, {90, 100, 0.001}, {990, 1000, 0.01}, {1, 10, 0.05}} {
		p := ClopperPearsonLower(c.k, c.n, c.alpha)
		if got := tail(c.k, c.n, p); math.Abs(got-c.alpha) > 1e-6*c.alpha+1e-12 {
			t.Errorf("k %d n %d: P(X >= k | %v) = %v, want %v", c.k, c.n, p, got, c.alpha)
		}
	}
	// k = n: p^n = alpha.
	if p := ClopperPearsonLower(10, 10, 0.05); math.Abs(p-math.Pow(0.05, 0.1)) > 1e-9 {
		t.Errorf("k = n = 10: %v, want %v", p, math.Pow(0.05, 0.1))
	}
	if p := ClopperPearsonLower(0, 10, 0.05); p != 0 {
		t.Errorf("k = 0: %v", p)
	}
}

// TestValidateFindsOverclaims: on a linear classifier whose true radius is known, a
// certificate claiming more is broken by the validation and one claiming less is not,
// by a bounded attack (PGD-L2, budget capped at eps*) and by a minimum-norm one (DDN,
// which ignores the budget: its result is judged against eps*), on any number of
// workers with the same outcome.
func TestValidateFindsOverclaims(t *testing.T) {
	lc := linearClassifier{w: []float64{0.5, -1, 2, 0.25, 1, -0.5}, b: 0.3}
	base := []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}
	for _, c := range []struct {
		name string
		atk  Budgeted
	}{
		{"pgd-l2", Budgeted{Name: "pgd-l2", New: func(eps float64) attack.Attack {
			return attack.PGDAttack{Lp: attack.L2, Eps: eps, Steps: 20, Restarts: 1}
		}}},
		{"ddn", Budgeted{Name: "ddn", New: func(float64) attack.Attack { return attack.DDN{Steps: 80} }}},
	} {
		var first []Result
		for _, workers := range []int{1, 3} {
			x := append(lc.at(0.3, base), lc.at(0.3, base)...)
			x = append(x, lc.at(0.3, base)...)
			rs := []Result{
				{Index: 7, Label: 0, Pred: 0, Eps: 0.45}, // overclaims: the boundary is at 0.3
				{Index: 8, Label: 0, Pred: 0, Eps: 0.25}, // holds
				{Index: 9, Label: 0, Pred: 0, Eps: 0.31}, // overclaims by 0.01
			}
			targets := func(Result) ([]Target, error) { return []Target{{Name: "exact", Model: lc}}, nil }
			err := Validate(context.Background(), rs, x, targets, []Budgeted{c.atk}, ValidateOptions{Workers: workers, Seed: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			c0, c1, c2 := rs[0].Validation.Checks[0], rs[1].Validation.Checks[0], rs[2].Validation.Checks[0]
			if !c0.Violated || c0.Pred != 1 || !(c0.L2 < 0.45) || c0.L2 < 0.3-1e-4 || len(c0.Adv) != 6 {
				t.Errorf("%s, %d workers: overclaim not caught: %+v", c.name, workers, c0)
			}
			if !c2.Violated || !(c2.L2 < 0.31) {
				t.Errorf("%s, %d workers: overclaim by 0.01 not caught: %+v", c.name, workers, c2)
			}
			if c1.Violated {
				t.Errorf("%s, %d workers: a valid certificate reported violated: %+v", c.name, workers, c1)
			}
			if s := Summarise(rs, nil); s.Violations["exact"] != 2 || s.Validated != 3 {
				t.Errorf("%s, %d workers: summary %+v", c.name, workers, s)
			}
			if first == nil {
				first = rs
				continue
			}
			for i := range rs {
				a, b := rs[i].Validation.Checks[0], first[i].Validation.Checks[0]
				if a.Violated != b.Violated || a.L2 != b.L2 || a.Closest != b.Closest {
					t.Errorf("%s image %d: %d workers %+v, 1 worker %+v", c.name, rs[i].Index, workers, a, b)
				}
			}
		}
	}
}

// liar claims every image is of class 1 (an attacked view that is wrong).
type liar struct{ linearClassifier }

func (liar) Logits(x []float32, batch int) ([]float32, error) {
	out := make([]float32, 2*batch)
	for b := 0; b < batch; b++ {
		out[2*b+1] = 1
	}
	return out, nil
}

// TestValidateVerdictIsTheTargets: the attacks run on Attacked, but only Model's
// prediction makes a violation. An attacked view that calls everything adversarial
// (so the attack stops at once, believing it won) yields no violation of a valid
// certificate; and an overclaim is still caught when the attacks run on a faithful
// view.
func TestValidateVerdictIsTheTargets(t *testing.T) {
	lc := linearClassifier{w: []float64{0.5, -1, 2, 0.25, 1, -0.5}, b: 0.3}
	base := []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}
	x := lc.at(0.3, base)
	rs := []Result{{Index: 1, Label: 0, Pred: 0, Eps: 0.25}}
	noise := []Budgeted{{Name: "noise-l2", New: func(float64) attack.Attack { return attack.Noise{Lp: attack.L2} }}}
	targets := func(Result) ([]Target, error) {
		return []Target{{Name: "exact", Model: lc, Attacked: liar{lc}}}, nil
	}
	if err := Validate(context.Background(), rs, x, targets, noise, ValidateOptions{Seed: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if ch := rs[0].Validation.Checks[0]; ch.Violated {
		t.Errorf("the attacked view's belief made a violation: %+v", ch)
	}
}
