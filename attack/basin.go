package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/eabs/eabs/internal/adam"
	"github.com/eabs/eabs/internal/floats"
)

// LatentModel is an ABS-like classifier (E-ABS, ABS) whose loss for class k is a
// minimum over latents that a search finds,
//
//	l_k(x) = min_z ||x - G_k(z)||^2 + prior(z),
//
// the search descending from the lowest-valued of a few starting latents. The basin
// attack (Basin) reads that objective at latents of its own choosing, the starts the
// search compares, and the search itself as its judge. Adaptive implements it.
type LatentModel interface {
	Differentiable
	// Latent is the size M of a latent z.
	Latent() int
	// Objective returns, for n rows (image x_i (P values), class k_i, latent z_i (M
	// values)), the objective ||x_i - G_k(z_i)||^2 + prior(z_i) (n), the reconstruction
	// G_k(z_i) (n, P) and the objective's gradient with respect to z_i (n, M). Any z
	// gives an upper bound on the minimum l_k(x_i); whether the model's search finds
	// that low a value is for the judge to say.
	Objective(x []float32, class []int, z []float32, n int) (value, rec, grad []float32, err error)
	// Starts returns the starting latents the model's search compares for image x and
	// class k (S, M) and the values it compares them by (S): the search descends from
	// the lowest, in a fixed order of kinds (the same index is the same kind of start).
	Starts(x []float32, k int) (z, value []float32, err error)
	// Pool returns count latents of the model's start bank for class k: those with the
	// lowest objective reachable from x within L2 distance eps, (||x - G_k(z)|| -
	// eps)^2 + prior(z) (the pixel box ignored), lowest first.
	Pool(x []float32, k int, eps float64, count int) ([]float32, error)
	// Full is the model's own full inference with fresh noise, the verdict's
	// classifier: the judge of the attack's candidates.
	Full() Classifier
}

// Basin is an L2 attack on ABS-like models (LatentModel) that aims at the basins of
// other optima of a wrong class's latent search. PGD on the adaptive gradient of eq. 8
// follows the optimum the search found at the current image; on E-ABS the adversarial
// regions within the budget are often where the search of a wrong class t finds
// another, much better optimum, which that gradient does not point into. Basin instead
// picks the latent z first and moves the image to it:
//
//  1. Targets: the Targets wrong classes whose best Pool latent reaches the lowest
//     objective within the budget, (||x - G_t(z)|| - eps)^2 + prior(z).
//  2. Candidates per target: the model's starts at x and Pool bank latents, each
//     refined for ReachSteps alternations of x' = the point of the eps-ball (within
//     [0,1]) nearest G_t(z) and an Adam step on z at x'. This minimises the lowest
//     objective reachable within the budget, min over x' in the ball of
//     ||x' - G_t(z)||^2 + prior(z), over z. The Candidates lowest, at least MinSpread
//     apart in latent space, are attacked.
//  3. Descent from x, per candidate: Steps normalised-gradient steps on
//     ||x' - G_t(z)||^2 + prior(z) - l_y(x'), each followed by projection onto the ball
//     and [0,1] and one Adam step of z at x'. The first term bounds l_t(x') from above
//     for any z; l_y(x') and its gradient are the model's (the attacker's inference,
//     eq. 8).
//  4. Judge: the model's full inference (Full) classifies the end point.
//  5. Repair, when the judge says no: the search of class t descends from the lowest
//     valued of its starts (Starts), and when that start leads elsewhere the bound
//     is never found. The runner-up start is made to win: steps of RepairStep along
//     the gradient of (its value - the winner's) with the latents held (toward its
//     reconstruction, away from the winner's), until it leads by RepairMargin; then the
//     judge again.
//
// The first candidate the judge calls adversarial is returned with Ok; else the
// candidate with the judge's highest margin (best wrong logit - true logit). Queries
// count the judge's classifications and the attacker's gradients. rng is unused:
// given the model's answers the attack is deterministic.
type Basin struct {
	// Eps is the L2 budget.
	Eps float64
	// Targets is the number of wrong classes attacked (0: 1).
	Targets int
	// Candidates is the number of latent candidates attacked per target (0: 3).
	Candidates int
	// Pool is the number of bank latents refined per target (0: 16).
	Pool int
	// ReachSteps is the number of alternations refining the candidates (0: 30).
	ReachSteps int
	// Steps is the number of descent steps per candidate (0: 80).
	Steps int
	// Step is the descent's step size (0: 2.5*Eps/Steps, PGD's).
	Step float64
	// LR is the latent Adam's step size (0: 0.05, the inference's).
	LR float64
	// MinSpread is the smallest latent distance between two candidates (0: 0.5).
	MinSpread float64
	// RepairSteps bounds the repair's steps (0: 30); NoRepair turns the repair off.
	RepairSteps int
	NoRepair    bool
	// RepairStep is the repair's step size (0: Eps/75).
	RepairStep float64
	// RepairMargin is the lead the runner-up start must gain (0: 0.05).
	RepairMargin float64
}

