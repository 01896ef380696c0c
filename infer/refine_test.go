package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eabs/eabs/runtime"
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

// TestRefineReplayedByHand runs Refine on linearModel, whose decoders, discriminator
// and prior have closed forms, from given means and log-variances, and compares l_k,
// z*, its log-variance and G_k(z*) with replayFrom's float64 hand computation: the
// start and the final mean, which Refine evaluates without gradients (meanStep), are
// there scored by the closed-form loss. The cases put the best point at the start, at
// a sample and at the final mean for some classes.
func TestRefineReplayedByHand(t *testing.T) {
	const K, M, P, batch = 3, 2, 4, 3
	at := map[string]bool{}
	for _, c := range []struct {
		name        string
		adversarial bool
		steps       int
		opt         Options
	}{
		{"eabs-best-0", true, 0, Options{LR: 0.25, LossAt: LossAtBest}},
		{"eabs-best-1", true, 1, Options{LR: 0.25, LossAt: LossAtBest}},
		{"eabs-best-6", true, 6, Options{LR: 0.25, LossAt: LossAtBest}},
		{"eabs-final-3", true, 3, Options{LR: 0.25, LossAt: LossAtFinal}},
		{"eabs-exact-4", true, 4, Options{LR: 0.1, LossAt: LossAtBest, Exact: true}},
		{"abs-best-0", false, 0, Options{LR: 0.3, LossAt: LossAtBest}},
		{"abs-best-5", false, 5, Options{LR: 0.3, LossAt: LossAtBest}},
		{"abs-final-2", false, 2, Options{LR: 0.05, LossAt: LossAtFinal}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newLinearModel(c.adversarial, K, M, P)
			opt := c.opt
			opt.Starts, opt.Steps, opt.BankSeed = 4, 50, 1
			e, err := NewEngine(m, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			x, mu, lv := make([]float32, batch*P), make([]float32, batch*K*M), make([]float32, batch*K*M)
			for i := range x {
				x[i] = float32(0.5 + 0.45*math.Sin(float64(3*i+1)))
			}
			for i := range mu {
				mu[i] = float32(0.9 * math.Sin(float64(5*i+2)))
				lv[i] = float32(-0.4 - 0.3*math.Cos(float64(2*i)))
			}
			out, err := e.Refine(x, batch, mu, lv, c.steps, rngs(batch, 13))
			if err != nil {
				t.Fatal(err)
			}
			variational := m.spec.Variational && !opt.Exact
			noise := make([][]float64, batch*K)
			if variational {
				rs := rngs(batch, 13)
				for b := 0; b < batch; b++ {
					for s := 0; s < c.steps; s++ {
						for k := 0; k < K; k++ {
							for i := 0; i < M; i++ {
								noise[b*K+k] = append(noise[b*K+k], rs[b].NormFloat64())
							}
						}
					}
				}
			}
			const tol = 2e-5 // relative to max(1, |value|): float32 state, < 10 Adam steps
			near := func(got float32, want float64) bool {
				return math.Abs(float64(got)-want) <= tol*max(1, math.Abs(want))
			}
			for b := 0; b < batch; b++ {
				xb := f64(x[b*P : (b+1)*P])
				for k := 0; k < K; k++ {
					i := b*K + k
					l0 := make([]float64, M)
					if variational {
						l0 = f64(lv[i*M : (i+1)*M])
					}
					w := m.replayFrom(xb, k, f64(mu[i*M:(i+1)*M]), l0, opt, c.steps, noise[i])
					at[w.at[:min(6, len(w.at))]] = true
					if !near(out.Loss[i], w.loss) {
						t.Errorf("image %d class %d: l_k %.7g, hand replay %.7g (best at %s)", b, k, out.Loss[i], w.loss, w.at)
					}
					for j := 0; j < M; j++ {
						if !near(out.Z[i*M+j], w.z[j]) || !near(out.Logvar[i*M+j], w.lv[j]) {
							t.Errorf("image %d class %d: z*[%d] %.7g logvar %.7g, hand replay %.7g %.7g (best at %s)", b, k, j, out.Z[i*M+j], out.Logvar[i*M+j], w.z[j], w.lv[j], w.at)
						}
					}
					for j := 0; j < P; j++ {
						if !near(out.Rec[i*P+j], w.rec[j]) {
							t.Errorf("image %d class %d: G_k(z*)[%d] %.7g, hand replay %.7g (best at %s)", b, k, j, out.Rec[i*P+j], w.rec[j], w.at)
						}
					}
				}
			}
		})
	}
	t.Logf("best points at %v", at)
	for _, want := range []string{"start", "sample", "final"} {
		if !at[want] {
			t.Errorf("no class has its best point at a %s (%v): the cases do not test what they should", want, at)
		}
	}
}

