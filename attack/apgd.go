package attack

// APGD: Croce and Hein 2020, "Reliable evaluation of adversarial robustness with an
// ensemble of diverse parameter-free attacks" (ICML), the attack AutoAttack and
// RobustBench trust; written from the paper's Algorithm 1 and Section 3.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/internal/floats"
)

// APGD is Auto-PGD, an Attack: PGD with momentum whose step size starts at 2*eps and
// halves at checkpoints where the loss stopped rising. From a random point at distance
// eps (Linf: x + eps*t/||t||_inf with t uniform in [-1,1]^n; L2: x + eps*t/||t||_2
// with t Gaussian), each iteration takes
//
//	z = P(x_k + eta * s(g_k)),   x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1}))
//
// with s the sign (Linf) or the unit direction (L2), P the projection onto the eps-ball
// and the [0,1] box, and alpha = 0.75 (1 at the first iteration). At the checkpoints
// w_j = ceil(p_j * Steps) with p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} -
// 0.03, 0.06) (see APGDCheckpoints), the step size halves and the iterate restarts from
// the best point when (1) at most Rho of the steps since the last checkpoint raised the
// loss, or (2) the step size was not halved at the last checkpoint and the best loss did
// not improve since. Losses: "ce" (cross-entropy) or "dlr", the difference of logits
// ratio -(z_y - max_{i!=y} z_i)/(z_pi1 - z_pi3), invariant to the logits' scale (needs 3
// or more classes).
//
// A sample stops at the first misclassified iterate (AutoAttack runs on and keeps the
// same first adversarial point) unless KeepGoing is set; later restarts attack only
// samples not yet fooled. Found.Adv is the first adversarial iterate (with KeepGoing, the
// misclassified iterate of highest loss), or else the point of highest loss.
//
// APGD-CE's gradient is the cross-entropy's, computed so that it never vanishes where
// the true class leads by far (see ceVJP); its loss values, which the step-size rule
// compares, are the cross-entropy's, computed as softplus of the log-sum-exp margin so
// that they stay distinct there too.
//
// Zero options take the defaults: 100 iterations, 1 restart (AutoAttack's standard
// setting for APGD-CE), momentum 0.75, Rho 0.75, EOT 1. With a randomised model set
// EOT: every gradient and every verdict is then the mean over EOT calls (AutoAttack's
// "rand" version uses 20; the E-ABS paper 5).
type APGD struct {
	// Lp is the threat model, Linf or L2.
	Lp  Norm
	Eps float64
	// Loss is "ce" or "dlr".
	Loss string
	// Steps is the number of iterations (default 100).
	Steps int
	// Restarts is the number of random starts (default 1).
	Restarts int
	// EOT is the number of model calls each gradient and evaluation averages over
	// (default 1).
	EOT int
	// Momentum is alpha (default 0.75).
	Momentum float64
	// Rho is the fraction of rising steps below which the step size halves (default
	// 0.75).
	Rho float64
	// KeepGoing is PGDAttack.KeepGoing for APGD: a sample steps on to the end of its
	// restart after the model is fooled, and Found.Adv is, of the iterates the model
	// misclassified, the one of highest loss (the most confidently adversarial). On a
	// randomised model (E-ABS) the first misclassified iterate is often fooled by one
	// draw of noise only and the verdict's fresh noise overturns it.
	KeepGoing bool
}

// Name implements Attack: "apgd-ce-linf", "apgd-dlr-l2", ...
func (a APGD) Name() string { return "apgd-" + a.Loss + "-" + string(a.Lp) }

// Norm implements Attack.
func (a APGD) Norm() Norm { return a.Lp }

// APGDCheckpoints returns the iterations (counted from 1) after which APGD checks its
// step size, w_j = ceil(p_j * steps) for p_j > 0 below 1: for 100 steps 22, 41, 57, 70,
// 80, 87, 93, 99. The gaps shrink by 3% of the steps down to 6% (AutoAttack's
// integer form: gaps of max(int(0.22 n), 1), then minus max(int(0.03 n), 1) down to
// max(int(0.06 n), 1)).
func APGDCheckpoints(steps int) []int {
	k := max(int(0.22*float64(steps)), 1)
	dec := max(int(0.03*float64(steps)), 1)
	kmin := max(int(0.06*float64(steps)), 1)
	var out []int
	for w := k; w <= steps; w += k {
		out = append(out, w)
		k = max(k-dec, kmin)
	}
	return out
}

