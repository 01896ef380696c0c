package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/eabs/eabs/adversary"
	"github.com/eabs/eabs/infer"
)

func findEv(name string) ev {
	for _, c := range evidence {
		if c.name == name {
			return c
		}
	}
	panic("no evidence " + name)
}

// fullOut runs one full inference of x with noise seed.
func fullOut(eng *infer.Engine, x []float32, seed uint64) *infer.Output {
	o, err := eng.Classify(x, 1, []*rand.Rand{infer.NoiseFor(seed, 0, 0)})
	check(err)
	return o
}

// atZ evaluates loss_k(x, z_k) (prior included) and G_k(z_k) for latents z (K*M), at
// their means (logvar 0, no noise), with d/dz.
func atZ(eng *infer.Engine, x, z []float32) (loss, rec, gz []float32) {
	K := len(z) / eng.Model().Spec().Arch.Latent
	_ = K
	zero := make([]float32, len(z))
	st, err := eng.Model().LatentStep(x, z, zero, zero, 1)
	check(err)
	return st.Loss, st.Rec, st.GradMu
}

func sqd(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

func cmdInfo(args []string) {
	fs := flag.NewFlagSet("info", flag.ExitOnError)
	imgs := fs.String("img", "mnist-4280,fmnist-8158,fmnist-7668", "")
	check(fs.Parse(args))
	for _, name := range strings.Split(*imgs, ",") {
		e := findEv(name)
		eng := engine(e.zoo)
		K, M, P := 10, eng.Model().Spec().Arch.Latent, 784
		clean := testSet(e.ds).Image(e.index)
		adv := readF32(e.file)
		oe := fullOut(eng, adv, 11)
		oc := fullOut(eng, clean, 12)
		t := bestOther(neg(oe.Loss), e.label)
		fmt.Printf("== %s y %d t %d\n clean losses %.2f\n evid  losses %.2f\n", name, e.label, t, oc.Loss, oe.Loss)
		for _, c := range []struct {
			n string
			z []float32
		}{{"z*_t(evidence)", oe.Z}, {"z*_t(clean)", oc.Z}} {
			le, rece, _ := atZ(eng, adv, c.z)
			lc, recc, _ := atZ(eng, clean, c.z)
			dE := math.Sqrt(sqd(adv, rece[t*P:(t+1)*P]))
			dC := math.Sqrt(sqd(clean, recc[t*P:(t+1)*P]))
			prior := float64(lc[t]) - dC*dC
			reach := math.Pow(math.Max(dC-1.5, 0), 2) + prior
			fmt.Printf(" %s: at evidence loss %.3f (d %.3f), at clean loss %.3f (d %.3f, prior %.3f), reachable (d-1.5)^2+prior %.3f; |z| %.2f\n",
				c.n, le[t], dE, lc[t], dC, prior, reach, math.Sqrt(sqd(c.z[t*M:(t+1)*M], make([]float32, M))))
		}
		fmt.Printf(" |z_e - z_c| for t: %.3f, y: %.3f\n", math.Sqrt(sqd(oe.Z[t*M:(t+1)*M], oc.Z[t*M:(t+1)*M])), math.Sqrt(sqd(oe.Z[e.label*M:(e.label+1)*M], oc.Z[e.label*M:(e.label+1)*M])))
		_ = K
	}
}

// cmdFeas: PGD-L2 from the clean image on ||x'-G_t(z)||^2 + prior(z) - l_y(x') with z
// fixed at the evidence's z*_t (or optimised jointly, -zsteps), l_y from a warm-started
// Adaptive (EOT, warm steps); judged by verdicts.
func cmdFeas(args []string) {
	fs := flag.NewFlagSet("feas", flag.ExitOnError)
	imgs := fs.String("img", "mnist-4280,fmnist-8158,fmnist-7668", "")
	steps := fs.Int("steps", 80, "")
	step := fs.Float64("step", 0, "")
	wy := fs.Float64("wy", 1, "weight of -l_y")
	warm := fs.Int("warm", 0, "warm steps of the l_y attacker (-1 full)")
	eot := fs.Int("eot", 5, "")
	zsteps := fs.Int("zsteps", 0, "Adam steps on z per x step (0: z fixed)")
	zsrc := fs.String("z", "evidence", "evidence|clean")
	vseeds := fs.Int("vseeds", 3, "")
	diag := fs.Bool("diag", false, "")
	save := fs.String("save", "", "")
	check(fs.Parse(args))
	eps := 1.5
	alpha := *step
	if alpha == 0 {
		alpha = 2.5 * eps / float64(*steps)
	}
	for _, name := range strings.Split(*imgs, ",") {
		e := findEv(name)
		eng := engine(e.zoo)
		M, P := eng.Model().Spec().Arch.Latent, 784
		clean := testSet(e.ds).Image(e.index)
		adv := readF32(e.file)
		oe := fullOut(eng, adv, 11)
		t := bestOther(neg(oe.Loss), e.label)
		var z []float32
		switch *zsrc {
		case "evidence":
			z = append([]float32(nil), oe.Z...)
		case "clean":
			z = append([]float32(nil), fullOut(eng, clean, 12).Z...)
		}
		a := &adversary.Adaptive{Engine: eng, EOT: *eot, Workers: 2, Seed: 99}
		if *warm >= 0 {
			a.Warm = &adversary.WarmStart{Steps: *warm, Restart: 5, Changed: 5}
		}
		x := append([]float32(nil), clean...)
		y := e.label
		opt := newAdam(0.05, M)
		t0 := time.Now()
		var lt, ly float64
		for s := 0; s < *steps; s++ {
			// z steps at x
			for j := 0; j < *zsteps; j++ {
				_, _, gz := atZ(eng, x, z)
				opt.step(z[t*M:(t+1)*M], gz[t*M:(t+1)*M])
			}
			loss, rec, _ := atZ(eng, x, z)
			lt = float64(loss[t])
			lg, gy, err := a.LogitsVJP(x, 1, func(l []float32) []float32 {
				v := make([]float32, len(l))
				v[y] = 1
				return v
			})
			check(err)
			ly = -float64(lg[y])
			g := make([]float64, P)
			var n2 float64
			for i := range g {
				g[i] = 2*float64(x[i]-rec[t*P+i]) + *wy*float64(gy[i])
				n2 += g[i] * g[i]
			}
			nrm := math.Sqrt(n2) + 1e-12
			for i := range x {
				x[i] -= float32(alpha * g[i] / nrm)
			}
			projectL2(x, clean, eps)
			if s%20 == 0 || s == *steps-1 {
				fmt.Printf("  step %d bound l_t %.3f attacker l_y %.3f\n", s, lt, ly)
			}
		}
		dt := time.Since(t0)
		if *diag {
			diagnose(eng, "evidence", adv, t, oe.Z)
			diagnose(eng, "candidate", x, t, oe.Z)
		}
		if *save != "" {
			writeF32(*save+"-"+name+".f32", x)
		}
		l2, linf := dists(x, clean)
		var res []string
		fooled := 0
		for s := 0; s < *vseeds; s++ {
			v := adversary.NewVerdict(eng, 5, uint64(2000+s), 2)
			zz, err := v.Logits(x, 1)
			check(err)
			k := bestOther(zz, y)
			if argmax(zz) != y {
				fooled++
			}
			res = append(res, fmt.Sprintf("pred %d l_y %.2f l_%d %.2f", argmax(zz), -zz[y], k, -zz[k]))
		}
		fmt.Printf("%s feas %s: t %d L2 %.4f Linf %.3f -> %d/%d adversarial [%s] %.0fs\n", name, strings.Join(args, " "), t, l2, linf, fooled, *vseeds, strings.Join(res, "; "), dt.Seconds())
	}
}

type adam struct {
	lr   float64
	t    int
	m, v []float64
}

func newAdam(lr float64, n int) *adam {
	return &adam{lr: lr, m: make([]float64, n), v: make([]float64, n)}
}

func (a *adam) step(p, g []float32) {
	const b1, b2, e = 0.9, 0.999, 1e-8
	a.t++
	c1, c2 := 1-math.Pow(b1, float64(a.t)), 1-math.Pow(b2, float64(a.t))
	for i := range p {
		gd := float64(g[i])
		a.m[i] = b1*a.m[i] + (1-b1)*gd
		a.v[i] = b2*a.v[i] + (1-b2)*gd*gd
		p[i] -= float32(a.lr * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + e))
	}
}
