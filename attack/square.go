package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// Square is the Square Attack (Andriushchenko et al. 2020), a score-based random search:
// from a start on the eps-sphere it proposes, one query at a time, a change of a random
// square window of the perturbation and keeps it if it lowers the margin
// z_y - max_{j != y} z_j of the model's scores. It stops a sample as soon as the margin
// is negative (misclassified) or its query budget is spent.
//
// Linf: vertical-stripe start (+-eps per column and channel), windows set to +-eps per
// channel. L2: the paper's start of pseudo-Gaussian blocks and its window pairs that
// move perturbation mass from one square to another, always on the eps-sphere (before
// clipping to [0, 1]).
type Square struct {
	// Lp is the threat model: Linf or L2.
	Lp  Norm
	Eps float64
	// Queries is the per-sample query budget, counting the first query of the clean
	// image (which ends the attack at once if it is already misclassified) and of the
	// start; 0 means 5000 (AutoAttack's).
	Queries int
	// PInit is the initial fraction of pixels a window covers, shrunk by the paper's
	// piecewise-constant schedule (halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000
	// and 8000 of 10,000 iterations, rescaled to the budget unless FixedSchedule); 0
	// means 0.8, AutoAttack's value for both norms.
	PInit float64
	// FixedSchedule keeps the schedule's breakpoints at the paper's iteration counts
	// (10, 50, ..., 8000) whatever the budget, as AutoAttack runs it (its
	// resc_schedule=False: with 5000 queries the windows shrink half as fast as when
	// rescaled); false rescales them to the budget, as the authors' original code does.
	FixedSchedule bool
	// Shape is the images' (C, H, W); zero means square images with 1 or 3 channels,
	// inferred from the number of values per image.
	Shape [3]int
}

// Name implements Attack.
func (a Square) Name() string { return "square-" + string(a.Lp) }

// Norm implements Attack.
func (a Square) Norm() Norm { return a.Lp }

func (a Square) withDefaults() Square {
	if a.Queries == 0 {
		a.Queries = 5000
	}
	if a.PInit == 0 {
		a.PInit = 0.8
	}
	return a
}

// gfShape returns (C, H, W) of images of p values: shape if set, else square with 1 or
// 3 channels.
func gfShape(name string, shape [3]int, p int) (c, h, w int, err error) {
	if shape != [3]int{} {
		if shape[0]*shape[1]*shape[2] != p || shape[0] < 1 || shape[1] < 1 || shape[2] < 1 {
			return 0, 0, 0, fmt.Errorf("%s: shape %v does not hold images of %d values", name, shape, p)
		}
		return shape[0], shape[1], shape[2], nil
	}
	for _, c := range []int{1, 3} {
		if p%c == 0 {
			h := int(math.Round(math.Sqrt(float64(p / c))))
			if h*h*c == p {
				return c, h, h, nil
			}
		}
	}
	return 0, 0, 0, fmt.Errorf("%s: images of %d values are not square with 1 or 3 channels; set the shape", name, p)
}

// Run implements Attack.
func (a Square) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	a = a.withDefaults()
	name := a.Name()
	p, err := gfCheck(name, m, x, y, batch)
	if err != nil {
		return nil, err
	}
	if a.Lp != Linf && a.Lp != L2 {
		return nil, fmt.Errorf("%s: unknown norm %q (want linf or l2)", name, a.Lp)
	}
	if !(a.Eps > 0) || math.IsInf(a.Eps, 0) || a.Queries < 2 || !(a.PInit > 0 && a.PInit <= 1) {
		return nil, fmt.Errorf("%s: eps %v, %d queries, p_init %v (want eps > 0, at least 2 queries, 0 < p_init <= 1)",
			name, a.Eps, a.Queries, a.PInit)
	}
	c, h, w, err := gfShape(name, a.Shape, p)
	if err != nil {
		return nil, err
	}
	return gfRun(ctx, m, x, batch, a.Queries, rng, func(q *SampleOracle, s int, adv []float32, r *rand.Rand) (bool, error) {
		return a.sample(q, x[s*p:(s+1)*p], y[s], adv, r, c, h, w)
	})
}

