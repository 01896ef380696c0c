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
// l*_y makes eps* smaller (safe), but an upper bound of d_k makes it larger. Three
// things keep d_k as low as the computation allows:
//
//   - every point any search evaluated bounds d_k: d_k <= ||x - G_k(z)|| for every z the
//     model's own inference or the distance search visited (the model's inference,
//     pulled by its prior, can end in a closer basin than the prior-free search);
//   - the minimisations are restarted from independent start banks (Options.Restarts;
//     restarts after the first without the deterministic encoder start) until the
//     binding d_k stops moving (Options.DTol), at most Options.MaxRestarts times; images
//     that did not settle are marked (Result.Converged) and listed by Summarise;
//   - AuditDistances searches d_k again with other banks and seeds and another
//     optimiser (audit.go), and reports where it finds a smaller d_k.
//
// l*_y and r are taken where l*_y is lowest (the bound holds for any z, so the lowest
// l*_y is the tightest). eps* is a lower bound under exact inference only as far as the
// d_k found are the true minima: every output says so (Options.Label).
package certify

import (
	"fmt"
	"math"
	"runtime/debug"
	"slices"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ref"
)

// Options are the settings of a certification.
type Options struct {
	// Infer gives the starts, Adam steps, step size and the first bank seed of both
	// minimisations; exact inference is forced.
	Infer infer.Options `json:"inference"`
	// Restarts is the number of independent minimisations every image gets: restart i
	// draws its start bank with seed Infer.BankSeed + i. d_k is the minimum over
	// restarts.
	Restarts int `json:"restarts"`
	// MaxRestarts caps the restarts of an image whose certificate has not settled:
	// after Restarts, an image is restarted again until its last restart left the
	// prediction unchanged and lowered the binding class's d_k by at most DTol. A
	// fixed count cannot tell a converged d_k from one the optimiser is still
	// lowering (on the MNIST E-ABS, the third restart still lowered it by more than
	// 1e-3 on 56 of 500 images). 0 means Restarts: a fixed count, no image converged
	// unless it settled by then.
	MaxRestarts int `json:"max_restarts"`
	// DTol is the convergence tolerance (L2) on the binding class's d_k.
	DTol float64 `json:"d_tol"`
	// Chunk is the number of bank means decoded per call: the reference graph keeps a
	// compiled program (with its float64 buffers) per batch size, so this bounds memory
	// (500 means x 10 decoders took 4 GB; 50 keeps it to a few hundred MB).
	Chunk int `json:"chunk"`
}

// DefaultOptions are the paper's 8000 starts and ABS's Adam (step 0.05) with the effort
// chosen from a measured convergence curve (docs/choices.md):
// 3 restarts x 100 steps, then up to 10 restarts for images whose binding d_k still
// moved by more than 1e-3 (the smallest change the convergence curve counts).
func DefaultOptions() Options {
	o := infer.DefaultOptions()
	o.Steps = 100
	o.Exact = true
	return Options{Infer: o, Restarts: 3, MaxRestarts: 10, DTol: 1e-3, Chunk: 50}
}

// maxRestarts is the cap actually applied (MaxRestarts 0 means Restarts).
func (o Options) maxRestarts() int { return max(o.MaxRestarts, o.Restarts) }

// Label names what the radii are: every output carries it.
func (o Options) Label() string {
	l := fmt.Sprintf("lower bound under exact inference, d_k from %d restarts x %d steps", o.Restarts, o.Infer.Steps)
	if o.maxRestarts() > o.Restarts {
		l += fmt.Sprintf(", then more (up to %d) until the binding d_k moves by <= %g", o.maxRestarts(), o.DTol)
	}
	return l
}

