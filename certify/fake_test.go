package certify

import (
	"math"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
)

// fakeModel is a runtime.Model whose decoders are given in closed form, so the
// minima certify looks for can be computed independently: G_k(z) and its Jacobian
// come from dec, the prior is beta * softplus(-(w.z + c)) = -beta*log D(z) with a
// logistic discriminator D(z) = sigmoid(w.z + c), and the encoder returns mu = 0.
type fakeModel struct {
	spec models.Spec
	w    []float64
	c    float64
	// dec returns G_k(z) (P) and its Jacobian (P x M, row-major).
	dec func(k int, z []float64) (g, jac []float64)
}

func newFake(K, M, P int, beta float64, w []float64, c float64, dec func(int, []float64) ([]float64, []float64)) *fakeModel {
	return &fakeModel{spec: models.Spec{
		Arch: models.Arch{Name: "fake", InC: 1, InH: 1, InW: P, Classes: K, Latent: M},
		Kind: models.Generative, Adversarial: true, Discriminative: true, Variational: true, Beta: beta,
	}, w: w, c: c, dec: dec}
}

// withBeta is the same model with another prior weight (beta = 0: d_k's engine).
func (f *fakeModel) withBeta(beta float64) *fakeModel {
	g := *f
	g.spec.Beta = beta
	return &g
}

func (f *fakeModel) Spec() models.Spec { return f.spec }

func (f *fakeModel) Encode(x []float32, batch int) (mu, logvar []float32, err error) {
	M := f.spec.Arch.Latent
	return make([]float32, batch*M), make([]float32, batch*M), nil
}

func (f *fakeModel) Decode(z []float32, batch int) ([]float32, error) {
	a := f.spec.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	out := make([]float32, batch*K*P)
	for b := 0; b < batch; b++ {
		for k := 0; k < K; k++ {
			g, _ := f.dec(k, to64(z[(b*K+k)*M:(b*K+k+1)*M]))
			for j, v := range g {
				out[(b*K+k)*P+j] = float32(v)
			}
		}
	}
	return out, nil
}

func (f *fakeModel) DiscLogit(z []float32, n int) ([]float32, error) {
	M := f.spec.Arch.Latent
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(f.logit(to64(z[i*M : (i+1)*M])))
	}
	return out, nil
}

func (f *fakeModel) logit(z []float64) float64 {
	s := f.c
	for i, v := range z {
		s += f.w[i] * v
	}
	return s
}

// objective is ||x - G_k(z)||^2 + beta*softplus(-(w.z + c)) in float64, with its
// gradient in z and the reconstruction.
func (f *fakeModel) objective(k int, x, z []float64) (loss float64, grad, g []float64) {
	M := len(z)
	g, jac := f.dec(k, z)
	grad = make([]float64, M)
	for j := range g {
		r := x[j] - g[j]
		loss += r * r
		for i := 0; i < M; i++ {
			grad[i] -= 2 * r * jac[j*M+i]
		}
	}
	if beta := f.spec.Beta; beta != 0 {
		s := f.logit(z)
		loss += beta * softplus(-s)
		sig := 1 / (1 + math.Exp(s)) // sigmoid(-s) = d softplus(-s) / d(-s)
		for i := range grad {
			grad[i] -= beta * sig * f.w[i]
		}
	}
	return loss, grad, g
}

func (f *fakeModel) LatentStep(x, mu, logvar, eps []float32, batch int) (*runtime.Step, error) {
	if err := runtime.CheckLatentStep(f.spec, x, mu, logvar, eps, batch); err != nil {
		return nil, err
	}
	a := f.spec.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	st := &runtime.Step{Loss: make([]float32, batch*K), Rec: make([]float32, batch*K*P), GradMu: make([]float32, batch*K*M), GradLogvar: make([]float32, batch*K*M)}
	for b := 0; b < batch; b++ {
		xb := to64(x[b*P : (b+1)*P])
		for k := 0; k < K; k++ {
			i := b*K + k
			z := make([]float64, M)
			for m := range z {
				s := math.Exp(float64(logvar[i*M+m]) / 2)
				z[m] = float64(mu[i*M+m]) + s*float64(eps[i*M+m])
			}
			l, gz, g := f.objective(k, xb, z)
			st.Loss[i] = float32(l)
			for j, v := range g {
				st.Rec[i*P+j] = float32(v)
			}
			for m := range z {
				s := math.Exp(float64(logvar[i*M+m]) / 2)
				st.GradMu[i*M+m] = float32(gz[m])
				st.GradLogvar[i*M+m] = float32(gz[m] * float64(eps[i*M+m]) * s / 2)
			}
		}
	}
	return st, nil
}

func (f *fakeModel) Close() error { return nil }

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
