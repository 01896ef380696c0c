// Package adam is Adam (Kingma & Ba 2015; beta1 0.9, beta2 0.999, eps 1e-8, PyTorch's
// defaults) on a flat float32 vector with float64 moments: the latent searches of the
// inference (infer) and of the basin attack (attack) step their latents with it, so
// both follow the same arithmetic. Training's Adam (train.Adam) is another: per named
// parameter, float32 moments, saved in checkpoints.
package adam

import "math"

// State is one Adam optimiser's moments and step count.
type State struct {
	lr   float64
	t    int
	m, v []float64
}

// New returns Adam with step size lr for vectors of n values.
func New(lr float64, n int) *State {
	return &State{lr: lr, m: make([]float64, n), v: make([]float64, n)}
}

// Step moves p against the gradient g (both of the length New was given).
func (a *State) Step(p, g []float32) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	c1, c2 := 1-math.Pow(b1, float64(a.t)), 1-math.Pow(b2, float64(a.t))
	for i, gi := range g {
		gd := float64(gi)
		a.m[i] = b1*a.m[i] + (1-b1)*gd
		a.v[i] = b2*a.v[i] + (1-b2)*gd*gd
		p[i] -= float32(a.lr * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + eps))
	}
}
