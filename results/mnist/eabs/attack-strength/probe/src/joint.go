package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/eabs/eabs/adversary"
	"github.com/eabs/eabs/infer"
)

// jointPGD: from x0, steps of normalised-gradient descent on
// ||x'-G_t(z)||^2 + prior(z) - wy*l_y(x'), z by zsteps Adam steps per x step.
func jointPGD(eng *infer.Engine, a *adversary.Adaptive, clean, x0 []float32, y, t int, z []float32, steps, zsteps int, alpha, wy, eps float64) ([]float32, float64, float64) {
	s := eng.Model().Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	x := append([]float32(nil), x0...)
	zz := make([]float32, K*M)
	for k := 0; k < K; k++ {
		copy(zz[k*M:(k+1)*M], z)
	}
	opt := newAdam(0.05, M)
	var lt, ly float64
	for st := 0; st < steps; st++ {
		for j := 0; j < zsteps; j++ {
			_, _, gz := atZ(eng, x, zz)
			opt.step(zz[t*M:(t+1)*M], gz[t*M:(t+1)*M])
		}
		loss, rec, _ := atZ(eng, x, zz)
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
			g[i] = 2*float64(x[i]-rec[t*P+i]) + wy*float64(gy[i])
			n2 += g[i] * g[i]
		}
		nrm := math.Sqrt(n2) + 1e-12
		for i := range x {
			x[i] -= float32(alpha * g[i] / nrm)
		}
		projectL2(x, clean, eps)
	}
	return x, lt, ly
}

// startInfo: for class t at x: which start wins and where Adam from each goes.
func startInfo(eng *infer.Engine, x []float32, t int) string {
	s := eng.Model().Spec()
	K, M := s.Arch.Classes, s.Arch.Latent
	bk := eng.Bank()
	idx, bl := bk.Search(x, 1)
	emu, elv, err := eng.Model().Encode(x, 1)
	check(err)
	E := s.Encoders()
	mu := make([]float32, K*M)
	lv := make([]float32, K*M)
	for k := 0; k < K; k++ {
		e := min(k, E-1)
		copy(mu[k*M:(k+1)*M], emu[e*M:(e+1)*M])
		copy(lv[k*M:(k+1)*M], elv[e*M:(e+1)*M])
	}
	el, _, _ := atZ(eng, x, mu)
	oe, err := eng.Refine(x, 1, mu, lv, 50, []*rand.Rand{infer.NoiseFor(7, 0, 0)})
	check(err)
	mb := append([]float32(nil), mu...)
	copy(mb[t*M:(t+1)*M], bk.Z[idx[t]*M:(idx[t]+1)*M])
	ob, err := eng.Refine(x, 1, mb, make([]float32, K*M), 50, []*rand.Rand{infer.NoiseFor(7, 0, 0)})
	check(err)
	w := "enc"
	if bl[t] < el[t] {
		w = "bank"
	}
	return fmt.Sprintf("start enc %.2f->%.2f bank j%d %.2f->%.2f (%s wins)", el[t], oe.Loss[t], idx[t], bl[t], ob.Loss[t], w)
}

