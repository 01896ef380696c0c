package attack_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

// counted is a test model that counts the images it evaluates.
type counted interface {
	attack.Differentiable
	Evals() int
}

// problem is a batch of random images labelled with the model's own predictions, so
// the clean accuracy is 1 and every success is the attack's.
func problem(t *testing.T, m attack.Classifier, n, batch int, seed uint64) ([]float32, []int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, batch*n)
	for i := range x {
		x[i] = float32(0.2 + 0.6*rng.Float64())
	}
	z, err := m.Logits(x, batch)
	if err != nil {
		t.Fatal(err)
	}
	k := m.Classes()
	y := make([]int, batch)
	for b := range y {
		for j := 0; j < k; j++ {
			if z[b*k+j] > z[b*k+y[b]] {
				y[b] = j
			}
		}
	}
	return x, y
}

// runChecked runs a on m and checks the invariants of attacktest.Check; it returns the
// answer and the fraction of samples still classified correctly.
func runChecked(t *testing.T, a attack.Attack, m counted, x []float32, y []int, batch int, eps float64, seed uint64) (*attack.Found, float64) {
	t.Helper()
	before := m.Evals()
	f, err := a.Run(context.Background(), m, x, y, batch, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		t.Fatalf("%s: %v", a.Name(), err)
	}
	if err := attacktest.Check(m, x, y, batch, f, a.Norm(), eps, m.Evals()-before); err != nil {
		t.Fatalf("%s: %v", a.Name(), err)
	}
	robust := 0
	for _, ok := range f.Ok {
		if !ok {
			robust++
		}
	}
	return f, float64(robust) / float64(batch)
}

func models(seed uint64) map[string]counted {
	rng := rand.New(rand.NewPCG(seed, 3))
	return map[string]counted{
		"linear": attacktest.NewLinear(rng, 4, 16, 1),
		"mlp":    attacktest.NewMLP(rng, 4, 16, 12, 2),
	}
}

// TestPGDAttackInvariantsAndStrength: in budget, in the box, honest queries and claims;
// a small budget leaves most samples robust and a large one almost none.
func TestPGDAttackInvariantsAndStrength(t *testing.T) {
	const n, batch = 16, 24
	tests := []struct {
		norm               attack.Norm
		small, large       float64
		minSmall, maxLarge float64 // accuracy bounds
	}{
		{attack.Linf, 0.005, 0.5, 0.8, 0.05},
		{attack.L2, 0.02, 2, 0.8, 0.05},
	}
	for name, m := range models(1) {
		x, y := problem(t, m, n, batch, 2)
		for _, test := range tests {
			_, accSmall := runChecked(t, attack.PGDAttack{Lp: test.norm, Eps: test.small, Steps: 10, Restarts: 2}, m, x, y, batch, test.small, 3)
			_, accLarge := runChecked(t, attack.PGDAttack{Lp: test.norm, Eps: test.large, Steps: 20, Restarts: 2}, m, x, y, batch, test.large, 3)
			t.Logf("%s pgd-%s: accuracy %.3f at eps %g, %.3f at eps %g", name, test.norm, accSmall, test.small, accLarge, test.large)
			if accSmall < test.minSmall || accLarge > test.maxLarge {
				t.Errorf("%s %s: accuracy %.3f at eps %g (want >= %g), %.3f at eps %g (want <= %g)", name, test.norm, accSmall, test.small, test.minSmall, accLarge, test.large, test.maxLarge)
			}
		}
	}
}

// ceGrad is the cross-entropy gradient of a Linear model, computed independently of
// the attack package: W^T (softmax(Wx+b) - e_y).
func ceGrad(l *attacktest.Linear, x []float32, y int) []float64 {
	z := l.Row(x)
	z32 := make([]float32, len(z))
	for i, v := range z {
		z32[i] = float32(v)
	}
	p := attacktest.Softmax(z32)
	p[y]--
	return linearVJP(l, p)
}

// linearVJP is W^T dz, the input gradient of a Linear model for the logit cotangent dz.
func linearVJP(l *attacktest.Linear, dz []float64) []float64 {
	g := make([]float64, l.N)
	for i := range g {
		for k := 0; k < l.K; k++ {
			g[i] += dz[k] * l.W[k*l.N+i]
		}
	}
	return g
}

