package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// This file holds what the gradient attacks share: input checks, EOT averaging,
// per-sample losses on the logits, projections and the sub-batches of samples still
// being attacked.

// differentiable asserts the capability a gradient attack needs.
func differentiable(name string, m Classifier) (Differentiable, error) {
	d, ok := m.(Differentiable)
	if !ok {
		return nil, &UnsupportedError{Attack: name, Needs: "gradients (attack.Differentiable)"}
	}
	return d, nil
}

// checkRun validates a batch: its shape, labels in [0, classes), and pixels finite and
// in [0,1]. It returns the pixels per image.
func checkRun(name string, x []float32, y []int, batch, classes int) (int, error) {
	if batch <= 0 || len(x) == 0 || len(x)%batch != 0 || len(y) != batch {
		return 0, fmt.Errorf("attack %s: %d values and %d labels for a batch of %d", name, len(x), len(y), batch)
	}
	if classes < 2 {
		return 0, fmt.Errorf("attack %s: model has %d classes", name, classes)
	}
	for b, k := range y {
		if k < 0 || k >= classes {
			return 0, fmt.Errorf("attack %s: label %d of image %d outside [0,%d)", name, k, b, classes)
		}
	}
	n := len(x) / batch
	for i, v := range x {
		if !(v >= 0 && v <= 1) {
			return 0, fmt.Errorf("attack %s: pixel %d of image %d = %v, outside [0,1]", name, i%n, i/n, v)
		}
	}
	return n, nil
}

// checkEps rejects a budget that is not a positive finite number.
func checkEps(name string, eps float64) error {
	if !(eps > 0) || math.IsInf(eps, 1) {
		return fmt.Errorf("attack %s: budget eps = %g, want a positive number", name, eps)
	}
	return nil
}

// orDefault returns def for 0 and an error for a negative option.
func orDefault(name, opt string, v, def int) (int, error) {
	if v < 0 {
		return 0, fmt.Errorf("attack %s: %s = %d must not be negative", name, opt, v)
	}
	if v == 0 {
		return def, nil
	}
	return v, nil
}

// gradRun is what every gradient attack's Run checks first: the model's gradients,
// the classes K, the pixels per image n, and the steps and EOT options with their
// defaults.
type gradRun struct {
	d          Differentiable
	k, n       int
	steps, eot int
}

func startGrad(name string, m Classifier, x []float32, y []int, batch, steps, defSteps, eot int) (gradRun, error) {
	var g gradRun
	var err error
	if g.d, err = differentiable(name, m); err != nil {
		return g, err
	}
	g.k = g.d.Classes()
	if g.n, err = checkRun(name, x, y, batch, g.k); err != nil {
		return g, err
	}
	if g.steps, err = orDefault(name, "steps", steps, defSteps); err != nil {
		return g, err
	}
	g.eot, err = orDefault(name, "eot", eot, 1)
	return g, err
}

// EOTVJP is the expectation over transformation of a randomised model's logits and
// gradient (Athalye et al. 2018): it evaluates m n times on x, each time with the
// cotangent cot computed from that evaluation's logits, and returns the mean logits and
// the mean gradient. For a deterministic model n = 1 is exact. It fails on a NaN or
// infinite logit or gradient, which would otherwise derail an attack silently.
func EOTVJP(m Differentiable, x []float32, batch, n int, cot func(logits []float32) []float32) (logits, grad []float32, err error) {
	if n < 1 {
		return nil, nil, fmt.Errorf("attack: EOT over %d runs", n)
	}
	var sz, sg []float64
	for r := 0; r < n; r++ {
		z, g, err := m.LogitsVJP(x, batch, cot)
		if err != nil {
			return nil, nil, err
		}
		if len(g) != len(x) || len(z)%batch != 0 {
			return nil, nil, fmt.Errorf("attack: model returned %d logits and %d gradient values for %d images of %d values", len(z), len(g), batch, len(x)/batch)
		}
		if r == 0 {
			sz, sg = make([]float64, len(z)), make([]float64, len(g))
		}
		for i, v := range z {
			sz[i] += float64(v)
		}
		for i, v := range g {
			sg[i] += float64(v)
		}
	}
	logits, grad = make([]float32, len(sz)), make([]float32, len(sg))
	for i, v := range sz {
		logits[i] = float32(v / float64(n))
	}
	for i, v := range sg {
		grad[i] = float32(v / float64(n))
	}
	if err := finite("logits", logits); err != nil {
		return nil, nil, err
	}
	if err := finite("gradient", grad); err != nil {
		return nil, nil, err
	}
	return logits, grad, nil
}

// eotLogits is EOTVJP without the gradient.
func eotLogits(m Classifier, x []float32, batch, n int) ([]float32, error) {
	var sz []float64
	for r := 0; r < n; r++ {
		z, err := m.Logits(x, batch)
		if err != nil {
			return nil, err
		}
		if len(z) != batch*m.Classes() {
			return nil, fmt.Errorf("attack: model returned %d logits for %d images of %d classes", len(z), batch, m.Classes())
		}
		if r == 0 {
			sz = make([]float64, len(z))
		}
		for i, v := range z {
			sz[i] += float64(v)
		}
	}
	logits := make([]float32, len(sz))
	for i, v := range sz {
		logits[i] = float32(v / float64(n))
	}
	return logits, finite("logits", logits)
}