// Name implements Attack.
func (Basin) Name() string { return "basin-l2" }

// Norm implements Attack.
func (Basin) Norm() Norm { return L2 }

// basinOpts are Basin's options with the defaults filled in.
type basinOpts struct {
	targets, cands, pool, reach, steps, repair int
	step, lr, spread, rstep, margin            float64
}

func (a Basin) opts() (basinOpts, error) {
	var o basinOpts
	if err := checkEps(a.Name(), a.Eps); err != nil {
		return o, err
	}
	var err error
	for _, v := range []struct {
		name   string
		v, def int
		dst    *int
	}{{"targets", a.Targets, 1, &o.targets}, {"candidates", a.Candidates, 3, &o.cands}, {"pool", a.Pool, 16, &o.pool},
		{"reach steps", a.ReachSteps, 30, &o.reach}, {"steps", a.Steps, 80, &o.steps}, {"repair steps", a.RepairSteps, 30, &o.repair}} {
		if *v.dst, err = orDefault(a.Name(), v.name, v.v, v.def); err != nil {
			return o, err
		}
	}
	if a.NoRepair {
		o.repair = 0
	}
	for _, v := range []struct {
		name   string
		v, def float64
		dst    *float64
	}{{"step", a.Step, 2.5 * a.Eps / float64(o.steps), &o.step}, {"lr", a.LR, 0.05, &o.lr}, {"min spread", a.MinSpread, 0.5, &o.spread},
		{"repair step", a.RepairStep, a.Eps / 75, &o.rstep}, {"repair margin", a.RepairMargin, 0.05, &o.margin}} {
		if v.v < 0 || math.IsNaN(v.v) || math.IsInf(v.v, 0) {
			return o, fmt.Errorf("attack %s: %s = %g must be a non-negative number", a.Name(), v.name, v.v)
		}
		*v.dst = v.v
		if v.v == 0 {
			*v.dst = v.def
		}
	}
	return o, nil
}

// Run implements Attack; m must be a LatentModel.
func (a Basin) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, _ *rand.Rand) (*Found, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lm, ok := m.(LatentModel)
	if !ok {
		return nil, &UnsupportedError{Attack: a.Name(), Needs: "LatentModel (latent objective, search starts, start bank and full inference)"}
	}
	o, err := a.opts()
	if err != nil {
		return nil, err
	}
	K := m.Classes()
	if batch <= 0 || len(x)%batch != 0 || len(y) != batch {
		return nil, fmt.Errorf("attack: %s: %d values and %d labels for a batch of %d", a.Name(), len(x), len(y), batch)
	}
	for b, v := range y {
		if v < 0 || v >= K {
			return nil, fmt.Errorf("attack: %s: label %d of image %d is not a class of %d", a.Name(), v, b, K)
		}
	}
	P := len(x) / batch
	f := &Found{Adv: append([]float32(nil), x...), Ok: make([]bool, batch), Queries: make([]int, batch)}
	for b := 0; b < batch; b++ {
		s := &basinRun{a: a, o: o, m: lm, judge: lm.Full(), x: x[b*P : (b+1)*P], y: y[b], K: K, P: P, M: lm.Latent()}
		if err := s.run(ctx); err != nil {
			return nil, err
		}
		copy(f.Adv[b*P:(b+1)*P], s.best)
		f.Ok[b], f.Queries[b] = s.ok, s.queries
	}
	return f, nil
}

