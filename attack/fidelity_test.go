package attack_test

// Fidelity tests: each attack against its reference algorithm's behaviour on a tiny
// model, or against a closed form, in the places where it once departed from it.

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

// recorder keeps a copy of every batch of images its model evaluates, call by call,
// and of the logits Logits answered (nil for LogitsVJP's calls).
type recorder struct {
	attack.Differentiable
	calls, logits [][]float32
}

func (r *recorder) Logits(x []float32, batch int) ([]float32, error) {
	z, err := r.Differentiable.Logits(x, batch)
	r.calls = append(r.calls, append([]float32(nil), x...))
	r.logits = append(r.logits, z)
	return z, err
}

func (r *recorder) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	r.calls = append(r.calls, append([]float32(nil), x...))
	r.logits = append(r.logits, nil)
	return r.Differentiable.LogitsVJP(x, batch, cot)
}

// sgn is the sign of v, 0 for 0.
func sgn(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// TestAPGDCEOnConfidentSamples: APGD-CE's gradient must not vanish where the model is
// very sure. As in TestPGDOnConfidentSamples, the boundary of a two-class linear model
// lies 0.3 (L2) from x and the logits are scaled so that the true class leads by
// 0.3*scale; at scale 1000 the cross-entropy's cotangent softmax - e_y is exactly zero
// in float32, so a gradient through it never moves APGD from its random start. APGD-CE
// must cross inside eps 0.5 at every scale, the geometry being the same.
func TestAPGDCEOnConfidentSamples(t *testing.T) {
	const n = 16
	x := make([]float32, n)
	u := make([]float64, n) // unit normal of the boundary
	for i := range x {
		x[i], u[i] = 0.5, 0.25
	}
	for _, scale := range []float64{1, 1000} {
		w := make([]float64, n)
		for i := range w {
			w[i] = scale * u[i]
		}
		m := attacktest.Binary(w, -2.3*scale) // u.x = 2; the boundary u.x = 2.3 is 0.3 away
		for _, norm := range []attack.Norm{attack.L2, attack.Linf} {
			eps := 0.5
			if norm == attack.Linf {
				eps = 0.5 / 4 // ||u||_1 = 4: the boundary is 0.3/4 away in Linf
			}
			a := attack.APGD{Lp: norm, Eps: eps, Loss: "ce", Steps: 10}
			f, err := a.Run(context.Background(), m, x, []int{0}, 1, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if z := m.Row(f.Adv); !f.Ok[0] || !(z[1] > z[0]) {
				t.Errorf("scale %g, %s eps %g: found %v, logits %v: APGD-CE did not cross a boundary 0.3 (L2) away", scale, norm, eps, f.Ok[0], z)
			}
		}
	}
}

// TestAPGDCEFirstStepAtLargeMargin is TestAPGDFirstStep where the true class leads by
// 300: APGD-CE's first Linf step of 2*eps along the sign of the cross-entropy's gradient,
// sign(w) on this binary model (grad CE = sigmoid(M) grad M, grad M = w), reaches the
// ball's face in every pixel, so the second iterate is x + eps*sign(w), and it is the
// answer, the cross-entropy being higher there than at the random start (it is convex and
// that point maximises its linearisation). Both halves of the fix are needed: with CE's
// float32 cotangent the gradient is zero and APGD never leaves its start; with CE computed
// as logsumexp(z) - z_y every iterate's loss is exactly 0 and the start is kept.
func TestAPGDCEFirstStepAtLargeMargin(t *testing.T) {
	const n, eps = 8, 0.01
	m, x, w := nearBoundary(n, 300)
	f, err := (attack.APGD{Lp: attack.Linf, Eps: eps, Loss: "ce", Steps: 1}).Run(context.Background(), m, x, []int{0}, 1, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Ok[0] {
		t.Fatal("eps too large for this test")
	}
	for i := range x {
		if got, want := float64(f.Adv[i]), 0.5+eps*sgn(w[i]); math.Abs(got-want) > 1e-6 {
			t.Errorf("pixel %d = %.8f, want x + eps sign(w) = %.8f", i, got, want)
		}
	}
}

// TestAPGDCEEOTWeights: under EOT, APGD-CE steps along the mean of the runs' CE
// gradients, (1/R) sum_r sigmoid(M_r) grad M_r, even where every sigmoid(M_r) underflows
// float32. The scripted model alternates two linear models whose logit differences
// (class 1 minus class 0) are a+.x - 301 and a-.x - 309.5, a+ = (1, 1), a- = (-2, 1):
// at x = (0.5, 0.5) the margins are -300 and -310, so CE weighs run + e^10 times more
// than run - and its mean gradient has the sign of a+ in both pixels, while the equal
// weights of the log-sum-exp margin would give a+ + a- = (-1, 2). The first Linf step
// goes to x + eps*sign(g), g computed here from the margins at the recorded start.
func TestAPGDCEEOTWeights(t *testing.T) {
	const eps = 0.01
	// W + s D and B + s C with s = +1, -1: row 1 is (1, 1), -301 and (-2, 1), -309.5.
	base := &attacktest.Linear{K: 2, N: 2, W: []float64{0, 0, -0.5, 1}, B: []float64{0, -305.25}}
	s := &attacktest.Scripted{Base: base, D: []float64{0, 0, 1.5, 0}, C: []float64{0, 4.25}, Script: []float64{1, -1}}
	rec := &recorder{Differentiable: s}
	x := []float32{0.5, 0.5}
	a := attack.APGD{Lp: attack.Linf, Eps: eps, Loss: "ce", Steps: 1, EOT: 2}
	f, err := a.Run(context.Background(), rec, x, []int{0}, 1, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Ok[0] || len(rec.calls) != 4 {
		t.Fatalf("Ok %v after %d calls, want false after 4 (2 iterates x EOT 2)", f.Ok[0], len(rec.calls))
	}
	start, next := rec.calls[0], rec.calls[2]
	aPlus, aMinus := []float64{1, 1}, []float64{-2, 1}
	mPlus := aPlus[0]*float64(start[0]) + aPlus[1]*float64(start[1]) - 301
	mMinus := aMinus[0]*float64(start[0]) + aMinus[1]*float64(start[1]) - 309.5
	for i := range x {
		// sigmoid(M) = exp(M) to float64 precision here; divide by exp(mPlus).
		g := aPlus[i] + math.Exp(mMinus-mPlus)*aMinus[i]
		if i == 0 && sgn(g) == sgn(aPlus[i]+aMinus[i]) {
			t.Fatalf("premise: CE's and the equal weights' steps agree in pixel 0 (%v)", g)
		}
		if got, want := float64(next[i]), float64(x[i])+eps*sgn(g); math.Abs(got-want) > 1e-6 {
			t.Errorf("pixel %d of the second iterate = %.8f, want x + eps sign(mean CE gradient) = %.8f", i, got, want)
		}
	}
}

// TestAPGDKeepGoing is TestPGDKeepGoing for APGD: with KeepGoing a sample the model
// already misclassifies steps on to the end of its restart, and the answer is the most
// confidently adversarial iterate, which on a binary linear model with w.x + b > 0
// (class 1) approaches the closed form x - eps w/||w|| (the L2 ball's point of least
// w.x), after one restart's steps + 1 queries (no second restart for a fooled sample);
// without it APGD stops at its first misclassified iterate.
func TestAPGDKeepGoing(t *testing.T) {
	w := []float64{0.6, -0.3, 0.2, 0.5, -0.4, 0.1}
	l := attacktest.Binary(w, 0)
	x := []float32{0.5, 0.5, 0.45, 0.5, 0.5, 0.5} // w.x = 0.34: class 1
	var wn float64
	for _, v := range w {
		wn += v * v
	}
	wn = math.Sqrt(wn)
	const eps, steps, restarts = 0.4, 100, 2 // the boundary at 0.34 / ||w|| = 0.356 < eps
	full := attack.APGD{Lp: attack.L2, Eps: eps, Loss: "ce", Steps: steps, Restarts: restarts, KeepGoing: true}
	f, err := full.Run(context.Background(), l, x, []int{1}, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Ok[0] || f.Queries[0] != steps+1 {
		t.Fatalf("keep going: Ok %v, %d queries, want true and %d", f.Ok[0], f.Queries[0], steps+1)
	}
	for i := range x {
		want := float64(x[i]) - eps*w[i]/wn
		if d := math.Abs(float64(f.Adv[i]) - want); d > 1e-5 {
			t.Errorf("keep going: pixel %d = %.6f, closed form %.6f", i, f.Adv[i], want)
		}
	}
	early := full
	early.KeepGoing = false
	e, err := early.Run(context.Background(), l, x, []int{1}, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !e.Ok[0] || e.Queries[0] >= steps+1 {
		t.Errorf("early stop: Ok %v after %d queries, want the first misclassified iterate, before %d", e.Ok[0], e.Queries[0], steps+1)
	}
}

// TestRegistryKeepGoing: Settings.KeepGoing reaches PGD and every APGD.
func TestRegistryKeepGoing(t *testing.T) {
	s := attack.Settings{Eps: 0.3, Restarts: 20, KeepGoing: true}
	want := map[string]attack.Attack{
		"pgd-linf":      attack.PGDAttack{Lp: attack.Linf, Eps: 0.3, Restarts: 20, KeepGoing: true},
		"pgd-l2":        attack.PGDAttack{Lp: attack.L2, Eps: 0.3, Restarts: 20, KeepGoing: true},
		"apgd-ce-linf":  attack.APGD{Lp: attack.Linf, Eps: 0.3, Loss: "ce", KeepGoing: true},
		"apgd-ce-l2":    attack.APGD{Lp: attack.L2, Eps: 0.3, Loss: "ce", KeepGoing: true},
		"apgd-dlr-linf": attack.APGD{Lp: attack.Linf, Eps: 0.3, Loss: "dlr", KeepGoing: true},
		"apgd-dlr-l2":   attack.APGD{Lp: attack.L2, Eps: 0.3, Loss: "dlr", KeepGoing: true},
	}
	for name, w := range want {
		if a, err := attack.New(name, s); err != nil || !reflect.DeepEqual(a, w) {
			t.Errorf("New(%q) = %+v, %v; want %+v", name, a, err, w)
		}
	}
}

// TestHopSkipJumpUsesTheCurrentDistance: in the reference (Chen et al. 2020, Algorithm 2
// and the authors' hsja.py) iteration t >= 1 estimates the gradient at the current
// boundary point x_t from probes at radius delta_t = sqrt(d) theta ||x_t - x||_2 (L2) or
// d theta ||x_t - x||_inf (Linf), and its geometric step-size search starts at
// ||x_t - x||/sqrt(t+1), whether or not x_t is the closest point found so far. Reading
// the queries back (a gradient estimate is the one call of many images, ProbeChunk
// holding them all; x_t is the last adversarial single image asked before it; the step
// search's first candidate is the single image asked after it), every probe that the
// [0,1] box did not clip must lie at L2 distance delta_t from x_t (in both norms the
// probes lie on an L2 sphere) and every first candidate at the step size from it; and at
// least one x_t must be farther than an earlier one, or the test would not tell the two
// distances apart (in L2 here x_0 is the closest boundary point, so every later one is).
func TestHopSkipJumpUsesTheCurrentDistance(t *testing.T) {
	const n = 16
	m, x, y, start := hsjProblem(n, 0.3)
	for _, norm := range []attack.Norm{attack.L2, attack.Linf} {
		rec := &recorder{Differentiable: m}
		a := attack.HopSkipJump{Lp: norm, Steps: 30, InitialEvals: 10, ProbeChunk: 1000,
			Starts: func([]float32, int) ([]float32, bool) { return start, true }}
		if _, err := a.Run(context.Background(), rec, x, []int{y}, 1, rand.New(rand.NewPCG(5, 5))); err != nil {
			t.Fatal(err)
		}
		theta := 1 / (n * math.Sqrt(n)) // Gamma 1
		radius := math.Sqrt(n) * theta
		if norm == attack.Linf {
			theta = 1.0 / (n * n)
			radius = n * theta
		}
		var cur []float32
		bestD := math.Inf(1)
		var est, probes, steps, farther int
		stepWant := -1.0 // the expected size of the next single query's step, if one is due
		for c, q := range rec.calls {
			if len(q) > n { // a gradient estimate at cur
				d := attacktest.Distance(norm, cur, x)
				if est > 0 {
					want := radius * d
					for p := 0; p < len(q)/n; p++ {
						pr := q[p*n : (p+1)*n]
						if clipped(pr) {
							continue
						}
						probes++
						if got := attacktest.Distance(attack.L2, pr, cur); math.Abs(got-want) > 1e-4*want {
							t.Fatalf("%s estimate %d: probe at %.7f from x_t, want delta_t = %.7f (||x_t - x|| = %.6f, best so far %.6f)", norm, est, got, want, d, bestD)
						}
					}
					if d > bestD*(1+1e-3) {
						farther++
					}
				}
				bestD = math.Min(bestD, d)
				stepWant = d / math.Sqrt(float64(est+1))
				est++
				continue
			}
			if stepWant >= 0 && !clipped(q) {
				steps++
				if got := attacktest.Distance(norm, q, cur); math.Abs(got-stepWant) > 1e-4*stepWant {
					t.Fatalf("%s estimate %d: first step %.7f, want ||x_t - x||/sqrt(t+1) = %.7f", norm, est-1, got, stepWant)
				}
			}
			stepWant = -1
			if argmax32(rec.logits[c]) != y {
				cur = q
			}
		}
		t.Logf("%s: %d estimates, %d probes and %d first steps checked, %d at a point farther than the best", norm, est, probes, steps, farther)
		if est < 30 || probes < 1000 || steps < 10 || farther == 0 {
			t.Errorf("%s: %d estimates, %d probes and %d first steps checked, %d farther points: too few for the test to mean anything", norm, est, probes, steps, farther)
		}
	}
}

// hsjProblem is a 3-class linear model, x = 0.5 of class y at L2 distance d from its
// nearest boundary, that of class k, and the start x + 2d (w_k - w_y)/||w_k - w_y||,
// beyond it.
func hsjProblem(n int, d float64) (*attacktest.Linear, []float32, int, []float32) {
	m := attacktest.NewLinear(rand.New(rand.NewPCG(31, 1)), 3, n, 1)
	x := make([]float32, n)
	for i := range x {
		x[i] = 0.5
	}
	z := m.Row(x)
	y := argmax64(z)
	diff := func(k int) ([]float64, float64) {
		u := make([]float64, n)
		var s float64
		for i := range u {
			u[i] = m.W[k*n+i] - m.W[y*n+i]
			s += u[i] * u[i]
		}
		return u, math.Sqrt(s)
	}
	// Raise b_y until the nearest boundary is d away: z_y - z_k = d ||w_y - w_k||.
	lift, near := math.Inf(-1), -1
	for k := range z {
		if k == y {
			continue
		}
		_, nrm := diff(k)
		if l := d*nrm - (z[y] - z[k]); l > lift {
			lift, near = l, k
		}
	}
	m.B[y] += lift
	u, nrm := diff(near)
	start := make([]float32, n)
	for i := range start {
		start[i] = x[i] + float32(2*d*u[i]/nrm)
	}
	return m, x, y, start
}

// clipped reports whether a point touches the [0,1] box, where the attacks clip.
func clipped(p []float32) bool {
	for _, v := range p {
		if v <= 0 || v >= 1 {
			return true
		}
	}
	return false
}

// argmax32 is the index of the largest score.
func argmax32(z []float32) int {
	best := 0
	for j := range z {
		if z[j] > z[best] {
			best = j
		}
	}
	return best
}

// bowl is the two-class model with logits (0, s (||x - c||^2 - r^2)): class 1 outside the
// L2 ball of radius r around c, with the exact gradient 2 s (x - c) v_1, zero at c.
type bowl struct {
	c    []float32
	r, s float64
}

func (bowl) Classes() int { return 2 }

func (b bowl) Logits(x []float32, batch int) ([]float32, error) {
	n := len(b.c)
	z := make([]float32, 2*batch)
	for i := 0; i < batch; i++ {
		var d float64
		for p, v := range x[i*n : (i+1)*n] {
			d += math.Pow(float64(v)-float64(b.c[p]), 2)
		}
		z[2*i+1] = float32(b.s * (d - b.r*b.r))
	}
	return z, nil
}

func (b bowl) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	z, _ := b.Logits(x, batch)
	v := cot(append([]float32(nil), z...))
	n := len(b.c)
	g := make([]float32, len(x))
	for i := 0; i < batch; i++ {
		for p := 0; p < n; p++ {
			g[i*n+p] = float32(2 * b.s * (float64(x[i*n+p]) - float64(b.c[p])) * float64(v[2*i+1]))
		}
	}
	return z, g, nil
}

// TestDDNLeavesAZeroGradient: at the centre of the bowl the gradient is exactly zero.
// DDN from delta = 0 then took no step, so x + delta stayed x at every norm budget and
// the attack found nothing; Rony et al.'s DDN steps along a random direction there, and
// then follows the (radial) gradient to the smallest adversarials, at distance r in every
// direction: the answer must lie between r and the 6% above it that DDN's geometric
// norm changes allow (TestL2MinNormNearExact's bound).
func TestDDNLeavesAZeroGradient(t *testing.T) {
	const r = 0.3
	c := []float32{0.5, 0.5, 0.5, 0.5}
	m := bowl{c: c, r: r, s: 10}
	for seed := uint64(1); seed <= 3; seed++ {
		f, err := attack.DDN{}.Run(context.Background(), m, c, []int{0}, 1, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		d := attacktest.Distance(attack.L2, f.Adv, c)
		if !f.Ok[0] || d < r*(1-1e-6) || d > r*1.06 {
			t.Errorf("seed %d: found %v at distance %.5f, want the bowl's edge at %g (at most 6%% beyond)", seed, f.Ok[0], d, r)
		}
	}
}

// TestCWEvaluatesItsLastStep: with one constant and one Adam step, CW evaluates x (not
// adversarial), takes Adam's first step, which moves every tanh-space coordinate by lr
// against its gradient's sign (TestCWFirstAdamStep) and crosses this boundary, and must
// then evaluate the point it reached: the closed form
// x' = (tanh(atanh((2x-1)(1-1e-6)) + lr sign(w)) + 1)/2, after 2 queries. The old loop
// stopped after the step without looking, and found nothing.
func TestCWEvaluatesItsLastStep(t *testing.T) {
	const n, lr = 12, 0.01
	l, x, w := nearBoundary(n, 0.01)
	a := attack.CW{BinarySteps: 1, Steps: 1, LR: lr, InitialConst: 1}
	f, _ := runChecked(t, a, l, x, []int{0}, 1, 0, 1)
	if !f.Ok[0] || f.Queries[0] != 2 {
		t.Fatalf("found %v after %d queries, want the point after the step, adversarial, after 2", f.Ok[0], f.Queries[0])
	}
	for i := range x {
		w0 := math.Atanh((2*float64(x[i]) - 1) * (1 - 1e-6))
		want := (math.Tanh(w0+lr*sgn(w[i])) + 1) / 2
		if got := float64(f.Adv[i]); math.Abs(got-want) > 1e-7 {
			t.Errorf("pixel %d = %.9f, want %.9f", i, got, want)
		}
	}
}
