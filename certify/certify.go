// Package certify computes the per-sample certified lower bound eps* on the L2 distance to
// the nearest adversarial example (Ju & Wagner 2020, Appendix A), on the Go-native
// reference graph by default or on any runtime.Model; and, for comparison, randomized
// smoothing certificates (Cohen et al. 2019) for any classifier (smoothing.go).
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
// l*_y makes eps* smaller (safe), but an upper bound of d_k makes it larger. So both
// minimisations are run several times from independent start banks (Options.Restarts;
// restarts after the first without the deterministic encoder start) and the smallest
// values are used (r where l*_y is smallest: the bound holds for any z, so the lowest
// l*_y is the tightest); the spread across restarts and whether the binding class
// changed are kept per sample, so a user can see how far the optimiser had converged. eps* is a lower bound under exact inference only as far as the d_k found
// are the true minima: every output says so (Options.Label).
package certify

import (
	"fmt"
	"math"
	"runtime/debug"
	"slices"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ref"
)

// Options are the settings of a certification.
type Options struct {
	// Infer gives the starts, Adam steps, step size and the first bank seed of both
	// minimisations; exact inference is forced.
	Infer infer.Options `json:"inference"`
	// Restarts is the number of independent minimisations of d_k: restart i draws its
	// start bank with seed Infer.BankSeed + i. d_k is the minimum over restarts.
	Restarts int `json:"restarts"`
	// Chunk is the number of bank means decoded per call: the reference graph keeps a
	// compiled program (with its float64 buffers) per batch size, so this bounds memory
	// (500 means x 10 decoders took 4 GB; 50 keeps it to a few hundred MB).
	Chunk int `json:"chunk"`
}

// DefaultOptions are the paper's 8000 starts and ABS's Adam (step 0.05) with the effort
// chosen from the convergence curve in results/mnist-eabs/certify/convergence.json:
// 3 restarts x 100 steps (see the README there for the measurement).
func DefaultOptions() Options {
	o := infer.DefaultOptions()
	o.Steps = 100
	o.Exact = true
	return Options{Infer: o, Restarts: 3, Chunk: 50}
}

// Label names what the radii are: every output carries it.
func (o Options) Label() string {
	return fmt.Sprintf("lower bound under exact inference, d_k from %d restarts x %d steps", o.Restarts, o.Infer.Steps)
}

func (o *Options) check() error {
	if o.Restarts < 1 {
		return fmt.Errorf("certify: %d restarts: want at least 1", o.Restarts)
	}
	if o.Chunk <= 0 {
		o.Chunk = 50
	}
	if o.Infer.Starts < 0 || o.Infer.Steps < 0 {
		return fmt.Errorf("certify: %d starts and %d steps must not be negative", o.Infer.Starts, o.Infer.Steps)
	}
	o.Infer.Exact = true
	return nil
}

// Result is the certificate of one image.
type Result struct {
	// Index is the image's index in its split; Pos its position in the sample list
	// (what sharded runs are merged by).
	Index int `json:"index"`
	Pos   int `json:"position"`
	Label int `json:"label"`
	// Pred is argmin_k l*_k(x) under exact inference (l*_k the minimum over restarts).
	Pred int `json:"pred"`
	// L holds l*_k(x) and D holds d_k(x) (the minimum over restarts) for every class.
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
	// DRestarts[i] and LRestarts[i] hold the d_k and l*_k of restart i (L and D are
	// their minima, R is taken where l*_y is); EpsRestarts and BindingRestarts the
	// radius and binding class each restart alone would give.
	DRestarts       [][]float64 `json:"d_restarts"`
	LRestarts       [][]float64 `json:"l_restarts"`
	RRestarts       []float64   `json:"r_restarts"`
	EpsRestarts     []float64   `json:"eps_restarts"`
	BindingRestarts []int       `json:"binding_restarts"`
	// EpsSpread is max - min of EpsRestarts and DSpread max - min over restarts of
	// d_k for the binding class: 0 when every restart found the same minimum.
	EpsSpread float64 `json:"eps_spread"`
	DSpread   float64 `json:"d_spread"`
	// BindingChanged says that restarts disagreed on the binding class.
	BindingChanged bool `json:"binding_changed"`
	// Validation is the attack check of the certificate (nil when not run).
	Validation *Validation `json:"validation,omitempty"`
}

// Position implements shard.Positioned.
func (r Result) Position() int { return r.Pos }

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

// Certifier holds the engines the bound needs: the model itself (for l*_k and z*) and
// the same decoders without the prior term (for d_k).
type Certifier struct {
	model, dist runtime.Model
	opt         Options
	eng         *infer.Engine // the model, exact inference, bank seed Infer.BankSeed
	closers     []func() error
}

