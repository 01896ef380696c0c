package main

import (
	"flag"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/eabs/eabs/infer"
)

// projBallBox returns the point of {||x'-x|| <= eps} ∩ [0,1]^P nearest to g:
// x'(λ) = clip((g + λx)/(1+λ)), λ >= 0 the smallest that fits (bisection).
func projBallBox(g, x []float32, eps float64) []float32 {
	out := make([]float32, len(g))
	at := func(l float64) float64 {
		var s float64
		for i := range g {
			v := (float64(g[i]) + l*float64(x[i])) / (1 + l)
			v = math.Min(math.Max(v, 0), 1)
			out[i] = float32(v)
			d := v - float64(x[i])
			s += d * d
		}
		return math.Sqrt(s)
	}
	if at(0) <= eps {
		return out
	}
	lo, hi := 0.0, 1.0
	for at(hi) > eps {
		hi *= 2
	}
	for it := 0; it < 60; it++ {
		m := (lo + hi) / 2
		if at(m) > eps {
			lo = m
		} else {
			hi = m
		}
	}
	at(hi)
	return out
}

// reachRefine: for each start z (n x M) of class t, alternate x' = the ball∩box point
// nearest G_t(z) and an Adam step on z at x'; returns final z, x', bound values.
func reachRefine(eng *infer.Engine, x []float32, t int, starts []float32, steps int, eps float64, lr float64) (zs []float32, xs []float32, bound []float64) {
	s := eng.Model().Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	n := len(starts) / M
	zs = append([]float32(nil), starts...)
	xs = make([]float32, n*P)
	bound = make([]float64, n)
	mu := make([]float32, n*K*M)
	zero := make([]float32, n*K*M)
	opts := make([]*adam, n)
	for i := range opts {
		opts[i] = newAdam(lr, M)
	}
	// initial x': the nearest point to G_t(start)
	dec := func() []float32 {
		for i := 0; i < n; i++ {
			for k := 0; k < K; k++ {
				copy(mu[(i*K+k)*M:(i*K+k+1)*M], zs[i*M:(i+1)*M])
			}
		}
		r, err := eng.Model().Decode(mu, n)
		check(err)
		return r
	}
	rec := dec()
	for i := 0; i < n; i++ {
		copy(xs[i*P:(i+1)*P], projBallBox(rec[(i*K+t)*P:(i*K+t+1)*P], x, eps))
	}
	for it := 0; it <= steps; it++ {
		for i := 0; i < n; i++ {
			for k := 0; k < K; k++ {
				copy(mu[(i*K+k)*M:(i*K+k+1)*M], zs[i*M:(i+1)*M])
			}
		}
		st, err := eng.Model().LatentStep(xs, mu, zero, zero, n)
		check(err)
		for i := 0; i < n; i++ {
			bound[i] = float64(st.Loss[i*K+t])
			if it == steps {
				break
			}
			opts[i].step(zs[i*M:(i+1)*M], st.GradMu[(i*K+t)*M:(i*K+t+1)*M])
		}
		if it == steps {
			break
		}
		rec := dec()
		for i := 0; i < n; i++ {
			copy(xs[i*P:(i+1)*P], projBallBox(rec[(i*K+t)*P:(i*K+t+1)*P], x, eps))
		}
	}
	return
}

func cmdCands(args []string) {
	fs := flag.NewFlagSet("cands", flag.ExitOnError)
	imgs := fs.String("img", "mnist-4280,fmnist-8158,fmnist-7668", "")
	nstart := fs.Int("n", 16, "")
	steps := fs.Int("steps", 30, "")
	lr := fs.Float64("lr", 0.05, "")
	check(fs.Parse(args))
	eps := 1.5
	for _, name := range strings.Split(*imgs, ",") {
		e := findEv(name)
		eng := engine(e.zoo)
		bk := eng.Bank()
		M, P := bk.M, bk.P
		clean := testSet(e.ds).Image(e.index)
		adv := readF32(e.file)
		oe := fullOut(eng, adv, 11)
		oc := fullOut(eng, clean, 12)
		t := bestOther(neg(oe.Loss), e.label)
		ze := oe.Z[t*M : (t+1)*M]
		// evidence z's own reachable bound (with the box)
		_, _, bE := reachRefine(eng, clean, t, ze, 0, eps, *lr)
		_, _, bE30 := reachRefine(eng, clean, t, ze, *steps, eps, *lr)
		fmt.Printf("== %s t %d: z_e bound at ball∩box point %.3f, after %d reach steps %.3f\n", name, t, bE[0], *steps, bE30[0])
		cs := rank(bk.Rec[t], bk.Prior, clean, P, eps)
		starts := make([]float32, 0, (*nstart+2)*M)
		labels := []string{}
		for _, c := range cs[:*nstart] {
			starts = append(starts, bk.Z[c.j*M:(c.j+1)*M]...)
			labels = append(labels, fmt.Sprintf("j%d", c.j))
		}
		starts = append(starts, oc.Z[t*M:(t+1)*M]...)
		labels = append(labels, "z*(x)")
		zs, _, b0 := reachRefine(eng, clean, t, starts, 0, eps, *lr)
		_ = zs
		zs, _, b := reachRefine(eng, clean, t, starts, *steps, eps, *lr)
		type r struct {
			l      string
			b0, b  float64
			dz, d0 float64
		}
		var rs []r
		for i := range labels {
			rs = append(rs, r{labels[i], b0[i], b[i], math.Sqrt(sqd(zs[i*M:(i+1)*M], ze)), math.Sqrt(sqd(starts[i*M:(i+1)*M], ze))})
		}
		sort.Slice(rs, func(a, c int) bool { return rs[a].b < rs[c].b })
		for _, v := range rs {
			fmt.Printf("  %-6s bound %.3f -> %.3f  |z-z_e| %.2f -> %.2f\n", v.l, v.b0, v.b, v.d0, v.dz)
		}
	}
}
