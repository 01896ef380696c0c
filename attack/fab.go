package attack

// FAB-T: the targeted Fast Adaptive Boundary attack of Croce and Hein 2020, "Minimally
// distorted adversarial examples with a fast adaptive boundary attack" (ICML), Section
// 3, in the targeted form AutoAttack's standard version runs (Croce and Hein 2020,
// "Reliable evaluation of adversarial robustness with an ensemble of diverse
// parameter-free attacks", Section 4); written from the papers.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/eabs/eabs/internal/floats"
)

// FAB is the Fast Adaptive Boundary attack, a minimum-norm Attack, targeted (FAB-T)
// unless Untargeted is set. For a target class t it linearises
// f = z_t - z_y at the iterate x_k and projects both x_k and the original x onto the
// hyperplane f(x_k) + g.(z - x_k) = 0 (g the gradient of f) within the [0,1] box, the
// smallest such moves d_k and d_0 in the norm; then it steps to
//
//	x_{k+1} = clip((x_k + eta d_k)(1 - alpha) + (x + eta d_0) alpha),
//	alpha = min(||d_k|| / (||d_k|| + ||d_0||), AlphaMax),
//
// biased toward x so that the iterates stay close to it. Each misclassified iterate (any
// class other than y winning) is recorded if it is the closest so far and then pulled
// back, x_k <- x + Beta (x_k - x), so that the search continues from inside. On an
// affine classifier the projection is exact, and the first step lands Eta times the
// distance to the target's boundary away from x.
//
// The targets are the Targets classes other than y with the highest clean scores, best
// first, each run for Steps iterations (Restarts starts; the first from x, the others
// from a random point at half of Eps from it) on the samples no earlier target fooled
// within Eps (with Eps 0 every target runs on every sample). Found.Adv is the closest
// misclassified iterate over all targets, at any distance; the runner judges it
// against the budget. Untargeted FAB (the paper's original form, AutoAttack's "plus"
// version) instead linearises every z_c - z_y, c != y, at each iterate and takes the
// hyperplane closest in the norm, |f_c| / ||g_c||_q (q the dual norm: 2 for L2, 1 for
// Linf); its Restarts run on the samples no earlier one fooled within Eps.
//
// Queries: one clean evaluation per sample, then per iteration one logits-and-gradient
// evaluation (untargeted: one per class other than y), which also judges the previous
// step's point, as many more after a misclassified point is pulled back, and one to
// judge the last step (the reference spends a gradient and a prediction per iteration;
// a deterministic model gets the same iterates).
//
// Zero options take AutoAttack's standard values: 9 targets (fewer when the model has
// fewer other classes), 100 iterations, 1 restart, AlphaMax 0.1, Eta 1.05, Beta 0.9,
// EOT 1.
type FAB struct {
	// Lp is Linf or L2.
	Lp Norm
	// Eps is the budget: a sample fooled within it is not attacked for further targets,
	// and random restarts start at Eps/2 from x. 0: no budget (every target runs; one
	// restart only).
	Eps float64
	// Targets is the number of target classes (default 9).
	Targets int
	// Steps is the number of iterations per target and restart (default 100).
	Steps int
	// Restarts is the number of starts per target (default 1).
	Restarts int
	// AlphaMax bounds the step's bias toward x (default 0.1), Eta is the overshoot
	// (default 1.05) and Beta the pull back toward x after a success (default 0.9).
	AlphaMax, Eta, Beta float64
	// EOT is the number of model calls each evaluation averages over (default 1).
	EOT int
	// Untargeted runs untargeted FAB (Targets is then unused).
	Untargeted bool `json:",omitempty"`
}

// Name implements Attack: "fab-t-linf" or "fab-t-l2"; untargeted "fab-linf", "fab-l2".
func (a FAB) Name() string {
	if a.Untargeted {
		return "fab-" + string(a.Lp)
	}
	return "fab-t-" + string(a.Lp)
}

// Norm implements Attack.
func (a FAB) Norm() Norm { return a.Lp }

