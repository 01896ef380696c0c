package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/eabs/eabs/adversary"
	"github.com/eabs/eabs/attack"
)

func cmdRun(args []string) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	imgs := fs.String("img", "mnist-4280,fmnist-8158,fmnist-7668", "")
	seed := fs.Uint64("seed", 1, "")
	vseeds := fs.Int("vseeds", 3, "")
	targets := fs.Int("targets", 0, "")
	cands := fs.Int("c", 0, "")
	norep := fs.Bool("norepair", false, "")
	save := fs.String("save", "", "")
	debug := fs.Bool("debug", false, "")
	rstep := fs.Float64("rstep", 0, "")
	rsteps := fs.Int("rsteps", 0, "")
	check(fs.Parse(args))
	_ = debug
	for _, name := range strings.Split(*imgs, ",") {
		e := findEv(name)
		eng := engine(e.zoo)
		clean := testSet(e.ds).Image(e.index)
		w := adversary.DefaultWarmStart()
		a := &adversary.Adaptive{Engine: eng, EOT: 5, Workers: 2, Warm: &w}
		a.Reseed(*seed * 7919)
		b := attack.Basin{Eps: 1.5, Targets: *targets, Candidates: *cands, NoRepair: *norep, RepairStep: *rstep, RepairSteps: *rsteps}
		t0 := time.Now()
		f, err := b.Run(context.Background(), a, clean, []int{e.label}, 1, nil)
		check(err)
		dt := time.Since(t0)
		if *save != "" {
			writeF32(*save+"-"+name+".f32", f.Adv)
		}
		l2, linf := dists(f.Adv, clean)
		var res []string
		fooled := 0
		for s := 0; s < *vseeds; s++ {
			v := adversary.NewVerdict(eng, 5, uint64(2000+s)+*seed*100, 2)
			zz, err := v.Logits(f.Adv, 1)
			check(err)
			k := bestOther(zz, e.label)
			if argmax(zz) != e.label {
				fooled++
			}
			res = append(res, fmt.Sprintf("%d(%+.2f)", argmax(zz), zz[k]-zz[e.label]))
		}
		st := a.Stats()
		fmt.Printf("%s basin seed %d %s: claimed %v queries %d L2 %.4f Linf %.3f -> verdict %d/%d adversarial %v; %.0fs (judged %d full %d warm %d)\n",
			name, *seed, strings.Join(args, " "), f.Ok[0], f.Queries[0], l2, linf, fooled, *vseeds, res, dt.Seconds(), st.Judged, st.Full, st.Warm)
	}
}