// refineByLatentSteps is Refine as it was before meanStep (commit 5d0eb80): the start
// and the final mean are evaluated by full latent steps at eps = 0. Kept to check that
// the cheaper evaluation changed no result.
func refineByLatentSteps(e *Engine, x []float32, batch int, mu, logvar []float32, steps int, rs []*rand.Rand) (*Output, error) {
	s := e.m.Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	variational := s.Variational && !e.opt.Exact
	mu = slices.Clone(mu)
	lv := make([]float32, batch*K*M)
	if variational && logvar != nil {
		copy(lv, logvar)
	}
	out := &Output{B: batch, K: K, M: M, P: P}
	zero := make([]float32, batch*K*M)
	best := e.opt.LossAt != LossAtFinal
	var bt *tracker
	if best {
		st, err := e.m.LatentStep(x, mu, lv, zero, batch)
		if err != nil {
			return nil, err
		}
		bt = newTracker(st, mu, lv, M, P)
	}
	if err := e.adam(x, batch, mu, lv, steps, variational, rs, bt, best && s.HasDiscriminator()); err != nil {
		return nil, err
	}
	if best && steps == 0 {
		out.Loss, out.Rec, out.Z, out.Logvar = bt.loss, bt.rec, bt.z, bt.lv
		return out, nil
	}
	final, err := e.m.LatentStep(x, mu, lv, zero, batch)
	if err != nil {
		return nil, err
	}
	if best {
		bt.update(final, mu, lv, nil)
		out.Loss, out.Rec, out.Z, out.Logvar = bt.loss, bt.rec, bt.z, bt.lv
	} else {
		out.Loss, out.Rec, out.Z, out.Logvar = final.Loss, final.Rec, mu, lv
	}
	return out, nil
}

// TestRefineMatchesLatentStepPath compares Refine with refineByLatentSteps, the old
// path, on every generative model of the tiny architecture, on the reference runtime
// and ONNX Runtime, for 0, 1 and 3 steps, LossAtBest (variational and exact) and
// LossAtFinal. z* and its log-variance must be the same floats (the optimiser runs on
// the same gradients); l_k and G_k(z*) agree within engineCases' tolerances. Where the
// two pick different points (possible only when two candidates' losses tie within
// rounding), the old path's loss at the point Refine picked must be within twice the
// loss tolerance of the old path's best.
func TestRefineMatchesLatentStepPath(t *testing.T) {
	const batch = 3
	for _, ec := range engineCases {
		t.Run(ec.name, func(t *testing.T) {
			for i, name := range generativeNames(t) {
				t.Run(name, func(t *testing.T) {
					w := runtimetest.Weights(t, name, uint64(i+11))
					m := ec.open(t, w)
					defer m.Close()
					a := w.Spec.Arch
					K, M, P := a.Classes, a.Latent, a.Pixels()
					r := rand.New(rand.NewPCG(uint64(i), 17))
					x := make([]float32, batch*P)
					for j := range x {
						x[j] = float32(r.Float64())
					}
					mu, lv := make([]float32, batch*K*M), make([]float32, batch*K*M)
					for j := range mu {
						mu[j], lv[j] = float32(r.NormFloat64()), float32(-r.Float64())
					}
					for _, opt := range []Options{
						{Starts: 4, LR: 0.05, BankSeed: 1, LossAt: LossAtBest},
						{Starts: 4, LR: 0.05, BankSeed: 1, LossAt: LossAtBest, Exact: true},
						{Starts: 4, LR: 0.05, BankSeed: 1, LossAt: LossAtFinal},
					} {
						e, err := NewEngine(m, opt, nil)
						if err != nil {
							t.Fatal(err)
						}
						for _, steps := range []int{0, 1, 3} {
							got, err := e.Refine(x, batch, mu, lv, steps, rngs(batch, 3))
							if err != nil {
								t.Fatal(err)
							}
							want, err := refineByLatentSteps(e, x, batch, mu, lv, steps, rngs(batch, 3))
							if err != nil {
								t.Fatal(err)
							}
							where := fmt.Sprintf("%s exact %v, %d steps", opt.LossAt, opt.Exact, steps)
							compareRefine(t, where, m, x, got, want, ec)
						}
					}
				})
			}
		})
	}
}

// compareRefine checks Refine's output got against the old path's want (see
// TestRefineMatchesLatentStepPath).
func compareRefine(t *testing.T, where string, m runtime.Model, x []float32, got, want *Output, ec engineCase) {
	t.Helper()
	K, M, P := got.K, got.M, got.P
	flips := 0
	for i := range want.Loss {
		b := i / K
		if !near(got.Loss[i], want.Loss[i], ec.loss) {
			t.Errorf("%s: l_k of image %d class %d = %.9g, old path %.9g", where, b, i%K, got.Loss[i], want.Loss[i])
		}
		zr, lr := got.Z[i*M:(i+1)*M], got.Logvar[i*M:(i+1)*M]
		if slices.Equal(zr, want.Z[i*M:(i+1)*M]) && slices.Equal(lr, want.Logvar[i*M:(i+1)*M]) {
			for j := i * P; j < (i+1)*P; j++ {
				if !near(got.Rec[j], want.Rec[j], ec.rec) {
					t.Fatalf("%s: G_k(z*) of image %d class %d pixel %d = %.9g, old path %.9g", where, b, i%K, j-i*P, got.Rec[j], want.Rec[j])
				}
			}
			continue
		}
		// Another point: score it as the old path would have (a mean, or a sample
		// of an adversarial model, whose prior depends on z alone).
		flips++
		z, l := slices.Clone(got.Z[b*K*M:(b+1)*K*M]), slices.Clone(got.Logvar[b*K*M:(b+1)*K*M])
		st, err := m.LatentStep(x[b*P:(b+1)*P], z, l, make([]float32, K*M), 1)
		if err != nil {
			t.Fatal(err)
		}
		if !near(st.Loss[i%K], want.Loss[i], 2*ec.loss) {
			t.Errorf("%s: image %d class %d: z* %v, old path %v, whose loss there is %.9g against its best %.9g", where, b, i%K, zr, want.Z[i*M:(i+1)*M], st.Loss[i%K], want.Loss[i])
		}
	}
	if flips > 0 {
		t.Logf("%s: %d of %d classes read at another, equally good point", where, flips, len(want.Loss))
	}
}
