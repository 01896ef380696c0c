package certify

import (
	"math"
	"reflect"
	"testing"

	"github.com/eabs/eabs/shard"
)

// TestSummarise checks the headline numbers on scripted certificates counted by hand.
func TestSummarise(t *testing.T) {
	viol := func(exact, deployed bool) *Validation {
		return &Validation{Checks: []Check{{Target: "exact", Violated: exact}, {Target: "deployed", Violated: deployed}}}
	}
	rs := []Result{
		{Label: 0, Pred: 0, Eps: 0.3, Valid: true, Validation: viol(false, false)},
		{Label: 1, Pred: 1, Eps: 1.2, Valid: true, EpsSpread: 0.05, Validation: viol(false, true)},
		{Label: 2, Pred: 3, Eps: 0},                                               // misclassified
		{Label: 3, Pred: 3, Eps: 2.0, Valid: true, BindingChanged: true},          // not validated
		{Label: 4, Pred: 4, Eps: 0.7, Valid: false, Validation: viol(true, true)}, // condition fails
		{Label: 5, Pred: 5, Eps: 1.5, Valid: true, EpsSpread: 0.2, Validation: viol(false, false)},
	}
	s := Summarise(rs, []float64{0, 0.5, 1, 1.5, 2, 2.5})
	// eps over all six: 0.3 1.2 0 2.0 0.7 1.5 -> sorted 0 0.3 0.7 1.2 1.5 2.0: median
	// (0.7+1.2)/2 = 0.95, mean 5.7/6 = 0.95.
	if s.N != 6 || s.Correct != 5 || s.Invalid != 1 || s.BindingChanged != 1 || s.Validated != 4 {
		t.Errorf("counts: %+v", s)
	}
	if math.Abs(s.Median-0.95) > 1e-12 || math.Abs(s.Mean-0.95) > 1e-12 || math.Abs(s.MaxEpsSpread-0.2) > 1e-12 {
		t.Errorf("median %v mean %v max spread %v, want 0.95 0.95 0.2", s.Median, s.Mean, s.MaxEpsSpread)
	}
	if s.Violations["exact"] != 1 || s.Violations["deployed"] != 2 {
		t.Errorf("violations %v, want exact 1 deployed 2", s.Violations)
	}
	want := []struct {
		count         int
		exact, deploy int
	}{
		{5, 1, 2}, // r 0: every correct image
		{4, 1, 2}, // r 0.5: 1.2 2.0 0.7 1.5
		{3, 0, 1}, // r 1: 1.2 2.0 1.5
		{2, 0, 0}, // r 1.5: 2.0 1.5
		{1, 0, 0}, // r 2: 2.0 (not validated)
		{0, 0, 0}, // r 2.5
	}
	for i, w := range want {
		l := s.Certified[i]
		if l.Count != w.count || math.Abs(l.Accuracy-float64(w.count)/6) > 1e-12 || l.Violations["exact"] != w.exact || l.Violations["deployed"] != w.deploy {
			t.Errorf("level %v: %+v, want count %d violations exact %d deployed %d", l.Eps, l, w.count, w.exact, w.deploy)
		}
	}
	if e := Summarise(nil, []float64{1}); e.N != 0 || e.Median != 0 {
		t.Errorf("empty: %+v", e)
	}
}

// TestSummariseZeroRadius: a correct image with eps* = 0 is certified at no radius,
// not even 0, and an image whose restarts ran out unsettled is listed.
func TestSummariseZeroRadius(t *testing.T) {
	rs := []Result{
		{Index: 10, Label: 0, Pred: 0, Eps: 0, Converged: true},   // correct, no margin
		{Index: 11, Label: 1, Pred: 1, Eps: 0.4, Converged: true}, // certified
		{Index: 12, Label: 2, Pred: 0, Eps: 0},                    // misclassified, not settled
	}
	s := Summarise(rs, []float64{0, 0.4, 0.5})
	for i, want := range []int{1, 1, 0} {
		if l := s.Certified[i]; l.Count != want || math.Abs(l.Accuracy-float64(want)/3) > 1e-12 {
			t.Errorf("level %v: %d images, want %d", l.Eps, l.Count, want)
		}
	}
	if s.Correct != 2 || !reflect.DeepEqual(s.NotConverged, []int{12}) {
		t.Errorf("correct %d, not converged %v: want 2 and [12]", s.Correct, s.NotConverged)
	}
}

