package report

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/shard"
	"github.com/eabs/eabs/stats"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func f64(v float64) *float64 { return &v }

// fixture builds a finished result of n samples by hand: clean[i] says whether sample
// i is classified correctly, l2[i] and linf[i] give the distance of pgd-l2's and
// pgd-linf's verified adversarial example (< 0: none).
func fixture(model string, clean []bool, l2, linf []float64, skip bool) *eval.Result {
	r := &eval.Result{
		Header: shard.Header{Kind: eval.Kind, ModelSHA256: model, DataFingerprint: "d", Dataset: "mnist", Split: "test", SampleSeed: 1, SampleN: len(clean), Config: "c", Shard: shard.Whole},
		Model:  model, Complete: true, Shape: [3]int{1, 2, 2}, Classes: 10,
		Settings: eval.Settings{Attacks: []eval.AttackSpec{
			{Name: "pgd-l2", Norm: attack.L2, Eps: 1.5, Bounded: true},
			{Name: "ddn", Norm: attack.L2, Eps: 1.5},
			{Name: "pgd-linf", Norm: attack.Linf, Eps: 0.3, Bounded: true},
		}},
	}
	for i := range clean {
		rec := eval.Record{Pos: i, Index: 100 + i, Label: i % 10, CleanCorrect: clean[i]}
		mk := func(name string, d, eps float64, ran bool) eval.AttackRecord {
			a := eval.AttackRecord{Name: name, Ran: ran && clean[i], Pred: -1}
			if a.Ran && d >= 0 {
				a.Dist = f64(d)
			}
			a.Robust = a.Ran && !(d >= 0 && d <= eps)
			return a
		}
		pl2 := mk("pgd-l2", l2[i], 1.5, true)
		// ddn finds every correct sample's adversarial at distance 2 (beyond eps), except
		// that with skip it does not run on samples pgd-l2 broke.
		ddn := mk("ddn", 2, 1.5, !skip || pl2.Robust)
		rec.Attacks = []eval.AttackRecord{pl2, ddn, mk("pgd-linf", linf[i], 0.3, true)}
		r.Records = append(r.Records, rec)
	}
	return r
}

