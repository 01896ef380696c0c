package attack_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// TestAttacksOnReferenceCNN runs gradient attacks through the contract on the float64
// reference CNN: answers keep the invariants and the model's verdict agrees with every
// claim. The tiny random CNN gives nearly the same scores to every image (class 2 wins
// by about 0.4 even on all-black and all-white images), so it cannot be fooled inside the
// box; instead each attack must lower the margin z_y - max_{i!=y} z_i, which it does only
// if the gradients reach it with the right sign.
func TestAttacksOnReferenceCNN(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a Gorgonia program per batch size")
	}
	w := runtimetest.Weights(t, "cnn", 4)
	c, err := ref.NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const batch = 3
	x, y := problem(t, c, w.Spec.Arch.Pixels(), batch, 5)
	attacks := []struct {
		a   attack.Attack
		eps float64
	}{
		{attack.PGDAttack{Lp: attack.Linf, Eps: 0.5, Steps: 10, Restarts: 1}, 0.5},
		{attack.APGD{Lp: attack.L2, Eps: 8, Loss: "dlr", Steps: 10}, 8},
		{attack.DeepFool{Lp: attack.L2, Steps: 20}, 0},
	}
	k := c.Classes()
	n := w.Spec.Arch.Pixels()
	margins := func(v []float32) []float64 {
		z, err := c.Logits(v, batch)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, batch)
		for b := range out {
			best := -1e300
			for j := 0; j < k; j++ {
				if j != y[b] && float64(z[b*k+j]) > best {
					best = float64(z[b*k+j])
				}
			}
			out[b] = float64(z[b*k+y[b]]) - best
		}
		return out
	}
	clean := margins(x)
	for _, test := range attacks {
		f, err := test.a.Run(context.Background(), c, x, y, batch, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatalf("%s: %v", test.a.Name(), err)
		}
		if err := attacktest.Check(c, x, y, batch, f, test.a.Norm(), test.eps, -1); err != nil {
			t.Errorf("%s: %v", test.a.Name(), err)
		}
		adv := margins(f.Adv)
		for b := range adv {
			t.Logf("%s sample %d: margin %.4f -> %.4f, moved %.3f", test.a.Name(), b, clean[b], adv[b], attacktest.Distance(test.a.Norm(), f.Adv[b*n:(b+1)*n], x[b*n:(b+1)*n]))
			if !(adv[b] < clean[b]-0.01) {
				t.Errorf("%s sample %d: margin %.4f -> %.4f, want lower", test.a.Name(), b, clean[b], adv[b])
			}
		}
	}
}

// TestAttacksStopOnCancel: a cancelled context ends every attack with its error.
func TestAttacksStopOnCancel(t *testing.T) {
	m := models(1)["mlp"]
	x, y := problem(t, m, 16, 2, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, name := range attack.Names() {
		a, err := attack.New(name, attack.Settings{Eps: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Run(ctx, m, x, y, 2, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, context.Canceled) {
			t.Errorf("%s after cancel: %v, want context.Canceled", name, err)
		}
	}
}