func TestSummariseSmoothing(t *testing.T) {
	rs := []SmoothResult{
		{Label: 0, Pred: 0, Radius: 0.8},
		{Label: 1, Pred: -1},             // abstain
		{Label: 2, Pred: 3, Radius: 1.1}, // wrong, certified for the wrong class
		{Label: 3, Pred: 3, Radius: 1.6},
	}
	s := SummariseSmoothing(rs, []float64{0.5, 1, 1.5, 2})
	if s.N != 4 || s.Correct != 2 || s.Abstain != 1 {
		t.Errorf("%+v", s)
	}
	for i, want := range []float64{0.5, 0.25, 0.25, 0} {
		if math.Abs(s.Certified[i].Accuracy-want) > 1e-12 {
			t.Errorf("level %v: %v, want %v", s.Certified[i].Eps, s.Certified[i].Accuracy, want)
		}
	}
	// Radii of correct images only: 0 0 0.8 1.6 -> median 0.4.
	if math.Abs(s.Median-0.4) > 1e-12 {
		t.Errorf("median %v, want 0.4", s.Median)
	}
}

func TestMerge(t *testing.T) {
	h := shard.Header{Kind: "certify", ModelSHA256: "m", DataFingerprint: "d", Dataset: "mnist", Split: "test", SampleSeed: 1, SampleN: 3, Config: "c"}
	part := func(i int, pos ...int) shard.Part[Result] {
		hh := h
		hh.Shard = shard.Spec{Index: i, Count: 2}
		p := shard.Part[Result]{Name: "part", Header: hh}
		for _, q := range pos {
			p.Samples = append(p.Samples, Result{Pos: q, Label: 0, Pred: 0, Eps: float64(q + 1), Valid: true})
		}
		return p
	}
	_, rs, s, err := Merge([]shard.Part[Result]{part(1, 1), part(0, 0, 2)}, []float64{2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Pos != 0 || rs[2].Pos != 2 || s.Median != 2 || s.Certified[0].Count != 2 {
		t.Errorf("merged %+v summary %+v", rs, s)
	}
	if _, _, _, err := Merge([]shard.Part[Result]{part(0, 0, 2)}, nil); err == nil {
		t.Error("a missing part was accepted")
	}
}

// TestMergeCounts: for 1 to 5 shards, the merged parts of a run of 7 certificates give
// the records and the summary of the unsharded run exactly.
func TestMergeCounts(t *testing.T) {
	h := shard.Header{Kind: "certify", ModelSHA256: "m", DataFingerprint: "d", Dataset: "mnist", Split: "test", SampleSeed: 1, SampleN: 7, Config: "c"}
	var whole []Result
	for q := 0; q < 7; q++ {
		r := Result{Pos: q, Index: 100 + q, Label: q % 3, Pred: q % 3, Eps: 0.3 * float64(q), Valid: true}
		if q == 4 {
			r.Pred, r.Eps, r.Valid = 1, 0, false // misclassified
		}
		whole = append(whole, r)
	}
	want := Summarise(whole, Levels)
	for count := 1; count <= 5; count++ {
		var parts []shard.Part[Result]
		for i := count - 1; i >= 0; i-- { // parts in reverse order: Merge sorts
			sp := shard.Spec{Index: i, Count: count}
			hh := h
			hh.Shard = sp
			parts = append(parts, shard.Part[Result]{Name: sp.String(), Header: hh, Samples: shard.Pick(sp, whole)})
		}
		_, got, s, err := Merge(parts, Levels)
		if err != nil {
			t.Fatalf("%d shards: %v", count, err)
		}
		if !reflect.DeepEqual(got, whole) || !reflect.DeepEqual(s, want) {
			t.Errorf("%d shards: merged %+v / %+v, want %+v / %+v", count, got, s, whole, want)
		}
	}
}
