// Package adamtest is Adam as written in Kingma & Ba (2015), Algorithm 1, in float64:
// the independent answer tests check the float32 latent Adams against.
package adamtest

import "math"

// Oracle is one parameter tensor's Adam (beta1 0.9, beta2 0.999, eps 1e-8), with its
// own step count and moments; the zero value with LR set is ready.
type Oracle struct {
	LR   float64
	t    int
	m, v []float64
}

// Step moves p against the gradient g.
func (o *Oracle) Step(p, g []float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	if o.m == nil {
		o.m, o.v = make([]float64, len(p)), make([]float64, len(p))
	}
	o.t++
	for i := range p {
		o.m[i] = b1*o.m[i] + (1-b1)*g[i]
		o.v[i] = b2*o.v[i] + (1-b2)*g[i]*g[i]
		mhat := o.m[i] / (1 - math.Pow(b1, float64(o.t)))
		vhat := o.v[i] / (1 - math.Pow(b2, float64(o.t)))
		p[i] -= o.LR * mhat / (math.Sqrt(vhat) + eps)
	}
}
