package attack_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

// nearBoundary is a binary affine model and x = 0.5 on class 0's side, f(x) = -margin.
func nearBoundary(n int, margin float64) (*attacktest.Linear, []float32, []float64) {
	rng := rand.New(rand.NewPCG(17, 1))
	w := make([]float64, n)
	x := make([]float32, n)
	var wx float64
	for i := range w {
		w[i] = (0.5 + rng.Float64()) * float64(1-2*rng.IntN(2))
		x[i] = 0.5
		wx += 0.5 * w[i]
	}
	return attacktest.Binary(w, -wx-margin), x, w
}

// TestCWFirstAdamStep: Adam's first bias-corrected step moves every tanh-space
// coordinate by exactly lr against the sign of its gradient, which here is -sign(w);
// the model is close enough to its boundary that this first step crosses it, so the
// answer is x' = (tanh(atanh((2x-1)(1-1e-6)) + lr sign(w)) + 1)/2. Without the bias
// correction the step would be lr*0.1/sqrt(0.001), 3.2 times longer.
func TestCWFirstAdamStep(t *testing.T) {
	const n, lr = 12, 0.01
	l, x, w := nearBoundary(n, 0.01)
	a := attack.CW{BinarySteps: 1, Steps: 2, LR: lr, InitialConst: 1}
	f, _ := runChecked(t, a, l, x, []int{0}, 1, 0, 1)
	if !f.Ok[0] {
		t.Fatal("the first step did not cross the boundary")
	}
	for i := range x {
		w0 := math.Atanh((2*float64(x[i]) - 1) * (1 - 1e-6))
		want := (math.Tanh(w0+lr*math.Copysign(1, w[i])) + 1) / 2
		if got := float64(f.Adv[i]); math.Abs(got-want) > 1e-7 {
			t.Errorf("pixel %d = %.9f, want %.9f", i, got, want)
		}
	}
}

// TestDDNFirstStep: DDN's first step from delta = 0 is alpha_0 = 1 along the unit
// gradient, rescaled to the grown norm eps_0 (1 + gamma) = 1.05, so the second
// evaluation, adversarial here, is x + 1.05 w/||w|| (the cross-entropy gradient of a
// binary affine model points along w).
func TestDDNFirstStep(t *testing.T) {
	const n = 40
	l, x, w := nearBoundary(n, 0.5)
	f, _ := runChecked(t, attack.DDN{Steps: 1}, l, x, []int{0}, 1, 0, 1)
	if !f.Ok[0] {
		t.Fatal("the first step did not cross the boundary")
	}
	var wn float64
	for _, v := range w {
		wn += v * v
	}
	wn = math.Sqrt(wn)
	for i := range x {
		want := 0.5 + 1.05*w[i]/wn
		if got := float64(f.Adv[i]); math.Abs(got-want) > 1e-6 {
			t.Errorf("pixel %d = %.7f, want %.7f", i, got, want)
		}
	}
	if f.Queries[0] != 2 {
		t.Errorf("%d queries, want 2", f.Queries[0])
	}
}
