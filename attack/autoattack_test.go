package attack_test

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

// TestAPGDTInvariantsAndStrength: in budget, in the box, honest queries and claims; a
// small budget leaves most samples robust and a large one almost none.
func TestAPGDTInvariantsAndStrength(t *testing.T) {
	const n, batch = 16, 24
	tests := []struct {
		norm               attack.Norm
		small, large       float64
		minSmall, maxLarge float64
	}{
		{attack.Linf, 0.005, 0.5, 0.8, 0.05},
		{attack.L2, 0.02, 2, 0.8, 0.05},
	}
	for name, m := range models(1) {
		x, y := problem(t, m, n, batch, 2)
		for _, test := range tests {
			_, accSmall := runChecked(t, attack.APGDT{Lp: test.norm, Eps: test.small, Steps: 20}, m, x, y, batch, test.small, 3)
			_, accLarge := runChecked(t, attack.APGDT{Lp: test.norm, Eps: test.large, Steps: 20}, m, x, y, batch, test.large, 3)
			t.Logf("%s apgd-t-%s: accuracy %.3f at eps %g, %.3f at eps %g", name, test.norm, accSmall, test.small, accLarge, test.large)
			if accSmall < test.minSmall || accLarge > test.maxLarge {
				t.Errorf("%s apgd-t-%s: accuracy %.3f at eps %g (want >= %g), %.3f at eps %g (want <= %g)", name, test.norm, accSmall, test.small, test.minSmall, accLarge, test.large, test.maxLarge)
			}
		}
	}
}

// spy records the cotangent rows a model is asked to differentiate.
type spy struct {
	*attacktest.Linear
	cots [][]float32
}

func (s *spy) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	return s.Linear.LogitsVJP(x, batch, func(z []float32) []float32 {
		v := cot(z)
		s.cots = append(s.cots, append([]float32(nil), v...))
		return v
	})
}

