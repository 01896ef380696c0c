package main

import (
	"flag"
	"fmt"
	"math"
	"sort"
	"strings"
)

type cand struct {
	j            int
	d, pr, reach float64
}

// reachAll ranks class k's bank starts by (||x - G_k(z_j)|| - eps)^2 + prior_j.
func reachAll(bk interface{}, x []float32, k int, eps float64) []cand { return nil }

func cmdBank(args []string) {
	fs := flag.NewFlagSet("bank", flag.ExitOnError)
	imgs := fs.String("img", "mnist-4280,fmnist-8158,fmnist-7668", "")
	check(fs.Parse(args))
	eps := 1.5
	for _, name := range strings.Split(*imgs, ",") {
		e := findEv(name)
		eng := engine(e.zoo)
		bk := eng.Bank()
		P := bk.P
		clean := testSet(e.ds).Image(e.index)
		adv := readF32(e.file)
		oe := fullOut(eng, adv, 11)
		t := bestOther(neg(oe.Loss), e.label)
		idxE, lossE := bk.Search(adv, 1)
		idxC, lossC := bk.Search(clean, 1)
		fmt.Printf("== %s y %d t %d: evidence: from encoder %v, bank start %d loss %.3f; clean: bank start %d loss %.3f\n", name, e.label, t, oe.FromEncoder[t], idxE[t], lossE[t], idxC[t], lossC[t])
		for k := 0; k < bk.K; k++ {
			cs := rank(bk.Rec[k], bk.Prior, clean, P, eps)
			line := fmt.Sprintf("  class %d best start loss %.2f; best reach %.2f (d %.2f prior %.2f j %d)", k, lossC[k], cs[0].reach, cs[0].d, cs[0].pr, cs[0].j)
			if k == t {
				for r, c := range cs {
					if c.j == idxE[t] {
						line += fmt.Sprintf("; evidence's start j %d rank %d reach %.2f d %.2f prior %.2f", c.j, r, c.reach, c.d, c.pr)
					}
				}
				line += "\n    top 10:"
				for _, c := range cs[:10] {
					line += fmt.Sprintf(" j%d %.2f(d %.2f p %.2f)", c.j, c.reach, c.d, c.pr)
				}
			}
			fmt.Println(line)
		}
	}
}

func rank(rec, prior []float32, x []float32, P int, eps float64) []cand {
	S := len(prior)
	cs := make([]cand, S)
	for j := 0; j < S; j++ {
		d := math.Sqrt(sqd(x, rec[j*P:(j+1)*P]))
		cs[j] = cand{j, d, float64(prior[j]), math.Pow(math.Max(d-eps, 0), 2) + float64(prior[j])}
	}
	sort.Slice(cs, func(a, b int) bool { return cs[a].reach < cs[b].reach })
	return cs
}