func finite(what string, v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("attack: model returned %s value %d = %v", what, i, x)
		}
	}
	return nil
}

// bestOther is the highest-scoring class other than y.
func bestOther(z []float32, y int) int {
	best := -1
	for j := range z {
		if j != y && (best < 0 || z[j] > z[best]) {
			best = j
		}
	}
	return best
}

// lossFn is a per-sample loss on one row of logits: its value and its derivative with
// respect to the logits (the cotangent of the input gradient).
type lossFn func(z []float32, y int) (loss float64, dz []float64)

// crossEntropy is CE(z, y) = logsumexp(z) - z_y = softplus(M), M = lseMargin(z, y), with
// dz = softmax(z) - e_y = sigmoid(M) dM/dz. Computed as softplus(M), CE keeps its value
// (about exp(M)) where the true class leads by far: logsumexp(z) - z_y rounds to exactly
// 0 in float64 once the lead passes about 37, every iterate then has the same loss, and
// APGD-CE's step-size rule and its choice of the best point compare these values.
func crossEntropy(z []float32, y int) (float64, []float64) {
	m, dz := lseMargin(z, y)
	sig := 1 / (1 + math.Exp(-m))
	for k := range dz {
		dz[k] *= sig
	}
	return softplus(m), dz
}

// softplus is log(1 + exp(v)), without overflow for large v and without rounding to 0
// for negative v down to about -745 (float64's smallest number is about exp(-745)).
func softplus(v float64) float64 {
	return math.Max(v, 0) + math.Log1p(math.Exp(-math.Abs(v)))
}

// lseMargin is the log-sum-exp margin M(z, y) = log sum_{k!=y} exp(z_k) - z_y, the loss of
// PGD and DDN: dz_k = softmax of the other logits, dz_y = -1. CE = log(1 + exp(M)) is an
// increasing function of it, so for one evaluation its steps (sign or normalised
// gradient) and its ordering of iterates are CE's exactly; what differs is that its
// cotangent never vanishes. CE's does, softmax(z) - e_y, once the true class leads by
// more than about 100: cast to the float32 a runtime's VJP takes, every entry underflows
// or cancels to 0 and the gradient is exactly zero (on an E-ABS, whose logits -l_k sum
// over thousands of pixels, a confidently classified image gets nothing but zero
// gradients from CE and looks robust). Under EOT the runs' gradients are averaged with equal weight instead of CE's weights sigmoid(M) per run.
func lseMargin(z []float32, y int) (float64, []float64) {
	m := math.Inf(-1)
	for k, v := range z {
		if k != y {
			m = math.Max(m, float64(v))
		}
	}
	var s float64
	dz := make([]float64, len(z))
	for k, v := range z {
		if k != y {
			dz[k] = math.Exp(float64(v) - m)
			s += dz[k]
		}
	}
	for k := range dz {
		dz[k] /= s
	}
	dz[y] = -1
	return m + math.Log(s) - float64(z[y]), dz
}

// dlr is Croce and Hein's difference-of-logits-ratio loss,
// -(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3 + 1e-12) with z_pi1 >= z_pi2 >= z_pi3 the
// three largest logits; it needs at least 3 classes. It is invariant to shifting and
// scaling the logits.
func dlr(z []float32, y int) (float64, []float64) {
	p1, _, p3 := top3(z)
	o := bestOther(z, y)
	num := float64(z[y]) - float64(z[o])
	den := float64(z[p1]) - float64(z[p3]) + 1e-12
	dz := make([]float64, len(z))
	// loss = -num/den: d/dz_y = -1/den, d/dz_o = +1/den, d/dz_p1 += num/den^2,
	// d/dz_p3 -= num/den^2.
	dz[y] -= 1 / den
	dz[o] += 1 / den
	dz[p1] += num / (den * den)
	dz[p3] -= num / (den * den)
	return -num / den, dz
}

// top3 returns the indices of the three largest logits, largest first.
func top3(z []float32) (int, int, int) {
	a, b, c := -1, -1, -1
	for j := range z {
		switch {
		case a < 0 || z[j] > z[a]:
			a, b, c = j, a, b
		case b < 0 || z[j] > z[b]:
			b, c = j, b
		case c < 0 || z[j] > z[c]:
			c = j
		}
	}
	return a, b, c
}

// sampler runs a Differentiable on a changing subset of a batch, with EOT, counting
// each sample's queries.
type sampler struct {
	m       Differentiable
	eot     int
	k, n    int
	y       []int
	queries []int
}

