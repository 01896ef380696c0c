package attack

// APGD-T: the targeted APGD of Croce and Hein 2020, "Reliable evaluation of adversarial
// robustness with an ensemble of diverse parameter-free attacks" (ICML), Section 4, the
// second attack of AutoAttack's standard version.

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/eabs/eabs/internal/floats"
)

// APGDT is targeted APGD, an Attack: APGD (same start, step-size schedule, checkpoints
// and momentum; see APGD) on the targeted difference-of-logits-ratio loss
//
//	DLR-T(z, y, t) = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4)/2)
//
// with z_pi1 >= z_pi2 >= ... the sorted logits, which rises as the target t overtakes
// the label y and, like DLR, does not change when the logits are shifted or scaled. The
// targets are the Targets classes other than y with the highest clean scores, best
// first, each attacked in turn (Restarts random starts each) on the samples no earlier
// target fooled; a sample counts as fooled when any class other than y wins, as in
// AutoAttack. The clean scores cost one evaluation per sample (EOT calls); a sample
// misclassified there is returned as it is.
//
// Zero options take AutoAttack's standard values: 9 targets (fewer when the model has
// fewer other classes), 1 restart per target, 100 iterations, momentum 0.75, Rho 0.75,
// EOT 1. The loss needs at least 4 classes.
type APGDT struct {
	// Lp is the threat model, Linf or L2.
	Lp  Norm
	Eps float64
	// Targets is the number of target classes (default 9).
	Targets int
	// Steps, Restarts (per target), EOT, Momentum, Rho and KeepGoing are APGD's.
	Steps, Restarts, EOT int
	Momentum, Rho        float64
	KeepGoing            bool
}

// Name implements Attack: "apgd-t-linf" or "apgd-t-l2".
func (a APGDT) Name() string { return "apgd-t-" + string(a.Lp) }

// Norm implements Attack.
func (a APGDT) Norm() Norm { return a.Lp }

// Run implements Attack.
func (a APGDT) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	name := a.Name()
	base := APGD{Lp: a.Lp, Eps: a.Eps, Steps: a.Steps, Restarts: a.Restarts, EOT: a.EOT, Momentum: a.Momentum, Rho: a.Rho, KeepGoing: a.KeepGoing}
	r, s, err := base.start(name, m, x, y, batch, 4)
	if err != nil {
		return nil, err
	}
	targets, err := orDefault(name, "targets", a.Targets, 9)
	if err != nil {
		return nil, err
	}
	targets = min(targets, r.k-1)
	order, err := cleanTargets(ctx, s, r.f, x, y, targets)
	if err != nil {
		return nil, err
	}
	for t := 0; t < targets; t++ {
		eval := func(xs []float32, idx []int) ([]float32, []float32, []float64, error) {
			return s.vjpBy(ctx, xs, idx, func(z []float32, i int) (float64, []float64) {
				return dlrTargeted(z, y[i], order[i][t])
			})
		}
		for range r.restarts {
			if err := r.restart(rng, eval); err != nil {
				return nil, fmt.Errorf("%w (target %d)", err, t+1)
			}
		}
	}
	return r.f, nil
}

// dlrTargeted is the targeted DLR loss -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4)/2 +
// 1e-12), with z_pi1 >= z_pi2 >= z_pi3 >= z_pi4 the four largest logits, and its
// derivative with respect to the logits. It needs at least 4 classes.
func dlrTargeted(z []float32, y, t int) (float64, []float64) {
	p := topN(z, 4)
	num := float64(z[y]) - float64(z[t])
	den := float64(z[p[0]]) - (float64(z[p[2]])+float64(z[p[3]]))/2 + 1e-12
	dz := make([]float64, len(z))
	// loss = -num/den: d/dz_y = -1/den, d/dz_t = +1/den, d/dz_pi1 += num/den^2,
	// d/dz_pi3 and d/dz_pi4 -= num/(2 den^2).
	dz[y] -= 1 / den
	dz[t] += 1 / den
	q := num / (den * den)
	dz[p[0]] += q
	dz[p[2]] -= q / 2
	dz[p[3]] -= q / 2
	return -num / den, dz
}

// topN returns the indices of the n largest logits, largest first (the lower index
// first among equal logits).
func topN(z []float32, n int) []int {
	out := make([]int, 0, n)
	used := make([]bool, len(z))
	for len(out) < n && len(out) < len(z) {
		best := -1
		for j, v := range z {
			if !used[j] && (best < 0 || v > z[best]) {
				best = j
			}
		}
		used[best] = true
		out = append(out, best)
	}
	return out
}

// cleanTargets classifies the batch once and returns per sample its first targets
// classes other than y by clean score, best first (topOthers). A sample the model
// already misclassifies is found at distance 0 (f.Adv holds x) and gets no targets.
func cleanTargets(ctx context.Context, s *sampler, f *Found, x []float32, y []int, targets int) ([][]int, error) {
	all := make([]int, len(y))
	for i := range all {
		all[i] = i
	}
	z0, err := s.logits(ctx, x, all)
	if err != nil {
		return nil, err
	}
	order := make([][]int, len(y))
	for i := range all {
		row := z0[i*s.k : (i+1)*s.k]
		if floats.Argmax(row) != y[i] {
			f.Ok[i] = true
			continue
		}
		order[i] = topOthers(row, y[i], targets)
	}
	return order, nil
}