// sample runs the attack on one image; adv holds x on entry and the best point on exit.
func (a Square) sample(q *SampleOracle, x []float32, y int, adv []float32, r *rand.Rand, c, h, w int) (bool, error) {
	z, err := q.Scores(x)
	if err != nil {
		return false, err
	}
	if gfMargin(z, y) < 0 {
		return true, nil
	}
	best := make([]float32, len(x))
	if a.Lp == Linf {
		a.startLinf(best, x, r, c, h, w)
	} else {
		a.startL2(best, x, r, c, h, w)
	}
	if z, err = q.Scores(best); err != nil {
		return false, err
	}
	margin := gfMargin(z, y)
	copy(adv, best)
	cand := make([]float32, len(x))
	for it := 0; margin >= 0 && q.Remaining() > 0; it++ {
		p := squareP(a.PInit, it, a.Queries, a.FixedSchedule)
		if a.Lp == Linf {
			a.proposeLinf(cand, best, x, p, r, c, h, w)
		} else {
			a.proposeL2(cand, best, x, p, r, c, h, w)
		}
		if z, err = q.Scores(cand); err != nil {
			return false, err
		}
		if m := gfMargin(z, y); m < margin {
			margin = m
			copy(best, cand)
		}
	}
	copy(adv, best)
	return margin < 0, nil
}

// squareP is the paper's piecewise-constant schedule of the window fraction, its
// 10,000-iteration breakpoints rescaled to n iterations unless fixed.
func squareP(pInit float64, it, n int, fixed bool) float64 {
	i := it
	if !fixed {
		i = int(float64(it) / float64(n) * 10000)
	}
	switch {
	case i <= 10:
		return pInit
	case i <= 50:
		return pInit / 2
	case i <= 200:
		return pInit / 4
	case i <= 500:
		return pInit / 8
	case i <= 1000:
		return pInit / 16
	case i <= 2000:
		return pInit / 32
	case i <= 4000:
		return pInit / 64
	case i <= 6000:
		return pInit / 128
	case i <= 8000:
		return pInit / 256
	}
	return pInit / 512
}

func (a Square) sign(r *rand.Rand) float32 {
	if r.IntN(2) == 0 {
		return -1
	}
	return 1
}

// startLinf sets dst to x plus vertical stripes of +-eps (one sign per channel and
// column), clipped to [0, 1].
func (a Square) startLinf(dst, x []float32, r *rand.Rand, c, h, w int) {
	e := float32(a.Eps)
	for ch := 0; ch < c; ch++ {
		for j := 0; j < w; j++ {
			d := e * a.sign(r)
			for i := 0; i < h; i++ {
				k := (ch*h+i)*w + j
				dst[k] = x[k] + d
			}
		}
	}
	gfClip01(dst)
}

// proposeLinf sets dst to best with a random s x s window set to x +- eps (one sign per
// channel), s = round(sqrt(p*H*W)) in [1, H-1]. The signs are redrawn until the window
// changes, as in the reference (Andriushchenko et al.'s square.py), so that no query is
// spent on best itself; a draw changes it with probability at least 1/2. Only where no
// sign can change it (eps below float32's resolution at these pixels, say), which the
// reference does not guard against and would loop on forever, is dst left equal to best.
func (a Square) proposeLinf(dst, best, x []float32, p float64, r *rand.Rand, c, h, w int) {
	s := min(max(int(math.Round(math.Sqrt(p*float64(h*w)))), 1), min(h, w)-1)
	s = max(s, 1)
	copy(dst, best)
	i0, j0 := r.IntN(h-s+1), r.IntN(w-s+1)
	e := float32(a.Eps)
	differs := func(v, b float32) bool { return math.Abs(float64(v-b)) >= 1e-7 }
	for {
		changed, possible := false, false
		for ch := 0; ch < c; ch++ {
			d := e * a.sign(r)
			for i := i0; i < i0+s; i++ {
				for j := j0; j < j0+s; j++ {
					k := (ch*h+i)*w + j
					dst[k] = min(max(x[k]+d, 0), 1)
					changed = changed || differs(dst[k], best[k])
					possible = possible || differs(min(max(x[k]-d, 0), 1), best[k])
				}
			}
		}
		if changed || !possible {
			return
		}
	}
}

// pseudoGaussRect is the paper's s1 x s2 block of nested rectangles weighted 1/(r+1)^2,
// normalised to unit L2 norm.
func pseudoGaussRect(s1, s2 int) []float64 {
	d := make([]float64, s1*s2)
	c1, c2 := s1/2, s2/2 // x_c - 1 with x_c = s/2 + 1
	for n := 0; n < max(s1/2+1, s2/2+1); n++ {
		for i := max(c1, 0); i < min(c1+2*n+1, s1); i++ {
			for j := max(c2, 0); j < min(c2+2*n+1, s2); j++ {
				d[i*s2+j] += 1 / float64((n+1)*(n+1))
			}
		}
		c1--
		c2--
	}
	gfNormalize(d)
	return d
}