// Run implements Attack.
func (a APGD) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	name := a.Name()
	if a.Loss != "ce" && a.Loss != "dlr" {
		return nil, fmt.Errorf("attack %s: unknown loss %q (want ce or dlr)", name, a.Loss)
	}
	minClasses := 2
	if a.Loss == "dlr" {
		minClasses = 3
	}
	r, s, err := a.start(name, m, x, y, batch, minClasses)
	if err != nil {
		return nil, err
	}
	eval := func(xs []float32, idx []int) ([]float32, []float32, []float64, error) {
		if a.Loss == "ce" {
			return s.ceVJP(ctx, xs, idx)
		}
		return s.vjp(ctx, xs, idx, dlr)
	}
	for range r.restarts {
		if err := r.restart(rng, eval); err != nil {
			return nil, err
		}
	}
	return r.f, nil
}

// apgdRun is an APGD run's settings with their defaults and what it keeps across
// restarts (and APGD-T's target classes): the answer and the loss of each sample's
// candidate.
type apgdRun struct {
	a               APGD
	steps, restarts int
	alpha, rho      float64
	isCheck         map[int]bool
	gaps            map[int]int
	x               []float32
	y               []int
	n, k            int
	f               *Found
	best            []float64 // the loss of the candidate in f.Adv
}

// apgdEval evaluates the images xs of samples idx: their logits, the gradient of the
// loss, and the loss per sample.
type apgdEval func(xs []float32, idx []int) (logits, grad []float32, losses []float64, err error)

// start checks a run's inputs (a model of at least minClasses classes) and resolves
// the defaults.
func (a APGD) start(name string, m Classifier, x []float32, y []int, batch, minClasses int) (*apgdRun, *sampler, error) {
	if err := checkNorm(name, a.Lp); err != nil {
		return nil, nil, err
	}
	if err := checkEps(name, a.Eps); err != nil {
		return nil, nil, err
	}
	d, err := differentiable(name, m)
	if err != nil {
		return nil, nil, err
	}
	K := d.Classes()
	if K < minClasses {
		return nil, nil, fmt.Errorf("attack %s: the loss needs at least %d classes, the model has %d", name, minClasses, K)
	}
	n, err := checkRun(name, x, y, batch, K)
	if err != nil {
		return nil, nil, err
	}
	r := &apgdRun{a: a, x: x, y: y, n: n, k: K, isCheck: map[int]bool{}, gaps: map[int]int{}}
	if r.steps, err = orDefault(name, "steps", a.Steps, 100); err != nil {
		return nil, nil, err
	}
	if r.restarts, err = orDefault(name, "restarts", a.Restarts, 1); err != nil {
		return nil, nil, err
	}
	eot, err := orDefault(name, "eot", a.EOT, 1)
	if err != nil {
		return nil, nil, err
	}
	r.alpha, r.rho = a.Momentum, a.Rho
	if r.alpha == 0 {
		r.alpha = 0.75
	}
	if r.rho == 0 {
		r.rho = 0.75
	}
	if !(r.alpha > 0 && r.alpha <= 1) || !(r.rho > 0 && r.rho <= 1) {
		return nil, nil, fmt.Errorf("attack %s: momentum %g and rho %g must be in (0,1]", name, r.alpha, r.rho)
	}
	prev := 0
	for _, w := range APGDCheckpoints(r.steps) {
		r.isCheck[w], r.gaps[w] = true, w-prev
		prev = w
	}
	r.f = newFound(x, batch)
	r.best = make([]float64, batch)
	for i := range r.best {
		r.best[i] = math.Inf(-1)
	}
	return r, &sampler{m: d, eot: eot, k: K, n: n, y: y, queries: r.f.Queries}, nil
}

