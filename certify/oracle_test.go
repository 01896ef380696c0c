package certify

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/infer"
)

// linearFake has K linear decoders G_k(z) = A_k z + b_k on P pixels with latent size 2
// and a logistic discriminator whose prior pulls z noticeably (so a d_k taken with the
// prior, or r taken from the prior-free optimum, is visibly wrong).
func linearFake(K, P int, seed uint64) (*fakeModel, [][]float64, [][]float64) {
	const M = 2
	rng := rand.New(rand.NewPCG(seed, 7))
	A := make([][]float64, K)
	b := make([][]float64, K)
	for k := range A {
		A[k] = make([]float64, P*M)
		b[k] = make([]float64, P)
		for i := range A[k] {
			A[k][i] = 0.6 * rng.NormFloat64()
		}
		for i := range b[k] {
			b[k][i] = 0.5 * rng.NormFloat64()
		}
	}
	dec := func(k int, z []float64) ([]float64, []float64) {
		g := make([]float64, P)
		for j := range g {
			g[j] = b[k][j]
			for m := 0; m < M; m++ {
				g[j] += A[k][j*M+m] * z[m]
			}
		}
		return g, A[k]
	}
	return newFake(K, M, P, 1, []float64{2, -1.5}, -1, dec), A, b
}

// leastSquares is the closed-form d_k = min_z ||x - A z - b||: z solves the 2x2 normal
// equations A^T A z = A^T (x - b).
func leastSquares(A, b, x []float64) float64 {
	P := len(b)
	var a11, a12, a22, r1, r2 float64
	for j := 0; j < P; j++ {
		u, v, t := A[j*2], A[j*2+1], x[j]-b[j]
		a11 += u * u
		a12 += u * v
		a22 += v * v
		r1 += u * t
		r2 += v * t
	}
	det := a11*a22 - a12*a12
	z0, z1 := (a22*r1-a12*r2)/det, (a11*r2-a12*r1)/det
	var s float64
	for j := 0; j < P; j++ {
		d := x[j] - b[j] - A[j*2]*z0 - A[j*2+1]*z1
		s += d * d
	}
	return math.Sqrt(s)
}

// newtonMin minimises the convex ||x - A z - b||^2 + beta*softplus(-(w.z + c)) by
// Newton's method in float64 from the least-squares point: l*_k and r = ||x - G_k(z*)||.
func newtonMin(f *fakeModel, k int, A, x []float64) (l, r float64) {
	z := []float64{0, 0}
	for it := 0; it < 100; it++ {
		_, g, _ := f.objective(k, x, z)
		var h [3]float64 // h11, h12, h22
		for j := 0; j < len(x); j++ {
			u, v := A[j*2], A[j*2+1]
			h[0] += 2 * u * u
			h[1] += 2 * u * v
			h[2] += 2 * v * v
		}
		s := f.logit(z)
		q := f.spec.Beta / (1 + math.Exp(-s)) / (1 + math.Exp(s))
		h[0] += q * f.w[0] * f.w[0]
		h[1] += q * f.w[0] * f.w[1]
		h[2] += q * f.w[1] * f.w[1]
		det := h[0]*h[2] - h[1]*h[1]
		z[0] -= (h[2]*g[0] - h[1]*g[1]) / det
		z[1] -= (h[0]*g[1] - h[1]*g[0]) / det
	}
	l, _, g := f.objective(k, x, z)
	var s float64
	for j := range x {
		s += (x[j] - g[j]) * (x[j] - g[j])
	}
	return l, math.Sqrt(s)
}

