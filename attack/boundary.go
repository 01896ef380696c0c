package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Boundary is the Boundary attack of Brendel et al. 2018, a decision-based L2
// minimum-norm attack: from an adversarial start it walks along the decision boundary
// towards x by random steps, each an orthogonal (spherical) step of relative size
// SphericalStep on the sphere around x followed by a step of relative size SourceStep
// towards x, kept if still adversarial. Both sizes adapt to the success rates, as in
// Foolbox 3: every UpdateEvery steps the spherical candidate is checked too; over the
// last 100 such checks, a spherical success rate above 0.5 (below 0.2) multiplies
// (divides) both sizes by StepAdaptation; over the last 30, a full-step success rate
// above 0.25 (below 0.1) does so for the source step. A sample converges when its
// source step falls below Convergence.
//
// The start is the caller's (Starts: the paper starts from a correctly classified test
// image of another class) if the model misclassifies it, else uniform noise; it is then
// moved to the boundary by a binary search on the segment towards x (a choice of ours:
// it saves the walk's first few thousand steps), which the step count leaves out.
//
// Adv is the closest adversarial found; Ok false means no adversarial start was found
// (Adv = x).
type Boundary struct {
	// Steps is the number of iterations; 0 means 25,000 (Foolbox's default), the
	// committed default because one step is one query. The paper's budget is 100,000
	// steps (about 110,000 queries per image): set it for the paper's full evaluation.
	Steps int
	// SphericalStep, SourceStep: initial relative step sizes; 0 means 0.01 each.
	SphericalStep, SourceStep float64
	// StepAdaptation is the factor of the size adaptation; 0 means 1.5.
	StepAdaptation float64
	// Convergence is the source step below which a sample stops; 0 means 1e-7.
	Convergence float64
	// UpdateEvery is how often (in steps) the spherical candidate is also checked and
	// the sizes are adapted; 0 means 10.
	UpdateEvery int
	// Eps, when > 0, ends a sample as soon as its adversarial is within L2 Eps.
	Eps float64
	// Starts, InitTries: the start, as for HopSkipJump (InitTries 0 means 100).
	Starts    func(x []float32, y int) ([]float32, bool)
	InitTries int
	// Queries is the per-sample budget; 0 means no limit beyond the algorithm's own:
	// 1 + the start + about 25 for the binary search + Steps*(1 + 1/UpdateEvery).
	Queries int
}

// Name implements Attack.
func (a Boundary) Name() string { return "boundary-l2" }

// Norm implements Attack.
func (a Boundary) Norm() Norm { return L2 }

func (a Boundary) withDefaults() Boundary {
	if a.Steps == 0 {
		a.Steps = 25000
	}
	if a.SphericalStep == 0 {
		a.SphericalStep = 0.01
	}
	if a.SourceStep == 0 {
		a.SourceStep = 0.01
	}
	if a.StepAdaptation == 0 {
		a.StepAdaptation = 1.5
	}
	if a.Convergence == 0 {
		a.Convergence = 1e-7
	}
	if a.UpdateEvery == 0 {
		a.UpdateEvery = 10
	}
	if a.InitTries == 0 {
		a.InitTries = 100
	}
	return a
}

// Run implements Attack.
func (a Boundary) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	a = a.withDefaults()
	name := a.Name()
	p, err := gfCheck(name, m, x, y, batch)
	if err != nil {
		return nil, err
	}
	if a.Steps < 0 || !(a.SphericalStep > 0) || !(a.SourceStep > 0) || !(a.StepAdaptation > 1) ||
		!(a.Convergence > 0) || a.UpdateEvery < 1 || a.Eps < 0 || a.InitTries < 0 || a.Queries < 0 {
		return nil, fmt.Errorf("%s: bad options %+v", name, a)
	}
	return gfRun(ctx, m, x, batch, a.Queries, rng, func(q *SampleOracle, s int, adv []float32, r *rand.Rand) (bool, error) {
		return a.sample(q, x[s*p:(s+1)*p], y[s], adv, r)
	})
}

// gfWindow is a ring of the last len(v) booleans.
type gfWindow struct {
	v    []bool
	n, i int
}

func (w *gfWindow) add(b bool) {
	w.v[w.i] = b
	w.i = (w.i + 1) % len(w.v)
	w.n = min(w.n+1, len(w.v))
}

func (w *gfWindow) full() bool { return w.n == len(w.v) }

func (w *gfWindow) rate() float64 {
	c := 0
	for _, b := range w.v[:w.n] {
		if b {
			c++
		}
	}
	return float64(c) / float64(w.n)
}

func (w *gfWindow) clear() { w.n, w.i = 0, 0 }