// vjp evaluates the images xs of samples idx, calling loss on each row of each run's
// logits, and returns the EOT-mean logits, the mean gradient of the loss and the loss of
// the mean logits per sample.
func (s *sampler) vjp(ctx context.Context, xs []float32, idx []int, loss lossFn) (logits, grad []float32, losses []float64, err error) {
	return s.vjpBy(ctx, xs, idx, func(z []float32, i int) (float64, []float64) { return loss(z, s.y[i]) })
}

// vjpBy is vjp with a loss that depends on the sample i, not only on its label (a
// targeted loss).
func (s *sampler) vjpBy(ctx context.Context, xs []float32, idx []int, loss func(z []float32, i int) (float64, []float64)) (logits, grad []float32, losses []float64, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	cot := func(z []float32) []float32 {
		v := make([]float32, len(z))
		for j, i := range idx {
			_, dz := loss(z[j*s.k:(j+1)*s.k], i)
			for c, d := range dz {
				v[j*s.k+c] = float32(d)
			}
		}
		return v
	}
	logits, grad, err = EOTVJP(s.m, xs, len(idx), s.eot, cot)
	if err != nil {
		return nil, nil, nil, err
	}
	losses = make([]float64, len(idx))
	for j, i := range idx {
		s.queries[i] += s.eot
		losses[j], _ = loss(logits[j*s.k:(j+1)*s.k], i)
	}
	return logits, grad, losses, nil
}

// logits evaluates the images xs of samples idx without a gradient.
func (s *sampler) logits(ctx context.Context, xs []float32, idx []int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	z, err := eotLogits(s.m, xs, len(idx), s.eot)
	if err != nil {
		return nil, err
	}
	for _, i := range idx {
		s.queries[i] += s.eot
	}
	return z, nil
}

// newFound starts an answer with Adv = x and nothing found.
func newFound(x []float32, batch int) *Found {
	return &Found{Adv: append([]float32(nil), x...), Ok: make([]bool, batch), Queries: make([]int, batch)}
}

// gather copies the images of samples idx out of x.
func gather(x []float32, idx []int, n int) []float32 {
	out := make([]float32, 0, len(idx)*n)
	for _, i := range idx {
		out = append(out, x[i*n:(i+1)*n]...)
	}
	return out
}

// keep drops the rows j of a sub-batch (values of n per row) where drop[j], returning
// the compacted slices.
func keep(drop []bool, idx []int, n int, rows ...*[]float32) []int {
	out := idx[:0]
	w := 0
	for j, i := range idx {
		if drop[j] {
			continue
		}
		out = append(out, i)
		for _, r := range rows {
			copy((*r)[w*n:(w+1)*n], (*r)[j*n:(j+1)*n])
		}
		w++
	}
	for _, r := range rows {
		*r = (*r)[:w*n]
	}
	return out
}

// project moves d back into the eps-ball of the norm around o and into [0,1]. The L2
// projection rescales the perturbation first and clips to the box second, which can
// only shorten it.
func project(norm Norm, d, o []float32, eps float64) {
	switch norm {
	case Linf:
		for i := range d {
			lo, hi := float64(o[i])-eps, float64(o[i])+eps
			d[i] = float32(min(max(float64(d[i]), lo), hi))
		}
	case L2:
		var s float64
		for i := range d {
			v := float64(d[i]) - float64(o[i])
			s += v * v
		}
		if nrm := math.Sqrt(s); nrm > eps {
			f := eps / nrm
			for i := range d {
				d[i] = float32(float64(o[i]) + (float64(d[i])-float64(o[i]))*f)
			}
		}
	}
	clip01(d)
}

func clip01(d []float32) {
	for i := range d {
		d[i] = min(max(d[i], 0), 1)
	}
}

// randomStart returns a uniform point of the Linf ball, or for L2 a uniformly random
// direction at a radius uniform in volume (eps * u^(1/n)), projected into [0,1].
func randomStart(norm Norm, o []float32, eps float64, rng *rand.Rand) []float32 {
	d := append([]float32(nil), o...)
	switch norm {
	case Linf:
		for i := range d {
			d[i] = float32(float64(d[i]) + (2*rng.Float64()-1)*eps)
		}
	case L2:
		dir := make([]float64, len(d))
		var s float64
		for i := range dir {
			dir[i] = rng.NormFloat64()
			s += dir[i] * dir[i]
		}
		r := eps * math.Pow(rng.Float64(), 1/float64(len(d))) / math.Sqrt(s)
		for i := range d {
			d[i] = float32(float64(d[i]) + dir[i]*r)
		}
	}
	project(norm, d, o, eps)
	return d
}

// l2 is the Euclidean norm of a float32 vector, in float64.
func l2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// dist is the norm's distance between two images, in float64.
func dist(norm Norm, a, b []float32) float64 {
	var s float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if norm == Linf {
			s = math.Max(s, d)
		} else {
			s += d * d
		}
	}
	if norm == Linf {
		return s
	}
	return math.Sqrt(s)
}

// checkNorm rejects a norm other than Linf and L2.
func checkNorm(name string, norm Norm) error {
	if norm != Linf && norm != L2 {
		return fmt.Errorf("attack %s: unknown norm %q (want linf or l2)", name, norm)
	}
	return nil
}