// TestAPGDTTargets: APGD-T attacks the classes with the highest clean scores other than
// the label, best first, Steps+1 evaluations each, after one clean evaluation; the
// target is the one class besides the label whose cotangent is positive
// (d DLR-T/dz_t = (z_pi1 - z_pi4 or more)/(2 den^2) > 0 for a robust sample, the others
// but the label non-positive).
func TestAPGDTTargets(t *testing.T) {
	const n, k, steps = 8, 6, 4
	l := attacktest.NewLinear(rand.New(rand.NewPCG(8, 8)), k, n, 1)
	m := &spy{Linear: l}
	x, y := problem(t, l, n, 1, 4)
	z, e0 := l.Row(x), l.Evals()
	want := []int{}
	for len(want) < 3 {
		best := -1
		for c := range z {
			if c != y[0] && !contains(want, c) && (best < 0 || z[c] > z[best]) {
				best = c
			}
		}
		want = append(want, best)
	}
	f, err := (attack.APGDT{Lp: attack.Linf, Eps: 1e-4, Targets: 3, Steps: steps}).Run(context.Background(), m, x, y, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Ok[0] {
		t.Fatal("eps too large for this test: the sample was fooled")
	}
	if got := f.Queries[0]; got != 1+3*(steps+1) || got != l.Evals()-e0 {
		t.Errorf("queries %d, model evaluations %d, want %d", got, l.Evals()-e0, 1+3*(steps+1))
	}
	if len(m.cots) != 3*(steps+1) {
		t.Fatalf("%d gradient calls, want %d", len(m.cots), 3*(steps+1))
	}
	for c, v := range m.cots {
		var pos []int
		for j, u := range v {
			if j != y[0] && u > 0 {
				pos = append(pos, j)
			}
		}
		if tg := want[c/(steps+1)]; !reflect.DeepEqual(pos, []int{tg}) {
			t.Errorf("gradient call %d: classes with a positive cotangent %v (%v), want the target [%d]", c, pos, v, tg)
		}
	}
	if _, err := (attack.APGDT{Lp: attack.L2, Eps: 1}).Run(context.Background(), attacktest.NewLinear(rand.New(rand.NewPCG(1, 1)), 3, 2, 1), []float32{0.5, 0.5}, []int{0}, 1, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("APGD-T accepted a three-class model")
	}
}

func contains(v []int, x int) bool {
	for _, u := range v {
		if u == x {
			return true
		}
	}
	return false
}

// fabRatio is the distance FAB's best point reaches on an affine classifier, as a
// multiple of the distance to the target's boundary, when the box never binds: the
// iterates stay on the ray from x to its projection, at s times the distance, with
// s' = (s + eta (1 - s))(1 - alpha) + eta alpha, alpha = min((1 - s)/(2 - s), alpha_max),
// each s' > 1 recorded and pulled back to beta s'. This is the algorithm's own scalar
// recurrence, not the code: 1.00521 after 100 steps for AutoAttack's parameters.
func fabRatio(steps int, alphaMax, eta, beta float64) float64 {
	s, best := 0.0, math.Inf(1)
	for it := 0; it < steps; it++ {
		if it > 0 && s > 1 {
			best = math.Min(best, s)
			s *= beta
		}
		alpha := math.Min((1-s)/(2-s), alphaMax)
		s = (s+eta*(1-s))*(1-alpha) + eta*alpha
	}
	if s > 1 {
		best = math.Min(best, s)
	}
	return best
}

// TestFABClosedForm: on an affine classifier the smallest adversarial perturbation has a
// closed form, min over t != y of (z_y - z_t) / ||w_y - w_t||_q (q = 2 for L2, 1 for
// Linf: the distance to the union of the half-spaces z_t >= z_y) when the box does not
// bind; FAB-T with every target finds it within the factor fabRatio (0.52%) above, and
// never below (up to float32's rounding of the pixels); so does untargeted FAB, which
// linearises every class and steps toward the closest boundary (from any point on the
// way to it, the closest). Both norms, a two-class (Binary) and a five-class model.
func TestFABClosedForm(t *testing.T) {
	rho := fabRatio(100, 0.1, 1.05, 0.9)
	if math.Abs(rho-1.0052133) > 1e-6 {
		t.Fatalf("fabRatio = %.7f, the recurrence worked by hand gives 1.0052133", rho)
	}
	rng := rand.New(rand.NewPCG(21, 2))
	const n, batch = 16, 20
	w := make([]float64, n)
	var sum float64
	for i := range w {
		w[i] = rng.NormFloat64()
		sum += w[i]
	}
	for _, c := range []struct {
		name string
		l    *attacktest.Linear
	}{
		{"binary", attacktest.Binary(w, 0.3-sum/2)}, // the boundary near the middle of the box
		{"linear", attacktest.NewLinear(rng, 5, n, 1)},
	} {
		name, l := c.name, c.l
		for _, norm := range []attack.Norm{attack.L2, attack.Linf} {
			x := make([]float32, batch*n)
			for i := range x {
				x[i] = float32(0.35 + 0.3*rng.Float64())
			}
			y := make([]int, batch)
			want := make([]float64, batch)
			for b := range y {
				xb := x[b*n : (b+1)*n]
				z := l.Row(xb)
				y[b] = argmax64(z)
				want[b] = math.Inf(1)
				for c := range z {
					if c == y[b] {
						continue
					}
					var q2, q1, qmax float64
					for i := 0; i < n; i++ {
						dw := l.W[y[b]*n+i] - l.W[c*n+i]
						q2 += dw * dw
						q1 += math.Abs(dw)
						qmax = math.Max(qmax, math.Abs(dw))
					}
					d, move := (z[y[b]]-z[c])/q1, (z[y[b]]-z[c])/q1 // Linf: every pixel moves d
					if norm == attack.L2 {
						d = (z[y[b]] - z[c]) / math.Sqrt(q2)
						move = d * qmax / math.Sqrt(q2)
					}
					if d < want[b] {
						want[b] = d
						if 1.06*move > 0.34 {
							want[b] = math.NaN() // the box could bind: no closed form
						}
					}
				}
			}
			for _, untargeted := range []bool{false, true} {
				l0 := l.Evals()
				f, err := (attack.FAB{Lp: norm, Untargeted: untargeted}).Run(context.Background(), l, x, y, batch, rand.New(rand.NewPCG(1, 1)))
				if err != nil {
					t.Fatal(err)
				}
				if err := attacktest.Check(l, x, y, batch, f, norm, 0, l.Evals()-l0); err != nil {
					t.Fatalf("%s %s: %v", name, norm, err)
				}
				checked := 0
				for b := range y {
					if math.IsNaN(want[b]) {
						continue
					}
					checked++
					if !f.Ok[b] {
						t.Errorf("%s %s sample %d: FAB found nothing, closed form %.6f", name, norm, b, want[b])
						continue
					}
					got := attacktest.Distance(norm, f.Adv[b*n:(b+1)*n], x[b*n:(b+1)*n])
					// The slack is float32's: pixels near 0.5 are stored to 6e-8.
					if got < want[b]-2e-7 || got > want[b]*rho+2e-7 {
						t.Errorf("%s %s sample %d: distance %.7f, closed form %.7f (ratio %.6f, want within [1, %.6f])", name, norm, b, got, want[b], got/want[b], rho)
					}
				}
				if checked < batch/2 {
					t.Errorf("%s %s: only %d of %d samples have a closed form", name, norm, checked, batch)
				}
			}
		}
	}
}

// TestFABInvariants: the common attack checks on the linear and MLP models, a budget
// that stops samples early, and the refusals of bad options.
func TestFABInvariants(t *testing.T) {
	const n, batch = 16, 12
	for name, m := range models(1) {
		x, y := problem(t, m, n, batch, 2)
		for _, norm := range []attack.Norm{attack.Linf, attack.L2} {
			eps := map[attack.Norm]float64{attack.Linf: 0.05, attack.L2: 0.3}[norm]
			for _, a := range []attack.FAB{{Lp: norm, Steps: 20}, {Lp: norm, Eps: eps, Steps: 20, Restarts: 2}} {
				f, _ := runChecked(t, a, m, x, y, batch, 0, 4)
				found := 0
				for _, ok := range f.Ok {
					if ok {
						found++
					}
				}
				t.Logf("%s %s eps %g: adversarial found for %d of %d", name, a.Name(), a.Eps, found, batch)
				if found < batch*3/4 {
					t.Errorf("%s %s: adversarial found for %d of %d samples", name, a.Name(), found, batch)
				}
			}
		}
	}
	l := attacktest.NewLinear(rand.New(rand.NewPCG(2, 2)), 3, 4, 1)
	x, y := problem(t, l, 4, 1, 3)
	// Untargeted FAB on 3 classes: a clean evaluation, then per restart 2 evaluations per
	// step, 2 per pull-back (at most steps - 1) and 1 for the last point.
	if f, _ := runChecked(t, attack.FAB{Lp: attack.L2, Steps: 5, Untargeted: true}, l, x, y, 1, 0, 1); f.Queries[0] < 1+5*2+1 || f.Queries[0] > 1+5*2+4*2+1 {
		t.Errorf("untargeted FAB on 3 classes, 5 steps: %d queries, want 12 to 20", f.Queries[0])
	}
	for _, a := range []attack.FAB{{Lp: attack.L2, Eps: -1}, {Lp: attack.L2, Restarts: 2}, {Lp: attack.L2, Beta: 1}, {Lp: attack.L2, Eta: 0.5}, {Lp: attack.L2, AlphaMax: 2}, {Lp: "l1"}} {
		if _, err := a.Run(context.Background(), l, x, y, 1, rand.New(rand.NewPCG(1, 1))); err == nil {
			t.Errorf("FAB%+v accepted", a)
		}
	}
}

// TestAutoAttackSuite: the suite names, and AutoAttack's attacks in its order with the
// standard's and the plus version's parameters written out.
func TestAutoAttackSuite(t *testing.T) {
	for name, want := range map[string][]attack.Norm{"autoattack": {attack.Linf, attack.L2}, "autoattack-linf": {attack.Linf}, "autoattack-l2": {attack.L2},
		"autoattack-plus": {attack.Linf, attack.L2}, "autoattack-plus-l2": {attack.L2}} {
		v, got, ok := attack.Suite(name)
		if wantV := map[bool]string{false: "standard", true: "plus"}[strings.Contains(name, "plus")]; !ok || v != wantV || !reflect.DeepEqual(got, want) {
			t.Errorf("Suite(%q) = %q, %v, %v; want %q, %v", name, v, got, ok, wantV, want)
		}
	}
	if _, _, ok := attack.Suite("apgd-ce-linf"); ok {
		t.Error("Suite accepted a single attack")
	}
	as, err := attack.AutoAttack("standard", attack.L2, attack.Settings{Eps: 1.5, Queries: 10, Restarts: 7})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range as {
		names = append(names, a.Name())
	}
	if want := []string{"apgd-ce-l2", "apgd-t-l2", "fab-t-l2", "square-l2"}; !reflect.DeepEqual(names, want) {
		t.Errorf("AutoAttack(l2) = %v, want %v", names, want)
	}
	sq := as[3].(attack.Square)
	if sq.Queries != 5000 || !sq.FixedSchedule || sq.PInit != 0.8 {
		t.Errorf("AutoAttack's square = %+v, want 5000 queries, p_init 0.8, the fixed schedule", sq)
	}
	if at := as[1].(attack.APGDT); at.Targets != 9 || at.Restarts != 1 || at.Steps != 100 {
		t.Errorf("AutoAttack's apgd-t = %+v, want 9 targets, 1 restart, 100 steps", at)
	}
	if fb := as[2].(attack.FAB); fb.Targets != 9 || fb.Steps != 100 || fb.AlphaMax != 0.1 || fb.Eta != 1.05 || fb.Beta != 0.9 || fb.Eps != 1.5 {
		t.Errorf("AutoAttack's fab-t = %+v, want 9 targets, 100 steps, alpha_max 0.1, eta 1.05, beta 0.9, eps 1.5", fb)
	}
	if _, err := attack.AutoAttack("standard", attack.Linf, attack.Settings{}); err == nil {
		t.Error("AutoAttack accepted no budget")
	}
	if _, err := attack.AutoAttack("rand", attack.Linf, attack.Settings{Eps: 0.3}); err == nil {
		t.Error("AutoAttack accepted an unknown version")
	}
	plus, err := attack.AutoAttack("plus", attack.Linf, attack.Settings{Eps: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, a := range plus {
		names = append(names, a.Name())
	}
	if want := []string{"apgd-ce-linf", "apgd-dlr-linf", "fab-linf", "square-linf", "apgd-t-linf", "fab-t-linf"}; !reflect.DeepEqual(names, want) {
		t.Errorf("AutoAttack(plus, linf) = %v, want %v", names, want)
	}
	if a := plus[0].(attack.APGD); a.Restarts != 5 {
		t.Errorf("plus apgd-ce = %+v, want 5 restarts", a)
	}
	if a := plus[1].(attack.APGD); a.Restarts != 5 || a.Loss != "dlr" {
		t.Errorf("plus apgd-dlr = %+v, want the DLR loss and 5 restarts", a)
	}
	if a := plus[2].(attack.FAB); a.Restarts != 5 || !a.Untargeted {
		t.Errorf("plus fab = %+v, want untargeted with 5 restarts", a)
	}
}
