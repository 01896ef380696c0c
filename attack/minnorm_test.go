package attack_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

// binaryProblem is a two-class linear model w.x + b and an image x = 0.5 at L2
// distance d from its boundary, on class 0's side; it returns the model, x and the
// closed-form distances to the boundary in L2 and Linf, |w.x+b|/||w||_2 and
// |w.x+b|/||w||_1.
func binaryProblem(seed uint64, n int, d float64) (*attacktest.Linear, []float32, float64, float64) {
	rng := rand.New(rand.NewPCG(seed, 9))
	w := make([]float64, n)
	var w2, w1, wx float64
	x := make([]float32, n)
	for i := range w {
		w[i] = 1 + rng.Float64() // all positive: the way to the boundary is up, away from the box's faces
		if rng.IntN(2) == 0 {
			w[i] = -w[i]
		}
		x[i] = 0.5
		w2 += w[i] * w[i]
		w1 += math.Abs(w[i])
		wx += w[i] * 0.5
	}
	w2 = math.Sqrt(w2)
	b := -d*w2 - wx // w.x + b = -d ||w||
	return attacktest.Binary(w, b), x, d, d * w2 / w1
}

// TestDeepFoolClosedForm: on an affine binary model DeepFool's first step lands on the
// boundary, and the overshoot puts the answer at exactly (1 + overshoot) times the
// closed-form distance, along w (L2) or sign(w) (Linf).
func TestDeepFoolClosedForm(t *testing.T) {
	const n = 10
	l, x, dL2, dLinf := binaryProblem(1, n, 0.3)
	tests := []struct {
		norm      attack.Norm
		overshoot float64
		want      float64
	}{
		{attack.L2, 0, 1.02 * dL2},
		{attack.L2, 0.1, 1.1 * dL2},
		{attack.Linf, 0, 1.02 * dLinf},
		{attack.Linf, 0.05, 1.05 * dLinf},
	}
	for _, test := range tests {
		a := attack.DeepFool{Lp: test.norm, Overshoot: test.overshoot}
		f, _ := runChecked(t, a, l, x, []int{0}, 1, 0, 1)
		if !f.Ok[0] {
			t.Fatalf("%s: found nothing", a.Name())
		}
		if got := attacktest.Distance(test.norm, f.Adv, x); math.Abs(got-test.want) > 1e-5 {
			t.Errorf("%s overshoot %g: distance %.7f, closed form %.7f", a.Name(), test.overshoot, got, test.want)
		}
		// Direction: along w for L2, sign(w) for Linf.
		for i := 0; i < n; i++ {
			w := l.W[n+i]
			want := test.want * w / norm2(l.W[n:])
			if test.norm == attack.Linf {
				want = test.want * math.Copysign(1, w)
			}
			if got := float64(f.Adv[i] - x[i]); math.Abs(got-want) > 1e-5 {
				t.Errorf("%s: pixel %d moved %.7f, want %.7f", a.Name(), i, got, want)
			}
		}
		if f.Queries[0] != 3 {
			t.Errorf("%s: %d queries, want 3 (ranking, step at x, verdict at x1)", a.Name(), f.Queries[0])
		}
	}
}

