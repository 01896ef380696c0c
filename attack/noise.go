package attack

// The additive Gaussian noise attack of the E-ABS paper (Section 4.2: "an attack that
// adds Gaussian noise with increasingly large standard deviation"), after Foolbox's
// repeated additive noise attacks; Ford et al. 2019 relate a model's accuracy under such
// noise to its L2 robustness.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/internal/floats"
)

// Noise is a gradient-free minimum-norm Attack, in L2 or Linf (the paper reports it
// in both tables): for standard deviations sigma_s =
// MaxStd*s/Sizes, s = 1..Sizes in increasing order, it draws Draws images x + N(0,
// sigma_s^2 I) clipped to [0,1] per sample still unfooled, and stops a sample at the first
// size where a draw is misclassified, keeping the closest such draw (in the attack's norm,
// measured after clipping). The draws are Gaussian for both norms, as in Foolbox 2's
// additive Gaussian noise attack, which the paper used; for Linf a draw of std sigma on
// a 28x28 image lies about 3.2 sigma from x. Found.Adv is that draw; samples never fooled keep x.
//
// Zero options take the defaults: 100 sizes x 10 draws (at most 1000 queries per
// sample), MaxStd 0.5 (on 28x28 images an expected noise norm of 14, far beyond the
// paper's L2 budget of 1.5, so the curve of accuracy against the norm is covered; the
// grid's step of 0.005 is a norm step of about 0.14 there), EOT 1. It needs only
// scores (Classifier).
type Noise struct {
	// Lp is the norm distances are measured in (default L2).
	Lp Norm
	// Sizes is the number of standard deviations tried (default 100).
	Sizes int
	// Draws is the number of noise draws per size (default 10).
	Draws int
	// MaxStd is the largest standard deviation (default 0.5; pixels in [0,1]).
	MaxStd float64
	// EOT averages every evaluation over this many calls (default 1).
	EOT int
}

// noiseFor is the registry's noise attack in norm: with a per-sample query budget
// Settings.Queries below the default's 100 sizes x 10 draws, both shrink in that
// proportion (draws ~ sqrt(Q/10), sizes Q/draws, over the same MaxStd: a coarser grid
// of standard deviations, so the distance it finds is coarser too). On E-ABS every
// query is a full inference: 100 queries (33 sizes x 3 draws) instead of 1000 is what
// a run on hundreds of samples affords. A budget at or above the default leaves the
// options zero (the defaults), so the configuration names only what differs.
func noiseFor(norm Norm, s Settings) Noise {
	a := Noise{Lp: norm}
	if q := s.Queries; q > 0 && q < 100*10 {
		q = max(q, 1)
		a.Draws = max(1, int(math.Round(math.Sqrt(float64(q)/10))))
		a.Sizes = max(1, q/a.Draws)
	}
	return a
}

// Name implements Attack: "noise-l2" or "noise-linf".
func (a Noise) Name() string { return "noise-" + string(a.Norm()) }

// Norm implements Attack.
func (a Noise) Norm() Norm {
	if a.Lp == "" {
		return L2
	}
	return a.Lp
}

// Run implements Attack.
func (a Noise) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	name := a.Name()
	norm := a.Norm()
	if err := checkNorm(name, norm); err != nil {
		return nil, err
	}
	K := m.Classes()
	n, err := checkRun(name, x, y, batch, K)
	if err != nil {
		return nil, err
	}
	sizes, err := orDefault(name, "sizes", a.Sizes, 100)
	if err != nil {
		return nil, err
	}
	draws, err := orDefault(name, "draws", a.Draws, 10)
	if err != nil {
		return nil, err
	}
	eot, err := orDefault(name, "eot", a.EOT, 1)
	if err != nil {
		return nil, err
	}
	maxStd := a.MaxStd
	if maxStd == 0 {
		maxStd = 0.5
	}
	if !(maxStd > 0) || math.IsInf(maxStd, 1) {
		return nil, fmt.Errorf("attack %s: largest standard deviation %g must be positive", name, maxStd)
	}
	f := newFound(x, batch)
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	for s := 1; s <= sizes && len(idx) > 0; s++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		std := maxStd * float64(s) / float64(sizes)
		imgs := make([]float32, 0, len(idx)*draws*n)
		for _, i := range idx {
			o := x[i*n : (i+1)*n]
			for r := 0; r < draws; r++ {
				for _, v := range o {
					imgs = append(imgs, float32(min(max(float64(v)+std*rng.NormFloat64(), 0), 1)))
				}
			}
		}
		z, err := eotLogits(m, imgs, len(idx)*draws, eot)
		if err != nil {
			return nil, err
		}
		done := make([]bool, len(idx))
		for j, i := range idx {
			f.Queries[i] += draws * eot
			o := x[i*n : (i+1)*n]
			best := math.Inf(1)
			for r := 0; r < draws; r++ {
				row := j*draws + r
				if floats.Argmax(z[row*K:(row+1)*K]) == y[i] {
					continue
				}
				img := imgs[row*n : (row+1)*n]
				if d := dist(norm, img, o); d < best {
					best = d
					copy(f.Adv[i*n:(i+1)*n], img)
					f.Ok[i], done[j] = true, true
				}
			}
		}
		idx = keep(done, idx, n)
	}
	return f, nil
}
