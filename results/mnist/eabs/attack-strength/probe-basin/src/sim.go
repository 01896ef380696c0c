package main

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// cmdSim: PGD-L2 on a linear objective whose gradient is the evidence direction u
// (what a stale-template attacker sees for one class pair): the final iterate's
// component along u, from a random start (as PGDAttack) and from x.
func cmdSim() {
	for _, e := range evidence {
		set := testSet(e.ds)
		clean := set.Image(e.index)
		adv := readF32(e.file)
		n := len(clean)
		u := make([]float64, n)
		var s float64
		for i := range u {
			u[i] = float64(adv[i] - clean[i])
			s += u[i] * u[i]
		}
		for i := range u {
			u[i] /= math.Sqrt(s)
		}
		for _, cfg := range []struct {
			steps int
			step  float64
			zero  bool
		}{{80, 2.5 * 1.5 / 80, false}, {80, 2.5 * 1.5 / 80, true}, {200, 2.5 * 1.5 / 80, false}, {80, 2 * 2.5 * 1.5 / 80, false}} {
			var along, res float64
			const trials = 20
			for tr := 0; tr < trials; tr++ {
				rng := rand.New(rand.NewPCG(uint64(tr), 9))
				cur := append([]float32(nil), clean...)
				if !cfg.zero {
					cur = randomStartL2(clean, 1.5, rng)
				}
				g := make([]float32, n)
				for i := range g {
					g[i] = float32(u[i])
				}
				for k := 0; k < cfg.steps; k++ {
					for i := range cur {
						cur[i] += float32(cfg.step * u[i])
					}
					projectL2(cur, clean, 1.5)
				}
				var a, r2 float64
				for i := range cur {
					d := float64(cur[i] - clean[i])
					a += d * u[i]
					r2 += d * d
				}
				along += a / trials
				res += math.Sqrt(r2-a*a) / trials
			}
			fmt.Printf("%s steps %d step %.4f zero %v: component along u %.3f, orthogonal %.3f (evidence: 1.499 along u)\n", e.name, cfg.steps, cfg.step, cfg.zero, along, res)
		}
	}
}

func projectL2(d, o []float32, eps float64) {
	var s float64
	for i := range d {
		v := float64(d[i]) - float64(o[i])
		s += v * v
	}
	if nrm := math.Sqrt(s); nrm > eps {
		f := eps / nrm
		for i := range d {
			d[i] = float32(float64(o[i]) + (float64(d[i])-float64(o[i]))*f)
		}
	}
	for i := range d {
		d[i] = min(max(d[i], 0), 1)
	}
}

func randomStartL2(o []float32, eps float64, rng *rand.Rand) []float32 {
	d := append([]float32(nil), o...)
	dir := make([]float64, len(d))
	var s float64
	for i := range dir {
		dir[i] = rng.NormFloat64()
		s += dir[i] * dir[i]
	}
	r := eps * math.Pow(rng.Float64(), 1/float64(len(d))) / math.Sqrt(s)
	for i := range d {
		d[i] = float32(float64(d[i]) + dir[i]*r)
	}
	projectL2(d, o, eps)
	return d
}
