package adam

import (
	"math"
	"testing"

	"github.com/eabs/eabs/internal/adam/adamtest"
)

// TestMatchesPaper steps two tensors (the inference's mean and log-variance, one State
// each) with different gradient sequences and checks every step against the float64
// oracle (adamtest.Oracle, Algorithm 1 as written). The schedule steps the first alone
// for a few steps (as exact inference does), so the two step counts differ; one
// coordinate has gradients of order 1e-9, where Adam's eps decides the step. Sharing one moment slot
// or one step count, dropping a bias correction, another beta1/beta2/eps all move
// some coordinate by far more than the tolerance.
func TestMatchesPaper(t *testing.T) {
	const (
		n     = 4
		lr    = 0.02
		steps = 40
		delay = 5    // the mean's steps before the log-variance's first
		tol   = 2e-6 // absolute: float32 parameters of magnitude < 1, 40 roundings
	)
	grad := func(which, step, i int) float64 {
		switch i {
		case 3: // tiny: sqrt(vhat) ~ 3e-9 < eps
			return 3e-9 * math.Cos(0.9*float64(step)+float64(which))
		case 2: // changes scale over time: the second moment's memory matters
			return math.Sin(0.4*float64(step)+float64(which)) * math.Exp(-0.1*float64(step))
		}
		if which == 0 {
			return math.Sin(1.3*float64(step)+float64(i)) * float64(1+i)
		}
		return 0.1 * math.Cos(0.7*float64(step)-float64(i)) * float64((i+1)*(i+1))
	}
	a := [2]*State{New(lr, n), New(lr, n)}
	got := [2][]float32{make([]float32, n), make([]float32, n)}
	want := [2][]float64{make([]float64, n), make([]float64, n)}
	for i := 0; i < n; i++ {
		got[0][i], want[0][i] = 0.25*float32(i), 0.25*float64(i)
		got[1][i], want[1][i] = -0.5, -0.5
	}
	oracles := [2]*adamtest.Oracle{{LR: lr}, {LR: lr}}
	g32 := make([]float32, n)
	g64 := make([]float64, n)
	for s := 0; s < steps; s++ {
		for which := 0; which < 2; which++ {
			if which == 1 && s < delay {
				continue
			}
			for i := range g32 {
				g64[i] = float64(float32(grad(which, s, i)))
				g32[i] = float32(g64[i])
			}
			a[which].Step(got[which], g32)
			oracles[which].Step(want[which], g64)
			for i := range got[which] {
				if d := math.Abs(float64(got[which][i]) - want[which][i]); !(d <= tol) { // NaN fails too
					t.Fatalf("step %d, %s[%d] = %.9g, the paper's Adam gives %.9g (diff %.3g > %g)",
						s+1, []string{"mu", "logvar"}[which], i, got[which][i], want[which][i], d, tol)
				}
			}
		}
	}
	// The test must be able to fail: the first step alone moves every coordinate
	// with a nonzero gradient by lr (bias-corrected m/sqrt(v) = sign(g)), far beyond
	// the tolerance; check the end point moved away from the start by much more.
	if math.Abs(want[0][0]) < 100*tol || math.Abs(want[1][0]+0.5) < 100*tol {
		t.Fatalf("oracle hardly moved (%v, %v): the test would not discriminate", want[0][0], want[1][0])
	}
}