// fabRun is a FAB run's resolved settings and the answer so far.
type fabRun struct {
	a                   FAB
	s                   *sampler
	x                   []float32
	y                   []int
	n, k, steps         int
	alphaMax, eta, beta float64
	f                   *Found
	dist                []float64 // the distance of f.Adv[i] when f.Ok[i]
	target              []int     // the current target class per sample
	d1, d2, g           []float64 // per-iterate scratch
}

// Run implements Attack.
func (a FAB) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	name := a.Name()
	if err := checkNorm(name, a.Lp); err != nil {
		return nil, err
	}
	if !(a.Eps >= 0) || math.IsInf(a.Eps, 1) {
		return nil, fmt.Errorf("attack %s: budget eps = %g, want 0 (none) or a positive number", name, a.Eps)
	}
	gr, err := startGrad(name, m, x, y, batch, a.Steps, 100, a.EOT)
	if err != nil {
		return nil, err
	}
	targets, err := orDefault(name, "targets", a.Targets, 9)
	if err != nil {
		return nil, err
	}
	restarts, err := orDefault(name, "restarts", a.Restarts, 1)
	if err != nil {
		return nil, err
	}
	if restarts > 1 && a.Eps == 0 {
		return nil, fmt.Errorf("attack %s: %d restarts need a budget eps for their random starts", name, restarts)
	}
	r := &fabRun{a: a, x: x, y: y, n: gr.n, k: gr.k, steps: gr.steps, alphaMax: a.AlphaMax, eta: a.Eta, beta: a.Beta}
	if r.alphaMax == 0 {
		r.alphaMax = 0.1
	}
	if r.eta == 0 {
		r.eta = 1.05
	}
	if r.beta == 0 {
		r.beta = 0.9
	}
	if !(r.alphaMax > 0 && r.alphaMax <= 1) || !(r.eta >= 1) || math.IsInf(r.eta, 1) || !(r.beta > 0 && r.beta < 1) {
		return nil, fmt.Errorf("attack %s: alpha_max %g, eta %g, beta %g: want 0 < alpha_max <= 1, eta >= 1, 0 < beta < 1", name, r.alphaMax, r.eta, r.beta)
	}
	targets = min(targets, r.k-1)
	if a.Untargeted {
		targets = 1
	}
	r.f = newFound(x, batch)
	r.s = &sampler{m: gr.d, eot: gr.eot, k: r.k, n: r.n, y: y, queries: r.f.Queries}
	r.dist = make([]float64, batch)
	r.target = make([]int, batch)
	for _, p := range []*[]float64{&r.d1, &r.d2, &r.g} {
		*p = make([]float64, r.n)
	}
	ordered := targets
	if a.Untargeted {
		ordered = 0
	}
	order, err := cleanTargets(ctx, r.s, r.f, x, y, ordered)
	if err != nil {
		return nil, err
	}
	for t := 0; t < targets; t++ {
		for rs := 0; rs < restarts; rs++ {
			var idx []int
			for i := range batch {
				if !r.f.Ok[i] || r.dist[i] > a.Eps {
					idx = append(idx, i)
					if !a.Untargeted {
						r.target[i] = order[i][t]
					}
				}
			}
			if len(idx) == 0 {
				return r.f, nil
			}
			if err := r.single(ctx, idx, rs > 0, rng); err != nil {
				return nil, fmt.Errorf("%w (target %d)", err, t+1)
			}
		}
	}
	return r.f, nil
}