// basinRun is the attack on one sample.
type basinRun struct {
	a       Basin
	o       basinOpts
	m       LatentModel
	judge   Classifier
	x       []float32
	y       int
	K, P, M int

	best       []float32
	bestMargin float64
	ok         bool
	queries    int
}

// margin returns the judge's verdict on x': best wrong logit minus the true one
// (positive: adversarial), and the logits.
func (s *basinRun) margin(xa []float32) (float64, []float32, error) {
	l, err := s.judge.Logits(xa, 1)
	if err != nil {
		return 0, nil, err
	}
	if len(l) != s.K {
		return 0, nil, fmt.Errorf("attack: %s: the judge returned %d logits for %d classes", s.a.Name(), len(l), s.K)
	}
	s.queries++
	other := math.Inf(-1)
	for k, v := range l {
		if k != s.y {
			other = math.Max(other, float64(v))
		}
	}
	return other - float64(l[s.y]), l, nil
}

// offer judges candidate xa and keeps it if it is the best so far; true when it is
// adversarial.
func (s *basinRun) offer(xa []float32) (bool, error) {
	mg, _, err := s.margin(xa)
	if err != nil {
		return false, err
	}
	if s.best == nil || mg > s.bestMargin {
		s.best, s.bestMargin = slices.Clone(xa), mg
	}
	s.ok = s.bestMargin > 0
	return s.ok, nil
}

func (s *basinRun) run(ctx context.Context) error {
	mg, _, err := s.margin(s.x)
	if err != nil {
		return err
	}
	s.best, s.bestMargin, s.ok = slices.Clone(s.x), mg, mg > 0
	if s.ok {
		return nil
	}
	cls, err := s.targets()
	if err != nil {
		return err
	}
	for _, t := range cls[:min(s.o.targets, len(cls))] {
		cands, err := s.candidates(ctx, t)
		if err != nil {
			return err
		}
		for n := 0; n < len(cands)/s.M; n++ {
			xa, err := s.descend(ctx, t, cands[n*s.M:(n+1)*s.M])
			if err != nil {
				return err
			}
			if done, err := s.offer(xa); done || err != nil {
				return err
			}
			if s.o.repair == 0 {
				continue
			}
			xr, flipped, err := s.repair(ctx, xa, t)
			if err != nil {
				return err
			}
			if !flipped {
				continue
			}
			if done, err := s.offer(xr); done || err != nil {
				return err
			}
		}
	}
	return nil
}

// targets returns the wrong classes, lowest reachable objective first: per class, the
// pool's best latent's (||x - G_k(z)|| - eps)^2 + prior(z). It depends on the budget,
// unlike l_k(x), and no noise reorders close classes (the judge's l_k does).
func (s *basinRun) targets() ([]int, error) {
	var cls []int
	var z []float32
	for k := 0; k < s.K; k++ {
		if k == s.y {
			continue
		}
		zk, err := s.m.Pool(s.x, k, s.a.Eps, 1)
		if err != nil {
			return nil, err
		}
		if len(zk) == 0 {
			if zk, _, err = s.m.Starts(s.x, k); err != nil {
				return nil, err
			}
		}
		if len(zk) < s.M {
			return nil, fmt.Errorf("attack: %s: no latent for class %d (pool and starts empty)", s.a.Name(), k)
		}
		cls, z = append(cls, k), append(z, zk[:s.M]...)
	}
	n := len(cls)
	xs := make([]float32, 0, n*s.P)
	for range n {
		xs = append(xs, s.x...)
	}
	v, rec, _, err := s.m.Objective(xs, cls, z, n)
	if err != nil {
		return nil, err
	}
	if len(v) != n || len(rec) != n*s.P {
		return nil, fmt.Errorf("attack: %s: the model's objective returned %d values and %d reconstruction values for %d rows", s.a.Name(), len(v), len(rec), n)
	}
	reach := make(map[int]float64, n)
	for i, k := range cls {
		d2 := floats.SqDist(s.x, rec[i*s.P:(i+1)*s.P])
		r := math.Max(math.Sqrt(d2)-s.a.Eps, 0)
		reach[k] = r*r + float64(v[i]) - d2
	}
	sort.SliceStable(cls, func(i, j int) bool { return reach[cls[i]] < reach[cls[j]] })
	return cls, nil
}

