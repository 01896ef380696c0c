package infer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// TestRefineIsClassifysOptimisation checks that Refine, started from the distributions
// Classify's search chose (read from a 0-step engine with LossAtFinal, whose z* is the
// start itself), with Classify's step count and the same noise, returns Classify's
// result bit for bit: both run the same optimiser and tracker.
func TestRefineIsClassifysOptimisation(t *testing.T) {
	for _, tc := range []struct {
		model  string
		lossAt LossAt
	}{{"eabs", LossAtBest}, {"eabs", LossAtFinal}, {"abs", LossAtBest}} {
		t.Run(tc.model+"/"+string(tc.lossAt), func(t *testing.T) {
			w := runtimetest.Weights(t, tc.model, 4)
			m, err := ref.New(w)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			const batch = 3
			x := make([]float32, batch*w.Spec.Arch.Pixels())
			r := rand.New(rand.NewPCG(2, 2))
			for i := range x {
				x[i] = float32(r.Float64())
			}
			opt := Options{Starts: 48, Steps: 7, LR: 0.05, BankSeed: 1, LossAt: tc.lossAt}
			e, err := NewEngine(m, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			o0 := opt
			o0.Steps, o0.LossAt = 0, LossAtFinal
			e0, err := NewEngineWithBank(m, o0, e.Bank(), nil)
			if err != nil {
				t.Fatal(err)
			}
			start, err := e0.Classify(x, batch, rngs(batch, 9))
			if err != nil {
				t.Fatal(err)
			}
			want, err := e.Classify(x, batch, rngs(batch, 5))
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Refine(x, batch, start.Z, start.Logvar, opt.Steps, rngs(batch, 5))
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range map[string][2][]float32{"loss": {got.Loss, want.Loss}, "z": {got.Z, want.Z}, "logvar": {got.Logvar, want.Logvar}, "rec": {got.Rec, want.Rec}} {
				for i := range p[1] {
					if p[0][i] != p[1][i] {
						t.Fatalf("Refine %s[%d] = %v, Classify %v", name, i, p[0][i], p[1][i])
					}
				}
			}
		})
	}
}

// TestRefineZeroSteps: without steps Refine evaluates the start at its mean, and does
// not modify its arguments.
func TestRefineZeroSteps(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 6)
	m, err := ref.New(w)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := w.Spec.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	const batch = 2
	r := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, batch*P)
	for i := range x {
		x[i] = float32(r.Float64())
	}
	mu, lv := make([]float32, batch*K*M), make([]float32, batch*K*M)
	for i := range mu {
		mu[i], lv[i] = float32(r.NormFloat64()), float32(-r.Float64())
	}
	mu0, lv0 := append([]float32(nil), mu...), append([]float32(nil), lv...)
	e, err := NewEngine(m, Options{Starts: 8, Steps: 3, LR: 0.05, BankSeed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Refine(x, batch, mu, lv, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.LatentStep(x, mu, lv, make([]float32, len(mu)), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want.Loss {
		if got.Loss[i] != want.Loss[i] {
			t.Errorf("loss[%d] = %v, want the start's %v", i, got.Loss[i], want.Loss[i])
		}
	}
	for i := range mu {
		if got.Z[i] != mu0[i] || mu[i] != mu0[i] || lv[i] != lv0[i] || got.Logvar[i] != lv0[i] {
			t.Fatalf("element %d: z* %v and the start %v/%v, want the untouched start %v/%v", i, got.Z[i], mu[i], lv[i], mu0[i], lv0[i])
		}
	}
	// A few steps never report a loss above the start's (LossAtBest keeps it).
	more, err := e.Refine(x, batch, mu, lv, 3, rngs(batch, 1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range more.Loss {
		if !(more.Loss[i] <= want.Loss[i]) {
			t.Errorf("loss[%d] after 3 steps %v above the start's %v", i, more.Loss[i], want.Loss[i])
		}
	}
}

func TestRefineBadInput(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 6)
	m, err := ref.New(w)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := w.Spec.Arch
	KM, P := a.Classes*a.Latent, a.Pixels()
	e, err := NewEngine(m, Options{Starts: 8, Steps: 3, LR: 0.05, BankSeed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, mu := make([]float32, P), make([]float32, KM)
	nan := make([]float32, KM)
	nan[3] = float32(math.NaN())
	for name, f := range map[string]func() error{
		"short mu":       func() error { _, err := e.Refine(x, 1, mu[:KM-1], nil, 1, rngs(1, 1)); return err },
		"short logvar":   func() error { _, err := e.Refine(x, 1, mu, mu[:1], 1, rngs(1, 1)); return err },
		"NaN mu":         func() error { _, err := e.Refine(x, 1, nan, nil, 1, rngs(1, 1)); return err },
		"NaN logvar":     func() error { _, err := e.Refine(x, 1, mu, nan, 1, rngs(1, 1)); return err },
		"negative steps": func() error { _, err := e.Refine(x, 1, mu, nil, -1, rngs(1, 1)); return err },
		"no noise":       func() error { _, err := e.Refine(x, 1, mu, nil, 2, nil); return err },
		"batch":          func() error { _, err := e.Refine(x, 2, mu, nil, 1, rngs(2, 1)); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