// single runs FAB from x (or a random start) toward each sample's current target.
func (r *fabRun) single(ctx context.Context, idx []int, random bool, rng *rand.Rand) error {
	n, K := r.n, r.k
	x0 := gather(r.x, idx, n)
	cur := slices.Clone(x0)
	if random {
		for j := range idx {
			randomHalf(r.a.Lp, cur[j*n:(j+1)*n], x0[j*n:(j+1)*n], r.a.Eps, rng)
		}
	}
	// The loss z_t - z_y: its cotangent is e_t - e_y.
	loss := func(z []float32, i int) (float64, []float64) {
		dz := make([]float64, K)
		dz[r.target[i]], dz[r.y[i]] = 1, -1
		return float64(z[r.target[i]]) - float64(z[r.y[i]]), dz
	}
	for it := 0; it < r.steps; it++ {
		logits, grad, fv, err := r.linearise(ctx, cur, idx, loss)
		if err != nil {
			return err
		}
		if it > 0 {
			// cur holds the previous step's points: record the misclassified ones, pull
			// them back toward x and evaluate them there.
			var back []int
			for j, i := range idx {
				if floats.Argmax(logits[j*K:(j+1)*K]) != r.y[i] {
					c := cur[j*n : (j+1)*n]
					r.record(i, c)
					o := x0[j*n : (j+1)*n]
					for p := range c {
						c[p] = float32(float64(o[p]) + r.beta*(float64(c[p])-float64(o[p])))
					}
					back = append(back, j)
				}
			}
			if len(back) > 0 {
				sub := make([]int, len(back))
				for b, j := range back {
					sub[b] = idx[j]
				}
				_, g2, fv2, err := r.linearise(ctx, gather(cur, back, n), sub, loss)
				if err != nil {
					return err
				}
				for b, j := range back {
					copy(grad[j*n:(j+1)*n], g2[b*n:(b+1)*n])
					fv[j] = fv2[b]
				}
			}
		}
		for j := range idx {
			r.step(cur[j*n:(j+1)*n], x0[j*n:(j+1)*n], grad[j*n:(j+1)*n], fv[j])
		}
	}
	z, err := r.s.logits(ctx, cur, idx)
	if err != nil {
		return err
	}
	for j, i := range idx {
		if floats.Argmax(z[j*K:(j+1)*K]) != r.y[i] {
			r.record(i, cur[j*n:(j+1)*n])
		}
	}
	return nil
}

// linearise evaluates the images xs of samples idx: their logits, and the value fv and
// gradient of the f = z_t - z_y whose hyperplane the step projects onto. Targeted, t
// is the sample's target (loss reads r.target); untargeted, every class other than y in
// turn, keeping per sample the one whose linearised boundary is closest in the norm.
func (r *fabRun) linearise(ctx context.Context, xs []float32, idx []int, loss func([]float32, int) (float64, []float64)) ([]float32, []float32, []float64, error) {
	if !r.a.Untargeted {
		return r.s.vjpBy(ctx, xs, idx, loss)
	}
	n := r.n
	var logits []float32
	grad := make([]float32, len(xs))
	fv := make([]float64, len(idx))
	best := make([]float64, len(idx))
	for o := 0; o < r.k-1; o++ {
		for _, i := range idx {
			r.target[i] = o
			if o >= r.y[i] {
				r.target[i] = o + 1
			}
		}
		z, g, f, err := r.s.vjpBy(ctx, xs, idx, loss)
		if err != nil {
			return nil, nil, nil, err
		}
		if o == 0 {
			logits = z
		}
		for j := range idx {
			gj := g[j*n : (j+1)*n]
			var q float64 // the dual norm of g
			for _, v := range gj {
				if r.a.Lp == Linf {
					q += math.Abs(float64(v))
				} else {
					q += float64(v) * float64(v)
				}
			}
			if r.a.Lp == L2 {
				q = math.Sqrt(q)
			}
			if d := math.Abs(f[j]) / (q + 1e-12); o == 0 || d < best[j] {
				best[j], fv[j] = d, f[j]
				copy(grad[j*n:(j+1)*n], gj)
			}
		}
	}
	return logits, grad, fv, nil
}

// record keeps the misclassified point c of sample i if it is the closest so far.
func (r *fabRun) record(i int, c []float32) {
	n := r.n
	d := dist(r.a.Lp, c, r.x[i*n:(i+1)*n])
	if !r.f.Ok[i] || d < r.dist[i] {
		r.f.Ok[i], r.dist[i] = true, d
		copy(r.f.Adv[i*n:(i+1)*n], c)
	}
}