func norm2(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// TestDeepFoolMulticlassLinear: with all classes as candidates DeepFool finds the
// nearest of the K-1 boundaries of an affine model, at 1.02 times the exact distance;
// restricted to the top candidate it can only do worse or equal.
func TestDeepFoolMulticlassLinear(t *testing.T) {
	const n, k, batch = 16, 4, 24
	l := attacktest.NewLinear(rand.New(rand.NewPCG(11, 3)), k, n, 1)
	x, y := problem(t, l, n, batch, 12)
	for _, norm := range []attack.Norm{attack.Linf, attack.L2} {
		f, _ := runChecked(t, attack.DeepFool{Lp: norm}, l, x, y, batch, 0, 1)
		top, _ := runChecked(t, attack.DeepFool{Lp: norm, Candidates: 2}, l, x, y, batch, 0, 1)
		for b := 0; b < batch; b++ {
			want := 1.02 * exactDist(l, x[b*n:(b+1)*n], y[b], norm)
			got := attacktest.Distance(norm, f.Adv[b*n:(b+1)*n], x[b*n:(b+1)*n])
			if !f.Ok[b] || math.Abs(got-want) > 1e-5*math.Max(1, want) {
				t.Errorf("%s sample %d: ok %v, distance %.7f, want 1.02 x exact = %.7f", norm, b, f.Ok[b], got, want)
			}
			if gt := attacktest.Distance(norm, top.Adv[b*n:(b+1)*n], x[b*n:(b+1)*n]); top.Ok[b] && gt < want-1e-5 {
				t.Errorf("%s sample %d: top-2 DeepFool found %.7f, below the exact %.7f", norm, b, gt, want)
			}
		}
	}
}

// TestMinNormAttacksInvariants: every minimum-norm attack keeps the box and honest
// queries and claims, and fools every sample of small nonlinear models.
func TestMinNormAttacksInvariants(t *testing.T) {
	const n, batch = 16, 24
	attacks := []attack.Attack{
		attack.DeepFool{Lp: attack.Linf},
		attack.DeepFool{Lp: attack.L2},
		attack.DDN{},
		attack.CW{},
		attack.Noise{},
		attack.Noise{Lp: attack.Linf},
	}
	for name, m := range models(1) { // every sample can be fooled in the box (PGD's test)
		x, y := problem(t, m, n, batch, 2)
		for _, a := range attacks {
			_, acc := runChecked(t, a, m, x, y, batch, 0, 23)
			if acc > 0 {
				t.Errorf("%s on %s: accuracy %.3f, want 0 for an undefended model without a budget", a.Name(), name, acc)
			}
		}
	}
}

// TestL2MinNormNearExact: DDN's smallest adversarial on affine models lies between the
// exact boundary distance (nothing closer is adversarial) and a few percent above it
// (the norm budget changes by factors of 1 -+ gamma).
func TestL2MinNormNearExact(t *testing.T) {
	const n, k, batch = 16, 4, 24
	multi := attacktest.NewLinear(rand.New(rand.NewPCG(11, 3)), k, n, 1)
	mx, my := problem(t, multi, n, batch, 12)
	// relAbove bounds the excess over the exact distance on the binary model, where
	// the gradient points at the boundary; relMulti on the 4-class model, where the
	// cross-entropy gradient mixes the classes' directions, for samples whose exact
	// distance is at least 0.1 (DDN's norm starts at 1 and shrinks by at most 5% a
	// step, so 80 steps cannot reach much below 0.95^80 = 0.017).
	tests := []struct {
		a                  attack.Attack
		relAbove, relMulti float64
	}{
		{attack.DDN{}, 0.06, 0.25},
		{attack.CW{}, 0.06, 0.25},
	}
	for _, test := range tests {
		for _, d := range []float64{0.1, 0.5, 1} {
			l, x, want, _ := binaryProblem(2, 10, d)
			f, _ := runChecked(t, test.a, l, x, []int{0}, 1, 0, 1)
			got := attacktest.Distance(attack.L2, f.Adv, x)
			t.Logf("%s binary: distance %.5f, exact %.5f", test.a.Name(), got, want)
			if !f.Ok[0] || got < want*(1-1e-6) || got > want*(1+test.relAbove) {
				t.Errorf("%s binary d=%g: ok %v, distance %.6f, want in [%.6f, %.6f]", test.a.Name(), d, f.Ok[0], got, want, want*(1+test.relAbove))
			}
		}
		f, _ := runChecked(t, test.a, multi, mx, my, batch, 0, 1)
		worst := 0.0
		for b := 0; b < batch; b++ {
			want := exactDist(multi, mx[b*n:(b+1)*n], my[b], attack.L2)
			got := attacktest.Distance(attack.L2, f.Adv[b*n:(b+1)*n], mx[b*n:(b+1)*n])
			if !f.Ok[b] || got < want*(1-1e-6) {
				t.Errorf("%s sample %d: ok %v, distance %.6f, exact %.6f", test.a.Name(), b, f.Ok[b], got, want)
			}
			if want < 0.1 {
				continue
			}
			worst = math.Max(worst, got/want-1)
			if got > want*(1+test.relMulti) {
				t.Errorf("%s sample %d: ok %v, distance %.6f, exact %.6f", test.a.Name(), b, f.Ok[b], got, want)
			}
		}
		t.Logf("%s multiclass: worst relative excess %.4f", test.a.Name(), worst)
	}
}

// TestNoise: every adversarial draw lies beyond the closed-form boundary distance (no
// point closer is adversarial), a large enough noise fools the binary model, and an
// unfoolable model costs exactly Sizes x Draws queries.
func TestNoise(t *testing.T) {
	l, x, dL2, dLinf := binaryProblem(3, 10, 0.3)
	for _, test := range []struct {
		norm attack.Norm
		d    float64
	}{{attack.L2, dL2}, {attack.Linf, dLinf}} {
		for seed := uint64(1); seed <= 5; seed++ {
			a := attack.Noise{Lp: test.norm}
			f, _ := runChecked(t, a, l, x, []int{0}, 1, 0, seed)
			got := attacktest.Distance(test.norm, f.Adv, x)
			if !f.Ok[0] || got < test.d*(1-1e-6) {
				t.Errorf("%s seed %d: ok %v, distance %.5f, boundary at %.5f", a.Name(), seed, f.Ok[0], got, test.d)
			}
		}
	}
	// A constant model cannot be fooled.
	c := attacktest.Binary(make([]float64, 10), -1)
	a := attack.Noise{Sizes: 7, Draws: 3}
	f, _ := runChecked(t, a, c, x, []int{0}, 1, 0, 1)
	if f.Ok[0] || f.Queries[0] != 21 {
		t.Errorf("constant model: ok %v, %d queries; want false, 21", f.Ok[0], f.Queries[0])
	}
}

// radial is class 0 inside the L2 ball of radius r around c and class 1 outside:
// logits (r^2 - ||x - c||^2, 0).
type radial struct {
	c []float32
	r float64
}

func (radial) Classes() int { return 2 }
func (m radial) Logits(x []float32, batch int) ([]float32, error) {
	n := len(m.c)
	out := make([]float32, 2*batch)
	for b := 0; b < batch; b++ {
		out[2*b] = float32(m.r*m.r - math.Pow(attacktest.Distance(attack.L2, x[b*n:(b+1)*n], m.c), 2))
	}
	return out, nil
}

// TestNoiseGrowsTheStd: around the centre of a radial model, noise of norm about
// std*sqrt(n) is adversarial once that exceeds r, so the first adversarial size, and the
// distance found, lie within a grid step or two of r: a grid tried in another order, or
// keeping a draw other than the closest, lands further out.
func TestNoiseGrowsTheStd(t *testing.T) {
	const n = 400
	x := make([]float32, n)
	for i := range x {
		x[i] = 0.5
	}
	a := attack.Noise{Sizes: 100, Draws: 10, MaxStd: 0.1} // grid step 0.001: a norm step of 0.02
	for _, r := range []float64{0.3, 1, 1.5} {
		f, err := a.Run(context.Background(), radial{x, r}, x, []int{0}, 1, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		got := attacktest.Distance(attack.L2, f.Adv, x)
		if !f.Ok[0] || got < r || got > r+0.04 {
			t.Errorf("radius %g: ok %v, distance %.4f, want in [%g, %g]", r, f.Ok[0], got, r, r+0.04)
		}
	}
	// One pixel and a coarse grid: at std 0.25 about 40% of 200 draws land beyond
	// r = 0.2, spread up to the box's 0.5, so only the closest of them is near r.
	one := []float32{0.5}
	f, err := attack.Noise{Sizes: 2, Draws: 200, MaxStd: 0.5}.Run(context.Background(), radial{one, 0.2}, one, []int{0}, 1, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if got := attacktest.Distance(attack.L2, f.Adv, one); !f.Ok[0] || got < 0.2 || got > 0.21 {
		t.Errorf("one pixel: ok %v, distance %.4f, want the closest draw beyond 0.2 (within 0.01)", f.Ok[0], got)
	}
}

// TestNoiseFitsItsQueryBudget: built by name with a query budget below the default's
// 100 sizes x 10 draws, the noise attack shrinks both (draws round(sqrt(Q/10)), sizes
// Q/draws) and, on a model it cannot fool, spends exactly sizes x draws queries; at or
// above 1000 it keeps the default (zero) options.
func TestNoiseFitsItsQueryBudget(t *testing.T) {
	_, x, _, _ := binaryProblem(3, 10, 0.3)
	c := attacktest.Binary(make([]float64, 10), -1)
	for _, tt := range []struct {
		q, sizes, draws, spent int
	}{
		{100, 33, 3, 99},
		{40, 20, 2, 40},
		{10, 10, 1, 10},
		{1, 1, 1, 1},
		{999, 99, 10, 990},
		{1000, 0, 0, 1000},
		{5000, 0, 0, 1000},
		{0, 0, 0, 1000},
	} {
		a, err := attack.New("noise-l2", attack.Settings{Queries: tt.q})
		if err != nil {
			t.Fatal(err)
		}
		n := a.(attack.Noise)
		if n.Sizes != tt.sizes || n.Draws != tt.draws {
			t.Errorf("queries %d: %d sizes x %d draws, want %d x %d", tt.q, n.Sizes, n.Draws, tt.sizes, tt.draws)
		}
		f, _ := runChecked(t, a, c, x, []int{0}, 1, 0, 1)
		if f.Ok[0] || f.Queries[0] != tt.spent {
			t.Errorf("queries %d: ok %v after %d queries, want false after %d", tt.q, f.Ok[0], f.Queries[0], tt.spent)
		}
	}
}
