package main

import (
	"fmt"
	"os"

	"github.com/eabs/eabs/adversary"
)

func main() {
	switch os.Args[1] {
	case "verdict":
		cmdVerdict()
	case "sim":
		cmdSim()
	case "cmp":
		cmdCmp(os.Args[2], os.Args[3])
	case "dump":
		cmdDump()
	case "line":
		cmdLine()
	case "attack":
		cmdAttack(os.Args[2:])
	case "info":
		cmdInfo(os.Args[2:])
	case "bank":
		cmdBank(os.Args[2:])
	case "cands":
		cmdCands(os.Args[2:])
	case "joint":
		cmdJoint(os.Args[2:])
	case "run":
		cmdRun(os.Args[2:])
	case "feas":
		cmdFeas(os.Args[2:])
	}
}

func cmdVerdict() {
	for _, e := range evidence {
		eng := engine(e.zoo)
		set := testSet(e.ds)
		clean := set.Image(e.index)
		adv := readF32(e.file)
		l2, linf := dists(adv, clean)
		fmt.Printf("%s label %d (set label %d) L2 %.5f Linf %.4f\n", e.name, e.label, set.Labels[e.index], l2, linf)
		for seed := uint64(1000); seed < 1005; seed++ {
			v := adversary.NewVerdict(eng, 5, seed, 2)
			z, err := v.Logits(append(append([]float32{}, clean...), adv...), 2)
			check(err)
			fmt.Printf("  seed %d clean pred %d (l_y %.3f) | adv pred %d  logits %.3f\n", seed, argmax(z[:10]), -z[e.label], argmax(z[10:]), z[10:])
		}
	}
}
