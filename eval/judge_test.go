package eval

import (
	"strings"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
	"github.com/eabs/eabs/data"
)

// TestJudgeSetsPGDsJudge: judge gives the PGD attacks (and their sweep) a Judge, which
// their recorded options show, and leaves the other attacks alone; an unknown Judge
// setting is refused.
func TestJudgeSetsPGDsJudge(t *testing.T) {
	prof, err := data.ProfileOf("mnist")
	if err != nil {
		t.Fatal(err)
	}
	a := AttackSettings{Names: []string{"pgd-l2", "apgd-ce-l2", "pgd-linf"}, SweepFactors: []float64{2}}
	entries, sweep, err := a.build(prof, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := attacktest.Binary([]float64{1}, 0)
	judge(entries, j)
	judge(sweep, j)
	for _, e := range append(entries, sweep...) {
		_, isPGD := e.Attack.(attack.PGDAttack)
		if got := strings.Contains(describe(e.Attack), `"Judged":true`); got != isPGD {
			t.Errorf("%s at %g: options %s, judged %v, want %v", e.Attack.Name(), e.Eps, describe(e.Attack), got, isPGD)
		}
	}
	a.Judge = "always"
	if _, _, err := a.build(prof, true, nil); err == nil || !strings.Contains(err.Error(), "judge") {
		t.Errorf("judge %q: error %v, want one naming the judge", a.Judge, err)
	}
}
