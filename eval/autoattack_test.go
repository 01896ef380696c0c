package eval

import (
	"context"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/shard"
)

// TestAutoAttackExpansion: "autoattack" stands for AutoAttack's standard attacks in
// Linf then L2 at the profile's budgets, "autoattack-l2" for one norm, each entry
// marked with its suite and built with the standard's parameters (Square's 5000 queries
// whatever Queries says); a suite's attack listed again, or a suite without a budget
// (own data), is refused.
func TestAutoAttackExpansion(t *testing.T) {
	prof, err := data.ProfileOf("mnist")
	if err != nil {
		t.Fatal(err)
	}
	a := AttackSettings{Names: []string{"autoattack"}, Queries: 100, SweepFactors: []float64{2}}
	entries, sweep, err := a.build(prof, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Attack.Name())
		norm, bounded, _ := attack.Kind(e.Attack.Name())
		want := map[attack.Norm]float64{attack.Linf: prof.EpsLinf, attack.L2: prof.EpsL2}[norm]
		if e.Eps != want || e.Bounded != bounded || e.Suite != AutoAttackSuite("standard") {
			t.Errorf("%s: eps %g, bounded %v, suite %q; want %g, %v, %q", e.Attack.Name(), e.Eps, e.Bounded, e.Suite, want, bounded, AutoAttackSuite("standard"))
		}
		if sq, ok := e.Attack.(attack.Square); ok && (sq.Queries != 5000 || !sq.FixedSchedule) {
			t.Errorf("%s: %+v, want AutoAttack's 5000 queries and fixed schedule", sq.Name(), sq)
		}
	}
	want := []string{"apgd-ce-linf", "apgd-t-linf", "fab-t-linf", "square-linf", "apgd-ce-l2", "apgd-t-l2", "fab-t-l2", "square-l2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("autoattack = %v, want %v", got, want)
	}
	if len(sweep) != 2 || sweep[0].Attack.Name() != "apgd-ce-linf" || sweep[0].Eps != 2*prof.EpsLinf || sweep[1].Attack.Name() != "apgd-ce-l2" {
		t.Errorf("sweep %+v, want apgd-ce-linf and apgd-ce-l2 at twice the budgets", sweep)
	}
	a = AttackSettings{Names: []string{"autoattack-plus-l2"}}
	entries, _, err = a.build(prof, false, nil)
	got = nil
	for _, e := range entries {
		got = append(got, e.Attack.Name())
		if e.Suite != "autoattack plus" {
			t.Errorf("%s: suite %q, want autoattack plus", e.Attack.Name(), e.Suite)
		}
	}
	if want := []string{"apgd-ce-l2", "apgd-dlr-l2", "fab-l2", "square-l2", "apgd-t-l2", "fab-t-l2"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("autoattack-plus-l2 = %v (%v), want %v", got, err, want)
	}
	a = AttackSettings{Names: []string{"pgd-l2", "autoattack-l2"}}
	if entries, _, err = a.build(prof, false, nil); err != nil || len(entries) != 5 || entries[0].Suite != "" || entries[4].Attack.Name() != "square-l2" {
		t.Errorf("pgd-l2,autoattack-l2: %d entries, %v", len(entries), err)
	}
	for _, c := range []struct {
		names []string
		prof  data.Profile
		want  string
	}{
		{[]string{"autoattack-linf", "fab-t-linf"}, prof, "listed twice"},
		{[]string{"autoattack-l2"}, data.Profile{Name: "own"}, "--eps-l2"},
		{[]string{"autoattack-l1"}, prof, "autoattack-linf"},
	} {
		_, _, err := AttackSettings{Names: c.names}.build(c.prof, false, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.names, err, c.want)
		}
	}
}

// TestAutoAttackRun: AutoAttack (plus, then standard) in Linf on a four-class affine
// model of 2x2 images, at a budget that leaves samples robust: every attack runs in its
// order on the samples the earlier ones left robust, the summary's RobustBench line is
// the norm's "All" with the clean accuracy and the version, and an attack of the norm
// that is not AutoAttack's drops the line.
func TestAutoAttackRun(t *testing.T) {
	const n, k = 40, 4
	l := attacktest.NewLinear(rand.New(rand.NewPCG(5, 1)), k, 4, 2)
	set := &data.Set{Name: "toy", N: n, C: 1, H: 2, W: 2, Classes: k, Images: make([]float32, n*4), Labels: make([]int, n)}
	rng := rand.New(rand.NewPCG(6, 2))
	for i := range set.Images {
		set.Images[i] = float32(rng.Float64())
	}
	for i := 0; i < n; i++ {
		z := l.Row(set.Image(i))
		for c := range z {
			if z[c] > z[set.Labels[i]] {
				set.Labels[i] = c
			}
		}
		if i%10 == 0 {
			set.Labels[i] = (set.Labels[i] + 1) % k // clean errors
		}
	}
	prof := data.Profile{Name: "toy", EpsLinf: 0.1, EpsL2: 0.2}
	var r *Result
	for _, v := range []string{"plus", "standard"} {
		name := map[string]string{"standard": "autoattack-linf", "plus": "autoattack-plus-linf"}[v]
		entries, _, err := AttackSettings{Names: []string{name}}.build(prof, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Header: shard.Header{ModelSHA256: "m", DataFingerprint: "d", Dataset: "toy", Split: "test", SampleSeed: 1, SampleN: n, Config: "affine", Shard: shard.Whole},
			Model: "affine", Attacks: entries, Seed: 1, Batch: n, AttackBatch: 8}
		if r, err = Run(context.Background(), cfg, set, l, l, nil); err != nil {
			t.Fatal(err)
		}
		s := r.Summary
		for _, a := range s.Attacks {
			t.Logf("%s %s: ran on %d, robust after %d", v, a.Name, a.Ran, a.Robust.K)
		}
		for i := 1; i < len(s.Attacks); i++ {
			if s.Attacks[i].Ran != s.Attacks[i-1].Robust.K {
				t.Errorf("%s: %s ran on %d samples, %s left %d robust", v, s.Attacks[i].Name, s.Attacks[i].Ran, s.Attacks[i-1].Name, s.Attacks[i-1].Robust.K)
			}
		}
		if last := s.Attacks[len(s.Attacks)-1]; last.Ran == 0 {
			t.Errorf("%s: no sample was left for %s: choose another budget", v, last.Name)
		}
		want := []RobustBench{{ThreatModel: "Linf", Eps: 0.1, N: n, CleanAcc: s.Clean.Acc, RobustAcc: s.All[0].Robust.Acc, Version: v}}
		if !reflect.DeepEqual(s.RobustBench, want) {
			t.Errorf("RobustBench = %+v, want %+v", s.RobustBench, want)
		}
		for i, a := range r.Settings.Attacks {
			if a.Suite != AutoAttackSuite(v) || a.Name != entries[i].Attack.Name() {
				t.Errorf("attack %d recorded as %+v", i, a)
			}
		}
	}
	r.Settings.Attacks[1].Suite = ""
	if got := Summarize(r).RobustBench; got != nil {
		t.Errorf("RobustBench of a run whose apgd-t is not AutoAttack's = %+v, want none", got)
	}
}
