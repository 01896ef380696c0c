package attack_test

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

func TestAPGDInvariantsAndStrength(t *testing.T) {
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
		for _, loss := range []string{"ce", "dlr"} {
			for _, test := range tests {
				_, accSmall := runChecked(t, attack.APGD{Lp: test.norm, Eps: test.small, Loss: loss, Steps: 30}, m, x, y, batch, test.small, 3)
				_, accLarge := runChecked(t, attack.APGD{Lp: test.norm, Eps: test.large, Loss: loss, Steps: 30}, m, x, y, batch, test.large, 3)
				t.Logf("%s apgd-%s-%s: accuracy %.3f at eps %g, %.3f at eps %g", name, loss, test.norm, accSmall, test.small, accLarge, test.large)
				if accSmall < test.minSmall || accLarge > test.maxLarge {
					t.Errorf("%s apgd-%s-%s: accuracy %.3f at eps %g (want >= %g), %.3f at eps %g (want <= %g)", name, loss, test.norm, accSmall, test.small, test.minSmall, accLarge, test.large, test.maxLarge)
				}
			}
		}
	}
}

// TestAPGDCheckpoints compares the integer schedule with the paper's p_j:
// p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), w_j = ceil(p_j N).
func TestAPGDCheckpoints(t *testing.T) {
	var want []int
	p0, p1 := 0.0, 0.22
	for p1 <= 1 {
		want = append(want, int(math.Ceil(p1*100-1e-9)))
		p0, p1 = p1, p1+math.Max(p1-p0-0.03, 0.06)
	}
	if got := attack.APGDCheckpoints(100); !reflect.DeepEqual(got, want) {
		t.Errorf("APGDCheckpoints(100) = %v, paper's p_j give %v", got, want)
	}
	if got, want := attack.APGDCheckpoints(100), []int{22, 41, 57, 70, 80, 87, 93, 99}; !reflect.DeepEqual(got, want) {
		t.Errorf("APGDCheckpoints(100) = %v, want %v", got, want)
	}
	if got := attack.APGDCheckpoints(3); !reflect.DeepEqual(got, []int{1, 2, 3}) {
		t.Errorf("APGDCheckpoints(3) = %v, want [1 2 3]", got)
	}
}

// TestAPGDAccounting: a robust sample costs restarts x (steps+1) x EOT queries.
func TestAPGDAccounting(t *testing.T) {
	const n = 8
	l := attacktest.NewLinear(rand.New(rand.NewPCG(5, 5)), 3, n, 1)
	x, y := problem(t, l, n, 1, 6)
	a := attack.APGD{Lp: attack.Linf, Eps: 1e-4, Loss: "ce", Steps: 7, Restarts: 2, EOT: 3}
	f, err := a.Run(context.Background(), l, x, y, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Ok[0] || f.Queries[0] != 2*8*3 {
		t.Errorf("Ok %v, %d queries; want false, %d", f.Ok[0], f.Queries[0], 2*8*3)
	}
	bin := attacktest.Binary([]float64{1, -1}, 0)
	if _, err := (attack.APGD{Lp: attack.L2, Eps: 1, Loss: "dlr"}).Run(context.Background(), bin, []float32{0.5, 0.5}, []int{0}, 1, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("DLR accepted a two-class model")
	}
	if _, err := (attack.APGD{Lp: attack.L2, Eps: 1, Loss: "hinge"}).Run(context.Background(), l, x, y, 1, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("APGD accepted an unknown loss")
	}
}

// TestAPGDFirstStep: with Steps 1 the first iterate is the projection of the start plus
// a step of 2*eps along sign(g) (momentum 1 at the first step); at Linf eps the step
// reaches the ball's face in every coordinate where the gradient is non-zero, so the
// answer is x + eps*sign(g) (clipped), independently of the random start.
func TestAPGDFirstStep(t *testing.T) {
	const n = 8
	l := attacktest.NewLinear(rand.New(rand.NewPCG(4, 4)), 3, n, 3)
	x := make([]float32, n)
	for i := range x {
		x[i] = 0.5
	}
	y := []int{argmax64(l.Row(x))}
	const eps = 0.01 // too small to flip the class, so Adv is the higher-loss point
	f, err := (attack.APGD{Lp: attack.Linf, Eps: eps, Loss: "ce", Steps: 1}).Run(context.Background(), l, x, y, 1, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Ok[0] {
		t.Fatal("eps too large for this test")
	}
	// The loss is convex in x for a linear model, and x + eps*sign(g) maximises its
	// linearisation over the ball, so it is the higher-loss point of the two.
	for i := range x {
		want := eps * math.Copysign(1, ceGradAt(l, x, y[0], i))
		if got := float64(f.Adv[i] - x[i]); math.Abs(got-want) > 1e-6 {
			t.Errorf("pixel %d moved %.8f, want %.8f", i, got, want)
		}
	}
}

func ceGradAt(l *attacktest.Linear, x []float32, y, i int) float64 { return ceGrad(l, x, y)[i] }
