package attack

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDLRTargetedHand checks the targeted DLR loss and its logit derivative on a row
// worked by hand: z = (3, 1, 2, 0.5, -1), y = 0, t = 2. Sorted: 3 (class 0), 2 (2),
// 1 (1), 0.5 (3), so den = 3 - (1 + 0.5)/2 = 2.25 and num = z_y - z_t = 1; the loss is
// -1/2.25, and dz_0 = -1/den + num/den^2 (class 0 is both y and pi1), dz_2 = 1/den,
// dz_1 = dz_3 = -num/(2 den^2), dz_4 = 0.
func TestDLRTargetedHand(t *testing.T) {
	l, dz := dlrTargeted([]float32{3, 1, 2, 0.5, -1}, 0, 2)
	const den = 2.25
	want := []float64{-1/den + 1/(den*den), -1 / (2 * den * den), 1 / den, -1 / (2 * den * den), 0}
	if math.Abs(l-(-1/den)) > 1e-12 {
		t.Errorf("dlrTargeted = %.12f, want %.12f", l, -1/den)
	}
	for j := range want {
		if math.Abs(dz[j]-want[j]) > 1e-12 {
			t.Errorf("dlrTargeted d/dz%d = %.12f, want %.12f", j, dz[j], want[j])
		}
	}
	// Shifting and scaling the logits leaves the loss unchanged.
	if l2, _ := dlrTargeted([]float32{10 + 3*3, 10 + 3*1, 10 + 3*2, 10 + 3*0.5, 10 - 3*1}, 0, 2); math.Abs(l2-l) > 1e-7 {
		t.Errorf("dlrTargeted of 3z+10 = %.9f, of z %.9f", l2, l)
	}
}

// TestDLRTargetedDifferences checks the derivative against central differences on rows
// whose values are multiples of 2^-10 with gaps above 2h, h = 2^-8, so that z +- h is
// exact in float32 and no perturbation reorders the logits.
func TestDLRTargetedDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const h = 1.0 / 256
	for r := 0; r < 50; r++ {
		k := 4 + rng.IntN(7)
		z := make([]float32, k)
		perm := rng.Perm(k)
		for j := range z {
			z[j] = float32(perm[j])*0.5 + float32(rng.IntN(64))/1024 - 2 // gaps >= 0.5 - 63/1024
		}
		y, tg := rng.IntN(k), rng.IntN(k-1)
		if tg >= y {
			tg++
		}
		_, dz := dlrTargeted(z, y, tg)
		for j := range z {
			zp, zm := append([]float32(nil), z...), append([]float32(nil), z...)
			zp[j] += h
			zm[j] -= h
			lp, _ := dlrTargeted(zp, y, tg)
			lm, _ := dlrTargeted(zm, y, tg)
			if fd := (lp - lm) / (2 * h); math.Abs(dz[j]-fd) > 1e-4 {
				t.Errorf("row %d (y %d, t %d): d/dz%d = %.7f, central difference %.7f", r, y, tg, j, dz[j], fd)
			}
		}
	}
}

// affine is a float64 affine classifier for the sampler tests: logits W x + b.
type affine struct {
	k, n int
	w, b []float64
}

func (a *affine) Classes() int { return a.k }

func (a *affine) row(x []float32) []float64 {
	z := make([]float64, a.k)
	for c := range z {
		z[c] = a.b[c]
		for i, v := range x {
			z[c] += a.w[c*a.n+i] * float64(v)
		}
	}
	return z
}

func (a *affine) Logits(x []float32, batch int) ([]float32, error) {
	out := make([]float32, 0, batch*a.k)
	for b := 0; b < batch; b++ {
		for _, v := range a.row(x[b*a.n : (b+1)*a.n]) {
			out = append(out, float32(v))
		}
	}
	return out, nil
}

func (a *affine) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	z, _ := a.Logits(x, batch)
	v := cot(z)
	g := make([]float32, len(x))
	for b := 0; b < batch; b++ {
		for i := 0; i < a.n; i++ {
			var s float64
			for c := 0; c < a.k; c++ {
				s += float64(v[b*a.k+c]) * a.w[c*a.n+i]
			}
			g[b*a.n+i] = float32(s)
		}
	}
	return z, g, nil
}

