package attack

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func tinyEngine(t *testing.T) *infer.Engine {
	w := runtimetest.Weights(t, "eabs", 5)
	m, err := ref.New(w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e, err := infer.NewEngine(m, infer.Options{Starts: 32, Steps: 5, LR: 0.05, BankSeed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestAdaptiveGradient checks eq. 8: with the optimised latents held fixed,
// l_k(x) = ||x - G_k(z*_k)||^2 + prior_k, and the returned gradient is that of the
// cross-entropy over -l_k, compared with central finite differences.
func TestAdaptiveGradient(t *testing.T) {
	e := tinyEngine(t)
	s := e.Model().Spec()
	K, P := s.Arch.Classes, s.Arch.Pixels()
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, P)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	y := []int{1}
	a := &Adaptive{Engine: e, Seed: 3}
	logits, grad, err := a.LossGrad(x, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Recover the fixed reconstructions and priors of that call.
	out, err := e.Classify(x, 1, []*rand.Rand{infer.NoiseFor(3, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	prior := make([]float64, K)
	for k := 0; k < K; k++ {
		if got, want := logits[k], -out.Loss[k]; got != want {
			t.Fatalf("logit %d = %v, want -l_k = %v", k, got, want)
		}
		prior[k] = float64(out.Loss[k]) - sq(x, out.Rec[k*P:(k+1)*P])
	}
	ce := func(x []float32) float64 {
		l := make([]float64, K)
		m := math.Inf(1)
		for k := range l {
			l[k] = sq(x, out.Rec[k*P:(k+1)*P]) + prior[k]
			m = math.Min(m, l[k])
		}
		var z float64
		for _, v := range l {
			z += math.Exp(m - v)
		}
		return l[y[0]] - m + math.Log(z)
	}
	for trial := 0; trial < 8; trial++ {
		j := rng.IntN(P)
		const h = 1e-2
		orig := x[j]
		x[j] = orig + h
		lp := ce(x)
		x[j] = orig - h
		lm := ce(x)
		x[j] = orig
		fd := (lp - lm) / (2 * h)
		if d := math.Abs(fd - float64(grad[j])); d > 1e-3*math.Max(1, math.Abs(fd)) {
			t.Errorf("d CE / d x[%d] = %v, finite difference %v", j, grad[j], fd)
		}
	}
}

func sq(x, r []float32) float64 {
	var s float64
	for i, v := range x {
		d := float64(v - r[i])
		s += d * d
	}
	return s
}

func TestPGDAgainstEABSRaisesTheLoss(t *testing.T) {
	e := tinyEngine(t)
	s := e.Model().Spec()
	P := s.Arch.Pixels()
	rng := rand.New(rand.NewPCG(2, 2))
	const batch = 2
	x := make([]float32, batch*P)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	a := &Adaptive{Engine: e, Seed: 9}
	logits, _, err := a.LossGrad(x, []int{0, 0}, batch)
	if err != nil {
		t.Fatal(err)
	}
	y := []int{argmaxRow(logits[:3]), argmaxRow(logits[3:])}
	adv, err := PGD{Norm: L2, Eps: 2, Steps: 5}.Run(a, x, y, batch, rng)
	if err != nil {
		t.Fatal(err)
	}
	margin := func(l []float32, y int) float32 {
		best := float32(math.Inf(-1))
		for k, v := range l {
			if k != y && v > best {
				best = v
			}
		}
		return l[y] - best
	}
	after, _, err := a.LossGrad(adv, y, batch)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < batch; b++ {
		if m0, m1 := margin(logits[b*3:(b+1)*3], y[b]), margin(after[b*3:(b+1)*3], y[b]); !(m1 < m0) {
			t.Errorf("image %d: PGD did not shrink the margin of the predicted class: %v -> %v", b, m0, m1)
		}
	}
}

func argmaxRow(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}