func (o *Options) check() error {
	if o.Restarts < 1 {
		return fmt.Errorf("certify: %d restarts: want at least 1", o.Restarts)
	}
	if o.MaxRestarts != 0 && o.MaxRestarts < o.Restarts {
		return fmt.Errorf("certify: at most %d restarts is fewer than the %d every image gets", o.MaxRestarts, o.Restarts)
	}
	if !(o.DTol >= 0) {
		return fmt.Errorf("certify: convergence tolerance %g must be a non-negative number", o.DTol)
	}
	if o.Chunk <= 0 {
		o.Chunk = 50
	}
	if o.Infer.Starts < 0 || o.Infer.Steps < 0 {
		return fmt.Errorf("certify: %d starts and %d steps must not be negative", o.Infer.Starts, o.Infer.Steps)
	}
	if o.Infer.Starts == 0 && o.maxRestarts() > 1 {
		// Restarts after the first hide the encoder's start and draw only from
		// their bank: with no bank there is nothing to start from.
		return fmt.Errorf("certify: with 0 starts, restarts after the first have no start (they draw from a fresh bank without the encoder's start): use 1 restart or some starts")
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
	// D[k]^2 <= L[k] and D[k]^2 <= RecMin[k] hold exactly (in float64).
	L []float64 `json:"l"`
	D []float64 `json:"d"`
	// RecMin holds, per class, the smallest squared reconstruction error
	// ||x - G_k(z)||^2 over every point any search of any restart evaluated (the
	// model's inference and the distance search); DSearch the distance search's own
	// d_k (minimum over restarts). D is below DSearch where a point the model's
	// inference evaluated was closer than anything the distance search found.
	RecMin  []float64 `json:"rec_min"`
	DSearch []float64 `json:"d_search"`
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
	// radius and binding class restart i alone gives (with its own l*_y, r and
	// prediction: 0 and -1 where it alone misclassifies).
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
	// Restarts is the number of restarts the image got; DLastDrop how much the last
	// one lowered the binding class's d_k (0 with one restart or no binding class).
	Restarts  int     `json:"restarts"`
	DLastDrop float64 `json:"d_last_drop"`
	// Converged says the certificate settled: the last of at least two restarts left
	// the prediction unchanged and lowered the binding d_k by at most Options.DTol.
	// Certify sets it; FirstRestarts leaves it false.
	Converged bool `json:"converged"`
	// Audit is the independent search's check of d_k (nil when not run).
	Audit *Audit `json:"audit,omitempty"`
	// Validation is the attack check of the certificate (nil when not run).
	Validation *Validation `json:"validation,omitempty"`
}

// Position implements shard.Positioned.
func (r Result) Position() int { return r.Pos }

// Radius evaluates eps* from l*_y, r and the distances d_k (k = y is skipped). A rival
// whose radius is not a number (a NaN input, or d_k = +Inf) makes the certificate
// undefined: it certifies nothing (eps 0, that class binding, not valid), since
// skipping the rival would certify against the other classes only.
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
		if math.IsNaN(e) || math.IsNaN(dk) || math.IsNaN(ly) || math.IsNaN(r) {
			return 0, k, false
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
	if !(ms.Beta >= 0) {
		// l_k = ||x - G_k(z)||^2 + prior bounds d_k^2 only for a non-negative prior.
		return nil, fmt.Errorf("certify: the model's beta %g is negative: its loss no longer bounds the reconstruction error", ms.Beta)
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
// images at a time. Every image gets Options.Restarts restarts; those whose
// certificate has not settled then get more, one restart at a time, up to
// Options.MaxRestarts. Restart 0 reuses the model's start bank and the encoder's
// start; every further restart draws, decodes and drops its own bank (without the
// encoder's start), so memory holds at most two banks. An image's result does not
// depend on which other images share its restarts (inference is batch-invariant).
// tick reports (done, total) image-minimisations, total growing as restarts are
// added.
func (c *Certifier) Certify(x []float32, labels []int, batch int, tick func(done, total int)) ([]Result, error) {
	return c.CertifyFrom(x, labels, batch, nil, nil, tick)
}

// Pass is how far a certification got: Results after Restarts restarts, and the images
// (indices into them) that still need more. A certification saved after each restart
// resumes from its last Pass.
type Pass struct {
	Restarts int      `json:"restarts_done"`
	Active   []int    `json:"active"`
	Results  []Result `json:"results"`
}

// CertifyFrom is Certify continued from a saved pass (nil: from the start), calling
// save after every restart with the pass so far (nil: no saves).
func (c *Certifier) CertifyFrom(x []float32, labels []int, batch int, from *Pass, save func(*Pass) error, tick func(done, total int)) ([]Result, error) {
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
	pass := &Pass{Results: make([]Result, n), Active: make([]int, n)}
	for i := range pass.Results {
		pass.Results[i] = Result{Index: i, Pos: i, Label: labels[i], Binding: -1}
		pass.Active[i] = i
	}
	if from != nil {
		if len(from.Results) != n {
			return nil, fmt.Errorf("certify: a saved pass of %d images for %d", len(from.Results), n)
		}
		pass = from
	}
	out := pass.Results
	done, total := 0, n*c.opt.Restarts
	progress := func(d int) {
		done += d
		if tick != nil {
			tick(done, total)
		}
	}
	for r := pass.Restarts; r < c.opt.maxRestarts() && len(pass.Active) > 0; r++ {
		if r >= c.opt.Restarts {
			total += len(pass.Active)
		}
		if err := c.restart(r, x, labels, pass.Active, out, batch, progress); err != nil {
			return nil, err
		}
		var keep []int
		for _, i := range pass.Active {
			finish(&out[i])
			out[i].Converged = out[i].settled(c.opt.DTol)
			if r+1 < c.opt.Restarts || !out[i].Converged {
				keep = append(keep, i)
			}
		}
		pass.Active, pass.Restarts = keep, r+1
		if save != nil {
			if err := save(pass); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// restart runs restart r of both minimisations on the images idx, appending its l*_k,
// r and d_k to their results. progress is called with the images done per batch.
func (c *Certifier) restart(r int, x []float32, labels, idx []int, out []Result, batch int, progress func(int)) error {
	a := c.model.Spec().Arch
	K, P := a.Classes, a.Pixels()
	mrec, drec := &recorder{Model: c.model}, &recorder{Model: c.dist}
	var mm, dm runtime.Model = mrec, drec
	bk := c.eng.Bank()
	if r > 0 {
		o := c.opt.Infer
		o.BankSeed += uint64(r)
		debug.FreeOSMemory() // the previous restart's bank: at most two banks live
		var err error
		if bk, err = infer.NewBank(c.model, o, c.opt.Chunk, nil); err != nil {
			return err
		}
		mm, dm = bankOnly{mrec}, bankOnly{drec}
	}
	meng, err := infer.NewEngineWithBank(mm, c.opt.Infer, bk, nil)
	if err != nil {
		return err
	}
	deng, err := infer.NewEngineWithBank(dm, c.opt.Infer, bk, make([]float32, bk.S))
	if err != nil {
		return err
	}
	xb := make([]float32, 0, batch*P)
	for lo := 0; lo < len(idx); lo += batch {
		ids := idx[lo:min(lo+batch, len(idx))]
		xb = xb[:0]
		for _, i := range ids {
			xb = append(xb, x[i*P:(i+1)*P]...)
		}
		mrec.reset()
		drec.reset()
		mo, err := meng.Classify(xb, len(ids), nil)
		if err != nil {
			return err
		}
		do, err := deng.Classify(xb, len(ids), nil)
		if err != nil {
			return err
		}
		for b, i := range ids {
			res := &out[i]
			if res.RecMin == nil {
				res.RecMin, res.DSearch = make([]float64, K), make([]float64, K)
				for k := range res.RecMin {
					res.RecMin[k], res.DSearch[k] = math.Inf(1), math.Inf(1)
				}
			}
			l, d := make([]float64, K), make([]float64, K)
			for k := range l {
				j := b*K + k
				l[k] = float64(mo.Loss[j])
				rec := min(mrec.best[j], drec.best[j])
				search := math.Max(0, float64(do.Loss[j]))
				// Every evaluated point bounds d_k^2: the distance search's own
				// minimum, the reconstruction error at every point either
				// search visited, and l_k itself (the reconstruction error at
				// z*_k plus a non-negative prior).
				d[k] = sqrtDown(min(search, rec, l[k]))
				res.RecMin[k] = min(res.RecMin[k], rec)
				res.DSearch[k] = min(res.DSearch[k], sqrtDown(search))
			}
			y := labels[i]
			res.LRestarts = append(res.LRestarts, l)
			res.DRestarts = append(res.DRestarts, d)
			res.RRestarts = append(res.RRestarts, math.Sqrt(floats.SqDist(x[i*P:(i+1)*P], mo.Rec[(b*K+y)*P:(b*K+y+1)*P])))
		}
		progress(len(ids))
	}
	return nil
}

// sqrtDown is the largest float64 whose square does not exceed v (v >= 0): the
// certificate's d_k^2 stays at or below the evaluated value it comes from even after
// rounding, and a smaller d_k only lowers eps*.
func sqrtDown(v float64) float64 {
	d := math.Sqrt(v)
	for d*d > v {
		d = math.Nextafter(d, 0)
	}
	return d
}

// recorder passes a model through and keeps, per row of the batch being inferred and
// class, the smallest squared reconstruction error ||x - G_k(z)||^2 over its latent
// steps, in float64 from the reconstructions. infer.Engine.Classify evaluates every
// point (the chosen start, each Adam iterate, the final mean) by a latent step, so this
// sees every point the inference visited. One recorder serves one engine, used by one
// goroutine; reset before each batch.
type recorder struct {
	runtime.Model
	best []float64 // (B, K)
}

func (r *recorder) reset() { r.best = nil }

// LatentStep implements runtime.Model.
func (r *recorder) LatentStep(x, mu, logvar, eps []float32, batch int) (*runtime.Step, error) {
	st, err := r.Model.LatentStep(x, mu, logvar, eps, batch)
	if err != nil {
		return nil, err
	}
	P := len(x) / batch
	if r.best == nil {
		r.best = make([]float64, len(st.Loss))
		for i := range r.best {
			r.best[i] = math.Inf(1)
		}
	}
	K := len(st.Loss) / batch
	for i := range st.Loss {
		b := i / K
		if v := floats.SqDist(x[b*P:(b+1)*P], st.Rec[i*P:(i+1)*P]); v < r.best[i] { // not min: a NaN bounds nothing
			r.best[i] = v
		}
	}
	return st, nil
}

// FirstRestarts returns the certificate the first j restarts alone give (the
// convergence curve's points): l*_k, d_k the minima over them, r where l*_y is lowest.
// RecMin, DSearch, Audit, Validation and Converged are not carried over.
func (r Result) FirstRestarts(j int) Result {
	j = min(j, len(r.DRestarts))
	o := Result{Index: r.Index, Pos: r.Pos, Label: r.Label,
		DRestarts: r.DRestarts[:j], LRestarts: r.LRestarts[:j], RRestarts: r.RRestarts[:j]}
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

// minima returns the certificate's inputs from the first j restarts: l*_k and d_k their
// minima, r at the restart with the lowest l*_y, and the prediction argmin_k l*_k.
func (r *Result) minima(j int) (l, d []float64, rr float64, pred int) {
	l, d = slices.Clone(r.LRestarts[0]), slices.Clone(r.DRestarts[0])
	rr = r.RRestarts[0]
	for i := 1; i < j; i++ {
		if r.LRestarts[i][r.Label] < l[r.Label] {
			rr = r.RRestarts[i]
		}
		for k := range l {
			l[k] = math.Min(l[k], r.LRestarts[i][k])
			d[k] = math.Min(d[k], r.DRestarts[i][k])
		}
	}
	return l, d, rr, argmin(l)
}

func argmin(v []float64) int {
	b := 0
	for k, x := range v {
		if x < v[b] {
			b = k
		}
	}
	return b
}

// settled reports whether the last of at least two restarts left the prediction as it
// was and lowered the binding class's d_k by at most tol (finish must have run).
func (r *Result) settled(tol float64) bool {
	j := len(r.DRestarts)
	if j < 2 {
		return false
	}
	_, _, _, prev := r.minima(j - 1)
	return prev == r.Pred && r.DLastDrop <= tol
}

// finish computes the certificate from the per-restart minima: l*_k, d_k, r, the
// prediction and the radius, the radius each restart alone gives, their spread, and how
// much the last restart lowered the binding d_k.
func finish(res *Result) {
	j := len(res.DRestarts)
	res.Restarts = j
	res.L, res.D, res.R, res.Pred = res.minima(j)
	res.Eps, res.Binding, res.Valid = 0, -1, false
	res.EpsRestarts, res.BindingRestarts = nil, nil
	res.EpsSpread, res.DSpread, res.DLastDrop, res.BindingChanged = 0, 0, 0, false
	y := res.Label
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, d := range res.DRestarts {
		e, b := 0.0, -1
		if argmin(res.LRestarts[i]) == y {
			e, b, _ = Radius(y, res.LRestarts[i][y], res.RRestarts[i], d)
		}
		res.EpsRestarts = append(res.EpsRestarts, e)
		res.BindingRestarts = append(res.BindingRestarts, b)
		lo, hi = math.Min(lo, e), math.Max(hi, e)
		if b != res.BindingRestarts[0] {
			res.BindingChanged = true
		}
	}
	if res.Pred != y {
		return
	}
	res.Eps, res.Binding, res.Valid = Radius(y, res.L[y], res.R, res.D)
	res.EpsSpread = hi - lo
	if slices.Contains(res.BindingRestarts, -1) {
		res.BindingChanged = true
	}
	dlo, dhi := math.Inf(1), math.Inf(-1)
	for _, d := range res.DRestarts {
		dlo, dhi = math.Min(dlo, d[res.Binding]), math.Max(dhi, d[res.Binding])
	}
	res.DSpread = dhi - dlo
	if j >= 2 {
		_, prev, _, _ := res.minima(j - 1)
		res.DLastDrop = prev[res.Binding] - res.D[res.Binding]
	}
}
