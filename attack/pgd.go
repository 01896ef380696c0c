package attack

// PGD (Madry et al. 2018, "Towards deep learning models resistant to adversarial
// attacks") in two forms: PGDAttack, the evaluation attack of the suite with the E-ABS
// paper's budget (Section 4.2, Appendix B: 80 steps, step 2.5*eps/steps, 5 random
// restarts on MNIST and Fashion-MNIST, 20 on the 32x32 sets), and PGD, the plain inner
// attack of adversarial training.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/eabs/eabs/internal/floats"
)

// Norm is the threat model of an attack.
type Norm string

const (
	Linf Norm = "linf"
	L2   Norm = "l2"
)

// PGD is projected gradient descent on the cross-entropy, the inner attack of
// adversarial training (package train): from a random point of the eps-ball around x (or x itself), Steps steps of size Step along
// the gradient's sign (Linf) or direction (L2), each followed by projection onto the
// ball and onto the pixel range [0, 1].
type PGD struct {
	Norm  Norm
	Eps   float64
	Steps int
	// Step is the step size; 0 means 2.5*Eps/Steps (Madry et al.'s rule).
	Step float64
	// RandomStart starts from a uniform point of the ball (Linf) or a uniformly
	// random direction at a uniform radius (L2).
	RandomStart bool
}

// Run returns adversarial versions of the images x (B, C, H, W) with labels y.
func (p PGD) Run(m Model, x []float32, y []int, batch int, rng *rand.Rand) ([]float32, error) {
	if batch <= 0 || len(x)%batch != 0 || len(y) != batch {
		return nil, fmt.Errorf("attack: %d values, %d labels for a batch of %d", len(x), len(y), batch)
	}
	if p.Norm != Linf && p.Norm != L2 {
		return nil, fmt.Errorf("attack: unknown norm %q (want linf or l2)", p.Norm)
	}
	if !(p.Eps >= 0) || p.Steps < 0 {
		return nil, fmt.Errorf("attack: eps %g and steps %d must not be negative", p.Eps, p.Steps)
	}
	step := p.Step
	if step == 0 && p.Steps > 0 {
		step = 2.5 * p.Eps / float64(p.Steps)
	}
	n := len(x) / batch
	adv := append([]float32(nil), x...)
	if p.RandomStart {
		for b := 0; b < batch; b++ {
			d := adv[b*n : (b+1)*n]
			switch p.Norm {
			case Linf:
				for i := range d {
					d[i] += float32((2*rng.Float64() - 1) * p.Eps)
				}
			case L2:
				dir := make([]float64, n)
				var s float64
				for i := range dir {
					dir[i] = rng.NormFloat64()
					s += dir[i] * dir[i]
				}
				r := p.Eps * math.Pow(rng.Float64(), 1/float64(n)) / math.Sqrt(s)
				for i := range d {
					d[i] += float32(dir[i] * r)
				}
			}
		}
		p.project(adv, x, batch)
	}
	for s := 0; s < p.Steps; s++ {
		_, g, err := m.LossGrad(adv, y, batch)
		if err != nil {
			return nil, err
		}
		for b := 0; b < batch; b++ {
			gb, d := g[b*n:(b+1)*n], adv[b*n:(b+1)*n]
			switch p.Norm {
			case Linf:
				for i, v := range gb {
					if v > 0 {
						d[i] += float32(step)
					} else if v < 0 {
						d[i] -= float32(step)
					}
				}
			case L2:
				var s float64
				for _, v := range gb {
					s += float64(v) * float64(v)
				}
				if s == 0 {
					continue
				}
				f := step / math.Sqrt(s)
				for i, v := range gb {
					d[i] += float32(f * float64(v))
				}
			}
		}
		p.project(adv, x, batch)
	}
	return adv, nil
}

// project moves each adversarial image back into the eps-ball around its original
// and into [0, 1].
func (p PGD) project(adv, x []float32, batch int) {
	n := len(x) / batch
	for b := 0; b < batch; b++ {
		d, o := adv[b*n:(b+1)*n], x[b*n:(b+1)*n]
		switch p.Norm {
		case Linf:
			e := float32(p.Eps)
			for i := range d {
				d[i] = min(max(d[i], o[i]-e), o[i]+e)
			}
		case L2:
			var s float64
			for i := range d {
				v := float64(d[i] - o[i])
				s += v * v
			}
			if nrm := math.Sqrt(s); nrm > p.Eps {
				f := float32(p.Eps / nrm)
				for i := range d {
					d[i] = o[i] + (d[i]-o[i])*f
				}
			}
		}
		for i := range d {
			d[i] = min(max(d[i], 0), 1)
		}
	}
}

