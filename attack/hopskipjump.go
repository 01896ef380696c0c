package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// HopSkipJump is the decision-based minimum-norm attack of Chen et al. 2020
// (HopSkipJumpAttack), in L2 or Linf: from an adversarial start it alternates a binary
// search to the decision boundary between x and the current adversarial, an estimate of
// the boundary's normal from the decisions at random points around it (Monte Carlo, with
// the paper's baseline), and a geometric step-size search along it. Only the model's
// decisions (argmax) are used.
//
// Adv is the closest adversarial it found. Differences from the authors' code, for a
// bounded and batched run: the step-size search halves at most 30 times (the authors'
// loop never ends if no step is adversarial, foolbox issue #670), a sample without any
// adversarial start ends with Ok false and Adv = x, and probes are asked in chunks of
// at most ProbeChunk images per sample to bound memory.
type HopSkipJump struct {
	// Lp is the threat model: Linf or L2.
	Lp Norm
	// Steps is the number of iterations; 0 means 64 (Foolbox's).
	Steps int
	// InitialEvals and MaxEvals bound the probes per gradient estimate, which grow as
	// InitialEvals*sqrt(t+1); 0 means 100 and 10,000 (the paper's and Foolbox's).
	InitialEvals, MaxEvals int
	// Gamma sets the binary search's precision theta = Gamma/d^(3/2) (L2) or
	// Gamma/d^2 (Linf) for d values per image; 0 means 1.0 (Foolbox's).
	Gamma float64
	// Eps, when > 0, ends a sample as soon as its adversarial is within Eps (the
	// evaluation needs nothing closer); 0 runs every step.
	Eps float64
	// Starts, when set, gives a starting image for x of label y (a correctly
	// classified image of another class, say); it is used if the model misclassifies
	// it. Otherwise, or if it is not adversarial, up to InitTries uniform-noise images
	// are tried (0 means 100).
	Starts    func(x []float32, y int) ([]float32, bool)
	InitTries int
	// Queries is the per-sample budget; 0 means no limit beyond the algorithm's own
	// (about 36,000 queries with the defaults on MNIST). A sample stops, keeping its
	// best adversarial, when the next phase does not fit.
	Queries int
	// ProbeChunk is the most probes asked at once per sample; 0 means 100 (memory:
	// a batch of B samples holds about 3*B*ProbeChunk images at once).
	ProbeChunk int
}

// Name implements Attack.
func (a HopSkipJump) Name() string { return "hsj-" + string(a.Lp) }

// Norm implements Attack.
func (a HopSkipJump) Norm() Norm { return a.Lp }

func (a HopSkipJump) withDefaults() HopSkipJump {
	if a.Steps == 0 {
		a.Steps = 64
	}
	if a.InitialEvals == 0 {
		a.InitialEvals = 100
	}
	if a.MaxEvals == 0 {
		a.MaxEvals = 10000
	}
	if a.Gamma == 0 {
		a.Gamma = 1
	}
	if a.InitTries == 0 {
		a.InitTries = 100
	}
	if a.ProbeChunk == 0 {
		a.ProbeChunk = 100
	}
	return a
}

// Run implements Attack.
func (a HopSkipJump) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	a = a.withDefaults()
	name := a.Name()
	p, err := gfCheck(name, m, x, y, batch)
	if err != nil {
		return nil, err
	}
	if a.Lp != Linf && a.Lp != L2 {
		return nil, fmt.Errorf("%s: unknown norm %q (want linf or l2)", name, a.Lp)
	}
	if a.Steps < 0 || a.InitialEvals < 1 || a.MaxEvals < a.InitialEvals || !(a.Gamma > 0) || a.Eps < 0 ||
		a.InitTries < 0 || a.Queries < 0 || a.ProbeChunk < 1 {
		return nil, fmt.Errorf("%s: bad options %+v", name, a)
	}
	return gfRun(ctx, m, x, batch, a.Queries, rng, func(q *SampleOracle, s int, adv []float32, r *rand.Rand) (bool, error) {
		return a.sample(q, x[s*p:(s+1)*p], y[s], adv, r)
	})
}