func cmdJoint(args []string) {
	fs := flag.NewFlagSet("joint", flag.ExitOnError)
	imgs := fs.String("img", "mnist-4280,fmnist-8158,fmnist-7668", "")
	nstart := fs.Int("n", 16, "bank starts refined")
	ncand := fs.Int("c", 4, "candidates attacked")
	rsteps := fs.Int("rsteps", 30, "")
	steps := fs.Int("steps", 80, "")
	zsteps := fs.Int("zsteps", 1, "")
	wy := fs.Float64("wy", 1, "")
	warm := fs.Int("warm", 0, "")
	eot := fs.Int("eot", 5, "")
	fromReach := fs.Bool("from-reach", false, "start at the reach point")
	targets := fs.Int("targets", 1, "top wrong classes at x")
	useEv := fs.Bool("evidence-target", true, "target = evidence class")
	rep := fs.Int("repair", 0, "")
	rbeta := fs.Float64("rbeta", 0.02, "")
	check(fs.Parse(args))
	eps := 1.5
	alpha := 2.5 * eps / float64(*steps)
	for _, name := range strings.Split(*imgs, ",") {
		e := findEv(name)
		eng := engine(e.zoo)
		bk := eng.Bank()
		M, P := bk.M, bk.P
		clean := testSet(e.ds).Image(e.index)
		adv := readF32(e.file)
		oe := fullOut(eng, adv, 11)
		oc := fullOut(eng, clean, 12)
		y := e.label
		var ts []int
		if *useEv {
			ts = []int{bestOther(neg(oe.Loss), y)}
		} else {
			type kl struct {
				k int
				l float32
			}
			var ks []kl
			for k := range oc.Loss[:10] {
				if k != y {
					ks = append(ks, kl{k, oc.Loss[k]})
				}
			}
			sort.Slice(ks, func(a, b int) bool { return ks[a].l < ks[b].l })
			for _, v := range ks[:*targets] {
				ts = append(ts, v.k)
			}
		}
		for _, t := range ts {
			ze := oe.Z[t*M : (t+1)*M]
			cs := rank(bk.Rec[t], bk.Prior, clean, P, eps)
			starts := []float32{}
			for _, c := range cs[:*nstart] {
				starts = append(starts, bk.Z[c.j*M:(c.j+1)*M]...)
			}
			starts = append(starts, oc.Z[t*M:(t+1)*M]...)
			zs, xs, b := reachRefine(eng, clean, t, starts, *rsteps, eps, 0.05)
			order := make([]int, len(b))
			for i := range order {
				order[i] = i
			}
			sort.Slice(order, func(i, j int) bool { return b[order[i]] < b[order[j]] })
			// distinct: skip a candidate within 0.5 of a kept one
			var kept []int
			for _, i := range order {
				ok := true
				for _, k := range kept {
					if math.Sqrt(sqd(zs[i*M:(i+1)*M], zs[k*M:(k+1)*M])) < 0.5 {
						ok = false
					}
				}
				if ok {
					kept = append(kept, i)
				}
				if len(kept) == *ncand {
					break
				}
			}
			for ci, i := range kept {
				a := &adversary.Adaptive{Engine: eng, EOT: *eot, Workers: 2, Seed: 99 + uint64(ci)}
				if *warm >= 0 {
					a.Warm = &adversary.WarmStart{Steps: *warm, Restart: 5, Changed: 5}
				}
				x0 := clean
				if *fromReach {
					x0 = xs[i*P : (i+1)*P]
				}
				t0 := time.Now()
				x, lt, ly := jointPGD(eng, a, clean, x0, y, t, zs[i*M:(i+1)*M], *steps, *zsteps, alpha, *wy, eps)
				rinfo := ""
				if *rep > 0 {
					var n int
					var m float64
					x, n, m = repair(eng, clean, x, t, *rep, *rbeta, 0.05, eps)
					rinfo = fmt.Sprintf("repair %d steps margin %+.2f | ", n, m)
				}
				dt := time.Since(t0)
				v := adversary.NewVerdict(eng, 5, uint64(2000+ci), 2)
				zz, err := v.Logits(x, 1)
				check(err)
				l2, _ := dists(x, clean)
				fmt.Printf("%s t %d cand %d (reach %.2f, |z-z_e| %.2f): end bound %.2f attacker l_y %.2f | verdict pred %d l_y %.2f l_t %.2f | L2 %.3f | %s%s | %.0fs\n",
					name, t, ci, b[i], math.Sqrt(sqd(zs[i*M:(i+1)*M], ze)), lt, ly, argmax(zz), -zz[y], -zz[t], l2, rinfo, startInfo(eng, x, t), dt.Seconds())
			}
		}
	}
}
