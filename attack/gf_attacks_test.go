package attack

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The tests of the gradient-free attacks (Square, NES/SPSA, HopSkipJump, Boundary) on
// the scripted models of oracle_test.go: 1x8x8 images, 3 classes.

const gfP = 64

// gfCheckFound checks what every attack must keep: shapes, [0, 1], no NaN, the query
// count equal to the images the model was asked about, each sample within budget
// (budget > 0), and, for a bounded attack (eps > 0), the eps-ball around x.
func gfCheckFound(t *testing.T, name string, f *Found, m *gfAffine, x []float32, batch, budget int, n Norm, eps float64) {
	t.Helper()
	if len(f.Adv) != len(x) || len(f.Ok) != batch || len(f.Queries) != batch {
		t.Fatalf("%s: Found has %d values, %d oks, %d query counts for %d images", name, len(f.Adv), len(f.Ok), len(f.Queries), batch)
	}
	for i, v := range f.Adv {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("%s: Adv[%d] = %v, outside [0, 1]", name, i, v)
		}
	}
	total := 0
	for s, q := range f.Queries {
		total += q
		if budget > 0 && q > budget {
			t.Errorf("%s: sample %d used %d queries, budget %d", name, s, q, budget)
		}
	}
	if m != nil && total != m.counted() {
		t.Errorf("%s: Found.Queries sum to %d, the model was asked about %d images", name, total, m.counted())
	}
	if eps > 0 {
		p := len(x) / batch
		for s := 0; s < batch; s++ {
			// float32 rounding of x + delta: a few ulps of 1 per coordinate.
			if d := gfDist(n, f.Adv[s*p:(s+1)*p], x[s*p:(s+1)*p]); d > eps*(1+1e-5)+1e-6 {
				t.Errorf("%s: sample %d at %s distance %v > eps %v", name, s, n, d, eps)
			}
		}
	}
}

// gfRobust counts the samples that are still correctly classified by m, or whose
// adversarial lies beyond eps (the runner's verdict, computed here independently).
func gfRobust(m *gfAffine, f *Found, x []float32, y []int, n Norm, eps float64) int {
	p := len(x) / len(y)
	robust := 0
	for s := range y {
		a := f.Adv[s*p : (s+1)*p]
		x64 := make([]float64, p)
		for i, v := range a {
			x64[i] = float64(v)
		}
		z := m.scores64(x64)
		pred := 0
		for c := range z {
			if z[c] > z[pred] {
				pred = c
			}
		}
		if pred == y[s] || gfDist(n, a, x[s*p:(s+1)*p]) > eps*(1+1e-5)+1e-6 {
			robust++
		}
		if (pred != y[s]) != f.Ok[s] {
			// Ok is the attack's belief; for a deterministic model it must be right.
			robust += 1000
		}
	}
	return robust
}

type gfCase struct {
	name   string
	attack Attack
	budget int // the attack's per-sample budget, 0 if none
	eps    float64
	bound  bool // Adv stays within eps (bounded attacks)
}

// gfPool is a pool of starting images for the decision-based attacks: 40 images
// labelled by the model itself (so correctly classified).
func gfPool(m Classifier) func(x []float32, y int) ([]float32, bool) {
	return StartsFrom(gfImages(m, 40, gfP, 99))
}

func gfCases(linf, l2 float64, starts func(x []float32, y int) ([]float32, bool)) []gfCase {
	return []gfCase{
		{"square-linf", Square{Lp: Linf, Eps: linf}, 5000, linf, true},
		{"square-l2", Square{Lp: L2, Eps: l2}, 5000, l2, true},
		{"nes-linf", NES{Lp: Linf, Eps: linf}, 1 + 50*101, linf, true},
		{"spsa-l2", NES{Lp: L2, Eps: l2, SPSA: true}, 1 + 50*101, l2, true},
		{"hsj-l2", HopSkipJump{Lp: L2, Eps: l2, Steps: 30, Starts: starts}, 0, l2, false},
		{"hsj-linf", HopSkipJump{Lp: Linf, Eps: linf, Steps: 30, Starts: starts}, 0, linf, false},
		{"boundary-l2", Boundary{Eps: l2, Steps: 3000, Starts: starts}, 0, l2, false},
	}
}