// PGDAttack is projected gradient ascent on the log-sum-exp margin log sum_{k!=y}
// exp(z_k) - z_y (lseMargin: the cross-entropy's steps exactly, for one evaluation, without
// its vanishing gradient on confidently classified samples), an Attack. Each restart
// starts from a random point of the eps-ball (uniform for Linf; a uniform direction at a
// radius uniform in volume for L2) and takes Steps steps of size Step along the
// gradient's sign (Linf: x += Step*sign(g)) or direction (L2: x += Step*g/||g||_2), each
// followed by projection onto the ball and the [0,1] box. A sample stops as soon as an
// evaluated iterate is misclassified (per-sample early stop), and later restarts attack
// only the samples not yet fooled. Found.Adv is the first adversarial iterate, or else
// the iterate of highest loss over all restarts.
//
// Zero options take the paper's defaults.
type PGDAttack struct {
	// Lp is the threat model, Linf or L2.
	Lp  Norm
	Eps float64
	// Steps is the number of gradient steps per restart (default 80).
	Steps int
	// Step is the step size (default 2.5*Eps/Steps, Madry et al.'s rule).
	Step float64
	// Restarts is the number of random starts (default 5, the paper's MNIST and
	// Fashion-MNIST setting; it uses 20 on SVHN and SuperTraffic-10: each dataset's is
	// in its data.Profile).
	Restarts int
	// EOT averages each gradient and each evaluation over this many calls of a
	// randomised model that does not average itself (default 1; E-ABS averages its own
	// runs: see the package doc).
	EOT int
	// ZeroStart starts every restart at x itself instead of a random point (for tests
	// and for a deterministic first look).
	ZeroStart bool
	// KeepGoing steps on to the end of the restart after the model is fooled, and
	// returns, of the iterates the model misclassified, the one of highest loss (the
	// most confidently adversarial; of the others, the highest loss as usual); later
	// restarts still run only for samples never fooled. Without it a sample stops at
	// its first misclassified iterate, which is right for a deterministic model. On a
	// randomised one (E-ABS) that first iterate is often fooled by one draw of noise
	// only, the verdict's fresh noise overturns it, and the attack has already stopped
	// (an E-ABS then survives even budgets far beyond any robustness it has).
	KeepGoing bool
	// Judge, when set, decides whether a restart fooled the model, where the model
	// the attack queries only approximates it: E-ABS's warm-started attacker
	// inference re-reads stale latents that overstate the true class's loss, and so
	// calls candidates adversarial that its full inference (adversary.Adaptive.Full)
	// classifies correctly. At the end of a restart the candidate it claimed (above)
	// is classified by Judge, one query; only the Judge's misclassification ends the
	// sample's restarts, and Found.Ok is the Judge's answer. A rejected claim is
	// returned only when no restart ended without a claim (those keep their
	// highest-loss iterate as usual), and of several, the one of highest loss by the
	// Judge. Without a Judge a claim ends the restarts, whatever it is worth: on the
	// zoo E-ABS false claims ended PGD-L2 after one or two of its five restarts, so
	// that more restarts changed nothing. Recorded in the options as "Judged".
	Judge Classifier `json:"-"`
}

// MarshalJSON records the options (a run's configuration): the fields, and
// "Judged": true when a Judge is set (absent otherwise, so that configurations without
// one keep their hash).
func (p PGDAttack) MarshalJSON() ([]byte, error) {
	type plain PGDAttack
	if p.Judge == nil {
		return json.Marshal(plain(p))
	}
	return json.Marshal(struct {
		plain
		Judged bool
	}{plain(p), true})
}

// Name implements Attack: "pgd-linf" or "pgd-l2".
func (p PGDAttack) Name() string { return "pgd-" + string(p.Lp) }

// Norm implements Attack.
func (p PGDAttack) Norm() Norm { return p.Lp }

// Kinds of candidate a sample holds between restarts (PGDAttack.Run).
const (
	candNone     = iota
	candRejected // a claim the Judge rejected; best is the Judge's loss
	candPlain    // a restart's best iterate without a claim; best is the attacker's loss
)