// metaPseudoGauss is the paper's s x s update: two pseudo-Gaussian halves of opposite
// sign, unit L2 norm, transposed with probability 1/2.
func metaPseudoGauss(s int, r *rand.Rand) []float64 {
	d := make([]float64, s*s)
	top := pseudoGaussRect(s/2, s)
	bot := pseudoGaussRect(s-s/2, s)
	copy(d, top)
	for i, v := range bot {
		d[(s/2)*s+i] = -v
	}
	gfNormalize(d)
	if r.Float64() > 0.5 {
		t := make([]float64, s*s)
		for i := 0; i < s; i++ {
			for j := 0; j < s; j++ {
				t[j*s+i] = d[i*s+j]
			}
		}
		d = t
	}
	return d
}

func gfNormalize(d []float64) {
	var n float64
	for _, v := range d {
		n += v * v
	}
	if n = math.Sqrt(n); n > 0 {
		for i := range d {
			d[i] /= n
		}
	}
}

// startL2 sets dst to x plus the paper's start: a grid of (H/5)-pixel pseudo-Gaussian
// blocks with random signs per channel, scaled to L2 norm eps, clipped to [0, 1].
func (a Square) startL2(dst, x []float32, r *rand.Rand, c, h, w int) {
	delta := make([]float64, len(x))
	s := max(h/5, 1)
	sp := (h - s*5) / 2
	if sp < 0 {
		sp = 0
	}
	for bi := 0; bi < h/s; bi++ {
		for bj := 0; bj < w/s; bj++ {
			i0, j0 := sp+bi*s, sp+bj*s
			pert := metaPseudoGauss(s, r)
			for ch := 0; ch < c; ch++ {
				sg := float64(a.sign(r))
				for i := 0; i < s && i0+i < h; i++ {
					for j := 0; j < s && j0+j < w; j++ {
						delta[(ch*h+i0+i)*w+j0+j] += pert[i*s+j] * sg
					}
				}
			}
		}
	}
	gfScaleInto(dst, x, delta, a.Eps)
}

// gfScaleInto sets dst = clip(x + delta/||delta|| * eps); delta = 0 gives x.
func gfScaleInto(dst, x []float32, delta []float64, eps float64) {
	var n float64
	for _, v := range delta {
		n += v * v
	}
	f := 0.0
	if n > 0 {
		f = eps / math.Sqrt(n)
	}
	for i := range dst {
		dst[i] = x[i] + float32(delta[i]*f)
	}
	gfClip01(dst)
}

// proposeL2 is the paper's L2 update: window 1 (s x s, s odd and >= 3) gets a fresh
// pseudo-Gaussian pattern plus its old (normalised) content, scaled per channel to the
// norm still free in the image plus the norm that window 2 held; window 2 is zeroed;
// the whole perturbation is rescaled to the eps-sphere and clipped.
func (a Square) proposeL2(dst, best, x []float32, p float64, r *rand.Rand, c, h, w int) {
	n := len(x)
	s := max(int(math.Round(math.Sqrt(p*float64(n)/float64(c)))), 3)
	if s%2 == 0 {
		s++
	}
	s = min(s, min(h, w)-1)
	if s < 1 {
		s = 1
	}
	delta := make([]float64, n)
	var imgNorm float64
	for i := range delta {
		delta[i] = float64(best[i] - x[i])
		imgNorm += delta[i] * delta[i]
	}
	a1, b1 := r.IntN(h-s+1), r.IntN(w-s+1)
	a2, b2 := r.IntN(h-s+1), r.IntN(w-s+1)
	in := func(i, j, a, b int) bool { return i >= a && i < a+s && j >= b && j < b+s }
	pert := metaPseudoGauss(s, r)
	free := math.Max(a.Eps*a.Eps-imgNorm, 0) / float64(c)
	upd := make([]float64, s*s)
	for ch := 0; ch < c; ch++ {
		var win1, both float64
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				v := delta[(ch*h+i)*w+j]
				if in(i, j, a1, b1) {
					win1 += v * v
				}
				if in(i, j, a1, b1) || in(i, j, a2, b2) {
					both += v * v
				}
			}
		}
		win1 = math.Sqrt(win1)
		sg := float64(a.sign(r))
		for i := 0; i < s; i++ {
			for j := 0; j < s; j++ {
				upd[i*s+j] = pert[i*s+j]*sg + delta[(ch*h+a1+i)*w+b1+j]/(1e-10+win1)
			}
		}
		gfNormalize(upd)
		scale := math.Sqrt(free + both)
		for i := 0; i < s; i++ {
			for j := 0; j < s; j++ {
				delta[(ch*h+a2+i)*w+b2+j] = 0
			}
		}
		for i := 0; i < s; i++ {
			for j := 0; j < s; j++ {
				delta[(ch*h+a1+i)*w+b1+j] = upd[i*s+j] * scale
			}
		}
	}
	gfScaleInto(dst, x, delta, a.Eps)
}
