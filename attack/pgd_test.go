package attack

import (
	"math"
	"math/rand/v2"
	"testing"
)

// linear is a parameter-free test model: logits = W x with a fixed random W, so the
// cross-entropy gradient is exact and cheap.
type linear struct {
	w    []float64 // K x N
	k, n int
}

func (l *linear) logits(x []float32) []float64 {
	out := make([]float64, l.k)
	for c := 0; c < l.k; c++ {
		for i, v := range x {
			out[c] += l.w[c*l.n+i] * float64(v)
		}
	}
	return out
}

func ce(z []float64, y int) (float64, []float64) {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(v - m)
	}
	lse := m + math.Log(s)
	p := make([]float64, len(z))
	for i, v := range z {
		p[i] = math.Exp(v - lse)
	}
	p[y]--
	return lse - z[y], p
}

func (l *linear) LossGrad(x []float32, y []int, batch int) ([]float32, []float32, error) {
	logits := make([]float32, batch*l.k)
	grad := make([]float32, len(x))
	for b := 0; b < batch; b++ {
		z := l.logits(x[b*l.n : (b+1)*l.n])
		_, d := ce(z, y[b])
		for c := 0; c < l.k; c++ {
			logits[b*l.k+c] = float32(z[c])
			for i := 0; i < l.n; i++ {
				grad[b*l.n+i] += float32(d[c] * l.w[c*l.n+i])
			}
		}
	}
	return logits, grad, nil
}

func TestPGDStaysInBudgetAndRaisesLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const k, n, batch = 3, 20, 8
	m := &linear{w: make([]float64, k*n), k: k, n: n}
	for i := range m.w {
		m.w[i] = rng.NormFloat64()
	}
	x := make([]float32, batch*n)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	y := make([]int, batch)
	for b := range y {
		y[b] = rng.IntN(k)
	}
	loss := func(x []float32) float64 {
		var s float64
		for b := 0; b < batch; b++ {
			l, _ := ce(m.logits(x[b*n:(b+1)*n]), y[b])
			s += l
		}
		return s
	}
	tests := []struct {
		norm Norm
		eps  float64
	}{{Linf, 0.1}, {L2, 0.5}}
	for _, test := range tests {
		p := PGD{Norm: test.norm, Eps: test.eps, Steps: 20, RandomStart: true}
		adv, err := p.Run(m, x, y, batch, rand.New(rand.NewPCG(2, 2)))
		if err != nil {
			t.Fatal(err)
		}
		for b := 0; b < batch; b++ {
			var l2, linf float64
			for i := b * n; i < (b+1)*n; i++ {
				if adv[i] < 0 || adv[i] > 1 {
					t.Fatalf("%s: pixel %d = %v outside [0,1]", test.norm, i, adv[i])
				}
				d := math.Abs(float64(adv[i] - x[i]))
				l2 += d * d
				linf = math.Max(linf, d)
			}
			dist := linf
			if test.norm == L2 {
				dist = math.Sqrt(l2)
			}
			if dist > test.eps*(1+1e-5) {
				t.Errorf("%s: image %d moved %g, budget %g", test.norm, b, dist, test.eps)
			}
		}
		if before, after := loss(x), loss(adv); !(after > before) {
			t.Errorf("%s: PGD did not raise the loss: %g -> %g", test.norm, before, after)
		}
	}
	if _, err := (PGD{Norm: "l1", Eps: 1, Steps: 1}).Run(m, x, y, batch, rng); err == nil {
		t.Error("PGD accepted an unknown norm")
	}
}