// step moves c (original o) one FAB step for f = fv with gradient g32.
func (r *fabRun) step(c, o, g32 []float32, fv float64) {
	g := r.g
	var gx float64 // g.(o - c)
	for p, v := range g32 {
		g[p] = float64(v)
		gx += g[p] * (float64(o[p]) - float64(c[p]))
	}
	// The hyperplane f + g.(z - c) = 0: from c, g.d = -f; from o, g.d = -(f + g.(o - c)).
	fabProject(r.a.Lp, r.d1, g, c, -fv)
	fabProject(r.a.Lp, r.d2, g, o, -(fv + gx))
	a1 := math.Max(norm64(r.a.Lp, r.d1), 1e-8)
	a2 := math.Max(norm64(r.a.Lp, r.d2), 1e-8)
	alpha := min(a1/(a1+a2), r.alphaMax)
	for p := range c {
		v := (float64(c[p])+r.eta*r.d1[p])*(1-alpha) + (float64(o[p])+r.eta*r.d2[p])*alpha
		c[p] = float32(min(max(v, 0), 1))
	}
}

// norm64 is the norm of a float64 vector.
func norm64(norm Norm, d []float64) float64 {
	var s float64
	for _, v := range d {
		if norm == Linf {
			s = math.Max(s, math.Abs(v))
		} else {
			s += v * v
		}
	}
	if norm == Linf {
		return s
	}
	return math.Sqrt(s)
}

// randomHalf sets c to o plus a random move of length eps/2 in the norm (Linf: t/||t||_inf
// with t uniform in [-1,1]^n; L2: a Gaussian direction), clipped to [0,1].
func randomHalf(norm Norm, c, o []float32, eps float64, rng *rand.Rand) {
	t, s := randomDirection(norm, len(o), rng)
	for i := range c {
		c[i] = float32(min(max(float64(o[i])+eps/2*t[i]/(s+1e-12), 0), 1))
	}
}

// fabProject sets d to the smallest move in the norm from the point t onto the
// hyperplane w.d = c that stays in the box, 0 <= t + d <= 1. Where no move within the
// box reaches the hyperplane, d is the box's corner that gets closest to it (every
// coordinate as far as the box allows in the direction that helps).
//
// Both are one-parameter families, solved exactly by walking the sorted breakpoints of
// a piecewise-linear, non-decreasing function (c > 0 after flipping the sign of w):
//
//	L2:   d_i = clip(lambda w_i, -t_i, 1 - t_i), the KKT point, with w.d(lambda) = c;
//	Linf: d_i = sign(w_i) min(r, cap_i), cap_i the room in direction sign(w_i), with
//	      sum_i |w_i| min(r, cap_i) = c.
func fabProject(norm Norm, d, w []float64, t []float32, c float64) {
	clear(d)
	if c == 0 {
		return
	}
	sg := 1.0
	if c < 0 {
		sg, c = -1, -c
	}
	// cap_i is how far coordinate i can move in the helpful direction sign(sg w_i);
	// key_i is where it saturates (L2: lambda = cap_i/|w_i|; Linf: r = cap_i).
	type bp struct {
		key float64
		i   int
	}
	bps := make([]bp, 0, len(w))
	caps := make([]float64, len(w))
	var slope float64 // d(w.d)/d(parameter) while no coordinate saturates
	for i, wi := range w {
		wi *= sg
		if wi == 0 {
			continue
		}
		if wi > 0 {
			caps[i] = 1 - float64(t[i])
		} else {
			caps[i] = float64(t[i])
		}
		caps[i] = math.Max(caps[i], 0)
		if norm == Linf {
			bps = append(bps, bp{caps[i], i})
			slope += math.Abs(wi)
		} else {
			bps = append(bps, bp{caps[i] / math.Abs(wi), i})
			slope += wi * wi
		}
	}
	slices.SortFunc(bps, func(a, b bp) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return a.i - b.i
	})
	param, found := 0.0, false
	var sat float64 // the saturated coordinates' part of w.d
	for _, b := range bps {
		if b.key*slope+sat >= c {
			param, found = (c-sat)/slope, true
			break
		}
		wi := math.Abs(w[b.i])
		sat += wi * caps[b.i]
		if norm == Linf {
			slope -= wi
		} else {
			slope -= wi * wi
		}
	}
	for i, wi := range w {
		wi *= sg
		if wi == 0 {
			continue
		}
		m := caps[i]
		if found {
			if norm == Linf {
				m = math.Min(param, caps[i])
			} else {
				m = math.Min(param*math.Abs(wi), caps[i])
			}
		}
		if wi > 0 {
			d[i] = m
		} else {
			d[i] = -m
		}
	}
}