func TestGFAttacksBreakAnUndefendedModel(t *testing.T) {
	const batch = 8
	for _, c := range gfCases(0.1, 0.8, gfPool(newGFLinear(3, gfP, 11))) {
		t.Run(c.name, func(t *testing.T) {
			m := newGFLinear(3, gfP, 11)
			x, y := gfImages(m, batch, gfP, 12)
			m.calls = nil
			f, err := c.attack.Run(context.Background(), m, x, y, batch, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			eps := 0.0
			if c.bound {
				eps = c.eps
			}
			gfCheckFound(t, c.name, f, m, x, batch, c.budget, c.attack.Norm(), eps)
			if r := gfRobust(m, f, x, y, c.attack.Norm(), c.eps); r != 0 {
				t.Errorf("%s: robust accuracy %d/%d at eps %v (>= 1000: Ok disagrees with the model), want 0", c.name, r, batch, c.eps)
			}
			t.Logf("%s: queries %v", c.name, f.Queries)
		})
	}
}

// TestGFMinimumNormAgainstClosedForm compares the decision-based attacks' distances on
// the linear model with the closed-form minimum over the other classes j of
// (z_y - z_j)/||w_y - w_j||_q (q = 2 for L2, 1 for Linf), which ignores the box and so
// is a lower bound: the attacks may not beat it, and should come close.
func TestGFMinimumNormAgainstClosedForm(t *testing.T) {
	const batch = 6
	m := newGFLinear(3, gfP, 21)
	x, y := gfImages(m, batch, gfP, 22)
	starts := gfPool(m)
	for _, c := range []struct {
		a     Attack
		slack float64
	}{
		{HopSkipJump{Lp: L2, Steps: 40, Starts: starts}, 1.1},
		{HopSkipJump{Lp: Linf, Steps: 40, Starts: starts}, 1.15},
		{Boundary{Steps: 5000, Starts: starts}, 1.1},
	} {
		f, err := c.a.Run(context.Background(), m, x, y, batch, rand.New(rand.NewPCG(3, 4)))
		if err != nil {
			t.Fatal(err)
		}
		var ratio float64
		for s := 0; s < batch; s++ {
			xs := x[s*gfP : (s+1)*gfP]
			x64 := make([]float64, gfP)
			for i, v := range xs {
				x64[i] = float64(v)
			}
			z := m.scores64(x64)
			lower := math.Inf(1)
			for j := 0; j < 3; j++ {
				if j == y[s] {
					continue
				}
				var nrm float64
				for i := 0; i < gfP; i++ {
					d := m.w[y[s]*gfP+i] - m.w[j*gfP+i]
					if c.a.Norm() == L2 {
						nrm += d * d
					} else {
						nrm += math.Abs(d)
					}
				}
				if c.a.Norm() == L2 {
					nrm = math.Sqrt(nrm)
				}
				lower = math.Min(lower, (z[y[s]]-z[j])/nrm)
			}
			d := gfDist(c.a.Norm(), f.Adv[s*gfP:(s+1)*gfP], xs)
			if !f.Ok[s] || d < lower*(1-1e-4) {
				t.Errorf("%s sample %d: ok %v, distance %v below the closed-form minimum %v", c.a.Name(), s, f.Ok[s], d, lower)
			}
			ratio += d / lower / batch
		}
		t.Logf("%s: mean distance / closed-form minimum = %.4f", c.a.Name(), ratio)
		if ratio > c.slack {
			t.Errorf("%s: mean distance %.3f x the closed-form minimum, want <= %v", c.a.Name(), ratio, c.slack)
		}
	}
}

// TestGFBudgets runs every attack with a small per-sample budget at an eps too small to
// succeed, so it spends all of it: the counts must match the model's exactly, per sample
// (batch 1) and in total (batch 5).
func TestGFBudgets(t *testing.T) {
	const budget = 37
	attacks := []struct {
		Attack
		least int // what it must spend: a NES step needs Samples+1 queries
	}{
		{Square{Lp: Linf, Eps: 1e-3, Queries: budget}, budget},
		{Square{Lp: L2, Eps: 1e-3, Queries: budget}, budget},
		{NES{Lp: Linf, Eps: 1e-3, Samples: 10, Queries: budget}, budget - 10},
		{NES{Lp: L2, Eps: 1e-3, Samples: 10, SPSA: true, Queries: budget}, budget - 10},
		{HopSkipJump{Lp: L2, Queries: budget}, budget},
		{HopSkipJump{Lp: Linf, Queries: budget}, budget},
		{Boundary{Queries: budget}, budget},
	}
	for _, a := range attacks {
		for _, batch := range []int{1, 5} {
			m := newGFLinear(3, gfP, 31)
			x, y := gfImages(m, batch, gfP, 32)
			m.calls = nil
			f, err := a.Run(context.Background(), m, x, y, batch, rand.New(rand.NewPCG(5, 6)))
			if err != nil {
				t.Fatalf("%s: %v", a.Name(), err)
			}
			gfCheckFound(t, a.Name(), f, m, x, batch, budget, a.Norm(), 0)
			for s, q := range f.Queries {
				if q < a.least && !f.Ok[s] {
					t.Errorf("%s batch %d: sample %d stopped after %d of %d queries without success", a.Name(), batch, s, q, budget)
				}
			}
		}
	}
}

func TestGFAlreadyMisclassified(t *testing.T) {
	const batch = 3
	for _, c := range gfCases(0.3, 2.5, gfPool(newGFLinear(3, gfP, 41))) {
		m := newGFLinear(3, gfP, 41)
		x, y := gfImages(m, batch, gfP, 42)
		for i := range y {
			y[i] = (y[i] + 1) % 3
		}
		m.calls = nil
		f, err := c.attack.Run(context.Background(), m, x, y, batch, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		gfCheckFound(t, c.name, f, m, x, batch, c.budget, c.attack.Norm(), 0)
		if !slices.Equal(f.Adv, x) || slices.Contains(f.Ok, false) || !slices.Equal(f.Queries, []int{1, 1, 1}) {
			t.Errorf("%s on misclassified images: Adv == x %v, Ok %v, Queries %v; want x, all true, one query each",
				c.name, slices.Equal(f.Adv, x), f.Ok, f.Queries)
		}
	}
}

// TestGFConstantModel: a model that never changes its answer. The decision-based
// attacks find no adversarial start and give x back; the score-based ones spend their
// budget; nothing loops or produces NaN.
func TestGFConstantModel(t *testing.T) {
	const batch = 2
	x, _ := gfImages(newGFLinear(3, gfP, 1), batch, gfP, 52)
	y := []int{0, 0}
	for _, c := range gfCases(0.3, 2.5, gfPool(newGFLinear(3, gfP, 1))) {
		f, err := c.attack.Run(context.Background(), gfConstant{3}, x, y, batch, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		eps := 0.0
		if c.bound {
			eps = c.eps
		}
		gfCheckFound(t, c.name, f, nil, x, batch, c.budget, c.attack.Norm(), eps)
		if slices.Contains(f.Ok, true) {
			t.Errorf("%s: Ok %v on a constant model", c.name, f.Ok)
		}
		want := c.budget
		if !c.bound {
			want = 1 + 1 + 100 // the clean image, the pool's start, InitTries noise images
			if !slices.Equal(f.Adv, x) {
				t.Errorf("%s: Adv is not x without any adversarial", c.name)
			}
		}
		if c.name == "nes-linf" || c.name == "spsa-l2" {
			want = 1 + 50*101
		}
		if !slices.Equal(f.Queries, []int{want, want}) {
			t.Errorf("%s: queries %v on a constant model, want %d each", c.name, f.Queries, want)
		}
	}
}

// TestNESEstimateCosine compares the NES and SPSA estimates with the exact gradient of
// the margin loss of a smooth (tanh) model on 1x6x6 images.
func TestNESEstimateCosine(t *testing.T) {
	const p = 36
	m := newGFSmooth(3, p, 16, 61)
	x, y := gfImages(m, 5, p, 62)
	for _, spsa := range []bool{false, true} {
		a := NES{Lp: L2, Eps: 1, SPSA: spsa}.withDefaults()
		r := rand.New(rand.NewPCG(7, 7))
		for s := 0; s < 5; s++ {
			xs := x[s*p : (s+1)*p]
			o := NewOracle(m, 1, p, 0)
			var g []float64
			err := o.Each(context.Background(), func(_ int, q *SampleOracle) error {
				var err error
				g, err = a.estimate(q, xs, y[s], r)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			x64 := make([]float64, p)
			for i, v := range xs {
				x64[i] = float64(v)
			}
			want := m.marginGrad(x64, y[s])
			var dot, ng, nw float64
			for i := range g {
				dot += g[i] * want[i]
				ng += g[i] * g[i]
				nw += want[i] * want[i]
			}
			cos := dot / math.Sqrt(ng*nw)
			t.Logf("%s image %d: cosine %.3f, |g|/|grad| %.3f", a.Name(), s, cos, math.Sqrt(ng/nw))
			if !(cos > 0.5) {
				t.Errorf("%s image %d: cosine %.3f with the true gradient, want > 0.5", a.Name(), s, cos)
			}
			if q := o.Queries()[0]; q != a.Samples {
				t.Errorf("%s: estimate asked %d queries, want %d", a.Name(), q, a.Samples)
			}
		}
	}
}

func TestGFBadInput(t *testing.T) {
	m := newGFLinear(3, gfP, 1)
	x, y := gfImages(m, 2, gfP, 2)
	bad := append([]float32(nil), x...)
	bad[5] = float32(math.NaN())
	for _, a := range []Attack{Square{Lp: Linf, Eps: 0.1}, NES{Lp: L2, Eps: 1}, HopSkipJump{Lp: L2}, Boundary{}} {
		r := rand.New(rand.NewPCG(1, 1))
		for _, c := range []struct {
			name string
			x    []float32
			y    []int
		}{{"NaN pixel", bad, y}, {"label 3", x, []int{0, 3}}, {"short labels", x, y[:1]}} {
			if _, err := a.Run(context.Background(), m, c.x, c.y, 2, r); err == nil {
				t.Errorf("%s with %s: no error", a.Name(), c.name)
			}
		}
	}
	if _, err := (Square{Lp: "l1", Eps: 1}).Run(context.Background(), m, x, y, 2, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("square-l1: no error")
	}
	if _, err := (Square{Lp: Linf, Eps: 0.1}).Run(context.Background(), newGFLinear(3, 10, 1), make([]float32, 20), []int{0, 0}, 2, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("square on 10-value images (not square): no error")
	}
}

func TestGradientFreeSuite(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range GradientFree(0.3, 1.5, nil) {
		if seen[a.Name()] {
			t.Errorf("two attacks named %s", a.Name())
		}
		seen[a.Name()] = true
		if want := Norm(a.Name()[strings.LastIndex(a.Name(), "-")+1:]); a.Norm() != want {
			t.Errorf("%s: norm %s", a.Name(), a.Norm())
		}
	}
	want := []string{"boundary-l2", "hsj-l2", "hsj-linf", "nes-l2", "nes-linf", "spsa-l2", "spsa-linf", "square-l2", "square-linf"}
	var got []string
	for k := range seen {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("GradientFree names %v, want %v", got, want)
	}
}

// gfCanceller cancels the attack's context at its third call.
type gfCanceller struct {
	*gfAffine
	cancel func()
	n      int
}

func (c *gfCanceller) Logits(x []float32, batch int) ([]float32, error) {
	if c.n++; c.n == 3 {
		c.cancel()
	}
	return c.gfAffine.Logits(x, batch)
}

func TestGFCancelled(t *testing.T) {
	const batch = 3
	for _, c := range gfCases(1e-3, 1e-3, nil) {
		m := newGFLinear(3, gfP, 71)
		x, y := gfImages(m, batch, gfP, 72)
		m.calls = nil
		ctx, cancel := context.WithCancel(context.Background())
		_, err := c.attack.Run(ctx, &gfCanceller{gfAffine: m, cancel: cancel}, x, y, batch, rand.New(rand.NewPCG(1, 1)))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancelled run returned %v, want context.Canceled", c.name, err)
		}
		if n := len(m.calls); n > 3 {
			t.Errorf("%s: %d model calls, want none after the cancel", c.name, n)
		}
		cancel()
	}
}

// TestNESFitsItsBudget: with default samples and steps, NES and SPSA size their
// estimates to a small budget and spend it on a model that never changes its answer
// (the sizes worked out by hand from the documented rule).
func TestNESFitsItsBudget(t *testing.T) {
	x, _ := gfImages(newGFLinear(3, gfP, 1), 1, gfP, 52)
	for _, c := range []struct {
		budget, samples, steps, spent int
	}{
		{100, 2, 33, 1 + 33*3},      // 99/50 - 1 = 0 probes fit 50 steps: 2 probes, 99/3 steps
		{20, 2, 6, 1 + 6*3},         // 19/3 = 6 steps
		{1000, 18, 50, 1 + 50*19},   // 999/50 - 1 = 18 probes
		{7000, 100, 50, 1 + 50*101}, // the defaults fit
	} {
		for _, spsa := range []bool{false, true} {
			a := NES{Lp: L2, Eps: 1.5, SPSA: spsa, Queries: c.budget}
			d := a.withDefaults()
			if d.Samples != c.samples || d.Steps != c.steps {
				t.Errorf("%s budget %d: %d samples x %d steps, want %d x %d", a.Name(), c.budget, d.Samples, d.Steps, c.samples, c.steps)
			}
			f, err := a.Run(context.Background(), gfConstant{3}, x, []int{0}, 1, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if f.Queries[0] != c.spent || f.Ok[0] {
				t.Errorf("%s budget %d: spent %d queries (ok %v), want %d", a.Name(), c.budget, f.Queries[0], f.Ok[0], c.spent)
			}
		}
	}
	// Explicit samples are kept.
	if d := (NES{Lp: L2, Eps: 1, Samples: 10, Queries: 100}).withDefaults(); d.Samples != 10 || d.Steps != 50 {
		t.Errorf("explicit samples: %d x %d, want 10 x 50", d.Samples, d.Steps)
	}
}
