package certify

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/infer"
)

// waveFake has latent size 1 and decoders G_k(z)_j = sin(f_j z + phi_kj) + 1.5 z, whose
// distance to a point has many local minima: an optimiser with too little effort
// stops in the wrong one.
func waveFake(K, P int) *fakeModel {
	freq := []float64{2.3, 3.1, 4.7, 1.7, 3.9, 2.7}[:P]
	rng := rand.New(rand.NewPCG(21, 22))
	phase := make([]float64, K*P)
	for i := range phase {
		phase[i] = 2 * math.Pi * rng.Float64()
	}
	dec := func(k int, z []float64) ([]float64, []float64) {
		g, jac := make([]float64, P), make([]float64, P)
		for j := range g {
			a := freq[j]*z[0] + phase[k*P+j]
			g[j] = math.Sin(a) + 1.5*z[0]
			jac[j] = freq[j]*math.Cos(a) + 0.6
		}
		return g, jac
	}
	return newFake(K, 1, P, 1, []float64{1}, 0.5, dec)
}

// bruteForce scans z over [-12, 12] in steps of 2e-4 (far beyond where the linear
// term lets a minimum lie for points in [-2, 2]^P): l*_k (prior included), r at its
// argmin, and the prior-free d_k, per class.
func bruteForce(f *fakeModel, x []float64) (l, r, d []float64) {
	K := f.spec.Arch.Classes
	l, r, d = make([]float64, K), make([]float64, K), make([]float64, K)
	nb := f.withBeta(0)
	for k := 0; k < K; k++ {
		l[k], d[k] = math.Inf(1), math.Inf(1)
		for z := -12.0; z <= 12; z += 2e-4 {
			lz, _, g := f.objective(k, x, []float64{z})
			dz, _, _ := nb.objective(k, x, []float64{z})
			if dz < d[k] {
				d[k] = dz
			}
			if lz < l[k] {
				l[k] = lz
				var s float64
				for j := range x {
					s += (x[j] - g[j]) * (x[j] - g[j])
				}
				r[k] = math.Sqrt(s)
			}
		}
		d[k] = math.Sqrt(d[k])
	}
	return l, r, d
}

func TestCertifyBruteForce(t *testing.T) {
	if testing.Short() {
		t.Skip("brute force over a fine grid")
	}
	const K, P, n = 3, 4, 6
	f := waveFake(K, P)
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n*P)
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		k := i % K
		g, _ := f.dec(k, []float64{rng.NormFloat64()})
		for j := range g {
			x[i*P+j] = float32(g[j] + 0.25*rng.NormFloat64())
		}
		labels[i] = k
	}
	type want struct {
		eps  float64
		pred int
		d, l []float64
		r    float64
	}
	wants := make([]want, n)
	for i := range wants {
		xi := to64(x[i*P : (i+1)*P])
		l, r, d := bruteForce(f, xi)
		pred := 0
		for k := range l {
			if l[k] < l[pred] {
				pred = k
			}
		}
		w := want{pred: pred, d: d, l: l, r: r[labels[i]]}
		if y := labels[i]; pred == y {
			w.eps = math.Inf(1)
			for k := 0; k < K; k++ {
				if k != y {
					w.eps = math.Min(w.eps, (d[k]*d[k]-l[y])/(2*d[k]+2*r[y]))
				}
			}
			w.eps = math.Max(w.eps, 0)
		}
		wants[i] = w
	}

	// Enough effort: eps* matches the brute-force bound.
	good := Options{Infer: infer.Options{Starts: 400, Steps: 150, LR: 0.02, BankSeed: 1}, Restarts: 3, Chunk: 100}
	c, err := NewWith(f, f.withBeta(0), good, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Certify(x, labels, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	positive := 0
	for i, r := range res {
		w := wants[i]
		if r.Pred != w.pred {
			t.Errorf("image %d: pred %d, brute force %d", i, r.Pred, w.pred)
			continue
		}
		for k := range w.d {
			if math.Abs(r.D[k]-w.d[k]) > 2e-3 {
				t.Errorf("image %d class %d: d_k %.5f, brute force %.5f", i, k, r.D[k], w.d[k])
			}
		}
		if math.Abs(r.Eps-w.eps) > 2e-3 {
			t.Errorf("image %d: eps* %.5f, brute force %.5f (l %v r %v d %v; want %v)", i, r.Eps, w.eps, r.L, r.R, r.D, w)
		}
		if w.eps > 0 {
			positive++
		}
		if f := r.FirstRestarts(good.Restarts); f.Eps != r.Eps || f.R != r.R || f.Pred != r.Pred {
			t.Errorf("image %d: FirstRestarts(all) gives eps %v r %v, the certificate %v %v", i, f.Eps, f.R, r.Eps, r.R)
		}
	}
	if positive < 2 {
		t.Fatalf("only %d images with a positive brute-force radius", positive)
	}

	// Too little effort (one random start, two steps): some radii are overstated, and
	// every overstated radius shows as a spread across restarts.
	poor := Options{Infer: infer.Options{Starts: 1, Steps: 2, LR: 0.02, BankSeed: 1}, Restarts: 4, Chunk: 1}
	c, err = NewWith(f, f.withBeta(0), poor, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.Certify(x, labels, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	over := 0
	for i, r := range res {
		if r.Pred != r.Label || r.Eps <= wants[i].eps+1e-3 {
			continue
		}
		over++
		if !(r.EpsSpread > 1e-3 || r.BindingChanged) {
			t.Errorf("image %d: eps* %.4f overstates the brute-force %.4f, but the restarts agree (spread %g, eps per restart %v)", i, r.Eps, wants[i].eps, r.EpsSpread, r.EpsRestarts)
		}
	}
	if over == 0 {
		t.Fatal("the weak optimiser overstated no radius: the test checks nothing")
	}
	t.Logf("%d of %d radii overstated by the weak optimiser, all flagged by the restart spread", over, n)
}