func fixtures() []*eval.Result {
	// Model a: 10 samples, 9 correct; pgd-l2 breaks samples 0 and 1 (at 1.2, 1.5).
	a := fixture("e-abs", []bool{true, true, true, true, true, true, true, true, true, false},
		[]float64{1.2, 1.5, -1, -1, -1, -1, -1, -1, -1, -1},
		[]float64{0.3, 0.3, 0.3, 0.2, 0.3, 0.3, 0.3, -1, -1, -1}, true)
	// Model b: all correct; pgd-l2 breaks 0-5; pgd-linf all.
	b := fixture("cnn", []bool{true, true, true, true, true, true, true, true, true, true},
		[]float64{0.5, 0.7, 1, 1.1, 1.4, 1.5, -1, -1, -1, -1},
		[]float64{0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3}, false)
	return []*eval.Result{a, b}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestTableGolden(t *testing.T) {
	tb, err := Build(fixtures(), []string{"a.json", "b.json"})
	if err != nil {
		t.Fatal(err)
	}
	// The paper's MNIST rows under the columns the table has (no ddn column there).
	if n, err := tb.AddPaper("mnist"); err != nil || n != 3 {
		t.Fatalf("AddPaper: %d rows, %v; want 3", n, err)
	}
	if c := tb.Rows[2].Cells["all-l2@1.5"]; tb.Rows[2].Model != "E-ABS (paper)" || c == nil || math.Abs(c.Rate.Acc-0.904) > 1e-12 {
		t.Errorf("paper row %+v", tb.Rows[2])
	}
	// The headline table keeps clean, PGD and All per norm, and drops ddn.
	var keys []string
	for _, c := range tb.Headline().Columns {
		keys = append(keys, c.Key)
	}
	if got, want := strings.Join(keys, " "), "clean pgd-l2@1.5 pgd-linf@0.3 all-l2@1.5 all-linf@0.3"; got != want {
		t.Errorf("headline columns %q, want %q", got, want)
	}
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"table.md", func(b *bytes.Buffer) error { return tb.WriteMarkdown(b) }},
		{"table.csv", func(b *bytes.Buffer) error { return tb.WriteCSV(b) }},
		{"table.tex", func(b *bytes.Buffer) error { return tb.WriteLaTeX(b) }},
		{"mcnemar.csv", func(b *bytes.Buffer) error { return tb.WriteMcNemarCSV(b) }},
		{"table-headline.md", func(b *bytes.Buffer) error { return tb.Headline().WriteMarkdown(b) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		golden(t, f.name, b.Bytes())
	}
}

// TestTableValues checks the table's numbers against counts made by hand from the
// fixtures, independently of the golden files.
func TestTableValues(t *testing.T) {
	tb, err := Build(fixtures(), []string{"a.json", "b.json"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{
		// e-abs: clean 9; pgd-l2 breaks 2 -> 7; ddn (cumulative, never within eps) 7;
		// All L2 7; pgd-linf breaks samples 0-6 (0.3 and 0.2 within 0.3) -> 2 robust.
		"e-abs": {"clean": 9, "pgd-l2@1.5": 7, "ddn@1.5": 7, "pgd-linf@0.3": 2, "all-l2@1.5": 7, "all-linf@0.3": 2},
		"cnn":   {"clean": 10, "pgd-l2@1.5": 4, "ddn@1.5": 10, "pgd-linf@0.3": 0, "all-l2@1.5": 4, "all-linf@0.3": 0},
	}
	for _, r := range tb.Rows {
		for k, v := range want[r.Model] {
			c := r.Cells[k]
			if c == nil || c.Rate.K != v || c.Rate.N != 10 {
				t.Errorf("%s %s: %+v, want %d/10", r.Model, k, c, v)
				continue
			}
			lo, hi, _ := stats.ClopperPearson(v, 10, 0.05)
			if math.Abs(c.Rate.Lo-lo) > 1e-12 || math.Abs(c.Rate.Hi-hi) > 1e-12 {
				t.Errorf("%s %s: interval [%g, %g], want [%g, %g]", r.Model, k, c.Rate.Lo, c.Rate.Hi, lo, hi)
			}
		}
	}
	if !tb.Rows[0].Cells["ddn@1.5"].Cumulative || tb.Rows[1].Cells["ddn@1.5"].Cumulative {
		t.Error("ddn's cumulative flag: want set for e-abs (skipped samples), unset for cnn")
	}
	// McNemar on All L2: e-abs right on 2..8 (7), cnn right on 6..9 (4): only e-abs
	// right on 2,3,4,5 (4), only cnn right on 9 (1): p = 2 * (1+5)/32 = 0.375.
	found := false
	for _, c := range tb.Comparisons {
		if c.Column == "All L2 (1.5)" {
			found = true
			if c.Shared != 10 || c.OnlyA != 4 || c.OnlyB != 1 || math.Abs(c.P-0.375) > 1e-12 || c.Significant {
				t.Errorf("All L2 comparison %+v, want 10 shared, 4 vs 1, p 0.375", c)
			}
		}
	}
	if !found {
		t.Error("no All L2 comparison")
	}
}

// TestOverturnedListed: samples whose attack record counts overturned claims are
// listed per model and attack, with the samples attacked, and shown in Markdown; a
// model without any lists nothing.
func TestOverturnedListed(t *testing.T) {
	rs := fixtures()
	// e-abs: pgd-l2 (ran on the 9 correct samples) had claims overturned on samples 2
	// and 4 (twice on 4: still one sample).
	rs[0].Records[2].Attacks[0].Overturned = 1
	rs[0].Records[4].Attacks[0].Overturned = 2
	tb, err := Build(rs, []string{"a.json", "b.json"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Overturned{{Model: "e-abs", Attack: "pgd-l2 (1.5)", Samples: 2, Ran: 9}}
	if !reflect.DeepEqual(tb.Overturned, want) {
		t.Errorf("overturned %+v, want %+v", tb.Overturned, want)
	}
	var b bytes.Buffer
	if err := tb.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| e-abs | pgd-l2 (1.5) | 2 | 9 |") {
		t.Errorf("markdown lacks the overturned line:\n%s", b.String())
	}
}

func TestBuildRefusesPartsAndStates(t *testing.T) {
	rs := fixtures()
	rs[1].Header.Shard = shard.Spec{Index: 1, Count: 2}
	if _, err := Build(rs, []string{"a.json", "b.json"}); err == nil || !strings.Contains(err.Error(), "b.json is shard 1/2") {
		t.Errorf("a shard part: %v", err)
	}
	rs = fixtures()
	rs[0].Complete = false
	if _, err := Build(rs, []string{"a.json", "b.json"}); err == nil || !strings.Contains(err.Error(), "a.json is an unfinished") {
		t.Errorf("a state file: %v", err)
	}
}

func TestCurves(t *testing.T) {
	cs := Curves(fixtures()[1], "cnn", 7)
	// L2 points at 0, 0.5, ..., 3 (twice the budget 1.5): pgd-l2's distances 0.5, 0.7,
	// 1, 1.1, 1.4, 1.5, and ddn's 2 on every sample beyond the budget: robust above eps:
	// 10, 9 (0.5 breaks at 0.5), 7 (0.5, 0.7, 1 break), 4, then none from 2 on.
	want := []float64{1, 0.9, 0.7, 0.4, 0, 0, 0}
	if cs[0].Norm != attack.L2 || len(cs[0].Acc) != 7 {
		t.Fatalf("curves %+v", cs)
	}
	for i, v := range want {
		if math.Abs(cs[0].Acc[i]-v) > 1e-12 || math.Abs(cs[0].Eps[i]-0.5*float64(i)) > 1e-12 {
			t.Errorf("L2 point %d: (%g, %g), want (%g, %g)", i, cs[0].Eps[i], cs[0].Acc[i], 0.5*float64(i), v)
		}
	}
	if cs[0].Top != 3 {
		t.Errorf("L2 axis to %g, want 3", cs[0].Top)
	}
	// Every sample breaks at the Linf budget: nothing is robust there, so the curve
	// (0 from the budget on) is known past it without a minimum-norm attack.
	if c := cs[1]; c.Norm != attack.Linf || len(c.Eps) != 7 || c.Acc[3] != 0 || c.Acc[6] != 0 {
		t.Errorf("cnn Linf curve %+v: want 7 points, 0 from the budget on", c)
	}
	// Model a's Linf has samples robust at 0.3 and no minimum-norm attack: the points
	// stop at the budget (0, 0.1, 0.2, 0.3; at 0.2 the 8 samples with distance 0.3 or
	// none are robust, at 0.3 the 2 with none), and the axis still reaches 0.6.
	if c := Curves(fixtures()[0], "e-abs", 7)[1]; c.Norm != attack.Linf || c.Top != 0.6 || len(c.Eps) != 4 ||
		math.Abs(c.Eps[3]-0.3) > 1e-12 || math.Abs(c.Acc[3]-0.2) > 1e-12 || math.Abs(c.Acc[2]-0.8) > 1e-12 {
		t.Errorf("e-abs Linf curve %+v: want 4 points, (0.2, 0.8) and (0.3, 0.2), axis to 0.6", c)
	}
	// A sample robust at the budget that ddn did not attack leaves the distances past
	// the budget unknown: the L2 curve stops at 1.5, a point of its own when the grid
	// misses it (6 points: 0, 0.6, 1.2, then the budget).
	r := fixtures()[1]
	r.Records[9].Attacks[1] = eval.AttackRecord{Name: "ddn", Pred: -1}
	c := Curves(r, "cnn", 6)[0]
	if want := []float64{0, 0.6, 1.2, 1.5}; len(c.Eps) != len(want) || math.Abs(c.Acc[3]-0.4) > 1e-12 || c.Top != 3 {
		t.Errorf("L2 curve with an unattacked robust sample: %+v, want eps %v ending at accuracy 0.4", c, want)
	} else {
		for i, e := range want {
			if math.Abs(c.Eps[i]-e) > 1e-12 {
				t.Errorf("point %d at eps %g, want %g", i, c.Eps[i], e)
			}
		}
	}
	dir := t.TempDir()
	for _, format := range []string{"png", "svg"} {
		p := filepath.Join(dir, "c."+format)
		if err := PlotCurves(p, format, attack.L2, cs); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if format == "png" && !bytes.HasPrefix(b, []byte("\x89PNG")) || format == "svg" && !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("%s: not a %s file", p, format)
		}
	}
}

func TestAdversarialGrid(t *testing.T) {
	clean := []float32{0, 0.5, 1, 0.25}
	adv := []float32{0.1, 0.5, 0.9, 0.25}
	items := []GridItem{{Clean: clean, Adv: adv, Label: 3, CleanPred: 3, AdvPred: 5, Dist: 0.14}, {Clean: clean, Label: 1, CleanPred: 1, AdvPred: 1}}
	img, err := AdversarialGrid(items, 1, 2, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	cw, ch := 7*6+6, 2*2+6
	if b := img.Bounds(); b.Dx() != 2*cw || b.Dy() != 3*ch+28 {
		t.Fatalf("grid %v, want %dx%d", b, 2*cw, 3*ch+28)
	}
	if got := img.RGBAAt(0, 0); got != correct {
		t.Errorf("clean frame %v, want green", got)
	}
	if got := img.RGBAAt(0, ch); got != wrong {
		t.Errorf("adversarial frame %v, want red", got)
	}
	if got := img.RGBAAt(cw, ch); got != correct {
		t.Errorf("robust sample's second frame %v, want green", got)
	}
	// Perturbation of pixel 0 is +0.1 of max 0.1: drawn white; pixel 2 (-0.1) black;
	// pixel 1 (0) mid-grey.
	y := 2*ch + 14 + 3
	for _, tt := range []struct {
		x    int
		want int
	}{{3, 255}, {3 + 2, 127}} {
		if got := int(img.RGBAAt(tt.x, y).R); got < tt.want-1 || got > tt.want+1 {
			t.Errorf("perturbation pixel at x=%d: %d, want %d", tt.x, got, tt.want)
		}
	}
	if got := img.RGBAAt(3, y+2).R; got != 0 {
		t.Errorf("perturbation pixel 2: %d, want 0", got)
	}
	if _, err := AdversarialGrid([]GridItem{{Clean: clean[:3]}}, 1, 2, 2, 2); err == nil {
		t.Error("a short image accepted")
	}
}

func TestEpsLabel(t *testing.T) {
	for _, c := range []struct {
		eps  float64
		want string
	}{{8.0 / 255, "8/255"}, {1.5, "1.5"}, {0.3, "0.3"}, {0.1, "0.1"}, {2.0 / 255, "2/255"}, {0.0314, "0.0314"}, {1, "1"}} {
		if got := EpsLabel(c.eps); got != c.want {
			t.Errorf("EpsLabel(%v) = %q, want %q", c.eps, got, c.want)
		}
	}
}

// TestQueryChecks: the gradient-masking check counts the samples gradient-free
// attacks ran on and lists those only they broke, worked out by hand on five samples.
func TestQueryChecks(t *testing.T) {
	r := &eval.Result{
		Header: shard.Header{Kind: eval.Kind, ModelSHA256: "m", DataFingerprint: "d", Dataset: "mnist", Split: "test", SampleSeed: 1, SampleN: 5, Config: "c", Shard: shard.Whole},
		Model:  "m", Complete: true, Shape: [3]int{1, 2, 2}, Classes: 10,
		Settings: eval.Settings{Attacks: []eval.AttackSpec{
			{Name: "pgd-l2", Norm: attack.L2, Eps: 1.5, Bounded: true},
			{Name: "square-l2", Norm: attack.L2, Eps: 1.5, Bounded: true},
			{Name: "hsj-l2", Norm: attack.L2, Eps: 1.5},
			{Name: "pgd-linf", Norm: attack.Linf, Eps: 0.3, Bounded: true},
		}},
	}
	ar := func(name string, ran, broke bool, d float64) eval.AttackRecord {
		a := eval.AttackRecord{Name: name, Ran: ran, Robust: ran && !broke, Pred: -1, Queries: 7}
		if broke {
			a.Dist, a.Pred = f64(d), 3
		}
		return a
	}
	// 0: pgd breaks it, the rest do not run; 1: only square breaks it; 2: robust to
	// all; 3: misclassified; 4: pgd and square both break it (an attack-all run).
	rows := [][3]eval.AttackRecord{
		{ar("pgd-l2", true, true, 1), ar("square-l2", false, false, 0), ar("hsj-l2", false, false, 0)},
		{ar("pgd-l2", true, false, 0), ar("square-l2", true, true, 1.25), ar("hsj-l2", false, false, 0)},
		{ar("pgd-l2", true, false, 0), ar("square-l2", true, false, 0), ar("hsj-l2", true, false, 0)},
		{ar("pgd-l2", false, false, 0), ar("square-l2", false, false, 0), ar("hsj-l2", false, false, 0)},
		{ar("pgd-l2", true, true, 1), ar("square-l2", true, true, 1.4), ar("hsj-l2", true, false, 0)},
	}
	for i, row := range rows {
		rec := eval.Record{Pos: i, Index: 100 + i, Label: 1, CleanCorrect: i != 3}
		rec.Attacks = append(row[:], ar("pgd-linf", i != 3, true, 0.3))
		r.Records = append(r.Records, rec)
	}
	tb, err := Build([]*eval.Result{r}, []string{"m.json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.QueryChecks) != 1 {
		t.Fatalf("%d query checks, want 1 (L2 only: no gradient-free Linf attack)", len(tb.QueryChecks))
	}
	c := tb.QueryChecks[0]
	want := Beaten{Pos: 1, Index: 101, Label: 1, By: "square-l2", Dist: 1.25, Pred: 3, Queries: 7}
	if c.Norm != attack.L2 || c.Ran != 3 || len(c.Beaten) != 1 || c.Beaten[0] != want {
		t.Fatalf("check %+v, want L2, ran on 3 samples (1, 2, 4), beaten only sample 1: %+v", c, want)
	}
	var b bytes.Buffer
	if err := tb.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if line := "| m | L2 (1.5) | square-l2, hsj-l2 | 3 | 1: image 101 (sample 1, label 1) by square-l2 at 1.25 -> 3, 7 queries |"; !strings.Contains(b.String(), line) {
		t.Errorf("Markdown lacks the line\n%s\nin\n%s", line, b.String())
	}
}

// TestMergeDispatch: Merge refuses parts of two kinds, files without a header, and a
// kind nothing merges, naming the file or the kind.
func TestMergeDispatch(t *testing.T) {
	cls := shard.File{Name: "classify.json", Data: []byte(`{"header":{"kind":"classify"}}`)}
	att := shard.File{Name: "attack.json", Data: []byte(`{"header":{"kind":"attack"}}`)}
	for _, tt := range []struct {
		name  string
		parts []shard.File
		want  string
	}{
		{"two kinds", []shard.File{att, cls}, `classify.json is a "classify" result`},
		{"no header", []shard.File{{Name: "x.json", Data: []byte(`{"a":1}`)}}, "x.json has no header"},
		{"unknown kind", []shard.File{{Name: "c.json", Data: []byte(`{"header":{"kind":"certify2"}}`)}}, `no merge for results of kind "certify2"`},
	} {
		if _, _, err := Merge(tt.parts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Merge error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// TestQueryChecksNeedAGradientAttack: without a gradient attack of the norm (here only
// the noise attack and a gradient-free one ran), samples a gradient-free attack broke
// say nothing about gradient masking: no check is listed.
func TestQueryChecksNeedAGradientAttack(t *testing.T) {
	r := &eval.Result{
		Header: shard.Header{Kind: eval.Kind, ModelSHA256: "m", DataFingerprint: "d", Dataset: "mnist", Split: "test", SampleSeed: 1, SampleN: 1, Config: "c", Shard: shard.Whole},
		Model:  "m", Complete: true, Shape: [3]int{1, 2, 2}, Classes: 10,
		Settings: eval.Settings{Attacks: []eval.AttackSpec{
			{Name: "noise-l2", Norm: attack.L2, Eps: 1.5},
			{Name: "square-l2", Norm: attack.L2, Eps: 1.5, Bounded: true},
		}},
		Records: []eval.Record{{Pos: 0, Index: 7, Label: 1, CleanCorrect: true, Attacks: []eval.AttackRecord{
			{Name: "noise-l2", Ran: true, Robust: true, Pred: -1},
			{Name: "square-l2", Ran: true, Robust: false, Pred: 3, Dist: f64(1)},
		}}},
	}
	tb, err := Build([]*eval.Result{r}, []string{"m.json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.QueryChecks) != 0 {
		t.Errorf("%d gradient-masking checks without a gradient attack, want none: %+v", len(tb.QueryChecks), tb.QueryChecks)
	}
}

// TestAutoAttackSection: a result whose Linf attacks are AutoAttack's alone gets a
// RobustBench-style line (clean 90%, AutoAttack 60% from the records), its L2 attacks,
// which are not, none.
func TestAutoAttackSection(t *testing.T) {
	r := fixture("aa", []bool{true, true, true, true, true, true, true, true, true, false},
		make([]float64, 10), []float64{0.1, 0.2, 0.3, -1, -1, -1, -1, -1, -1, -1}, false)
	// Replace pgd-linf by AutoAttack's four Linf attacks: apgd-ce-linf holds pgd-linf's
	// records, the other three find nothing.
	var linf []eval.AttackSpec
	for _, n := range []string{"apgd-ce-linf", "apgd-t-linf", "fab-t-linf", "square-linf"} {
		linf = append(linf, eval.AttackSpec{Name: n, Norm: attack.Linf, Eps: 0.3, Bounded: n != "fab-t-linf", Suite: eval.AutoAttackSuite("standard")})
	}
	r.Settings.Attacks = append(r.Settings.Attacks[:2], linf...)
	for i := range r.Records {
		rec := &r.Records[i]
		ce := rec.Attacks[2]
		ce.Name = "apgd-ce-linf"
		rec.Attacks = rec.Attacks[:2]
		rec.Attacks = append(rec.Attacks, ce)
		for _, n := range []string{"apgd-t-linf", "fab-t-linf", "square-linf"} {
			rec.Attacks = append(rec.Attacks, eval.AttackRecord{Name: n, Ran: ce.Robust, Robust: ce.Robust, Pred: -1})
		}
	}
	tb, err := Build([]*eval.Result{r}, []string{"aa.json"})
	if err != nil {
		t.Fatal(err)
	}
	want := []AutoAttackRow{{Model: "aa", RobustBench: eval.RobustBench{ThreatModel: "Linf", Eps: 0.3, N: 10, CleanAcc: 0.9, RobustAcc: 0.6, Version: "standard"}}}
	if !reflect.DeepEqual(tb.AutoAttack, want) {
		t.Errorf("AutoAttack = %+v, want %+v", tb.AutoAttack, want)
	}
	var b bytes.Buffer
	if err := tb.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if line := "| aa | standard | Linf | 0.3 | 10 | 90.00 | 60.00 |"; !strings.Contains(b.String(), line) {
		t.Errorf("markdown lacks %q:\n%s", line, b.String())
	}
}