// New prepares certification of a generative model on the reference graph (float64),
// the source of truth. tick reports the first start bank's progress.
func New(w *models.Weights, opt Options, tick func(done, total int)) (*Certifier, error) {
	if w.Spec.Kind != models.Generative {
		return nil, fmt.Errorf("certify: %s is not a generative model", w.Spec.Name())
	}
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
	c, err := NewWith(m, d, opt, tick)
	if err != nil {
		m.Close()
		d.Close()
		return nil, err
	}
	c.closers = append(c.closers, m.Close, d.Close)
	return c, nil
}

// NewWith prepares certification with two engines of the same decoders: model with
// its prior (beta > 0 for E-ABS) and dist with beta = 0, whose latent step is
// ||x - G_k(z)||^2 alone. The caller keeps ownership of both.
func NewWith(model, dist runtime.Model, opt Options, tick func(done, total int)) (*Certifier, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	ms, ds := model.Spec(), dist.Spec()
	if ms.Kind != models.Generative {
		return nil, fmt.Errorf("certify: %s is not a generative model", ms.Name())
	}
	if ds.Beta != 0 {
		return nil, fmt.Errorf("certify: the distance engine has beta %g: d_k must be minimised without the prior term", ds.Beta)
	}
	if ms.Arch.Classes != ds.Arch.Classes || ms.Arch.Latent != ds.Arch.Latent || ms.Arch.Pixels() != ds.Arch.Pixels() {
		return nil, fmt.Errorf("certify: the distance engine's architecture differs from the model's")
	}
	bk, err := infer.NewBank(model, opt.Infer, opt.Chunk, tick)
	if err != nil {
		return nil, err
	}
	eng, err := infer.NewEngineWithBank(model, opt.Infer, bk, nil)
	if err != nil {
		return nil, err
	}
	return &Certifier{model: model, dist: dist, opt: opt, eng: eng}, nil
}

// Options returns the certifier's settings.
func (c *Certifier) Options() Options { return c.opt }

// Engine returns the exact-inference engine of the model: the classifier the bound
// is about.
func (c *Certifier) Engine() *infer.Engine { return c.eng }

// Close releases the engines New opened.
func (c *Certifier) Close() error {
	for _, f := range c.closers {
		f()
	}
	c.closers = nil
	return nil
}

// Certify computes the certificates of n images x (n, C, H, W) with labels, batch
// images at a time. Restart 0 reuses the model's start bank and the encoder's start;
// every further restart draws, decodes and drops its own bank (without the encoder's
// start), so memory holds at most two banks. tick reports
// (done, total) image-minimisations (n per restart).
func (c *Certifier) Certify(x []float32, labels []int, batch int, tick func(done, total int)) ([]Result, error) {
	n := len(labels)
	a := c.model.Spec().Arch
	K, P := a.Classes, a.Pixels()
	if len(x) != n*P {
		return nil, fmt.Errorf("certify: %d values for %d images of %d pixels", len(x), n, P)
	}
	if batch < 1 {
		return nil, fmt.Errorf("certify: batch %d must be positive", batch)
	}
	for _, y := range labels {
		if y < 0 || y >= K {
			return nil, fmt.Errorf("certify: label %d outside [0,%d)", y, K)
		}
	}
	R := c.opt.Restarts
	out := make([]Result, n)
	for b := range out {
		out[b] = Result{Index: b, Pos: b, Label: labels[b], L: make([]float64, K), Binding: -1, DRestarts: make([][]float64, R), LRestarts: make([][]float64, R), RRestarts: make([]float64, R)}
	}
	total, done := n*R, 0
	zero := make([]float32, c.eng.Bank().S)
	for r := 0; r < R; r++ {
		bk := c.eng.Bank()
		if r > 0 {
			o := c.opt.Infer
			o.BankSeed += uint64(r)
			var err error
			bk = nil
			debug.FreeOSMemory() // the previous restart's bank: at most two banks live
			if bk, err = infer.NewBank(c.model, o, c.opt.Chunk, nil); err != nil {
				return nil, err
			}
		}
		meng, dm := c.eng, c.dist
		if r > 0 {
			dm = bankOnly{c.dist}
			var err error
			if meng, err = infer.NewEngineWithBank(bankOnly{c.model}, c.opt.Infer, bk, nil); err != nil {
				return nil, err
			}
		}
		dist, err := infer.NewEngineWithBank(dm, c.opt.Infer, bk, zero)
		if err != nil {
			return nil, err
		}
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			xb := x[lo*P : hi*P]
			mo, err := meng.Classify(xb, hi-lo, nil)
			if err != nil {
				return nil, err
			}
			for i := lo; i < hi; i++ {
				res := &out[i]
				l := make([]float64, K)
				for k := 0; k < K; k++ {
					l[k] = float64(mo.Loss[(i-lo)*K+k])
				}
				res.LRestarts[r] = l
				// l*_y and r come from the same point z*_y: the restart with the
				// lowest l*_y (any z gives a valid bound; the lowest the tightest).
				y := res.Label
				rec := mo.Rec[((i-lo)*K+y)*P : ((i-lo)*K+y+1)*P]
				var s2 float64
				for j, v := range x[i*P : (i+1)*P] {
					d := float64(v) - float64(rec[j])
					s2 += d * d
				}
				res.RRestarts[r] = math.Sqrt(s2)
				if r == 0 || l[y] < res.L[y] {
					res.R = res.RRestarts[r]
				}
				for k := range l {
					if r == 0 || l[k] < res.L[k] {
						res.L[k] = l[k]
					}
				}
			}
			do, err := dist.Classify(xb, hi-lo, nil)
			if err != nil {
				return nil, err
			}
			for i := lo; i < hi; i++ {
				d := make([]float64, K)
				for k := range d {
					d[k] = math.Sqrt(math.Max(0, float64(do.Loss[(i-lo)*K+k])))
				}
				out[i].DRestarts[r] = d
			}
			done += hi - lo
			if tick != nil {
				tick(done, total)
			}
		}
	}
	for i := range out {
		finish(&out[i])
	}
	return out, nil
}