// TestPGDStepGeometry: one step from x has exactly the stated length along the
// gradient's direction (L2) or is exactly step*sign(g) (Linf), so normalising by
// ||g||^2, or forgetting to normalise, fails.
func TestPGDStepGeometry(t *testing.T) {
	const n = 8
	l := attacktest.NewLinear(rand.New(rand.NewPCG(4, 4)), 3, n, 3)
	x := make([]float32, n)
	for i := range x {
		x[i] = 0.5
	}
	y := []int{argmax64(l.Row(x))}
	g := ceGrad(l, x, y[0])
	var gn float64
	for _, v := range g {
		gn += v * v
	}
	gn = math.Sqrt(gn)
	if math.Abs(gn-1) < 0.2 {
		t.Fatalf("test needs a gradient norm far from 1, got %g", gn)
	}
	tests := []struct {
		norm      attack.Norm
		eps, step float64
	}{
		{attack.L2, 10, 0.1},
		{attack.L2, 10, 0.03},
		{attack.Linf, 0.3, 0.05},
		{attack.Linf, 0.3, 0.01},
	}
	for _, test := range tests {
		p := attack.PGDAttack{Lp: test.norm, Eps: test.eps, Steps: 1, Step: test.step, Restarts: 1, ZeroStart: true}
		f, err := p.Run(context.Background(), l, x, y, 1, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		const tol = 1e-6
		for i := range x {
			want := test.step * g[i] / gn
			if test.norm == attack.Linf {
				want = test.step * math.Copysign(1, g[i])
			}
			if got := float64(f.Adv[i]) - float64(x[i]); math.Abs(got-want) > tol {
				t.Errorf("%s step %g: moved pixel %d by %.8f, want %.8f", test.norm, test.step, i, got, want)
			}
		}
		if got, want := f.Queries[0], 2; got != want {
			t.Errorf("%s: one step cost %d queries, want %d (gradient + final evaluation)", test.norm, got, want)
		}
	}
}

func argmax64(z []float64) int {
	best := 0
	for j := range z {
		if z[j] > z[best] {
			best = j
		}
	}
	return best
}

// TestPGDBudgetAccounting: a sample that stays robust costs restarts x (steps+1) x EOT
// queries; one misclassified at the start costs one evaluation and is returned as is.
func TestPGDBudgetAccounting(t *testing.T) {
	const n = 8
	l := attacktest.NewLinear(rand.New(rand.NewPCG(5, 5)), 3, n, 1)
	x, y := problem(t, l, n, 2, 6)
	y[1] = (y[1] + 1) % 3 // misclassified from the start
	p := attack.PGDAttack{Lp: attack.L2, Eps: 1e-4, Steps: 3, Restarts: 4, EOT: 2, ZeroStart: true}
	f, err := p.Run(context.Background(), l, x, y, 2, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Ok[0] || !f.Ok[1] {
		t.Fatalf("Ok = %v, want [false true]", f.Ok)
	}
	if want := []int{4 * 4 * 2, 2}; f.Queries[0] != want[0] || f.Queries[1] != want[1] {
		t.Errorf("Queries = %v, want %v", f.Queries, want)
	}
	for i := n; i < 2*n; i++ {
		if f.Adv[i] != x[i] {
			t.Fatalf("a sample misclassified at the start was moved")
		}
	}
}

// TestEOTVJPAverages: on a scripted randomised model the EOT logits and gradient are
// the exact averages over the script, not their sum nor one run.
func TestEOTVJPAverages(t *testing.T) {
	const n, k, batch = 6, 3, 2
	rng := rand.New(rand.NewPCG(8, 8))
	s := attacktest.NewScripted(rng, attacktest.NewLinear(rng, k, n, 1), []float64{2, -1, 0.5})
	mean := s.At((2 - 1 + 0.5) / 3.0)
	x := make([]float32, batch*n)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	v := []float32{1, -2, 0.5, 0, 3, -1}
	cot := func([]float32) []float32 { return v }
	logits, grad, err := attack.EOTVJP(s, x, batch, 3, cot)
	if err != nil {
		t.Fatal(err)
	}
	if s.Calls() != 3 {
		t.Fatalf("EOT of 3 made %d calls", s.Calls())
	}
	const tol = 1e-5
	for b := 0; b < batch; b++ {
		z := mean.Row(x[b*n : (b+1)*n])
		for c := 0; c < k; c++ {
			if got := float64(logits[b*k+c]); math.Abs(got-z[c]) > tol {
				t.Errorf("EOT logit[%d,%d] = %v, want the average %v", b, c, got, z[c])
			}
		}
		for i := 0; i < n; i++ {
			var want float64
			for c := 0; c < k; c++ {
				want += float64(v[b*k+c]) * mean.W[c*n+i]
			}
			if got := float64(grad[b*n+i]); math.Abs(got-want) > tol {
				t.Errorf("EOT grad[%d,%d] = %v, want the average %v", b, i, got, want)
			}
		}
	}
	if _, _, err := attack.EOTVJP(s, x, batch, 0, cot); err == nil {
		t.Error("EOTVJP accepted 0 runs")
	}
}

// marginGrad is the gradient of the log-sum-exp margin log sum_{k!=y} exp(z_k) - z_y of a
// Linear model, computed independently of the attack package: W^T dz with dz_y = -1 and
// dz_k the softmax of the other logits.
func marginGrad(l *attacktest.Linear, x []float32, y int) []float64 {
	z := l.Row(x)
	dz := make([]float64, len(z))
	var s float64
	for k, v := range z {
		if k != y {
			dz[k] = math.Exp(v)
			s += dz[k]
		}
	}
	for k := range dz {
		dz[k] /= s
	}
	dz[y] = -1
	return linearVJP(l, dz)
}

// TestPGDUsesEOT: one L2 step with EOT 3 on the scripted model moves along the mean of
// the three runs' margin gradients, each with its own run's logits (with one run, the
// margin's step is the cross-entropy's: TestPGDStepGeometry).
func TestPGDUsesEOT(t *testing.T) {
	const n, k = 6, 3
	rng := rand.New(rand.NewPCG(9, 9))
	script := []float64{2, -1, 0.5}
	s := attacktest.NewScripted(rng, attacktest.NewLinear(rng, k, n, 1), script)
	x := make([]float32, n)
	for i := range x {
		x[i] = 0.5
	}
	y := []int{argmax64(s.At((2 - 1 + 0.5) / 3.0).Row(x))} // what EOT predicts
	g := make([]float64, n)
	for _, v := range script {
		for i, gi := range marginGrad(s.At(v), x, y[0]) {
			g[i] += gi / 3
		}
	}
	gn := 0.0
	for _, v := range g {
		gn += v * v
	}
	gn = math.Sqrt(gn)
	const step = 0.01 // too small to flip the class
	p := attack.PGDAttack{Lp: attack.L2, Eps: 1, Steps: 1, Step: step, Restarts: 1, EOT: 3, ZeroStart: true}
	f, err := p.Run(context.Background(), s, x, y, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Calls() != 6 || f.Queries[0] != 6 {
		t.Fatalf("%d calls, %d queries; want 6 (EOT 3 for the gradient and the final evaluation)", s.Calls(), f.Queries[0])
	}
	for i := range x {
		if got, want := float64(f.Adv[i]-x[i]), step*g[i]/gn; math.Abs(got-want) > 1e-6 {
			t.Errorf("pixel %d moved %.8f, want %.8f along the EOT gradient", i, got, want)
		}
	}
}

// TestGradientAttacksRefuseBadInput: bad shapes, labels, pixels and budgets are errors,
// and a model without gradients gets an UnsupportedError.
func TestGradientAttacksRefuseBadInput(t *testing.T) {
	l := attacktest.NewLinear(rand.New(rand.NewPCG(1, 1)), 3, 4, 1)
	good := []float32{0.1, 0.2, 0.3, 0.4}
	nan := float32(math.NaN())
	a := attack.PGDAttack{Lp: attack.L2, Eps: 1}
	cases := []struct {
		name  string
		a     attack.Attack
		m     attack.Classifier
		x     []float32
		y     []int
		batch int
	}{
		{"short x", a, l, good[:3], []int{0}, 1},
		{"labels", a, l, good, []int{0, 1}, 1},
		{"label range", a, l, good, []int{3}, 1},
		{"NaN pixel", a, l, []float32{0.1, nan, 0.3, 0.4}, []int{0}, 1},
		{"pixel > 1", a, l, []float32{0.1, 1.5, 0.3, 0.4}, []int{0}, 1},
		{"eps", attack.PGDAttack{Lp: attack.L2, Eps: 0}, l, good, []int{0}, 1},
		{"norm", attack.PGDAttack{Lp: "l1", Eps: 1}, l, good, []int{0}, 1},
		{"steps", attack.PGDAttack{Lp: attack.L2, Eps: 1, Steps: -1}, l, good, []int{0}, 1},
	}
	for _, c := range cases {
		if _, err := c.a.Run(context.Background(), c.m, c.x, c.y, c.batch, rand.New(rand.NewPCG(1, 1))); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	var ue *attack.UnsupportedError
	_, err := a.Run(context.Background(), logitsOnly{l}, good, []int{0}, 1, rand.New(rand.NewPCG(1, 1)))
	if !asUnsupported(err, &ue) {
		t.Errorf("model without gradients: %v, want an UnsupportedError", err)
	}
}

// logitsOnly hides a model's gradients.
type logitsOnly struct{ m attack.Classifier }

func (l logitsOnly) Classes() int                                     { return l.m.Classes() }
func (l logitsOnly) Logits(x []float32, batch int) ([]float32, error) { return l.m.Logits(x, batch) }

func asUnsupported(err error, target **attack.UnsupportedError) bool {
	ue, ok := err.(*attack.UnsupportedError)
	if ok {
		*target = ue
	}
	return ok
}

// TestPGDKeepGoing: with KeepGoing a sample the model already misclassifies steps on to
// the end of its restart, and the candidate returned is the most confidently
// adversarial iterate. On a binary linear model from x with w.x + b > 0 (class 1) that
// is the closed form x - eps w/||w|| (the L2 ball's point of least w.x), reached
// exactly, after exactly one restart's steps + 1 queries (no second restart for a
// fooled sample); the early-stopping default returns the first misclassified iterate,
// nearer than eps.
func TestPGDKeepGoing(t *testing.T) {
	w := []float64{0.6, -0.3, 0.2, 0.5, -0.4, 0.1}
	l := attacktest.Binary(w, 0)
	x := []float32{0.5, 0.5, 0.45, 0.5, 0.5, 0.5} // w.x = 0.34: class 1
	var wn float64
	for _, v := range w {
		wn += v * v
	}
	wn = math.Sqrt(wn)
	const eps, steps, restarts = 0.4, 40, 2 // the boundary at 0.34 / ||w|| = 0.356 < eps
	want := make([]float64, len(x))
	for i := range x {
		want[i] = float64(x[i]) - eps*w[i]/wn
	}
	full := attack.PGDAttack{Lp: attack.L2, Eps: eps, Steps: steps, Restarts: restarts, ZeroStart: true, KeepGoing: true}
	f, err := full.Run(context.Background(), l, x, []int{1}, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Ok[0] || f.Queries[0] != steps+1 {
		t.Fatalf("keep going: Ok %v, %d queries, want true and %d", f.Ok[0], f.Queries[0], steps+1)
	}
	for i := range want {
		if d := math.Abs(float64(f.Adv[i]) - want[i]); d > 1e-5 {
			t.Errorf("keep going: pixel %d = %.6f, closed form %.6f", i, f.Adv[i], want[i])
		}
	}
	early := full
	early.KeepGoing = false
	e, err := early.Run(context.Background(), l, x, []int{1}, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	var d2 float64
	for i := range x {
		d2 += math.Pow(float64(e.Adv[i]-x[i]), 2)
	}
	// The first iterate past the boundary at 0.34/||w|| lies within one step of it.
	if step := 2.5 * eps / steps; !e.Ok[0] || math.Sqrt(d2) > 0.34/wn+step+1e-6 || e.Queries[0] >= steps+1 {
		t.Errorf("early stop: Ok %v at distance %.4f after %d queries, want the first crossing (%.4f + one step %.4f)", e.Ok[0], math.Sqrt(d2), e.Queries[0], 0.34/wn, step)
	}
}

// TestPGDOnConfidentSamples: the gradient must not vanish where the model is very sure.
// A two-class linear model whose boundary lies 0.3 (L2) from x, its logits scaled so
// that the true class leads by 0.3*scale: at scale 1000 the cross-entropy's cotangent
// (softmax - e_y) is exactly zero in float32 and PGD on it never moves; PGD must still
// cross the boundary, inside eps 0.5, at every scale (the geometry does not change).
func TestPGDOnConfidentSamples(t *testing.T) {
	const n = 16
	x := make([]float32, n)
	u := make([]float64, n) // unit normal of the boundary
	for i := range x {
		x[i], u[i] = 0.5, 0.25
	}
	// u.x = 2 at x; the boundary u.x = 2.3 is 0.3 away along u.
	for _, scale := range []float64{1, 1000} {
		w := make([]float64, n)
		for i := range w {
			w[i] = scale * u[i]
		}
		m := attacktest.Binary(w, -2.3*scale)
		for _, norm := range []attack.Norm{attack.L2, attack.Linf} {
			eps := 0.5
			if norm == attack.Linf {
				eps = 0.5 / 4 // ||u||_1 = 4: the boundary is 0.3/4 away in Linf
			}
			p := attack.PGDAttack{Lp: norm, Eps: eps, Steps: 10, Restarts: 1, ZeroStart: true}
			f, err := p.Run(context.Background(), m, x, []int{0}, 1, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatal(err)
			}
			z := m.Row(f.Adv)
			if !f.Ok[0] || !(z[1] > z[0]) {
				t.Errorf("scale %g, %s eps %g: found %v, logits %v at the answer: PGD did not cross a boundary 0.3 (L2) away", scale, norm, eps, f.Ok[0], z)
			}
		}
	}
}
