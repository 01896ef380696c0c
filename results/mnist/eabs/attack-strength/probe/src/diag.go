package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/infer"
)

// diagnose: at image x for class t: encoder start loss, bank start and its loss, the
// inference's l_t over seeds, and Adam (50 steps) from the bank start and from zref.
func diagnose(eng *infer.Engine, label string, x []float32, t int, zref []float32) {
	s := eng.Model().Spec()
	K, M := s.Arch.Classes, s.Arch.Latent
	bk := eng.Bank()
	idx, bl := bk.Search(x, 1)
	emu, elv, err := eng.Model().Encode(x, 1)
	check(err)
	E := s.Encoders()
	mu := make([]float32, K*M)
	for k := 0; k < K; k++ {
		e := min(k, E-1)
		copy(mu[k*M:(k+1)*M], emu[e*M:(e+1)*M])
	}
	_ = elv
	el, _, _ := atZ(eng, x, mu)
	line := fmt.Sprintf(" [%s] class %d: encoder start %.2f (|z_enc - zref| %.2f), bank start j%d %.2f (|z_j - zref| %.2f); inference l_t:", label, t, el[t],
		math.Sqrt(sqd(mu[t*M:(t+1)*M], zref[t*M:(t+1)*M])), idx[t], bl[t], math.Sqrt(sqd(bk.Z[idx[t]*M:(idx[t]+1)*M], zref[t*M:(t+1)*M])))
	for seed := uint64(0); seed < 4; seed++ {
		o, err := eng.Classify(x, 1, []*rand.Rand{infer.NoiseFor(100+seed, 0, 0)})
		check(err)
		line += fmt.Sprintf(" %.2f(enc %v, |z-zref| %.2f)", o.Loss[t], o.FromEncoder[t], math.Sqrt(sqd(o.Z[t*M:(t+1)*M], zref[t*M:(t+1)*M])))
	}
	// Adam from the bank start, and from the encoder start
	for _, st := range []struct {
		n string
		z []float32
	}{{"bank", bk.Z[idx[t]*M : (idx[t]+1)*M]}, {"enc", mu[t*M : (t+1)*M]}, {"zref", zref[t*M : (t+1)*M]}} {
		m0 := append([]float32(nil), mu...)
		copy(m0[t*M:(t+1)*M], st.z)
		lv := make([]float32, K*M)
		if st.n == "enc" {
			for k := 0; k < K; k++ {
				e := min(k, E-1)
				copy(lv[k*M:(k+1)*M], elv[e*M:(e+1)*M])
			}
		}
		o, err := eng.Refine(x, 1, m0, lv, 50, []*rand.Rand{infer.NoiseFor(7, 0, 0)})
		check(err)
		line += fmt.Sprintf(" | adam from %s %.2f", st.n, o.Loss[t])
	}
	fmt.Println(line)
}
