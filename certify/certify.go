// Package certify computes the per-sample certified lower bound eps* on the L2 distance to
// the nearest adversarial example (Ju & Wagner 2020, Appendix A) against the Go-native
// reference graph.
//
// Under exact inference, with l*_k(x) = min_z ||x - G_k(z)||^2 - beta*log D(z),
// r = ||x - G_y(z*_y)||_2 and d_k(x) = min_z ||x - G_k(z)||_2, no perturbation of L2 norm
// below
//
//	eps*(x) = min_{k != y} (d_k(x)^2 - l*_y(x)) / (2 d_k(x) + 2 r)
//
// changes the prediction from the label y, provided eps* < d_k(x) for the minimising k
// (the paper's eq. 7 prints the last term squared; Appendix A's derivation gives the
// plain norm, used here).
//
// Both minimisations are carried out by the paper's inference in its exact form (mean
// only, no sampling): the best of the bank's random starts and the encoder's mean, then
// Adam. An optimiser only ever finds an upper bound of a minimum: an upper bound of
// l*_y makes eps* smaller (safe), but an upper bound of d_k makes it larger, so eps* is
// certified only as far as the d_k found are the true minima. Results report the
// validity condition and keep d_k so that can be judged.
package certify

import (
	"fmt"
	"math"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime/ref"
)

// Result is the certificate of one image.
type Result struct {
	Label int `json:"label"`
	// Pred is argmin_k l*_k(x) under exact inference.
	Pred int `json:"pred"`
	// L holds l*_k(x) and D holds d_k(x) for every class.
	L []float64 `json:"l"`
	D []float64 `json:"d"`
	// R is ||x - G_y(z*_y)||_2 at the label's optimum.
	R float64 `json:"r"`
	// Eps is eps*(x): 0 when the image is misclassified.
	Eps float64 `json:"eps"`
	// Binding is the class k attaining the minimum (-1 when misclassified).
	Binding int `json:"binding"`
	// Valid reports the bound's condition eps* < d_k for the binding class. For
	// l*_y, r >= 0 it always holds ((d^2 - l)/(2d + 2r) <= d/2); it is kept as a check
	// on the computed values.
	Valid bool `json:"valid"`
}

// Radius evaluates eps* from l*_y, r and the distances d_k (k = y is skipped).
func Radius(y int, ly, r float64, d []float64) (eps float64, binding int, valid bool) {
	eps, binding = math.Inf(1), -1
	for k, dk := range d {
		if k == y {
			continue
		}
		e := 0.0
		if den := 2*dk + 2*r; den > 0 {
			e = (dk*dk - ly) / den
		}
		if e < eps || binding < 0 {
			eps, binding = e, k
		}
	}
	if binding < 0 {
		return 0, -1, false
	}
	if eps < 0 {
		eps = 0
	}
	return eps, binding, eps < d[binding]
}

// Certifier holds the two reference-graph engines the bound needs: the model itself
// (for l*_k and z*) and the same decoders without the prior term (for d_k).
type Certifier struct {
	model, dist *infer.Engine
	closers     []func() error
}

// New prepares certification of a generative model. opt's starts, steps and step size
// are used for both minimisations; exact inference is forced. tick reports the start
// bank's progress.
func New(w *models.Weights, opt infer.Options, tick func(done, total int)) (*Certifier, error) {
	if w.Spec.Kind != models.Generative {
		return nil, fmt.Errorf("certify: %s is not a generative model", w.Spec.Name())
	}
	opt.Exact = true
	m, err := ref.New(w)
	if err != nil {
		return nil, err
	}
	noPrior := w.Clone()
	noPrior.Spec.Beta = 0 // the latent step's loss becomes ||x - G_k(z)||^2 alone
	d, err := ref.New(noPrior)
	if err != nil {
		m.Close()
		return nil, err
	}
	c := &Certifier{closers: []func() error{m.Close, d.Close}}
	if c.model, err = infer.NewEngine(m, opt, tick); err != nil {
		c.Close()
		return nil, err
	}
	if c.dist, err = infer.NewEngineWithBank(d, opt, c.model.Bank(), make([]float32, c.model.Bank().S)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close releases the engines.
func (c *Certifier) Close() error {
	for _, f := range c.closers {
		f()
	}
	return nil
}

// Certify computes the certificates of a batch of images x (B, C, H, W) with labels.
// Exact inference draws no noise, so no random source is needed.
func (c *Certifier) Certify(x []float32, labels []int, batch int) ([]Result, error) {
	if len(labels) != batch {
		return nil, fmt.Errorf("certify: %d labels for %d images", len(labels), batch)
	}
	a := c.model.Model().Spec().Arch
	K, P := a.Classes, a.Pixels()
	for _, y := range labels {
		if y < 0 || y >= K {
			return nil, fmt.Errorf("certify: label %d outside [0,%d)", y, K)
		}
	}
	mo, err := c.model.Classify(x, batch, nil)
	if err != nil {
		return nil, err
	}
	do, err := c.dist.Classify(x, batch, nil)
	if err != nil {
		return nil, err
	}
	pred := mo.Pred()
	out := make([]Result, batch)
	for b := range out {
		r := Result{Label: labels[b], Pred: pred[b], L: make([]float64, K), D: make([]float64, K), Binding: -1}
		for k := 0; k < K; k++ {
			r.L[k] = float64(mo.Loss[b*K+k])
			r.D[k] = math.Sqrt(math.Max(0, float64(do.Loss[b*K+k])))
		}
		y := labels[b]
		var s2 float64
		rec := mo.Rec[(b*K+y)*P : (b*K+y+1)*P]
		for j, v := range x[b*P : (b+1)*P] {
			d := float64(v - rec[j])
			s2 += d * d
		}
		r.R = math.Sqrt(s2)
		if r.Pred == y {
			r.Eps, r.Binding, r.Valid = Radius(y, r.L[y], r.R, r.D)
		}
		out[b] = r
	}
	return out, nil
}