// TestCertifyLinear runs certify end to end on linear decoders, where d_k has a closed
// form and l*_k is a convex minimum found by Newton's method: d_k, r and eps* must match
// the independent answers, and no perturbation inside eps* changes the prediction of
// exact inference (computed by the same oracle).
func TestCertifyLinear(t *testing.T) {
	const K, P, n = 3, 6, 8
	f, A, bs := linearFake(K, P, 11)
	opt := Options{Infer: infer.Options{Starts: 200, Steps: 400, LR: 0.02, BankSeed: 5, LossAt: infer.LossAtBest}, Restarts: 2, Chunk: 64}
	c, err := NewWith(f, f.withBeta(0), opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, n*P)
	labels := make([]int, n)
	oracle := func(xi []float64) (ls, rs, ds []float64, pred int) {
		for k := 0; k < K; k++ {
			l, r := newtonMin(f, k, A[k], xi)
			ls, rs, ds = append(ls, l), append(rs, r), append(ds, leastSquares(A[k], bs[k], xi))
			if l < ls[pred] {
				pred = k
			}
		}
		return
	}
	for i := 0; i < n; i++ {
		// Points near class i%K's manifold, so most are classified as that class.
		k := i % K
		z := []float64{rng.NormFloat64(), rng.NormFloat64()}
		g, _ := f.dec(k, z)
		for j := range g {
			x[i*P+j] = float32(g[j] + 0.3*rng.NormFloat64())
		}
		labels[i] = k
	}
	labels[n-1] = (labels[n-1] + 1) % K // certainly misclassified? checked below via the oracle
	res, err := c.Certify(x, labels, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	certified, misclassified := 0, 0
	for i, r := range res {
		xi := to64(x[i*P : (i+1)*P])
		ls, rs, ds, pred := oracle(xi)
		y := labels[i]
		for k := 0; k < K; k++ {
			if math.Abs(r.D[k]-ds[k]) > 1e-3*(1+ds[k]) {
				t.Errorf("image %d class %d: d_k %.6f, closed form %.6f", i, k, r.D[k], ds[k])
			}
			if math.Abs(r.L[k]-ls[k]) > 1e-3*(1+ls[k]) {
				t.Errorf("image %d class %d: l*_k %.6f, Newton %.6f", i, k, r.L[k], ls[k])
			}
		}
		if r.Pred != pred {
			t.Errorf("image %d: pred %d, oracle %d", i, r.Pred, pred)
			continue
		}
		if pred != y {
			misclassified++
			if r.Eps != 0 || r.Binding != -1 {
				t.Errorf("image %d misclassified (label %d, pred %d): eps %v binding %d, want 0 and -1", i, y, pred, r.Eps, r.Binding)
			}
			continue
		}
		if math.Abs(r.R-rs[y]) > 1e-3*(1+rs[y]) {
			t.Errorf("image %d: r %.6f, Newton %.6f", i, r.R, rs[y])
		}
		// eps* from the independent minima, with the formula written out again.
		want := math.Inf(1)
		for k := 0; k < K; k++ {
			if k != y {
				want = math.Min(want, (ds[k]*ds[k]-ls[y])/(2*ds[k]+2*rs[y]))
			}
		}
		want = math.Max(want, 0)
		if math.Abs(r.Eps-want) > 2e-3*(1+want) {
			t.Errorf("image %d: eps* %.6f, closed form %.6f", i, r.Eps, want)
		}
		if want <= 0 {
			continue
		}
		certified++
		// Perturbations inside eps* (random directions, radii up to 0.999 eps*) never
		// change the exact-inference prediction.
		for trial := 0; trial < 200; trial++ {
			d := make([]float64, P)
			var s float64
			for j := range d {
				d[j] = rng.NormFloat64()
				s += d[j] * d[j]
			}
			rad := want * 0.999
			if trial%2 == 1 {
				rad *= rng.Float64()
			}
			xp := make([]float64, P)
			for j := range xp {
				xp[j] = xi[j] + d[j]*rad/math.Sqrt(s)
			}
			if _, _, _, p := oracle(xp); p != y {
				t.Fatalf("image %d: a perturbation of L2 %.4f < eps* %.4f changes the prediction to %d", i, rad, want, p)
			}
		}
	}
	if misclassified == 0 {
		t.Error("no image is misclassified: eps* = 0 for a misclassified input is not checked")
	}
	if certified < 3 {
		t.Fatalf("only %d images certified with a positive radius: the test checks too little", certified)
	}
}

// TestCertifyRejectsPriorInDistance: d_k's engine must be prior-free.
func TestCertifyRejectsPriorInDistance(t *testing.T) {
	f, _, _ := linearFake(3, 6, 1)
	if _, err := NewWith(f, f, Options{Infer: infer.Options{Starts: 4, LR: 0.05}, Restarts: 1}, nil); err == nil {
		t.Fatal("NewWith accepted a distance engine with beta 1")
	}
	if _, err := NewWith(f, f.withBeta(0), Options{Infer: infer.Options{Starts: 4}, Restarts: 0}, nil); err == nil {
		t.Fatal("NewWith accepted 0 restarts")
	}
	if _, err := NewWith(f, f.withBeta(0), Options{Infer: infer.Options{Starts: 4}, Restarts: 3, MaxRestarts: 2}, nil); err == nil {
		t.Fatal("NewWith accepted at most 2 restarts with 3 for every image")
	}
}

// TestCertifyNoStartsNoRestarts: restarts after the first hide the encoder's start and
// draw from their own bank, so with 0 starts they have nothing to start from (the
// inference would index an empty bank): NewWith must refuse, with 2 restarts or a cap
// above 1, and accept a single restart, which starts from the encoder.
func TestCertifyNoStartsNoRestarts(t *testing.T) {
	f, _, _ := linearFake(3, 6, 1)
	for _, o := range []Options{{Restarts: 2}, {Restarts: 1, MaxRestarts: 3}} {
		o.Infer = infer.Options{Starts: 0, Steps: 5, LR: 0.05}
		if _, err := NewWith(f, f.withBeta(0), o, nil); err == nil {
			t.Errorf("NewWith accepted 0 starts with %d restarts (at most %d)", o.Restarts, o.MaxRestarts)
		}
	}
	c, err := NewWith(f, f.withBeta(0), Options{Infer: infer.Options{Starts: 0, Steps: 5, LR: 0.05}, Restarts: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Certify(make([]float32, 6), []int{0}, 1, nil); err != nil {
		t.Fatal(err)
	}
}

// TestEpsRestarts: EpsRestarts[i] is the radius restart i alone gives, from its own
// l*_y, r and prediction, not from the minima over all restarts. Hand-computed, label 0,
// classes 0-2:
//
//	restart 0: l = (4, 6, 9), r 1, d = (1, 3, 4): k=1 (9-4)/(6+2) = 0.625, k=2 (16-4)/(8+2) = 1.2
//	restart 1: l = (2, 7, 9), r 0.5, d = (1, 3.5, 2.5): k=1 (12.25-2)/(7+1) = 1.28125,
//	           k=2 (6.25-2)/(5+1) = 0.708333...
//	restart 2: l = (8, 5, 9): predicts class 1 alone: 0, binding -1
//
// Together: l*_0 = 2 with r = 0.5 (restart 1), d = (1, 3, 2.5): k=1 (9-2)/(6+1) = 1,
// k=2 0.708333...: eps* 0.708333, class 2.
func TestEpsRestarts(t *testing.T) {
	r := Result{Label: 0,
		LRestarts: [][]float64{{4, 6, 9}, {2, 7, 9}, {8, 5, 9}},
		RRestarts: []float64{1, 0.5, 2},
		DRestarts: [][]float64{{1, 3, 4}, {1, 3.5, 2.5}, {1, 3.2, 3}},
	}
	finish(&r)
	wantEps, wantBinding := []float64{0.625, 4.25 / 6, 0}, []int{1, 2, -1}
	for i := range wantEps {
		if math.Abs(r.EpsRestarts[i]-wantEps[i]) > 1e-12 || r.BindingRestarts[i] != wantBinding[i] {
			t.Errorf("restart %d alone: eps %v binding %d, want %v %d", i, r.EpsRestarts[i], r.BindingRestarts[i], wantEps[i], wantBinding[i])
		}
	}
	if r.Pred != 0 || math.Abs(r.Eps-4.25/6) > 1e-12 || r.Binding != 2 || r.R != 0.5 {
		t.Errorf("certificate: pred %d eps %v binding %d r %v, want 0 %v 2 0.5", r.Pred, r.Eps, r.Binding, r.R, 4.25/6)
	}
	if math.Abs(r.EpsSpread-4.25/6) > 1e-12 || !r.BindingChanged {
		t.Errorf("spread %v binding changed %v, want %v true", r.EpsSpread, r.BindingChanged, 4.25/6)
	}
	// d_2 went 4 -> 2.5 -> 2.5: the last restart lowered nothing.
	if r.Restarts != 3 || r.DLastDrop != 0 || !r.settled(0) {
		t.Errorf("%d restarts, last drop %v, settled %v: want 3, 0, true", r.Restarts, r.DLastDrop, r.settled(0))
	}
}
