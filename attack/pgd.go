package attack

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Norm is the threat model of an attack.
type Norm string

const (
	Linf Norm = "linf"
	L2   Norm = "l2"
)

// PGD is projected gradient descent on the cross-entropy (Madry et al. 2018): from a
// random point of the eps-ball around x (or x itself), Steps steps of size Step along
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

// DefaultEps are the paper's perturbation budgets (Section 4.2): MNIST Linf 0.3,
// Fashion-MNIST Linf 0.1, SVHN and traffic signs Linf 8/255; L2 1.5 everywhere.
func DefaultEps(dataset string, norm Norm) float64 {
	if norm == L2 {
		return 1.5
	}
	switch dataset {
	case "mnist", "mnist-sample":
		return 0.3
	case "fashion-mnist":
		return 0.1
	}
	return 8.0 / 255
}
