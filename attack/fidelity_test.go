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

// recorder keeps a copy of every batch of images its model evaluates, call by call.
type recorder struct {
	attack.Differentiable
	calls [][]float32
}

func (r *recorder) Logits(x []float32, batch int) ([]float32, error) {
	r.calls = append(r.calls, append([]float32(nil), x...))
	return r.Differentiable.Logits(x, batch)
}

func (r *recorder) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	r.calls = append(r.calls, append([]float32(nil), x...))
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
	s := attack.Settings{Eps: 0.3, Restarts: 20, EOT: 5, KeepGoing: true}
	want := map[string]attack.Attack{
		"pgd-linf":      attack.PGDAttack{Lp: attack.Linf, Eps: 0.3, Restarts: 20, EOT: 5, KeepGoing: true},
		"pgd-l2":        attack.PGDAttack{Lp: attack.L2, Eps: 0.3, Restarts: 20, EOT: 5, KeepGoing: true},
		"apgd-ce-linf":  attack.APGD{Lp: attack.Linf, Eps: 0.3, Loss: "ce", EOT: 5, KeepGoing: true},
		"apgd-ce-l2":    attack.APGD{Lp: attack.L2, Eps: 0.3, Loss: "ce", EOT: 5, KeepGoing: true},
		"apgd-dlr-linf": attack.APGD{Lp: attack.Linf, Eps: 0.3, Loss: "dlr", EOT: 5, KeepGoing: true},
		"apgd-dlr-l2":   attack.APGD{Lp: attack.L2, Eps: 0.3, Loss: "dlr", EOT: 5, KeepGoing: true},
	}
	for name, w := range want {
		if a, err := attack.New(name, s); err != nil || !reflect.DeepEqual(a, w) {
			t.Errorf("New(%q) = %+v, %v; want %+v", name, a, err, w)
		}
	}
}
