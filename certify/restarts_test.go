package certify

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/floats"
)

// TestCertifyRestartsUntilSettled: with one random start per bank and no Adam steps,
// restart r evaluates only its bank's single mean z_r (and, in restart 0, the encoder's
// z = 0), so each restart's l_k, r and d_k are closed forms of z_r on linear decoders,
// and the certificate after j restarts is their minimum: a search that keeps improving
// by chance, as a stuck optimiser does. Every image must get restarts until the last
// one left the prediction unchanged and lowered the binding d_k by at most DTol (at
// least Restarts, at most MaxRestarts), with d_k the closed-form minimum over exactly
// those restarts, Converged saying whether it settled, and Summarise listing the
// images that did not.
func TestCertifyRestartsUntilSettled(t *testing.T) {
	const K, P, n = 3, 3, 24
	const minR, maxR, tol = 2, 3, 0.01
	f := oneLatentLinear(K, P)
	// Bank seeds 25, 26, 27 draw the starts -0.43, -0.75, -1.65: ever further left,
	// so images whose binding class is closest far left improve at every restart.
	opt := Options{Infer: infer.Options{Starts: 1, Steps: 0, LR: 0.05, BankSeed: 25}, Restarts: minR, MaxRestarts: maxR, DTol: tol, Chunk: 1}
	c, err := NewWith(f, f.withBeta(0), opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The start of every restart, from the bank the certifier draws (infer.NewBank).
	zs := make([]float64, maxR)
	for r := range zs {
		bk, err := infer.NewBank(f, infer.Options{Starts: 1, BankSeed: opt.Infer.BankSeed + uint64(r)}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		zs[r] = float64(bk.Z[0])
	}
	rng := rand.New(rand.NewPCG(8, 9))
	x := make([]float32, n*P)
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		g, _ := f.dec(i%K, []float64{rng.NormFloat64()})
		for j := range g {
			x[i*P+j] = float32(g[j] + 0.3*rng.NormFloat64())
		}
		labels[i] = i % K
	}
	res, err := c.Certify(x, labels, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	nb := f.withBeta(0)
	var extra, unsettled int
	var wantNot []int
	for i, r := range res {
		xi := to64(x[i*P : (i+1)*P])
		y := labels[i]
		// Restart r alone: the points it evaluated and, per class, their best
		// loss (l_k, with r at the label's best) and distance.
		type one struct {
			l, d []float64
			r    float64
		}
		restart := func(q int) one {
			pts := []float64{zs[q]}
			if q == 0 {
				pts = append(pts, 0) // the encoder's start
			}
			o := one{l: make([]float64, K), d: make([]float64, K)}
			for k := 0; k < K; k++ {
				o.l[k], o.d[k] = math.Inf(1), math.Inf(1)
				for _, z := range pts {
					l, _, g := f.objective(k, xi, []float64{z})
					d2, _, _ := nb.objective(k, xi, []float64{z})
					o.d[k] = math.Min(o.d[k], math.Sqrt(d2))
					if l < o.l[k] {
						o.l[k] = l
						if k == y {
							o.r = math.Sqrt(floats.SqDist(x[i*P:(i+1)*P], to32(g)))
						}
					}
				}
			}
			return o
		}
		// The certificate of the first j restarts and the stopping rule, by hand.
		var l, d []float64
		var rr float64
		pred, binding := -1, -1
		want, converged := maxR, false
		for j := 1; j <= maxR; j++ {
			o := restart(j - 1)
			prevPred, prevD := pred, slices.Clone(d)
			if j == 1 {
				l, d, rr = o.l, o.d, o.r
			} else {
				if o.l[y] < l[y] {
					rr = o.r
				}
				for k := range l {
					l[k], d[k] = math.Min(l[k], o.l[k]), math.Min(d[k], o.d[k])
				}
			}
			pred = argmin(l)
			if pred == y {
				_, binding, _ = Radius(y, l[y], rr, d)
			}
			if j < 2 {
				continue
			}
			drop := 0.0
			if pred == y {
				drop = prevD[binding] - d[binding]
			}
			if math.Abs(drop-tol) < 1e-4 {
				t.Fatalf("image %d restart %d: drop %v within 1e-4 of the tolerance: the expectation is ambiguous", i, j, drop)
			}
			if j >= minR && pred == prevPred && drop <= tol {
				want, converged = j, true
				break
			}
		}
		if r.Restarts != want || r.Converged != converged || len(r.DRestarts) != want {
			t.Errorf("image %d: %d restarts (converged %v), want %d (converged %v); d per restart %v", i, r.Restarts, r.Converged, want, converged, r.DRestarts)
			continue
		}
		for k := range d {
			if math.Abs(r.D[k]-d[k]) > 1e-5*(1+d[k]) {
				t.Errorf("image %d class %d: d_k %.6f, closed-form minimum over %d restarts %.6f", i, k, r.D[k], want, d[k])
			}
		}
		if want > minR {
			extra++
		}
		if !converged {
			unsettled++
			wantNot = append(wantNot, r.Index)
		}
	}
	if extra == 0 || unsettled == 0 || unsettled == n {
		t.Fatalf("%d images needed more than %d restarts, %d never settled: the test checks too little", extra, minR, unsettled)
	}
	if s := Summarise(res, Levels); !slices.Equal(s.NotConverged, wantNot) {
		t.Errorf("summary lists %v as not converged, want %v", s.NotConverged, wantNot)
	}
	t.Logf("%d of %d images needed more than %d restarts, %d did not settle within %d", extra, n, minR, unsettled, maxR)
}

// oneLatentLinear has K linear decoders G_k(z) = a_k z + b_k on P pixels with latent
// size 1 and a mild logistic prior.
func oneLatentLinear(K, P int) *fakeModel {
	rng := rand.New(rand.NewPCG(31, 32))
	a, b := make([][]float64, K), make([][]float64, K)
	for k := range a {
		a[k], b[k] = make([]float64, P), make([]float64, P)
		for j := range a[k] {
			a[k][j], b[k][j] = 0.8*rng.NormFloat64(), 0.5*rng.NormFloat64()
		}
	}
	dec := func(k int, z []float64) ([]float64, []float64) {
		g := make([]float64, P)
		for j := range g {
			g[j] = a[k][j]*z[0] + b[k][j]
		}
		return g, a[k]
	}
	return newFake(K, 1, P, 1, []float64{1}, 0.5, dec)
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
