package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// NES is PGD with estimated gradients, the gradient-free attack of the paper's
// Appendix B: each step estimates the gradient of the loss from the model's scores at
// points around the iterate, NES-style (Ilyas et al. 2018: antithetic Gaussian
// samples) or SPSA-style (Uesato et al. 2018: antithetic Rademacher samples), then takes
// a PGD step (sign for Linf, normalised for L2), projected onto the eps-ball and
// [0, 1].
//
// The loss is the margin max_{j != y} z_j - z_y of the scores (raised by the attack):
// it is linear in the scores, so a confidently classified image still gives finite
// differences far above float32 rounding, where the cross-entropy's would vanish.
//
// The estimate's probes x +- sigma*u are not clipped to [0, 1]: clipping would bias the
// estimate at the many MNIST pixels that sit on the box, and every model here accepts
// such inputs. Iterates always lie in the box.
type NES struct {
	// Lp is the threat model: Linf or L2.
	Lp  Norm
	Eps float64
	// Steps is the number of PGD steps; 0 means 50 (the paper's).
	Steps int
	// Samples is the number of probes per gradient estimate, in antithetic pairs (an
	// odd count is rounded up); 0 means 100.
	Samples int
	// Sigma is the probes' scale; 0 means 0.01, the upper end of the usual 0.001-0.01:
	// the differences must stand above float32 rounding and the noise of a randomised
	// model's scores.
	Sigma float64
	// Step is the step size; 0 means 2.5*Eps/Steps (Madry et al.'s rule).
	Step float64
	// SPSA draws Rademacher (+-1) probes instead of Gaussian ones.
	SPSA bool
	// Queries is the per-sample budget; 0 means what the attack can use,
	// 1 + Steps*(Samples+1): the clean image, then per step one estimate and one check
	// of the new iterate. A sample stops when it is misclassified or out of queries.
	// A budget smaller than the defaults need is fitted (see fit): with Samples and
	// Steps left 0, the estimate shrinks to the probes that fit 50 steps (at least
	// one antithetic pair), and then the steps to what the budget pays for, so the
	// attack spends its budget instead of stopping before its first estimate.
	Queries int
}

// fit sizes a default (0) Samples and Steps to a given budget q: the paper's 50 steps
// with as many probes per estimate as fit (at most 100, even, at least 2), and when
// even 2 do not fit 50 steps, 2 probes and (q-1)/3 steps. Explicit values are kept.
func (a NES) fit() NES {
	if a.Queries <= 0 || a.Samples != 0 {
		return a
	}
	steps := a.Steps
	if steps == 0 {
		steps = 50
	}
	fit := (a.Queries-1)/steps - 1
	switch {
	case fit >= 100:
		return a
	case fit >= 2:
		a.Samples = fit - fit%2
	default:
		a.Samples = 2
		if a.Steps == 0 {
			a.Steps = max(1, (a.Queries-1)/3)
		}
	}
	return a
}

// Name implements Attack.
func (a NES) Name() string {
	if a.SPSA {
		return "spsa-" + string(a.Lp)
	}
	return "nes-" + string(a.Lp)
}

// Norm implements Attack.
func (a NES) Norm() Norm { return a.Lp }

func (a NES) withDefaults() NES {
	a = a.fit()
	if a.Steps == 0 {
		a.Steps = 50
	}
	if a.Samples == 0 {
		a.Samples = 100
	}
	a.Samples += a.Samples % 2
	if a.Sigma == 0 {
		a.Sigma = 0.01
	}
	if a.Step == 0 {
		a.Step = 2.5 * a.Eps / float64(a.Steps)
	}
	if a.Queries == 0 {
		a.Queries = 1 + a.Steps*(a.Samples+1)
	}
	return a
}

// Run implements Attack.
func (a NES) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	a = a.withDefaults()
	name := a.Name()
	p, err := gfCheck(name, m, x, y, batch)
	if err != nil {
		return nil, err
	}
	if a.Lp != Linf && a.Lp != L2 {
		return nil, fmt.Errorf("%s: unknown norm %q (want linf or l2)", name, a.Lp)
	}
	if !(a.Eps > 0) || math.IsInf(a.Eps, 0) || a.Steps < 0 || a.Samples < 2 || !(a.Sigma > 0) || !(a.Step > 0) || a.Queries < 1 {
		return nil, fmt.Errorf("%s: eps %v, %d steps, %d samples, sigma %v, step %v, %d queries: want positive values",
			name, a.Eps, a.Steps, a.Samples, a.Sigma, a.Step, a.Queries)
	}
	return gfRun(ctx, m, x, batch, a.Queries, rng, func(q *SampleOracle, s int, adv []float32, r *rand.Rand) (bool, error) {
		return a.sample(q, x[s*p:(s+1)*p], y[s], adv, r)
	})
}

func (a NES) sample(q *SampleOracle, x []float32, y int, adv []float32, r *rand.Rand) (bool, error) {
	if mis, err := gfMisclassified(q, x, y); err != nil || mis {
		return mis, err
	}
	cur := append([]float32(nil), x...)
	for t := 0; t < a.Steps; t++ {
		if q.Remaining() < a.Samples+1 {
			break
		}
		g, err := a.estimate(q, cur, y, r)
		if err != nil {
			return false, err
		}
		switch a.Lp {
		case Linf:
			for i, v := range g {
				if v > 0 {
					cur[i] += float32(a.Step)
				} else if v < 0 {
					cur[i] -= float32(a.Step)
				}
			}
		case L2:
			var n float64
			for _, v := range g {
				n += v * v
			}
			if n = math.Sqrt(n); n > 0 {
				for i, v := range g {
					cur[i] += float32(a.Step * v / n)
				}
			}
		}
		gfProject(a.Lp, cur, x, a.Eps)
		mis, err := gfMisclassified(q, cur, y)
		if err != nil {
			return false, err
		}
		copy(adv, cur)
		if mis {
			return true, nil
		}
	}
	return false, nil
}

// estimate returns the NES/SPSA estimate of the gradient of the margin loss
// max_{j != y} z_j - z_y at x from a.Samples probes x +- sigma*u asked in one query:
// g = sum_pairs (L(x+sigma u) - L(x-sigma u)) u / (Samples*sigma), whose expectation is
// the gradient of the loss smoothed at scale sigma (u Gaussian or Rademacher, E[uu^T] = I).
func (a NES) estimate(q *SampleOracle, x []float32, y int, r *rand.Rand) ([]float64, error) {
	n, pairs := len(x), a.Samples/2
	u := make([]float64, pairs*n)
	probes := make([]float32, 2*pairs*n)
	for k := 0; k < pairs; k++ {
		for i := 0; i < n; i++ {
			v := r.NormFloat64()
			if a.SPSA {
				v = 1
				if r.IntN(2) == 0 {
					v = -1
				}
			}
			u[k*n+i] = v
			probes[2*k*n+i] = x[i] + float32(a.Sigma*v)
			probes[(2*k+1)*n+i] = x[i] - float32(a.Sigma*v)
		}
	}
	z, err := q.Scores(probes)
	if err != nil {
		return nil, err
	}
	c := q.Classes()
	g := make([]float64, n)
	for k := 0; k < pairs; k++ {
		d := gfMargin(z[(2*k+1)*c:(2*k+2)*c], y) - gfMargin(z[2*k*c:(2*k+1)*c], y)
		f := d / (float64(a.Samples) * a.Sigma)
		for i := range g {
			g[i] += f * u[k*n+i]
		}
	}
	return g, nil
}