// candidates returns the latent candidates of class t (n, M), lowest reachable bound
// first, at least MinSpread apart.
func (s *basinRun) candidates(ctx context.Context, t int) ([]float32, error) {
	M, P := s.M, s.P
	z, err := s.m.Pool(s.x, t, s.a.Eps, s.o.pool)
	if err != nil {
		return nil, err
	}
	zs, _, err := s.m.Starts(s.x, t)
	if err != nil {
		return nil, err
	}
	z = append(slices.Clone(z), zs...)
	n := len(z) / M
	if n == 0 || len(z)%M != 0 {
		return nil, fmt.Errorf("attack: %s: %d latent values from the model's pool and starts, not rows of %d", s.a.Name(), len(z), M)
	}
	class := make([]int, n)
	for i := range class {
		class[i] = t
	}
	xs := make([]float32, 0, n*P)
	for i := 0; i < n; i++ {
		xs = append(xs, s.x...)
	}
	opt := adam.New(s.o.lr, len(z))
	var value []float32
	for it := 0; ; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, rec, g, err := s.m.Objective(xs, class, z, n)
		if err != nil {
			return nil, err
		}
		if len(v) != n || len(rec) != n*P || len(g) != n*M {
			return nil, fmt.Errorf("attack: %s: the model's objective returned %d values, %d reconstruction and %d gradient values for %d rows", s.a.Name(), len(v), len(rec), len(g), n)
		}
		// x' := the point of the budget nearest G_t(z), for the current z.
		for i := 0; i < n; i++ {
			copy(xs[i*P:(i+1)*P], nearestInBall(rec[i*P:(i+1)*P], s.x, s.a.Eps))
		}
		if it == s.o.reach {
			if value, _, _, err = s.m.Objective(xs, class, z, n); err != nil {
				return nil, err
			}
			break
		}
		// The gradient was taken at the previous x': one model call per alternation.
		opt.Step(z, g)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return value[order[i]] < value[order[j]] })
	var out []float32
	for _, i := range order {
		zi := z[i*M : (i+1)*M]
		far := true
		for j := 0; j < len(out)/M && far; j++ {
			far = math.Sqrt(floats.SqDist(zi, out[j*M:(j+1)*M])) >= s.o.spread
		}
		if far {
			out = append(out, zi...)
		}
		if len(out)/M == s.o.cands {
			break
		}
	}
	return out, nil
}

// descend runs the joint descent from x on ||x' - G_t(z)||^2 + prior(z) - l_y(x')
// from latent z0, and returns its end point.
func (s *basinRun) descend(ctx context.Context, t int, z0 []float32) ([]float32, error) {
	P := s.P
	xa := slices.Clone(s.x)
	z := slices.Clone(z0)
	opt := adam.New(s.o.lr, len(z))
	g := make([]float64, P)
	for step := 0; step < s.o.steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		_, rec, gz, err := s.m.Objective(xa, []int{t}, z, 1)
		if err != nil {
			return nil, err
		}
		// d(-l_y)/dx' from the attacker's inference: the cotangent picks the true logit.
		_, gy, err := s.m.LogitsVJP(xa, 1, func(l []float32) []float32 {
			v := make([]float32, len(l))
			v[s.y] = 1
			return v
		})
		if err != nil {
			return nil, err
		}
		s.queries++
		if len(rec) != P || len(gy) != P {
			return nil, fmt.Errorf("attack: %s: %d reconstruction and %d gradient values for an image of %d", s.a.Name(), len(rec), len(gy), P)
		}
		var n2 float64
		for i := range g {
			g[i] = 2*(float64(xa[i])-float64(rec[i])) + float64(gy[i])
			n2 += g[i] * g[i]
		}
		if n2 > 0 && !math.IsInf(n2, 0) && !math.IsNaN(n2) {
			f := s.o.step / math.Sqrt(n2)
			for i := range xa {
				xa[i] -= float32(f * g[i])
			}
			project(L2, xa, s.x, s.a.Eps)
		}
		opt.Step(z, gz)
	}
	return xa, nil
}