// TestDLRTargetedInputGradient: the input gradient APGD-T steps along, through the
// sampler on an affine model, against central differences of the loss as a function of
// the image (float64 logits, step 1e-4); each of the two samples gets its own target.
func TestDLRTargetedInputGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	const k, n = 6, 5
	m := &affine{k: k, n: n, w: make([]float64, k*n), b: make([]float64, k)}
	for i := range m.w {
		m.w[i] = rng.NormFloat64()
	}
	for i := range m.b {
		m.b[i] = rng.NormFloat64()
	}
	x := make([]float32, 2*n)
	for i := range x {
		x[i] = float32(0.2 + 0.6*rng.Float64())
	}
	y, target := []int{1, 4}, []int{3, 0}
	s := &sampler{m: m, eot: 1, k: k, n: n, y: y, queries: make([]int, 2)}
	loss := func(z []float32, i int) (float64, []float64) { return dlrTargeted(z, y[i], target[i]) }
	_, grad, _, err := s.vjpBy(context.Background(), x, []int{0, 1}, loss)
	if err != nil {
		t.Fatal(err)
	}
	// The loss of the float64 logits, for differences finer than float32 holds.
	f := func(xs []float64, i int) float64 {
		z := make([]float64, k)
		for c := range z {
			z[c] = m.b[c]
			for p, v := range xs {
				z[c] += m.w[c*n+p] * v
			}
		}
		srt := append([]float64(nil), z...)
		for a := range srt { // descending insertion sort
			for b := a; b > 0 && srt[b] > srt[b-1]; b-- {
				srt[b], srt[b-1] = srt[b-1], srt[b]
			}
		}
		return -(z[y[i]] - z[target[i]]) / (srt[0] - (srt[2]+srt[3])/2 + 1e-12)
	}
	for i := 0; i < 2; i++ {
		xs := make([]float64, n)
		for p := range xs {
			xs[p] = float64(x[i*n+p])
		}
		for p := range xs {
			const h = 1e-4
			xp, xm := append([]float64(nil), xs...), append([]float64(nil), xs...)
			xp[p] += h
			xm[p] -= h
			fd := (f(xp, i) - f(xm, i)) / (2 * h)
			if got := float64(grad[i*n+p]); math.Abs(got-fd) > 1e-4*math.Max(1, math.Abs(fd)) {
				t.Errorf("sample %d: d/dx%d = %.6f, central difference %.6f", i, p, got, fd)
			}
		}
	}
	if s.queries[0] != 1 || s.queries[1] != 1 {
		t.Errorf("queries %v, want [1 1]", s.queries)
	}
}

// projectOracle solves fabProject's problem by bisection on its parameter (L2: lambda
// with d_i = clip(lambda w_i, -t_i, 1 - t_i); Linf: the radius r with d_i =
// clip(r sign(w_i), ...)), an independent route to the same minimiser.
func projectOracle(norm Norm, w []float64, t []float32, c float64) []float64 {
	d := make([]float64, len(w))
	at := func(p float64) float64 {
		var s float64
		for i, wi := range w {
			v := p * wi
			if norm == Linf {
				v = p * math.Copysign(1, wi)
				if wi == 0 {
					v = 0
				}
			}
			d[i] = math.Min(math.Max(v, -float64(t[i])), 1-float64(t[i]))
			s += wi * d[i]
		}
		return s
	}
	lo, hi := 0.0, 1e6
	if c < 0 {
		lo, hi = -1e6, 0
	}
	for it := 0; it < 200; it++ {
		mid := (lo + hi) / 2
		if at(mid) < c {
			lo = mid
		} else {
			hi = mid
		}
	}
	if c > 0 {
		at(hi)
	} else {
		at(lo)
	}
	return d
}

// TestFABProject checks the exact projections against the bisection oracle on random
// problems, some with the box binding (points near 0 or 1, large c), and that the
// result meets the hyperplane when the box allows.
func TestFABProject(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 11))
	for r := 0; r < 200; r++ {
		n := 1 + rng.IntN(30)
		w := make([]float64, n)
		tt := make([]float32, n)
		for i := range w {
			w[i] = rng.NormFloat64()
			if rng.IntN(8) == 0 {
				w[i] = 0
			}
			tt[i] = float32(rng.Float64())
			if rng.IntN(5) == 0 {
				tt[i] = float32(rng.IntN(2)) // on the box's face
			}
		}
		c := rng.NormFloat64() * float64(1+rng.IntN(3))
		for _, norm := range []Norm{L2, Linf} {
			d := make([]float64, n)
			fabProject(norm, d, w, tt, c)
			want := projectOracle(norm, w, tt, c)
			var reach float64
			for i := range w {
				reach += w[i] * d[i]
				if v := float64(tt[i]) + d[i]; v < -1e-12 || v > 1+1e-12 {
					t.Fatalf("%s problem %d: t+d = %v outside [0,1] at %d", norm, r, v, i)
				}
				if math.Abs(d[i]-want[i]) > 1e-9 {
					t.Errorf("%s problem %d: d%d = %.12f, bisection %.12f", norm, r, i, d[i], want[i])
				}
			}
			if math.Abs(reach-c) > 1e-9 && math.Abs(reach) < math.Abs(c) {
				// Only a box that cannot reach the hyperplane may leave a gap: then every
				// coordinate is at its helpful face.
				for i, wi := range w {
					face := 1 - float64(tt[i])
					if wi*c < 0 {
						face = -float64(tt[i])
					}
					if wi != 0 && math.Abs(d[i]-face) > 1e-12 {
						t.Errorf("%s problem %d: w.d = %.9f short of c = %.9f with coordinate %d inside the box", norm, r, reach, c, i)
						break
					}
				}
			}
		}
	}
}

// TestSquareFixedSchedule: AutoAttack's unrescaled schedule halves p after 10, 50,
// 200, 500, 1000, 2000, 4000 iterations whatever the budget; rescaled to 5000 queries it
// halves at twice the pace.
func TestSquareFixedSchedule(t *testing.T) {
	for _, c := range []struct {
		it    int
		fixed bool
		want  float64
	}{
		{10, true, 0.8}, {11, true, 0.4}, {50, true, 0.4}, {51, true, 0.2}, {4000, true, 0.8 / 64}, {4001, true, 0.8 / 128},
		{4999, true, 0.8 / 128}, {5, false, 0.8}, {6, false, 0.4}, {2001, false, 0.8 / 128}, {4001, false, 0.8 / 512},
	} {
		if got := squareP(0.8, c.it, 5000, c.fixed); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("squareP(0.8, %d, 5000, %v) = %g, want %g", c.it, c.fixed, got, c.want)
		}
	}
}
