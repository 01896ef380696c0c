package main

import (
	"math"

	"github.com/eabs/eabs/infer"
)

// startMargin: encoder start loss minus the best bank start loss for class t at x, and
// the reconstructions of both.
func startMargin(eng *infer.Engine, x []float32, t int) (m float64, genc, gbank []float32) {
	s := eng.Model().Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	bk := eng.Bank()
	idx, bl := bk.Search(x, 1)
	emu, _, err := eng.Model().Encode(x, 1)
	check(err)
	E := s.Encoders()
	mu := make([]float32, K*M)
	for k := 0; k < K; k++ {
		e := min(k, E-1)
		copy(mu[k*M:(k+1)*M], emu[e*M:(e+1)*M])
	}
	el, rec, _ := atZ(eng, x, mu)
	j := idx[t]
	return float64(el[t] - bl[t]), rec[t*P : (t+1)*P], bk.Rec[t][j*P : (j+1)*P]
}

// repair steps x toward the encoder's reconstruction of class t and away from the
// winning bank start's, until the encoder start wins by margin (fixed-latent gradient
// of L_enc - L_bank: 2 (G_bank - G_enc)).
func repair(eng *infer.Engine, clean, x []float32, t int, steps int, beta, margin, eps float64) ([]float32, int, float64) {
	x = append([]float32(nil), x...)
	var m float64
	for s := 0; s < steps; s++ {
		var ge, gb []float32
		m, ge, gb = startMargin(eng, x, t)
		if m < -margin {
			return x, s, m
		}
		var n2 float64
		for i := range ge {
			d := float64(gb[i] - ge[i])
			n2 += d * d
		}
		n := math.Sqrt(n2) + 1e-12
		for i := range x {
			x[i] -= float32(beta * float64(gb[i]-ge[i]) / n)
		}
		projectL2(x, clean, eps)
	}
	m, _, _ = startMargin(eng, x, t)
	return x, steps, m
}
