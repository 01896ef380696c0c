package attack

// Carlini-Wagner L2: Carlini and Wagner 2017, "Towards evaluating the robustness of
// neural networks" (IEEE S&P), Section V.A. The E-ABS paper runs it with 5 binary-search
// steps of 100 steps each (Section 4.2).

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/internal/floats"
)

// CW is the Carlini-Wagner L2 attack, a minimum-norm Attack. In the tanh space
// x' = (tanh(w) + 1)/2, which keeps x' in the box, it minimises with Adam
//
//	||x' - x||_2^2 + c max(z_y - max_{i!=y} z_i + Confidence, 0)
//
// from w = atanh(2x - 1) (x squeezed by 1 - 1e-6 to keep it finite), for Steps steps per
// constant c; a binary search over c per sample follows: c is multiplied by 10 while no
// adversarial was found at any c, and otherwise set to the midpoint of the largest c
// without and the smallest with success. Every evaluated point that is misclassified and
// closer than the best so far is kept; Found.Adv is the smallest. The point after the
// last Adam step of each constant is evaluated too (one more query per constant): it is
// the optimisation's furthest point, and often its first adversarial one.
//
// Zero options take the defaults: 5 binary-search steps x 100 Adam steps (the paper's),
// learning rate 0.01, confidence 0, initial constant 0.01 (Foolbox 2's default; Carlini
// and Wagner's code starts at 0.001), EOT 1. Adam runs with beta1 0.9, beta2 0.999,
// epsilon 1e-8, restarted for each c. There is no early abort: every step is spent.
type CW struct {
	// BinarySteps is the number of constants tried (default 5).
	BinarySteps int
	// Steps is the number of Adam steps per constant (default 100).
	Steps int
	// LR is Adam's learning rate (default 0.01).
	LR float64
	// Confidence is the margin kappa the hinge asks for (default 0).
	Confidence float64
	// InitialConst is the first c (default 0.01).
	InitialConst float64
	// EOT averages every evaluation over this many calls (default 1).
	EOT int
}

// Name implements Attack: "cw-l2".
func (CW) Name() string { return "cw-l2" }

// Norm implements Attack: L2.
func (CW) Norm() Norm { return L2 }

// Run implements Attack.
func (a CW) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, _ *rand.Rand) (*Found, error) {
	name := a.Name()
	g, err := startGrad(name, m, x, y, batch, a.Steps, 100, a.EOT)
	if err != nil {
		return nil, err
	}
	d, K, n, steps, eot := g.d, g.k, g.n, g.steps, g.eot
	bsteps, err := orDefault(name, "binary search steps", a.BinarySteps, 5)
	if err != nil {
		return nil, err
	}
	lr, c0 := a.LR, a.InitialConst
	if lr == 0 {
		lr = 0.01
	}
	if c0 == 0 {
		c0 = 0.01
	}
	if !(lr > 0) || !(c0 > 0) || !(a.Confidence >= 0) || math.IsInf(lr+c0+a.Confidence, 0) {
		return nil, fmt.Errorf("attack %s: learning rate %g and initial constant %g must be positive, confidence %g not negative", name, lr, c0, a.Confidence)
	}
	const b1, b2, adamEps = 0.9, 0.999, 1e-8

	f := newFound(x, batch)
	s := &sampler{m: d, eot: eot, k: K, n: n, y: y, queries: f.Queries}
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	w0 := make([]float64, len(x))
	for i, v := range x {
		w0[i] = math.Atanh((2*float64(v) - 1) * (1 - 1e-6))
	}
	consts := make([]float64, batch)
	lower := make([]float64, batch)
	upper := make([]float64, batch)
	bestNorm := make([]float64, batch)
	for i := range consts {
		consts[i], upper[i], bestNorm[i] = c0, math.Inf(1), math.Inf(1)
	}
	for bs := 0; bs < bsteps; bs++ {
		delta := make([]float64, len(x))
		mom := make([]float64, len(x))
		vel := make([]float64, len(x))
		found := make([]bool, batch)
		cur := make([]float32, len(x))
		th := make([]float64, len(x)) // tanh(w0 + delta)
		for step := 1; ; step++ {
			for i := range cur {
				th[i] = math.Tanh(w0[i] + delta[i])
				cur[i] = float32((th[i] + 1) / 2)
			}
			hinge := func(z []float32, yi int) (float64, []float64) {
				o := bestOther(z, yi)
				v := float64(z[yi]) - float64(z[o]) + a.Confidence
				dz := make([]float64, len(z))
				if v <= 0 {
					return 0, dz
				}
				dz[yi], dz[o] = 1, -1
				return v, dz
			}
			cot := func(z []float32) []float32 {
				v := make([]float32, len(z))
				for i := 0; i < batch; i++ {
					_, dz := hinge(z[i*K:(i+1)*K], y[i])
					for c, g := range dz {
						v[i*K+c] = float32(consts[i] * g)
					}
				}
				return v
			}
			var logits, grad []float32
			if step <= steps {
				logits, grad, err = evalVJP(ctx, s, cur, idx, cot)
			} else {
				logits, err = s.logits(ctx, cur, idx)
			}
			if err != nil {
				return nil, err
			}
			for i := 0; i < batch; i++ {
				c, o := cur[i*n:(i+1)*n], x[i*n:(i+1)*n]
				if floats.Argmax(logits[i*K:(i+1)*K]) != y[i] {
					found[i] = true
					if nrm := dist(L2, c, o); nrm < bestNorm[i] {
						bestNorm[i] = nrm
						f.Ok[i] = true
						copy(f.Adv[i*n:(i+1)*n], c)
					}
				}
			}
			if step > steps {
				break
			}
			// d loss / d delta = (2 (x' - x) + c J^T dhinge) * (1 - tanh^2)/2, Adam step.
			t := float64(step)
			for p := range delta {
				g := (2*(float64(cur[p])-float64(x[p])) + float64(grad[p])) * (1 - th[p]*th[p]) / 2
				mom[p] = b1*mom[p] + (1-b1)*g
				vel[p] = b2*vel[p] + (1-b2)*g*g
				mh := mom[p] / (1 - math.Pow(b1, t))
				vh := vel[p] / (1 - math.Pow(b2, t))
				delta[p] -= lr * mh / (math.Sqrt(vh) + adamEps)
			}
		}
		for i := range consts {
			if found[i] {
				upper[i] = math.Min(upper[i], consts[i])
			} else {
				lower[i] = math.Max(lower[i], consts[i])
			}
			if math.IsInf(upper[i], 1) {
				consts[i] *= 10
			} else {
				consts[i] = (lower[i] + upper[i]) / 2
			}
		}
	}
	return f, nil
}
