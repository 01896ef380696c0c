package infer

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/eabs/eabs/internal/adam/adamtest"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
)

// linearModel is a runtime.Model with linear decoders G_k(z) = A_k z + b_k, a linear
// discriminator logit w.z + c (adversarial specs) or the KL prior, and an encoder
// that returns fixed means: every loss and gradient has a closed form, evaluated in
// float64, so the engine's whole inference can be replayed by hand in float64.
type linearModel struct {
	spec   models.Spec
	A      [][]float64 // per class (P, M), row-major
	bias   [][]float64 // per class (P)
	w      []float64   // discriminator weights (M)
	c      float64     // discriminator bias
	encMu  [][]float64 // per encoder e > 0 (M): Q(z|x)'s mean is encMu[e] + 0.5*x[:M]
	encLv  float64     // Q(z|x)'s log-variance, every coordinate
	closed bool
}

func newLinearModel(adversarial bool, K, M, P int) *linearModel {
	s := models.Spec{
		Arch:        models.Arch{Name: "linear", InC: 1, InH: 1, InW: P, Classes: K, Latent: M},
		Kind:        models.Generative,
		Adversarial: adversarial, Discriminative: adversarial, Variational: adversarial,
		Beta: 0.7,
	}
	m := &linearModel{spec: s, encLv: -0.6, c: 0.3}
	for k := 0; k < K; k++ {
		a := make([]float64, P*M)
		for i := range a {
			a[i] = 0.6 * math.Sin(float64(7*k+3*i+1))
		}
		b := make([]float64, P)
		for j := range b {
			b[j] = 0.2 * math.Cos(float64(5*k+j))
		}
		m.A, m.bias = append(m.A, a), append(m.bias, b)
	}
	m.w = make([]float64, M)
	for i := range m.w {
		m.w[i] = 0.8 * math.Cos(float64(2*i+1))
	}
	for e := 0; e < s.Encoders(); e++ {
		mu := make([]float64, M)
		for i := range mu {
			mu[i] = 0.4 * math.Sin(float64(3*e+i+2))
		}
		m.encMu = append(m.encMu, mu)
	}
	return m
}

func (m *linearModel) Spec() models.Spec { return m.spec }
func (m *linearModel) Close() error      { m.closed = true; return nil }

// decode returns G_k(z) in float64.
func (m *linearModel) decode(k int, z []float64) []float64 {
	M := m.spec.Arch.Latent
	out := make([]float64, len(m.bias[k]))
	for j := range out {
		out[j] = m.bias[k][j]
		for i := 0; i < M; i++ {
			out[j] += m.A[k][j*M+i] * z[i]
		}
	}
	return out
}

func (m *linearModel) logit(z []float64) float64 {
	l := m.c
	for i, v := range z {
		l += m.w[i] * v
	}
	return l
}