// restart runs one APGD restart, from a random start, on the samples not yet fooled.
func (r *apgdRun) restart(rng *rand.Rand, eval apgdEval) error {
	a, n, K, x, y, f, best := r.a, r.n, r.k, r.x, r.y, r.f, r.best
	batch := len(y)
	var idx []int
	for i := 0; i < batch; i++ {
		if !f.Ok[i] {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	// Per-sample state of this restart, indexed by sample.
	eta := make([]float64, batch)
	lossBest := make([]float64, batch)
	lossLastCheck := make([]float64, batch)
	reducedLast := make([]bool, batch)
	history := make([][]float64, batch) // losses at iterates 0..k
	xBest := make([][]float32, batch)
	gBest := make([][]float32, batch)

	cur := make([]float32, 0, len(idx)*n)
	for _, i := range idx {
		cur = append(cur, apgdStart(a.Lp, x[i*n:(i+1)*n], a.Eps, rng)...)
	}
	old := append([]float32(nil), cur...)
	grad := make([]float32, len(cur))

	// record evaluates cur, updates the best points, and drops fooled samples
	// (without KeepGoing).
	record := func(t int) error {
		logits, g, losses, err := eval(cur, idx)
		if err != nil {
			return err
		}
		copy(grad, g)
		done := make([]bool, len(idx))
		for j, i := range idx {
			c := cur[j*n : (j+1)*n]
			fooled := floats.Argmax(logits[j*K:(j+1)*K]) != y[i]
			if fooled && !a.KeepGoing {
				f.Ok[i], done[j] = true, true
				copy(f.Adv[i*n:(i+1)*n], c)
				continue
			}
			history[i] = append(history[i], losses[j])
			if t == 0 || losses[j] > lossBest[i] {
				lossBest[i] = losses[j]
				xBest[i] = append(xBest[i][:0], c...)
				gBest[i] = append(gBest[i][:0], g[j*n:(j+1)*n]...)
			}
			// Misclassified beats classified; within each, higher loss wins.
			if (fooled && !f.Ok[i]) || (fooled == f.Ok[i] && losses[j] > best[i]) {
				f.Ok[i], best[i] = fooled, losses[j]
				copy(f.Adv[i*n:(i+1)*n], c)
			}
		}
		idx = keep(done, idx, n, &cur, &old, &grad)
		return nil
	}
	if err := record(0); err != nil {
		return err
	}
	for _, i := range idx {
		eta[i] = 2 * a.Eps
		lossLastCheck[i] = lossBest[i]
		reducedLast[i] = true // AutoAttack starts with reduced_last_check = 1
	}
	for t := 1; t <= r.steps && len(idx) > 0; t++ {
		mom := r.alpha
		if t == 1 {
			mom = 1
		}
		for j, i := range idx {
			apgdUpdate(a.Lp, cur[j*n:(j+1)*n], old[j*n:(j+1)*n], grad[j*n:(j+1)*n], x[i*n:(i+1)*n], eta[i], a.Eps, mom)
		}
		if err := record(t); err != nil {
			return err
		}
		if !r.isCheck[t] {
			continue
		}
		k := r.gaps[t]
		for j, i := range idx {
			cond := apgdHalve(history[i], k, r.rho, reducedLast[i], lossLastCheck[i], lossBest[i])
			reducedLast[i] = cond
			lossLastCheck[i] = lossBest[i]
			if cond {
				eta[i] /= 2
				copy(cur[j*n:(j+1)*n], xBest[i])
				copy(grad[j*n:(j+1)*n], gBest[i])
			}
		}
	}
	return nil
}

// apgdUpdate moves the iterate c (previous iterate o, gradient g, original x) one
// APGD step: z = P(c + eta s(g)), c' = P(c + mom (z - c) + (1 - mom)(c - o)); o becomes c.
func apgdUpdate(norm Norm, c, o, g, x []float32, eta, eps, mom float64) {
	z := append([]float32(nil), c...)
	pgdStep(norm, z, g, eta)
	project(norm, z, x, eps)
	next := make([]float32, len(c))
	for p := range next {
		next[p] = float32(float64(c[p]) + mom*(float64(z[p])-float64(c[p])) + (1-mom)*(float64(c[p])-float64(o[p])))
	}
	project(norm, next, x, eps)
	copy(o, c)
	copy(c, next)
}

// apgdHalve is APGD's checkpoint test on the losses h of iterates 0..t (t = len(h)-1)
// after a gap of k iterations: halve the step when at most rho*k of the last k steps
// raised the loss (condition 1), or when the step was not halved at the last checkpoint
// and the best loss has not improved since (condition 2).
func apgdHalve(h []float64, k int, rho float64, reducedLast bool, lossLastCheck, lossBest float64) bool {
	t := len(h) - 1
	rising := 0
	for c := 0; c < k; c++ {
		if h[t-c] > h[t-c-1] {
			rising++
		}
	}
	return float64(rising) <= rho*float64(k) || (!reducedLast && lossLastCheck >= lossBest)
}

// randomDirection draws a direction t of n values and its norm s: Linf t uniform in
// [-1,1]^n, L2 a Gaussian; t/s is then a random unit vector of the norm.
func randomDirection(norm Norm, n int, rng *rand.Rand) (t []float64, s float64) {
	t = make([]float64, n)
	for i := range t {
		if norm == Linf {
			t[i] = 2*rng.Float64() - 1
			s = math.Max(s, math.Abs(t[i]))
		} else {
			t[i] = rng.NormFloat64()
			s += t[i] * t[i]
		}
	}
	if norm == L2 {
		s = math.Sqrt(s)
	}
	return t, s
}

// apgdStart is a random point at distance exactly eps before clipping to the box.
func apgdStart(norm Norm, o []float32, eps float64, rng *rand.Rand) []float32 {
	t, s := randomDirection(norm, len(o), rng)
	d := make([]float32, len(o))
	for i := range d {
		d[i] = float32(float64(o[i]) + eps*t[i]/(s+1e-12))
	}
	project(norm, d, o, eps)
	return d
}

// ceVJP is sampler.vjp for APGD-CE, with a gradient that does not vanish where the true
// class leads by far. The cross-entropy's cotangent softmax(z) - e_y is
// sigmoid(M) dM/dz, M = lseMargin(z, y), and sigmoid(M) ~ exp(M) underflows float32, the
// type a model's cotangent has, once the lead passes about 100: every entry is then 0 and
// so is the gradient. E-ABS's logits -l_k, sums of squared errors over thousands of
// pixels, get there. So each EOT run r gets M's
// cotangent, which never vanishes, and the runs' gradients are summed in float64 with
// CE's weights sigmoid(M_r) divided by the largest of them (from log sigmoid(M_r), which
// does not underflow): that is the EOT mean of CE's gradients, (1/R) sum_r sigmoid(M_r)
// grad M_r, times a positive factor per sample, which APGD's steps (the sign, or the
// direction) do not see. The losses are CE of the mean logits, as in vjp.
func (s *sampler) ceVJP(ctx context.Context, xs []float32, idx []int) (logits, grad []float32, losses []float64, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	b, n, k := len(idx), s.n, s.k
	zsum := make([]float64, b*k)
	acc := make([]float64, b*n)
	top := make([]float64, b) // the largest log-weight so far; acc is scaled by exp(-top)
	for j := range top {
		top[j] = math.Inf(-1)
	}
	lw := make([]float64, b) // this run's log sigmoid(M_r)
	cot := func(z []float32) []float32 {
		v := make([]float32, len(z))
		for j, i := range idx {
			m, dz := lseMargin(z[j*k:(j+1)*k], s.y[i])
			lw[j] = -softplus(-m)
			for c, d := range dz {
				v[j*k+c] = float32(d)
			}
		}
		return v
	}
	for r := 0; r < s.eot; r++ {
		z, g, err := s.m.LogitsVJP(xs, b, cot)
		if err != nil {
			return nil, nil, nil, err
		}
		if len(z) != b*k || len(g) != len(xs) {
			return nil, nil, nil, fmt.Errorf("attack: model returned %d logits and %d gradient values for %d images of %d values", len(z), len(g), b, n)
		}
		if err := finite("gradient", g); err != nil {
			return nil, nil, nil, err
		}
		for c, v := range z {
			zsum[c] += float64(v)
		}
		for j := range idx {
			row := acc[j*n : (j+1)*n]
			if lw[j] > top[j] {
				f := math.Exp(top[j] - lw[j])
				for p := range row {
					row[p] *= f
				}
				top[j] = lw[j]
			}
			w := math.Exp(lw[j] - top[j])
			for p, v := range g[j*n : (j+1)*n] {
				row[p] += w * float64(v)
			}
		}
	}
	logits = make([]float32, len(zsum))
	for c, v := range zsum {
		logits[c] = float32(v / float64(s.eot))
	}
	if err := finite("logits", logits); err != nil {
		return nil, nil, nil, err
	}
	grad = make([]float32, len(acc))
	for p, v := range acc {
		grad[p] = float32(v)
	}
	losses = make([]float64, b)
	for j, i := range idx {
		s.queries[i] += s.eot
		losses[j], _ = crossEntropy(logits[j*k:(j+1)*k], s.y[i])
	}
	return logits, grad, losses, nil
}
