package main

import (
	"fmt"
	"math"

	"github.com/eabs/eabs/adversary"
)

func lerp(a, b []float32, t float64) []float32 {
	o := make([]float32, len(a))
	for i := range a {
		o[i] = float32(float64(a[i]) + t*(float64(b[i])-float64(a[i])))
	}
	return o
}

func bestOther(z []float32, y int) int {
	b := -1
	for k := range z {
		if k != y && (b < 0 || z[k] > z[b]) {
			b = k
		}
	}
	return b
}

// margin cotangent (lse margin) for one row
func lseCot(z []float32, y int) []float32 {
	m := math.Inf(-1)
	for k, v := range z {
		if k != y {
			m = math.Max(m, float64(v))
		}
	}
	var s float64
	d := make([]float64, len(z))
	for k, v := range z {
		if k != y {
			d[k] = math.Exp(float64(v) - m)
			s += d[k]
		}
	}
	o := make([]float32, len(z))
	for k := range d {
		o[k] = float32(d[k] / s)
	}
	o[y] = -1
	return o
}

func cos(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func cmdLine() {
	for _, e := range evidence {
		eng := engine(e.zoo)
		set := testSet(e.ds)
		clean := set.Image(e.index)
		adv := readF32(e.file)
		dir := make([]float32, len(adv))
		for i := range dir {
			dir[i] = adv[i] - clean[i]
		}
		fmt.Printf("== %s label %d\n", e.name, e.label)
		v := adversary.NewVerdict(eng, 5, 77, 2)
		// attacker warm-started from the clean image's optimum, 0 steps (what a
		// 0-step warm attacker walking this line would see), and full inference per point
		warm := &adversary.Adaptive{Engine: eng, EOT: 5, Seed: 5, Workers: 2, Warm: &adversary.WarmStart{Steps: 0, MaxMove: 100}}
		full := &adversary.Adaptive{Engine: eng, EOT: 5, Seed: 6, Workers: 2}
		y := e.label
		cot := func(z []float32) []float32 { return lseCot(z, y) }
		fmt.Printf("  t   | verdict l_y  min_k!=y l_k (k) margin | warm0 l_y  l_k(k) margin cos(g,dir) | full l_y l_k(k) margin cos(g,dir)\n")
		for i := 0; i <= 10; i++ {
			t := float64(i) / 10
			x := lerp(clean, adv, t)
			z, err := v.Logits(x, 1)
			check(err)
			k := bestOther(z, y)
			zw, gw, err := warm.LogitsVJP(x, 1, cot)
			check(err)
			kw := bestOther(zw, y)
			zf, gf, err := full.LogitsVJP(x, 1, cot)
			check(err)
			kf := bestOther(zf, y)
			fmt.Printf("  %.1f | %8.3f %8.3f (%d) %+7.3f | %8.3f %8.3f (%d) %+7.3f %+.3f | %8.3f %8.3f (%d) %+7.3f %+.3f\n", t,
				-z[y], -z[k], k, z[k]-z[y],
				-zw[y], -zw[kw], kw, zw[kw]-zw[y], cos(gw, dir),
				-zf[y], -zf[kf], kf, zf[kf]-zf[y], cos(gf, dir))
		}
	}
}