// Run implements Attack.
func (p PGDAttack) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	name := p.Name()
	if err := checkNorm(name, p.Lp); err != nil {
		return nil, err
	}
	if err := checkEps(name, p.Eps); err != nil {
		return nil, err
	}
	d, err := differentiable(name, m)
	if err != nil {
		return nil, err
	}
	n, err := checkRun(name, x, y, batch, d.Classes())
	if err != nil {
		return nil, err
	}
	if p.Judge != nil && p.Judge.Classes() != d.Classes() {
		return nil, fmt.Errorf("attack %s: the judge has %d classes, the model %d", name, p.Judge.Classes(), d.Classes())
	}
	steps, err := orDefault(name, "steps", p.Steps, 80)
	if err != nil {
		return nil, err
	}
	restarts, err := orDefault(name, "restarts", p.Restarts, 5)
	if err != nil {
		return nil, err
	}
	eot, err := orDefault(name, "eot", p.EOT, 1)
	if err != nil {
		return nil, err
	}
	step := p.Step
	if step == 0 {
		step = 2.5 * p.Eps / float64(steps)
	}
	if !(step > 0) || math.IsInf(step, 1) {
		return nil, fmt.Errorf("attack %s: step %g must be positive", name, step)
	}
	f := newFound(x, batch)
	s := &sampler{m: d, eot: eot, k: d.Classes(), n: n, y: y, queries: f.Queries}
	// Across restarts: the kind of candidate each sample holds in f.Adv and its loss.
	kind := make([]int, batch)
	best := make([]float64, batch)
	// Within a restart: whether the model was fooled (the claim), the loss of the
	// restart's candidate (radv, by the rules of KeepGoing and the early stop).
	rOk := make([]bool, batch)
	rBest := make([]float64, batch)
	radv := make([]float32, len(x))
	for r := 0; r < restarts; r++ {
		var idx []int
		for i := 0; i < batch; i++ {
			if !f.Ok[i] {
				idx = append(idx, i)
				rOk[i], rBest[i] = false, math.Inf(-1)
			}
		}
		if len(idx) == 0 {
			break
		}
		ran := slices.Clone(idx)
		cur := gather(x, idx, n)
		if !p.ZeroStart {
			for j, i := range idx {
				copy(cur[j*n:(j+1)*n], randomStart(p.Lp, x[i*n:(i+1)*n], p.Eps, rng))
			}
		}
		for t := 0; ; t++ {
			var logits, grad []float32
			var losses []float64
			if t < steps {
				logits, grad, losses, err = s.vjp(ctx, cur, idx, lseMargin)
			} else {
				logits, err = s.logits(ctx, cur, idx)
				losses = make([]float64, len(idx))
				for j, i := range idx {
					losses[j], _ = lseMargin(logits[j*s.k:(j+1)*s.k], y[i])
				}
			}
			if err != nil {
				return nil, err
			}
			done := make([]bool, len(idx))
			for j, i := range idx {
				c := cur[j*n : (j+1)*n]
				fooled := floats.Argmax(logits[j*s.k:(j+1)*s.k]) != y[i]
				if p.KeepGoing {
					// Misclassified beats classified; within each, higher loss wins.
					if (fooled && !rOk[i]) || (fooled == rOk[i] && losses[j] > rBest[i]) {
						rOk[i], rBest[i] = fooled, losses[j]
						copy(radv[i*n:(i+1)*n], c)
					}
				} else if fooled {
					rOk[i], done[j] = true, true
					copy(radv[i*n:(i+1)*n], c)
				} else if losses[j] > rBest[i] {
					rBest[i] = losses[j]
					copy(radv[i*n:(i+1)*n], c)
				}
			}
			if t == steps {
				break
			}
			for j, i := range idx {
				if !done[j] {
					pgdStep(p.Lp, cur[j*n:(j+1)*n], grad[j*n:(j+1)*n], step)
					project(p.Lp, cur[j*n:(j+1)*n], x[i*n:(i+1)*n], p.Eps)
				}
			}
			idx = keep(done, idx, n, &cur, &grad)
			if len(idx) == 0 {
				break
			}
		}
		// The restart's candidates: a claim ends the sample's restarts (if the Judge,
		// when there is one, agrees); the others compete by loss.
		var claimed []int
		for _, i := range ran {
			switch {
			case rOk[i]:
				claimed = append(claimed, i)
			case kind[i] != candPlain || rBest[i] > best[i]:
				kind[i], best[i] = candPlain, rBest[i]
				copy(f.Adv[i*n:(i+1)*n], radv[i*n:(i+1)*n])
			}
		}
		if len(claimed) == 0 {
			continue
		}
		if p.Judge == nil {
			for _, i := range claimed {
				f.Ok[i] = true
				copy(f.Adv[i*n:(i+1)*n], radv[i*n:(i+1)*n])
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		jz, err := p.Judge.Logits(gather(radv, claimed, n), len(claimed))
		if err != nil {
			return nil, fmt.Errorf("attack %s: judge: %w", name, err)
		}
		if len(jz) != len(claimed)*s.k {
			return nil, fmt.Errorf("attack %s: the judge returned %d logits for %d images of %d classes", name, len(jz), len(claimed), s.k)
		}
		if err := finite("judge logits", jz); err != nil {
			return nil, err
		}
		for j, i := range claimed {
			f.Queries[i]++
			row := jz[j*s.k : (j+1)*s.k]
			jl, _ := lseMargin(row, y[i])
			switch {
			case floats.Argmax(row) != y[i]:
				f.Ok[i] = true
				copy(f.Adv[i*n:(i+1)*n], radv[i*n:(i+1)*n])
			case kind[i] == candNone || (kind[i] == candRejected && jl > best[i]):
				kind[i], best[i] = candRejected, jl
				copy(f.Adv[i*n:(i+1)*n], radv[i*n:(i+1)*n])
			}
		}
	}
	return f, nil
}

// pgdStep moves d by step along sign(g) (Linf) or g/||g||_2 (L2); a zero gradient
// leaves d where it is.
func pgdStep(norm Norm, d, g []float32, step float64) {
	switch norm {
	case Linf:
		for i, v := range g {
			if v > 0 {
				d[i] = float32(float64(d[i]) + step)
			} else if v < 0 {
				d[i] = float32(float64(d[i]) - step)
			}
		}
	case L2:
		nrm := l2(g)
		if nrm == 0 {
			return
		}
		f := step / nrm
		for i, v := range g {
			d[i] = float32(float64(d[i]) + f*float64(v))
		}
	}
}
