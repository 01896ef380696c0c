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

// TestBasinSettings: --basin-targets and --basin-candidates reach basin-l2 (and its
// sweep), and 0 keeps the registry's attack exactly.
func TestBasinSettings(t *testing.T) {
	prof, err := data.ProfileOf("mnist")
	if err != nil {
		t.Fatal(err)
	}
	registry, err := attack.New("basin-l2", attack.Settings{Eps: prof.EpsL2})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		targets, candidates int
		want                attack.Basin
	}{
		{0, 0, registry.(attack.Basin)},
		{5, 0, attack.Basin{Eps: prof.EpsL2, Targets: 5, Candidates: registry.(attack.Basin).Candidates}},
		{0, 7, attack.Basin{Eps: prof.EpsL2, Targets: registry.(attack.Basin).Targets, Candidates: 7}},
		{9, 1, attack.Basin{Eps: prof.EpsL2, Targets: 9, Candidates: 1}},
	}
	for _, tc := range tests {
		a := AttackSettings{Names: []string{"basin-l2"}, SweepFactors: []float64{2}, BasinTargets: tc.targets, BasinCandidates: tc.candidates}
		entries, sweep, err := a.build(prof, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || len(sweep) != 1 {
			t.Fatalf("targets %d candidates %d: %d entries, %d sweep, want 1 and 1", tc.targets, tc.candidates, len(entries), len(sweep))
		}
		if got := entries[0].Attack; got != tc.want {
			t.Errorf("targets %d candidates %d: attack %+v, want %+v", tc.targets, tc.candidates, got, tc.want)
		}
		want := tc.want
		want.Eps = 2 * prof.EpsL2
		if got := sweep[0].Attack; got != want {
			t.Errorf("targets %d candidates %d: sweep %+v, want %+v", tc.targets, tc.candidates, got, want)
		}
	}
}
