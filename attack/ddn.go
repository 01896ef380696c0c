package attack

// DDN: Rony, Hafemann, Oliveira, Ben Ayed, Sabourin and Granger 2019, "Decoupling
// direction and norm for efficient gradient-based L2 adversarial attacks and defenses"
// (CVPR), Algorithm 1. The E-ABS paper runs it with 80 steps (Section 4.2).

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/internal/floats"
)

// DDN is a minimum-norm L2 Attack that decouples the perturbation's direction from its
// norm. From delta = 0 and a norm budget eps_0 = InitNorm, each step k evaluates
// x + delta, keeps it if it is adversarial and smaller than the best so far, then
//
//	delta <- delta + alpha_k g/||g||_2             (g: the gradient of lseMargin, which
//	                                                points where cross-entropy's does;
//	                                                a random unit vector where g = 0)
//	eps   <- eps (1 - Gamma) if x + delta was adversarial, else eps (1 + Gamma)
//	delta <- eps delta/||delta||_2, then clipped so that x + delta is in [0,1]
//
// with alpha_k cosine-annealed from 1 to 0.01 (alpha_k = 0.01 + 0.99 (1 + cos(pi k /
// Steps))/2) and eps capped by the largest L2 distance the box allows. The point after
// the last step is evaluated too. Found.Adv is the smallest adversarial found.
//
// Where the gradient is exactly zero (a flat region, or a cotangent that underflowed),
// the step goes along a random direction, as in Rony et al.'s code: without a step, delta
// stays 0 from the start, x + delta = x whatever the norm budget, and the sample is
// never attacked. Their code adds alpha_k times a standard normal vector; it is
// normalised here (as Foolbox does), so that the step keeps its length alpha_k.
//
// Zero options take the defaults: 80 steps (the paper's), gamma 0.05, initial norm 1
// (Rony et al.'s), EOT 1.
type DDN struct {
	// Steps is the number of steps (default 80).
	Steps int
	// Gamma is the factor of the norm's geometric changes (default 0.05).
	Gamma float64
	// InitNorm is the initial norm budget eps_0 (default 1).
	InitNorm float64
	// EOT averages every evaluation over this many calls (default 1).
	EOT int
}

// Name implements Attack: "ddn".
func (DDN) Name() string { return "ddn" }

// Norm implements Attack: L2.
func (DDN) Norm() Norm { return L2 }

// Run implements Attack.
func (a DDN) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	name := a.Name()
	g, err := startGrad(name, m, x, y, batch, a.Steps, 80, a.EOT)
	if err != nil {
		return nil, err
	}
	d, K, n, steps, eot := g.d, g.k, g.n, g.steps, g.eot
	gamma, init := a.Gamma, a.InitNorm
	if gamma == 0 {
		gamma = 0.05
	}
	if init == 0 {
		init = 1
	}
	if !(gamma > 0 && gamma < 1) || !(init > 0) || math.IsInf(init, 1) {
		return nil, fmt.Errorf("attack %s: gamma %g must be in (0,1) and the initial norm %g positive", name, gamma, init)
	}

	f := newFound(x, batch)
	s := &sampler{m: d, eot: eot, k: K, n: n, y: y, queries: f.Queries}
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	cur := append([]float32(nil), x...) // x + delta
	eps := make([]float64, batch)
	worst := make([]float64, batch) // the largest L2 distance inside the box
	bestNorm := make([]float64, batch)
	for i := range eps {
		eps[i] = init
		bestNorm[i] = math.Inf(1)
		var w float64
		for _, v := range x[i*n : (i+1)*n] {
			m := math.Max(float64(v), 1-float64(v))
			w += m * m
		}
		worst[i] = math.Sqrt(w)
	}
	for k := 0; k <= steps; k++ {
		var logits, grad []float32
		if k < steps {
			logits, grad, _, err = s.vjp(ctx, cur, idx, lseMargin)
		} else {
			logits, err = s.logits(ctx, cur, idx)
		}
		if err != nil {
			return nil, err
		}
		alpha := 0.01 + 0.99*(1+math.Cos(math.Pi*float64(k)/float64(steps)))/2
		for i := range idx {
			c, o := cur[i*n:(i+1)*n], x[i*n:(i+1)*n]
			adv := floats.Argmax(logits[i*K:(i+1)*K]) != y[i]
			if adv {
				if nrm := dist(L2, c, o); nrm < bestNorm[i] {
					bestNorm[i] = nrm
					f.Ok[i] = true
					copy(f.Adv[i*n:(i+1)*n], c)
				}
			}
			if k == steps {
				continue
			}
			// The step's direction: the unit gradient, or a random unit vector where the
			// gradient is zero (see the type's doc).
			dir := make([]float64, n)
			for p, v := range grad[i*n : (i+1)*n] {
				dir[p] = float64(v)
			}
			gn := l2(grad[i*n : (i+1)*n])
			if gn == 0 {
				var s float64
				for p := range dir {
					dir[p] = rng.NormFloat64()
					s += dir[p] * dir[p]
				}
				gn = math.Sqrt(s)
			}
			delta := make([]float64, n)
			for p := range delta {
				delta[p] = float64(c[p]) - float64(o[p]) + alpha*dir[p]/gn
			}
			if adv {
				eps[i] *= 1 - gamma
			} else {
				eps[i] *= 1 + gamma
			}
			eps[i] = math.Min(eps[i], worst[i])
			var dn float64
			for _, v := range delta {
				dn += v * v
			}
			dn = math.Sqrt(dn)
			for p := range c {
				v := float64(o[p])
				if dn > 0 {
					v += delta[p] * eps[i] / dn
				}
				c[p] = float32(min(max(v, 0), 1))
			}
		}
	}
	return f, nil
}