// repair makes the runner-up of class t's search starts at xa win, and says whether
// it did (then the returned image differs from xa).
func (s *basinRun) repair(ctx context.Context, xa []float32, t int) ([]float32, bool, error) {
	M, P := s.M, s.P
	xr := slices.Clone(xa)
	zs, v, err := s.m.Starts(xr, t)
	if err != nil {
		return nil, false, err
	}
	S := len(v)
	if S < 2 {
		return nil, false, nil
	}
	if len(zs) != S*M {
		return nil, false, fmt.Errorf("attack: %s: %d start latent values for %d starts of %d", s.a.Name(), len(zs), S, M)
	}
	win := floats.Argmin(v)
	target := -1
	for i := range v {
		if i != win && (target < 0 || v[i] < v[target]) {
			target = i
		}
	}
	leads := func(v []float32) (bool, int) {
		w := -1
		for i := range v {
			if i != target && (w < 0 || v[i] < v[w]) {
				w = i
			}
		}
		return float64(v[target]) < float64(v[w])-s.o.margin, w
	}
	d := make([]float64, P)
	for step := 0; ; step++ {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		ok, w := leads(v)
		if ok {
			return xr, true, nil
		}
		if step == s.o.repair {
			return nil, false, nil
		}
		z := append(slices.Clone(zs[target*M:(target+1)*M]), zs[w*M:(w+1)*M]...)
		_, rec, _, err := s.m.Objective(append(slices.Clone(xr), xr...), []int{t, t}, z, 2)
		if err != nil {
			return nil, false, err
		}
		// d/dx' (value_target - value_w) at held latents = 2 (G_w - G_target).
		var n2 float64
		for i := range d {
			d[i] = float64(rec[P+i]) - float64(rec[i])
			n2 += d[i] * d[i]
		}
		if !(n2 > 0) {
			return nil, false, nil
		}
		f := s.o.rstep / math.Sqrt(n2)
		for i := range xr {
			xr[i] -= float32(f * d[i])
		}
		project(L2, xr, s.x, s.a.Eps)
		if zs, v, err = s.m.Starts(xr, t); err != nil {
			return nil, false, err
		}
		if len(v) != S || len(zs) != S*M {
			return nil, false, fmt.Errorf("attack: %s: the model's search has %d starts at one image and %d at another", s.a.Name(), S, len(v))
		}
	}
}

// nearestInBall returns the point of {x' : ||x' - x|| <= eps} ∩ [0,1]^P nearest g. By
// the KKT conditions it is clip((g + λx)/(1 + λ), 0, 1) for the smallest λ >= 0 that
// fits the ball; the distance to x falls as λ grows, so λ is found by bisection.
func nearestInBall(g, x []float32, eps float64) []float32 {
	out := make([]float32, len(g))
	at := func(l float64) float64 {
		var s float64
		for i := range g {
			v := min(max((float64(g[i])+l*float64(x[i]))/(1+l), 0), 1)
			out[i] = float32(v)
			d := float64(out[i]) - float64(x[i])
			s += d * d
		}
		return math.Sqrt(s)
	}
	if at(0) <= eps {
		return out
	}
	lo, hi := 0.0, 1.0
	for at(hi) > eps {
		hi *= 2
	}
	for range 64 {
		m := (lo + hi) / 2
		if at(m) > eps {
			lo = m
		} else {
			hi = m
		}
	}
	at(hi)
	return out
}