func (a Boundary) sample(q *SampleOracle, x []float32, y int, adv []float32, r *rand.Rand) (bool, error) {
	if mis, err := gfMisclassified(q, x, y); err != nil || mis {
		return mis, err
	}
	start, err := gfStarter(q, x, y, a.Starts, a.InitTries, r)
	if err != nil || start == nil {
		return false, err
	}
	copy(adv, start)
	best, err := gfBlend(q, x, start, y, 1e-3)
	if err != nil {
		return true, err
	}
	copy(adv, best)
	n := len(x)
	dist := gfDist(L2, x, best)
	sph, src := a.SphericalStep, a.SourceStep
	sphStats, stepStats := &gfWindow{v: make([]bool, 100)}, &gfWindow{v: make([]bool, 30)}
	eta := make([]float64, n)
	srcDir := make([]float64, n)
	pts := make([]float32, 2*n)
	for step := 1; step <= a.Steps && src >= a.Convergence && !(a.Eps > 0 && dist <= a.Eps); step++ {
		// The unnormalised source direction x - best and its norm.
		for i := range srcDir {
			srcDir[i] = float64(x[i]) - float64(best[i])
		}
		norm := dist
		if norm == 0 {
			break
		}
		// A Gaussian direction orthogonal to the source direction, scaled to sph*norm.
		var dot float64
		for i := range eta {
			eta[i] = r.NormFloat64()
			dot += eta[i] * srcDir[i] / norm
		}
		var en float64
		for i := range eta {
			eta[i] -= dot * srcDir[i] / norm
			en += eta[i] * eta[i]
		}
		en = math.Sqrt(en)
		if en == 0 {
			continue
		}
		// The spherical candidate x + (eta - srcDir)/sqrt(1 + sph^2) (Pythagoras), clipped.
		scale := sph * norm / en
		pyth := math.Sqrt(sph*sph + 1)
		sphC, cand := pts[n:], pts[:n]
		var nsn float64
		for i := range eta {
			v := float64(x[i]) + (eta[i]*scale-srcDir[i])/pyth
			v = min(max(v, 0), 1)
			sphC[i] = float32(v)
			d := float64(x[i]) - float64(sphC[i])
			nsn += d * d
		}
		nsn = math.Sqrt(nsn)
		// A step of src*norm towards x, corrected for the candidate's distance from the
		// sphere.
		length := math.Max(src*norm+nsn-norm, 0)
		if nsn > 0 {
			length /= nsn
		}
		for i := range cand {
			v := float64(sphC[i]) + length*(float64(x[i])-float64(sphC[i]))
			cand[i] = float32(min(max(v, 0), 1))
		}
		check := step%a.UpdateEvery == 0
		ask := pts[:n]
		if check {
			ask = pts
		}
		l, err := q.Labels(ask)
		if err != nil {
			return true, err
		}
		isAdv := l[0] != y
		if d := gfDist(L2, x, cand); isAdv && d < dist {
			copy(best, cand)
			dist = d
			copy(adv, best)
		}
		if !check {
			continue
		}
		sphStats.add(l[1] != y)
		stepStats.add(isAdv)
		if sphStats.full() {
			switch p := sphStats.rate(); {
			case p > 0.5:
				sph *= a.StepAdaptation
				src *= a.StepAdaptation
				sphStats.clear()
			case p < 0.2:
				sph /= a.StepAdaptation
				src /= a.StepAdaptation
				sphStats.clear()
			}
		}
		if stepStats.full() {
			switch p := stepStats.rate(); {
			case p > 0.25:
				src *= a.StepAdaptation
				stepStats.clear()
			case p < 0.1:
				src /= a.StepAdaptation
				stepStats.clear()
			}
		}
	}
	return true, nil
}

// gfBlend binary-searches the segment from x (label y) to the adversarial b for the
// boundary, to a bracket of tol in the blend factor, and returns the adversarial end.
// Out of budget, it returns the best adversarial so far.
func gfBlend(q *SampleOracle, x, b []float32, y int, tol float64) ([]float32, error) {
	lo, hi := 0.0, 1.0
	at := func(alpha float64) []float32 {
		out := make([]float32, len(x))
		for i := range x {
			out[i] = float32((1-alpha)*float64(x[i]) + alpha*float64(b[i]))
		}
		return out
	}
	for hi-lo > tol {
		mid := (lo + hi) / 2
		mis, err := gfMisclassified(q, at(mid), y)
		if err != nil {
			if errors.As(err, new(*BudgetError)) {
				break
			}
			return nil, err
		}
		if mis {
			hi = mid
		} else {
			lo = mid
		}
	}
	if hi == 1 {
		return append([]float32(nil), b...), nil
	}
	return at(hi), nil
}

// StartsFrom returns a Starts function for Boundary and HopSkipJump over a pool of
// images (N, C, H, W) with their labels: for an image x of label y it returns the pool
// image of another label closest to x in L2. The paper starts from a correctly
// classified test image of another class, so the pool should hold images the model
// classifies correctly; the attacks check the start with a query anyway. The function
// only reads the pool, so the attacks' goroutines may call it at once.
func StartsFrom(pool []float32, labels []int) func(x []float32, y int) ([]float32, bool) {
	if len(labels) == 0 || len(pool)%len(labels) != 0 {
		return func([]float32, int) ([]float32, bool) { return nil, false }
	}
	p := len(pool) / len(labels)
	return func(x []float32, y int) ([]float32, bool) {
		best, bd := -1, math.Inf(1)
		for i, l := range labels {
			if l == y || len(x) != p {
				continue
			}
			if d := gfDist(L2, x, pool[i*p:(i+1)*p]); d < bd {
				best, bd = i, d
			}
		}
		if best < 0 {
			return nil, false
		}
		return pool[best*p : (best+1)*p], true
	}
}