// point evaluates the loss of class k at the sample z = mu + exp(lv/2)*eps for image
// x and its gradients with respect to mu and lv: the model's eq. 6 in closed form.
func (m *linearModel) point(x []float64, k int, mu, lv, eps []float64) (loss float64, rec, gmu, glv []float64) {
	M, beta := len(mu), m.spec.Beta
	z := make([]float64, M)
	for i := range z {
		z[i] = mu[i] + math.Exp(lv[i]/2)*eps[i]
	}
	rec = m.decode(k, z)
	gz := make([]float64, M) // d loss / d z through the reconstruction term
	for j, r := range rec {
		d := x[j] - r
		loss += d * d
		for i := 0; i < M; i++ {
			gz[i] -= 2 * d * m.A[k][j*M+i]
		}
	}
	gmu, glv = make([]float64, M), make([]float64, M)
	if m.spec.HasDiscriminator() {
		// -beta*log sigmoid(l) = beta*softplus(-l); d/dl = -beta*sigmoid(-l).
		l := m.logit(z)
		loss += beta * math.Log1p(math.Exp(-l))
		s := 1 / (1 + math.Exp(l))
		for i := range gz {
			gz[i] -= beta * s * m.w[i]
		}
		for i := range gz {
			gmu[i] = gz[i]
			glv[i] = gz[i] * eps[i] * 0.5 * math.Exp(lv[i]/2)
		}
		return loss, rec, gmu, glv
	}
	// beta*KL(N(mu, exp(lv)) || N(0, I)) = beta/2 sum(mu^2 + exp(lv) - lv - 1).
	for i := range mu {
		loss += beta / 2 * (mu[i]*mu[i] + math.Exp(lv[i]) - lv[i] - 1)
		gmu[i] = gz[i] + beta*mu[i]
		glv[i] = gz[i]*eps[i]*0.5*math.Exp(lv[i]/2) + beta/2*(math.Exp(lv[i])-1)
	}
	return loss, rec, gmu, glv
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// encMean is encoder e's mean for image x: for e = 0, 0.9 times the minimiser of
// ||x - G_0(z)||^2 + beta/2 ||z||^2 (a good start for class 0), for e > 0 a fixed
// offset plus 0.5*x[:M] (usually a poor one).
func (m *linearModel) encMean(e int, x []float64) []float64 {
	M := m.spec.Arch.Latent
	mu := make([]float64, M)
	if e > 0 {
		for i := range mu {
			mu[i] = m.encMu[e][i] + 0.5*x[i]
		}
		return mu
	}
	if M != 2 {
		panic("linearModel: encoder 0 solves a 2x2 system")
	}
	// (2 A^T A + beta I) z = 2 A^T (x - b), solved by Cramer's rule.
	var h [2][2]float64
	var r [2]float64
	for j := range x {
		for i := 0; i < 2; i++ {
			r[i] += 2 * m.A[0][j*M+i] * (x[j] - m.bias[0][j])
			for l := 0; l < 2; l++ {
				h[i][l] += 2 * m.A[0][j*M+i] * m.A[0][j*M+l]
			}
		}
	}
	h[0][0] += m.spec.Beta
	h[1][1] += m.spec.Beta
	det := h[0][0]*h[1][1] - h[0][1]*h[1][0]
	mu[0] = 0.9 * (r[0]*h[1][1] - h[0][1]*r[1]) / det
	mu[1] = 0.9 * (h[0][0]*r[1] - h[1][0]*r[0]) / det
	return mu
}

func (m *linearModel) Encode(x []float32, batch int) (mu, logvar []float32, err error) {
	a := m.spec.Arch
	if err := runtime.CheckBatch("x", x, batch, a.Pixels()); err != nil {
		return nil, nil, err
	}
	E, M, P := m.spec.Encoders(), a.Latent, a.Pixels()
	mu, logvar = make([]float32, batch*E*M), make([]float32, batch*E*M)
	for b := 0; b < batch; b++ {
		for e := 0; e < E; e++ {
			for i, v := range m.encMean(e, f64(x[b*P:(b+1)*P])) {
				mu[(b*E+e)*M+i] = float32(v)
				logvar[(b*E+e)*M+i] = float32(m.encLv)
			}
		}
	}
	return mu, logvar, nil
}

func (m *linearModel) Decode(z []float32, batch int) ([]float32, error) {
	a := m.spec.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	if err := runtime.CheckBatch("z", z, batch, K*M); err != nil {
		return nil, err
	}
	out := make([]float32, batch*K*P)
	for b := 0; b < batch; b++ {
		for k := 0; k < K; k++ {
			for j, v := range m.decode(k, f64(z[(b*K+k)*M:(b*K+k+1)*M])) {
				out[(b*K+k)*P+j] = float32(v)
			}
		}
	}
	return out, nil
}

func (m *linearModel) DiscLogit(z []float32, n int) ([]float32, error) {
	M := m.spec.Arch.Latent
	if len(z) != n*M {
		return nil, fmt.Errorf("linearModel: %d latents for %d", len(z), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(m.logit(f64(z[i*M : (i+1)*M])))
	}
	return out, nil
}

func (m *linearModel) LatentStep(x, mu, logvar, eps []float32, batch int) (*runtime.Step, error) {
	if err := runtime.CheckLatentStep(m.spec, x, mu, logvar, eps, batch); err != nil {
		return nil, err
	}
	a := m.spec.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	st := &runtime.Step{Loss: make([]float32, batch*K), Rec: make([]float32, batch*K*P), GradMu: make([]float32, batch*K*M), GradLogvar: make([]float32, batch*K*M)}
	for b := 0; b < batch; b++ {
		xb := f64(x[b*P : (b+1)*P])
		for k := 0; k < K; k++ {
			i := b*K + k
			l, rec, gmu, glv := m.point(xb, k, f64(mu[i*M:(i+1)*M]), f64(logvar[i*M:(i+1)*M]), f64(eps[i*M:(i+1)*M]))
			st.Loss[i] = float32(l)
			for j, v := range rec {
				st.Rec[i*P+j] = float32(v)
			}
			for j := range gmu {
				st.GradMu[i*M+j], st.GradLogvar[i*M+j] = float32(gmu[j]), float32(glv[j])
			}
		}
	}
	return st, nil
}

// expected is the hand replay of the paper's inference for one image and class.
type expected struct {
	loss        float64
	z, lv, rec  []float64
	fromEncoder bool
	at          string // where the best point was found: "start", "sample N", "final"
}

// replay runs Section 3.3's inference by hand in float64 for image x and class k:
// the best of the bank's starts (loss ||x - G_k(z)||^2 + prior at each mean, the bank's
// means taken from the engine) and the encoder's mean, ties going to the encoder;
// then steps of Adam (adamOracle) on the mean and, for variational inference, on the
// log-variance, each on its own moments, using the gradient at the reparameterised
// sample mu + exp(lv/2)*eps; the result is read at the lowest loss of the start, of the
// samples (adversarial models, whose prior is a function of z) and of the final mean,
// or at the final mean for LossAtFinal.
func (m *linearModel) replay(x []float64, b, k int, bankZ []float32, opt Options, noise []float64) expected {
	M := m.spec.Arch.Latent
	variational := m.spec.Variational && !opt.Exact
	zero := make([]float64, M)
	mu, lv := make([]float64, M), make([]float64, M)
	for i, v := range m.encMean(min(k, m.spec.Encoders()-1), x) {
		mu[i] = float32to64(v)
		if variational {
			lv[i] = m.encLv
		}
	}
	fromEnc := true
	encLoss, _, _, _ := m.point(x, k, mu, lv, zero)
	bestBank, bestJ := math.Inf(1), -1
	for j := 0; j*M < len(bankZ); j++ {
		l, _, _, _ := m.point(x, k, f64(bankZ[j*M:(j+1)*M]), zero, zero)
		if l < bestBank {
			bestBank, bestJ = l, j
		}
	}
	if bestBank < encLoss {
		fromEnc = false
		copy(mu, f64(bankZ[bestJ*M:(bestJ+1)*M]))
		clear(lv)
	}
	w := m.replayFrom(x, k, mu, lv, opt, opt.Steps, noise)
	w.fromEncoder = fromEnc
	return w
}

// replayFrom is the optimisation half of replay (what Engine.Refine runs): steps of
// Adam from mean mu and log-variance lv (zero for exact inference), the result read at
// the lowest loss of the start, the samples (adversarial models) and the final mean,
// or at the final mean for LossAtFinal. With LossAtBest and no steps the start is the
// only point. mu and lv are modified.
func (m *linearModel) replayFrom(x []float64, k int, mu, lv []float64, opt Options, steps int, noise []float64) expected {
	M := m.spec.Arch.Latent
	variational := m.spec.Variational && !opt.Exact
	zero := make([]float64, M)
	l0, rec0, _, _ := m.point(x, k, mu, lv, zero)
	best := expected{loss: l0, z: clone(mu), lv: clone(lv), rec: rec0, at: "start"}
	record := func(l float64, z, lv, rec []float64, at string) {
		if l < best.loss {
			best = expected{loss: l, z: clone(z), lv: clone(lv), rec: rec, at: at}
		}
	}
	adMu, adLv := &adamtest.Oracle{LR: opt.LR}, &adamtest.Oracle{LR: opt.LR}
	for s := 0; s < steps; s++ {
		eps := zero
		if variational {
			eps = noise[s*M : (s+1)*M]
		}
		l, rec, gmu, glv := m.point(x, k, mu, lv, eps)
		if m.spec.HasDiscriminator() {
			z := make([]float64, M)
			for i := range z {
				z[i] = mu[i] + math.Exp(lv[i]/2)*eps[i]
			}
			record(l, z, lv, rec, fmt.Sprintf("sample %d", s+1))
		}
		adMu.Step(mu, gmu)
		if variational {
			adLv.Step(lv, glv)
		}
	}
	if opt.LossAt != LossAtFinal && steps == 0 {
		return best
	}
	lf, recf, _, _ := m.point(x, k, mu, lv, zero)
	if opt.LossAt == LossAtFinal {
		return expected{loss: lf, z: mu, lv: lv, rec: recf, at: "final"}
	}
	record(lf, mu, lv, recf, "final")
	return best
}

// float32to64 rounds v to float32, as the encoder's output crosses the runtime
// interface in float32.
func float32to64(v float64) float64 { return float64(float32(v)) }

func clone(v []float64) []float64 { return append([]float64(nil), v...) }

// TestClassifyReplayedByHand runs Engine.Classify on linearModel and compares every
// output (l_k, z*, its log-variance, G_k(z*), which start was chosen) with replay's
// float64 hand computation. The cases are chosen so that the best point is, for some
// classes, the start, a reparameterised sample or the final mean, and so that both the
// bank and the encoder supply starts: a tracker that records the wrong point (the mean
// instead of the sample, the log-variance after the step, G_k at another z), a wrong
// start, or an optimiser that differs from the paper's Adam, fails.
func TestClassifyReplayedByHand(t *testing.T) {
	const K, M, P, batch = 3, 2, 4, 3
	for _, c := range []struct {
		name        string
		adversarial bool
		opt         Options
		wantAt      []string // places the best point must be found for some class
	}{
		{"eabs-best", true, Options{Starts: 24, Steps: 8, LR: 0.25, BankSeed: 3, LossAt: LossAtBest}, []string{"sample", "final"}},
		{"eabs-final", true, Options{Starts: 24, Steps: 8, LR: 0.25, BankSeed: 3, LossAt: LossAtFinal}, nil},
		{"eabs-exact", true, Options{Starts: 4, Steps: 6, LR: 0.1, BankSeed: 4, LossAt: LossAtBest, Exact: true}, []string{"sample", "final"}},
		{"abs-best", false, Options{Starts: 16, Steps: 5, LR: 0.3, BankSeed: 5, LossAt: LossAtBest}, []string{"start", "final"}},
		{"abs-final", false, Options{Starts: 16, Steps: 12, LR: 0.05, BankSeed: 5, LossAt: LossAtFinal}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newLinearModel(c.adversarial, K, M, P)
			x := make([]float32, batch*P)
			for i := range x {
				x[i] = float32(0.5 + 0.45*math.Sin(float64(3*i+1)))
			}
			e, err := NewEngine(m, c.opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.Classify(x, batch, rngs(batch, 21))
			if err != nil {
				t.Fatal(err)
			}
			// The noise Classify draws: image b's source gives, per step, its K*M
			// values in (class, coordinate) order.
			noise := make([][]float64, batch*K)
			if c.adversarial && !c.opt.Exact {
				rs := rngs(batch, 21)
				for b := 0; b < batch; b++ {
					for s := 0; s < c.opt.Steps; s++ {
						for k := 0; k < K; k++ {
							for i := 0; i < M; i++ {
								noise[b*K+k] = append(noise[b*K+k], rs[b].NormFloat64())
							}
						}
					}
				}
			}
			const tol = 2e-5 // relative to max(1, |value|): float32 state, < 20 Adam steps
			near := func(got float32, want float64) bool {
				return math.Abs(float64(got)-want) <= tol*max(1, math.Abs(want))
			}
			at := map[string]bool{}
			sources := map[bool]int{}
			for b := 0; b < batch; b++ {
				xb := f64(x[b*P : (b+1)*P])
				for k := 0; k < K; k++ {
					i := b*K + k
					w := m.replay(xb, b, k, e.Bank().Z, e.Options(), noise[i])
					at[w.at], at[w.at[:min(6, len(w.at))]] = true, true
					sources[w.fromEncoder]++
					if out.FromEncoder[i] != w.fromEncoder {
						t.Errorf("image %d class %d: start from encoder %v, hand replay %v", b, k, out.FromEncoder[i], w.fromEncoder)
					}
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
			t.Logf("best points at %v; starts from the encoder / the bank: %d / %d", at, sources[true], sources[false])
			for _, want := range c.wantAt {
				if !at[want] {
					t.Errorf("no class has its best point at a %s (%v): the case does not test what it should", want, at)
				}
			}
			if sources[true] == 0 || sources[false] == 0 {
				t.Errorf("starts from the encoder / the bank: %d / %d; the case should have both", sources[true], sources[false])
			}
		})
	}
}

// TestEngineRefusals checks the refusals around the inference: an image holding NaN
// or an infinity, a prior of the wrong length for the bank, and too few noise sources
// for variational inference, each with an error naming the problem.
func TestEngineRefusals(t *testing.T) {
	m := newLinearModel(true, 2, 2, 3)
	e, err := NewEngine(m, Options{Starts: 4, Steps: 1, LR: 0.1, BankSeed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}
	for i, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		y := append([]float32(nil), x...)
		y[4] = bad
		if _, err := e.Classify(y, 2, rngs(2, 1)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("image 1 holds %v", bad)) {
			t.Errorf("case %d: Classify with %v in image 1: error %v, want one naming image 1", i, bad, err)
		}
	}
	if _, err := e.Classify(x, 2, rngs(1, 1)); err == nil || !strings.Contains(err.Error(), "1 noise sources for 2 images") {
		t.Errorf("one noise source for two images: error %v", err)
	}
	if _, err := NewEngineWithBank(m, e.Options(), e.Bank(), make([]float32, 3)); err == nil || !strings.Contains(err.Error(), "3 prior values for a bank of 4") {
		t.Errorf("a prior of 3 values for a bank of 4: error %v", err)
	}
	prior := []float32{0, 0, 0, 0}
	e2, err := NewEngineWithBank(m, e.Options(), e.Bank(), prior)
	if err != nil {
		t.Fatal(err)
	}
	if &e2.Bank().Prior[0] != &prior[0] || &e.Bank().Prior[0] == &prior[0] {
		t.Errorf("NewEngineWithBank must use the new prior without changing the original bank's")
	}
}