// FirstRestarts returns the certificate the first j restarts alone give (the
// convergence curve's points): l*_k, d_k the minima over them, r where l*_y is lowest.
func (r Result) FirstRestarts(j int) Result {
	j = min(j, len(r.DRestarts))
	o := Result{Index: r.Index, Pos: r.Pos, Label: r.Label, L: slices.Clone(r.LRestarts[0]), R: r.RRestarts[0],
		DRestarts: r.DRestarts[:j], LRestarts: r.LRestarts[:j], RRestarts: r.RRestarts[:j]}
	for i := 1; i < j; i++ {
		if r.LRestarts[i][r.Label] < o.L[r.Label] {
			o.R = r.RRestarts[i]
		}
		for k, l := range r.LRestarts[i] {
			o.L[k] = math.Min(o.L[k], l)
		}
	}
	finish(&o)
	return o
}

// bankOnly hides the encoder's start from the inference of restarts after the first:
// its mean is NaN, so its loss never wins the comparison with the bank's best start
// (infer.Engine takes the encoder's start only when its loss is <= the bank's). The
// encoder's start is deterministic, so without this every restart whose bank loses to
// it would repeat restart 0's minimisation exactly, and the spread across restarts
// would say nothing.
type bankOnly struct{ runtime.Model }

func (b bankOnly) Encode(x []float32, batch int) (mu, logvar []float32, err error) {
	mu, logvar, err = b.Model.Encode(x, batch)
	for i := range mu {
		mu[i] = float32(math.NaN())
	}
	return mu, logvar, err
}

// DiscLogit passes the discriminator through (the bank's prior needs it).
func (b bankOnly) DiscLogit(z []float32, n int) ([]float32, error) {
	d, ok := b.Model.(runtime.Discriminator)
	if !ok {
		return nil, fmt.Errorf("certify: the runtime has no discriminator")
	}
	return d.DiscLogit(z, n)
}

// finish takes d_k as the minimum over restarts and computes the radius, the radius of
// each restart alone and their spread.
func finish(res *Result) {
	K := len(res.L)
	res.D = make([]float64, K)
	for k := range res.D {
		res.D[k] = math.Inf(1)
		for _, d := range res.DRestarts {
			res.D[k] = math.Min(res.D[k], d[k])
		}
	}
	res.Pred = 0
	for k, l := range res.L {
		if l < res.L[res.Pred] {
			res.Pred = k
		}
	}
	res.Eps, res.Binding, res.Valid = 0, -1, false
	res.EpsRestarts, res.BindingRestarts = nil, nil
	res.EpsSpread, res.DSpread, res.BindingChanged = 0, 0, false
	if res.Pred != res.Label {
		return
	}
	y := res.Label
	res.Eps, res.Binding, res.Valid = Radius(y, res.L[y], res.R, res.D)
	lo, hi := math.Inf(1), math.Inf(-1)
	dlo, dhi := math.Inf(1), math.Inf(-1)
	for _, d := range res.DRestarts {
		e, b, _ := Radius(y, res.L[y], res.R, d)
		res.EpsRestarts = append(res.EpsRestarts, e)
		res.BindingRestarts = append(res.BindingRestarts, b)
		lo, hi = math.Min(lo, e), math.Max(hi, e)
		dlo, dhi = math.Min(dlo, d[res.Binding]), math.Max(dhi, d[res.Binding])
		if b != res.BindingRestarts[0] {
			res.BindingChanged = true
		}
	}
	res.EpsSpread, res.DSpread = hi-lo, dhi-dlo
	if slices.Contains(res.BindingRestarts, -1) {
		res.BindingChanged = true
	}
}