func (a HopSkipJump) sample(q *SampleOracle, x []float32, y int, adv []float32, r *rand.Rand) (bool, error) {
	if mis, err := gfMisclassified(q, x, y); err != nil || mis {
		return mis, err
	}
	start, err := gfStarter(q, x, y, a.Starts, a.InitTries, r)
	if err != nil || start == nil {
		return false, err
	}
	copy(adv, start) // adversarial from here on: every later update is checked
	d := float64(len(x))
	theta := a.Gamma / (d * math.Sqrt(d))
	if a.Lp == Linf {
		theta = a.Gamma / (d * d)
	}
	cur, err := a.boundary(q, x, adv, y, theta)
	if err != nil {
		return true, err
	}
	copy(adv, cur)
	// dist is the current boundary point's distance, from which the next probe radius
	// and step size follow, as in the reference, even when that point is farther than
	// the best one (best, kept in adv).
	dist := gfDist(a.Lp, x, cur)
	best := dist
	upd := make([]float32, len(x))
	cand := make([]float32, len(x))
	for t := 0; t < a.Steps && !(a.Eps > 0 && best <= a.Eps); t++ {
		delta := 0.1
		if t > 0 {
			if a.Lp == L2 {
				delta = math.Sqrt(d) * theta * dist
			} else {
				delta = d * theta * dist
			}
		}
		evals := int(math.Min(float64(a.InitialEvals)*math.Sqrt(float64(t+1)), float64(a.MaxEvals)))
		evals = min(evals, q.Remaining())
		if evals < 1 {
			break
		}
		g, err := a.gradient(q, cur, y, delta, evals, r)
		if err != nil {
			return true, err
		}
		if g == nil {
			continue // every probe gave the same decision and the mean direction is 0
		}
		for i, v := range g {
			if a.Lp == Linf {
				switch {
				case v > 0:
					upd[i] = 1
				case v < 0:
					upd[i] = -1
				default:
					upd[i] = 0
				}
			} else {
				upd[i] = float32(v)
			}
		}
		// Geometric step-size search: halve from dist/sqrt(t+1) until adversarial.
		step, found := dist/math.Sqrt(float64(t+1)), false
		for h := 0; h < 30 && !found; h++ {
			for i := range cand {
				cand[i] = cur[i] + float32(step)*upd[i]
			}
			gfClip01(cand)
			if found, err = gfMisclassified(q, cand, y); err != nil {
				return true, err
			}
			if !found {
				step /= 2
			}
		}
		if !found {
			continue
		}
		next, err := a.boundary(q, x, cand, y, theta)
		if err != nil {
			return true, err
		}
		cur, dist = next, gfDist(a.Lp, x, next)
		if dist < best {
			best = dist
			copy(adv, cur)
		}
	}
	return true, nil
}

// boundary is the paper's binary search between x (label y) and the adversarial b: on
// the segment for L2, over the Linf radius (b clipped to the box around x) for Linf,
// until the bracket is below theta (relative to the distance for Linf). It returns the
// adversarial end of the bracket; if the budget runs out, the best adversarial so far.
func (a HopSkipJump) boundary(q *SampleOracle, x, b []float32, y int, theta float64) ([]float32, error) {
	lo, hi, thr := 0.0, 1.0, theta
	if a.Lp == Linf {
		hi = gfDist(Linf, x, b)
		thr = math.Min(hi*theta, theta)
	}
	proj := func(alpha float64) []float32 {
		out := make([]float32, len(x))
		for i := range x {
			if a.Lp == Linf {
				e := float32(alpha)
				out[i] = min(max(b[i], x[i]-e), x[i]+e)
			} else {
				out[i] = float32((1-alpha)*float64(x[i]) + alpha*float64(b[i]))
			}
		}
		return out
	}
	for i := 0; i < 64 && (hi-lo)/thr > 1; i++ {
		mid := (lo + hi) / 2
		mis, err := gfMisclassified(q, proj(mid), y)
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
	if a.Lp == L2 && hi == 1 || a.Lp == Linf && hi == gfDist(Linf, x, b) {
		return append([]float32(nil), b...), nil
	}
	return proj(hi), nil
}

// gradient estimates the unit normal of the decision boundary at b (adversarial side
// positive) from evals decisions at b + delta*u, u uniform on the sphere (L2) or
// normalised uniform in the cube (Linf), clipped to the box, with the paper's baseline
// (the mean decision) subtracted. It returns nil if the estimate is zero.
func (a HopSkipJump) gradient(q *SampleOracle, b []float32, y int, delta float64, evals int, r *rand.Rand) ([]float64, error) {
	// With f = +-1 the decisions, the estimate sum_k (f_k - mean f) rv_k is accumulated
	// as sum f rv - mean * sum rv, so no probe is kept after its chunk.
	n := len(b)
	fr := make([]float64, n) // sum f rv
	sr := make([]float64, n) // sum rv
	var fsum float64
	// The probes' directions are kept in float32 (as the probes themselves) only for
	// the chunk being asked: memory per sample is 2 ProbeChunk images.
	rv := make([]float32, a.ProbeChunk*n)
	raw := make([]float64, n)
	for done := 0; done < evals; {
		m := min(a.ProbeChunk, evals-done)
		pts := make([]float32, m*n)
		for k := 0; k < m; k++ {
			row := rv[k*n : (k+1)*n]
			var s float64
			for i := range raw {
				if a.Lp == L2 {
					raw[i] = r.NormFloat64()
				} else {
					raw[i] = 2*r.Float64() - 1
				}
				s += raw[i] * raw[i]
			}
			s = math.Sqrt(s)
			for i := range row {
				v := float32(min(max(float64(b[i])+delta*raw[i]/s, 0), 1))
				pts[k*n+i] = v
				row[i] = float32(float64(v-b[i]) / delta)
			}
		}
		l, err := q.Labels(pts)
		if err != nil {
			return nil, err
		}
		for k, lab := range l {
			f := -1.0
			if lab != y {
				f = 1
			}
			fsum += f
			for i, v := range rv[k*n : (k+1)*n] {
				fr[i] += f * float64(v)
				sr[i] += float64(v)
			}
		}
		done += m
	}
	// All probes on one side: the authors' +-mean(rv), which is fr itself.
	if mean := fsum / float64(evals); math.Abs(mean) != 1 {
		for i := range fr {
			fr[i] -= mean * sr[i]
		}
	}
	var s float64
	for _, v := range fr {
		s += v * v
	}
	if s = math.Sqrt(s); s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return nil, nil
	}
	for i := range fr {
		fr[i] /= s
	}
	return fr, nil
}
