package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/eabs/eabs/adversary"
	"github.com/eabs/eabs/attack"
)

func cmdAttack(args []string) {
	fs := flag.NewFlagSet("attack", flag.ExitOnError)
	imgs := fs.String("img", "mnist-4280,fmnist-8158,fmnist-7668", "evidence images")
	warm := fs.Int("warm", 0, "warm steps (-1 full)")
	restart := fs.Int("warm-restart", 5, "")
	changed := fs.Int("warm-changed", 5, "")
	fullEvery := fs.Int("full-every", 0, "")
	eot := fs.Int("eot", 5, "attacker EOT")
	restarts := fs.Int("restarts", 5, "")
	steps := fs.Int("steps", 80, "")
	step := fs.Float64("step", 0, "")
	keep := fs.Bool("keep-going", true, "")
	eps := fs.Float64("eps", 1.5, "")
	seed := fs.Uint64("seed", 1, "")
	vseeds := fs.Int("vseeds", 3, "verdict seeds")
	label := fs.String("label", "", "")
	zero := fs.Bool("zero-start", false, "")
	target := fs.Int("target", -1, "targeted margin toward this class")
	useCE := fs.Bool("ce", false, "cross-entropy cotangent (the committed runs)")
	retries := fs.Int("retries", 0, "suite retries while claimed and overturned")
	save := fs.String("save", "", "write the candidate here (prefix)")
	honest := fs.Int("honest", 0, "run this many single-restart attempts, judge each by a verdict, report the rate")
	check(fs.Parse(args))
	for _, name := range strings.Split(*imgs, ",") {
		var e ev
		for _, c := range evidence {
			if c.name == name {
				e = c
			}
		}
		eng := engine(e.zoo)
		set := testSet(e.ds)
		clean := set.Image(e.index)
		a := &adversary.Adaptive{Engine: eng, EOT: *eot, Workers: 2}
		if *warm >= 0 {
			a.Warm = &adversary.WarmStart{Steps: *warm, Restart: *restart, Changed: *changed, FullEvery: *fullEvery}
		}
		p := attack.PGDAttack{Lp: attack.L2, Eps: *eps, Steps: *steps, Step: *step, Restarts: *restarts, KeepGoing: *keep, ZeroStart: *zero}
		var m attack.Differentiable = a
		if *target >= 0 {
			m = targeted{a, e.label, *target}
		}
		if *useCE {
			m = ce{m, e.label}
		}
		if *honest > 0 {
			p1 := p
			p1.Restarts = 1
			hits, claims, agree := 0, 0, 0
			t0 := time.Now()
			var res []string
			for t := 0; t < *honest; t++ {
				a.Reseed(*seed*7919 + uint64(t)*104729)
				rng := rand.New(rand.NewPCG(*seed, 2+uint64(t)*7))
				f, err := p1.Run(context.Background(), m, clean, []int{e.label}, 1, rng)
				check(err)
				v := adversary.NewVerdict(eng, 5, uint64(5000+t), 2)
				z, err := v.Logits(f.Adv, 1)
				check(err)
				adv := argmax(z) != e.label
				if adv {
					hits++
				}
				if f.Ok[0] {
					claims++
				}
				if f.Ok[0] == adv {
					agree++
				}
				k := bestOther(z, e.label)
				res = append(res, fmt.Sprintf("%v/%v(%+.2f)", f.Ok[0], adv, z[k]-z[e.label]))
			}
			fmt.Printf("%s %s %s: %d single restarts: %d adversarial by the verdict, %d claimed, claim agrees with the verdict %d; %.0fs\n   %v\n", *label, name, strings.Join(args, " "), *honest, hits, claims, agree, time.Since(t0).Seconds(), res)
			continue
		}
		t0 := time.Now()
		var f *attack.Found
		tries := 0
		for t := 0; t <= *retries; t++ {
			tries++
			a.Reseed(*seed*7919 + uint64(t)*104729)
			rng := rand.New(rand.NewPCG(*seed, 2+uint64(t)*7))
			var err error
			f, err = p.Run(context.Background(), m, clean, []int{e.label}, 1, rng)
			check(err)
			if t == *retries || !f.Ok[0] {
				break
			}
			v := adversary.NewVerdict(eng, 5, uint64(3000+t), 2)
			z, err := v.Logits(f.Adv, 1)
			check(err)
			if argmax(z) != e.label {
				break
			}
		}
		dt := time.Since(t0)
		if *save != "" {
			writeF32(*save+"-"+name+".f32", f.Adv)
		}
		l2, linf := dists(f.Adv, clean)
		var preds []int
		var margins []float32
		for s := 0; s < *vseeds; s++ {
			v := adversary.NewVerdict(eng, 5, uint64(2000+s), 2)
			z, err := v.Logits(f.Adv, 1)
			check(err)
			preds = append(preds, argmax(z))
			k := bestOther(z, e.label)
			margins = append(margins, z[k]-z[e.label])
			if s == 0 {
				defer fmt.Printf("   runner-up class %d\n", k)
			}
		}
		st := a.Stats()
		fooled := 0
		for _, p := range preds {
			if p != e.label {
				fooled++
			}
		}
		fmt.Printf("%s %s %s: claimed %v queries %d L2 %.4f Linf %.3f verdict preds %v margins %.3f -> %d/%d adversarial; tries %d; %.0fs full %d warm %d forced %d\n",
			*label, name, strings.Join(args, " "), f.Ok[0], f.Queries[0], l2, linf, preds, margins, fooled, len(preds), tries, dt.Seconds(), st.Full, st.Warm, st.Forced)
	}
}
