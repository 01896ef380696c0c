package main

import (
	"fmt"

	"github.com/eabs/eabs/adversary"
)

// cmdCmp: verdict per-class losses at a candidate vs the evidence, and the geometry.
func cmdCmp(name, file string) {
	var e ev
	for _, c := range evidence {
		if c.name == name {
			e = c
		}
	}
	eng := engine(e.zoo)
	clean := testSet(e.ds).Image(e.index)
	evd := readF32(e.file)
	cand := readF32(file)
	d1 := make([]float32, len(clean))
	d2 := make([]float32, len(clean))
	for i := range clean {
		d1[i], d2[i] = evd[i]-clean[i], cand[i]-clean[i]
	}
	l2a, _ := dists(evd, clean)
	l2b, _ := dists(cand, clean)
	l2c, _ := dists(cand, evd)
	fmt.Printf("%s: |evidence| %.3f |candidate| %.3f, cos %.3f, distance between them %.3f\n", name, l2a, l2b, cos(d1, d2), l2c)
	for s := uint64(0); s < 3; s++ {
		v := adversary.NewVerdict(eng, 5, 4000+s, 2)
		z, err := v.Logits(append(append([]float32{}, evd...), cand...), 2)
		check(err)
		fmt.Printf("  l_k evidence  %.2f\n  l_k candidate %.2f\n", neg(z[:10]), neg(z[10:]))
	}
	// the line from candidate to evidence
	v := adversary.NewVerdict(eng, 5, 4100, 2)
	for i := 0; i <= 10; i++ {
		x := lerp(cand, evd, float64(i)/10)
		z, err := v.Logits(x, 1)
		check(err)
		l2, _ := dists(x, clean)
		k := bestOther(z, e.label)
		fmt.Printf("  cand->evidence t %.1f |x-clean| %.3f l_y %.2f l_%d %.2f margin %+.2f\n", float64(i)/10, l2, -z[e.label], k, -z[k], z[k]-z[e.label])
	}
}

func neg(z []float32) []float32 {
	o := make([]float32, len(z))
	for i := range z {
		o[i] = -z[i]
	}
	return o
}
