package main

import (
	"math"

	"github.com/eabs/eabs/attack"
)

// targeted restricts the logits to the true class and one target: the others are set
// to -1e4, so PGD's log-sum-exp margin is z_t - z_y.
type targeted struct {
	attack.Differentiable
	y, t int
}

func (w targeted) mask(z []float32) []float32 {
	K := w.Classes()
	o := append([]float32(nil), z...)
	for b := 0; b < len(z)/K; b++ {
		for k := 0; k < K; k++ {
			if k != w.y && k != w.t {
				o[b*K+k] = -1e4
			}
		}
	}
	return o
}

func (w targeted) Logits(x []float32, batch int) ([]float32, error) {
	z, err := w.Differentiable.Logits(x, batch)
	if err != nil {
		return nil, err
	}
	return w.mask(z), nil
}

func (w targeted) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	K := w.Classes()
	z, g, err := w.Differentiable.LogitsVJP(x, batch, func(z []float32) []float32 {
		v := cot(w.mask(z))
		for b := 0; b < len(z)/K; b++ {
			for k := 0; k < K; k++ {
				if k != w.y && k != w.t {
					v[b*K+k] = 0
				}
			}
		}
		return v
	})
	if err != nil {
		return nil, nil, err
	}
	return w.mask(z), g, nil
}

// ce turns PGD's margin cotangent into the cross-entropy's (times sigmoid(M) per run):
// the committed runs' loss.
type ce struct {
	attack.Differentiable
	y int
}

func (w ce) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	return w.Differentiable.LogitsVJP(x, batch, func(z []float32) []float32 {
		v := cot(z)
		k := bestOther(z, w.y)
		// M = lse of others - z_y
		m := float64(z[k])
		var s float64
		for j, zz := range z {
			if j != w.y {
				s += math.Exp(float64(zz) - m)
			}
		}
		M := m + math.Log(s) - float64(z[w.y])
		sig := 1 / (1 + math.Exp(-M))
		for i := range v {
			v[i] = float32(float64(v[i]) * sig)
		}
		return v
	})
}
