package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/stats"
)

// McNemarAlpha is the level at which two models' accuracies on the same samples are
// called different.
const McNemarAlpha = 0.01

// Column is one column of the robustness table: the clean accuracy, an attack at its
// budget, or "All" of a norm.
type Column struct {
	// Key identifies the column across models ("clean", "pgd-l2@1.5", "all-l2@1.5").
	Key   string
	Label string
	Norm  attack.Norm
	Eps   float64
}

// Cell is one model's value in a column.
type Cell struct {
	Rate eval.Rate
	// Cumulative: samples broken by earlier attacks of the norm were not attacked, so
	// the value is the accuracy after this and every earlier attack of its norm.
	Cumulative bool
}

// Row is one model.
type Row struct {
	Model string
	// Source is the results file.
	Source string
	N      int
	Cells  map[string]*Cell
	// Reference marks a row of published numbers (no intervals, not compared).
	Reference bool
}

// Comparison is McNemar's exact test of two models on one column over their shared
// samples (the same test images).
type Comparison struct {
	A, B   string
	Column string
	Shared int
	// OnlyA and OnlyB count the shared samples right for one model only.
	OnlyA, OnlyB int
	P            float64
	Significant  bool
}

// Table is the paper's Table 2 made from result files: rows models, columns clean,
// each attack and "All" per norm.
type Table struct {
	Columns     []Column
	Rows        []Row
	Comparisons []Comparison
	// QueryChecks is the gradient-masking check, per model and norm with gradient-free
	// attacks.
	QueryChecks []QueryCheck
	// Overturned lists, per model and attack, the samples on which the verdict
	// overturned a candidate the attacker's own inference called adversarial
	// (eval.AttackRecord.Overturned): on a randomised model, how often the attacks'
	// belief and the model's answer part ways. Only attacks with some are listed.
	Overturned []Overturned
	// AutoAttack lists, per model and norm that ran AutoAttack alone, its result as
	// RobustBench lists it (eval.Summary.RobustBench).
	AutoAttack []AutoAttackRow
}

// AutoAttackRow is one model's AutoAttack result in one norm.
type AutoAttackRow struct {
	Model string
	eval.RobustBench
}

// Overturned is one attack of one model with claims the verdict overturned.
type Overturned struct {
	Model, Attack string
	// Samples had an overturned claim, of Ran attacked.
	Samples, Ran int
}

// QueryCheck compares one model's gradient-free attacks (attack.QueryOnly) of a norm
// with its other attacks of that norm: a sample only a gradient-free attack broke is
// where the gradients (or reconstructions) misled the others, the sign of gradient
// masking; in a cumulative run the gradient-free attacks run only on samples the
// others left robust, so every sample they break is one.
type QueryCheck struct {
	Model string
	Norm  attack.Norm
	Eps   float64
	// Attacks are the gradient-free attacks of the norm, Others the rest.
	Attacks, Others []string
	// Ran counts the samples a gradient-free attack ran on.
	Ran int
	// Beaten lists the samples a gradient-free attack broke and no other attack did.
	Beaten []Beaten
}

// Beaten is one sample of QueryCheck.Beaten: the first gradient-free attack that broke
// it, at what distance, with how many queries.
type Beaten struct {
	Pos, Index, Label int
	By                string
	Dist              float64
	Pred, Queries     int
}

// scoresOnly is a model with scores only: the attacks attack.Check refuses on it are
// the ones that need gradients or reconstructions.
type scoresOnly struct{}

func (scoresOnly) Classes() int                             { return 2 }
func (scoresOnly) Logits([]float32, int) ([]float32, error) { return nil, nil }

// queryChecks makes r's QueryChecks, one per norm of its summary's "All" columns that
// has a gradient-free and a gradient attack.
func queryChecks(r *eval.Result, all []eval.NormSummary, model string) []QueryCheck {
	var out []QueryCheck
	for _, a := range all {
		c := QueryCheck{Model: model, Norm: a.Norm, Eps: a.Eps}
		var query, others []int
		for i, s := range r.Settings.Attacks {
			switch {
			case s.Norm != a.Norm:
			case attack.QueryOnly(s.Name):
				query, c.Attacks = append(query, i), append(c.Attacks, s.Name)
			default:
				others, c.Others = append(others, i), append(c.Others, s.Name)
			}
		}
		// Masking shows only against a gradient attack of the norm that ran: without
		// one, a sample only a gradient-free attack broke says nothing about gradients.
		gradient := slices.ContainsFunc(c.Others, func(n string) bool {
			return attack.Check(n, scoresOnly{}) != nil && n != "lda"
		})
		if len(query) == 0 || !gradient {
			continue
		}
		broke := func(ar eval.AttackRecord) bool { return ar.Ran && !ar.Robust }
		for _, rec := range r.Records {
			ran, by, other := false, -1, false
			for _, i := range query {
				ran = ran || rec.Attacks[i].Ran
				if by < 0 && broke(rec.Attacks[i]) {
					by = i
				}
			}
			for _, i := range others {
				other = other || broke(rec.Attacks[i])
			}
			if ran {
				c.Ran++
			}
			if by >= 0 && !other {
				ar := rec.Attacks[by]
				b := Beaten{Pos: rec.Pos, Index: rec.Index, Label: rec.Label, By: ar.Name, Pred: ar.Pred, Queries: ar.Queries, Dist: math.NaN()}
				if ar.Dist != nil {
					b.Dist = *ar.Dist
				}
				c.Beaten = append(c.Beaten, b)
			}
		}
		out = append(out, c)
	}
	return out
}

func attackKey(a eval.AttackSpec) string { return fmt.Sprintf("%s@%g", a.Name, a.Eps) }
func allKey(n attack.Norm, eps float64) string {
	return fmt.Sprintf("all-%s@%g", n, eps)
}

func normName(n attack.Norm) string {
	switch n {
	case attack.L2:
		return "L2"
	case attack.Linf:
		return "Linf"
	}
	return string(n)
}

// Build makes the table of results (whole runs, not shard parts; sources name them).
func Build(results []*eval.Result, sources []string) (*Table, error) {
	if len(results) == 0 {
		return nil, fmt.Errorf("report: no results")
	}
	t := &Table{Columns: []Column{{Key: "clean", Label: "Clean"}}}
	has := map[string]bool{"clean": true}
	var alls []Column
	names := map[string]int{}
	for i, r := range results {
		if r.Header.Shard.Sharded() {
			return nil, fmt.Errorf("report: %s is shard %s of a run; merge the parts first (eabs report --merge)", sources[i], r.Header.Shard)
		}
		if !r.Complete {
			return nil, fmt.Errorf("report: %s is an unfinished run's state", sources[i])
		}
		if d, d0 := r.Header.Dataset, results[0].Header.Dataset; d != d0 {
			return nil, fmt.Errorf("report: %s is on %s, %s on %s: a table compares models on one dataset (and under its paper rows)", sources[i], d, sources[0], d0)
		}
		s := eval.Summarize(r)
		row := Row{Model: r.Model, Source: sources[i], N: s.N, Cells: map[string]*Cell{"clean": {Rate: s.Clean}}}
		if row.Model == "" {
			row.Model = strings.TrimSuffix(filepath.Base(sources[i]), filepath.Ext(sources[i]))
		}
		names[row.Model]++
		if names[row.Model] > 1 {
			row.Model = fmt.Sprintf("%s (%s)", row.Model, filepath.Base(sources[i]))
		}
		for j, a := range r.Settings.Attacks {
			k := attackKey(a)
			if !has[k] {
				has[k] = true
				t.Columns = append(t.Columns, Column{Key: k, Label: fmt.Sprintf("%s (%s)", a.Name, EpsLabel(a.Eps)), Norm: a.Norm, Eps: a.Eps})
			}
			row.Cells[k] = &Cell{Rate: s.Attacks[j].Robust, Cumulative: s.Attacks[j].Skipped > 0}
		}
		for _, a := range s.All {
			k := allKey(a.Norm, a.Eps)
			if !has[k] {
				has[k] = true
				alls = append(alls, Column{Key: k, Label: fmt.Sprintf("All %s (%s)", normName(a.Norm), EpsLabel(a.Eps)), Norm: a.Norm, Eps: a.Eps})
			}
			row.Cells[k] = &Cell{Rate: a.Robust}
		}
		t.Rows = append(t.Rows, row)
		t.QueryChecks = append(t.QueryChecks, queryChecks(r, s.All, row.Model)...)
		for _, b := range s.RobustBench {
			t.AutoAttack = append(t.AutoAttack, AutoAttackRow{Model: row.Model, RobustBench: b})
		}
		for _, a := range s.Attacks {
			if a.Overturned > 0 {
				t.Overturned = append(t.Overturned, Overturned{Model: row.Model, Attack: fmt.Sprintf("%s (%s)", a.Name, EpsLabel(a.Eps)), Samples: a.Overturned, Ran: a.Ran})
			}
		}
	}
	t.Columns = append(t.Columns, alls...)
	for i := range results {
		for j := i + 1; j < len(results); j++ {
			cs, err := compare(results[i], results[j], t.Rows[i].Model, t.Rows[j].Model, t.Columns)
			if err != nil {
				return nil, err
			}
			t.Comparisons = append(t.Comparisons, cs...)
		}
	}
	return t, nil
}

// outcome returns per test image whether r's sample is right in column c (and whether
// r has the column).
func outcome(r *eval.Result, c Column) (map[int]bool, bool) {
	out := map[int]bool{}
	ai := -1
	for j, a := range r.Settings.Attacks {
		if attackKey(a) == c.Key {
			ai = j
		}
	}
	isAll := strings.HasPrefix(c.Key, "all-")
	if isAll && r.NormEps(c.Norm) != c.Eps {
		return nil, false
	}
	if c.Key != "clean" && !isAll && ai < 0 {
		return nil, false
	}
	for i := range r.Records {
		rec := &r.Records[i]
		switch {
		case c.Key == "clean":
			out[rec.Index] = rec.CleanCorrect
		case isAll:
			out[rec.Index] = r.RobustAll(rec, c.Norm)
		default:
			out[rec.Index] = rec.Attacks[ai].Robust
		}
	}
	return out, true
}

// compare runs McNemar's test on every column two results share, over the test
// images both evaluated (the same dataset bytes and split).
func compare(a, b *eval.Result, an, bn string, cols []Column) ([]Comparison, error) {
	ha, hb := a.Header, b.Header
	if ha.DataFingerprint != hb.DataFingerprint || ha.Dataset != hb.Dataset || ha.Split != hb.Split {
		return nil, nil
	}
	var out []Comparison
	for _, c := range cols {
		oa, okA := outcome(a, c)
		ob, okB := outcome(b, c)
		if !okA || !okB {
			continue
		}
		cmp := Comparison{A: an, B: bn, Column: c.Label}
		var keys []int
		for k := range oa {
			if _, ok := ob[k]; ok {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			continue
		}
		slices.Sort(keys)
		for _, k := range keys {
			cmp.Shared++
			switch {
			case oa[k] && !ob[k]:
				cmp.OnlyA++
			case !oa[k] && ob[k]:
				cmp.OnlyB++
			}
		}
		p, err := stats.McNemar(cmp.OnlyA, cmp.OnlyB)
		if err != nil {
			return nil, err
		}
		cmp.P, cmp.Significant = p, p < McNemarAlpha
		out = append(out, cmp)
	}
	return out, nil
}

// Headline returns the table cut to the paper's headline columns, the ones its Table 2
// and METHOD.md give for every model: clean, PGD per norm and "All" per norm (every
// other attack stays in the full table). The rows are t's (their cells shared), without
// the comparisons and gradient-masking checks: a table narrow enough to read beside the
// paper's rows.
func (t *Table) Headline() *Table {
	h := &Table{Rows: t.Rows}
	for _, c := range t.Columns {
		if c.Key == "clean" || strings.HasPrefix(c.Key, "pgd-") || strings.HasPrefix(c.Key, "all-") {
			h.Columns = append(h.Columns, c)
		}
	}
	return h
}

func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) }

// WriteMarkdown writes the table (accuracy % with the 95% Clopper-Pearson interval)
// and the McNemar comparisons.
func (t *Table) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| Model | n |")
	for _, c := range t.Columns {
		b.WriteString(" " + c.Label + " |")
	}
	b.WriteString("\n|---|---:|")
	for range t.Columns {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	cum := false
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s | %d |", r.Model, r.N)
		for _, c := range t.Columns {
			cell, ok := r.Cells[c.Key]
			if !ok {
				b.WriteString(" - |")
				continue
			}
			if r.Reference {
				fmt.Fprintf(&b, " %s |", pct(cell.Rate.Acc))
				continue
			}
			mark := ""
			if cell.Cumulative {
				mark, cum = "*", true
			}
			fmt.Fprintf(&b, " %s%s [%s, %s] |", pct(cell.Rate.Acc), mark, pct(cell.Rate.Lo), pct(cell.Rate.Hi))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nAccuracy in % with the 95% Clopper-Pearson interval; an attack counts only candidates the model's own verdict misclassifies within the budget; All: robust against every attack of the norm (per-sample worst case).\n")
	if cum {
		b.WriteString("\n\\* cumulative: the attack ran only on samples earlier attacks of its norm left robust, so the value is the accuracy after it and every earlier attack of its norm.\n")
	}
	if len(t.AutoAttack) > 0 {
		b.WriteString("\nAutoAttack, as RobustBench lists it (robust: All of a norm whose attacks are AutoAttack's alone):\n\n| Model | Version | Threat model | eps | n | Clean | AutoAttack |\n|---|---|---|---|---:|---:|---:|\n")
		for _, a := range t.AutoAttack {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %.2f | %.2f |\n", a.Model, a.Version, a.ThreatModel, EpsLabel(a.Eps), a.N, 100*a.CleanAcc, 100*a.RobustAcc)
		}
	}
	if len(t.QueryChecks) > 0 {
		b.WriteString("\nGradient-free attacks against the model's other attacks of the norm (gradient masking shows as samples only a gradient-free attack broke):\n\n| Model | Norm | gradient-free attacks | samples they ran on | broken by them only |\n|---|---|---|---:|---|\n")
		for _, c := range t.QueryChecks {
			var beaten []string
			for _, x := range c.Beaten {
				beaten = append(beaten, fmt.Sprintf("image %d (sample %d, label %d) by %s at %.3g -> %d, %d queries", x.Index, x.Pos, x.Label, x.By, x.Dist, x.Pred, x.Queries))
			}
			list := "none"
			if len(beaten) > 0 {
				list = fmt.Sprintf("%d: %s", len(beaten), strings.Join(beaten, "; "))
			}
			fmt.Fprintf(&b, "| %s | %s (%s) | %s | %d | %s |\n", c.Model, normName(c.Norm), EpsLabel(c.Eps), strings.Join(c.Attacks, ", "), c.Ran, list)
		}
	}
	if len(t.Overturned) > 0 {
		b.WriteString("\nCandidates the attacker's own inference called adversarial and the model's verdict (fresh noise) did not:\n\n| Model | Attack | samples | of attacked |\n|---|---|---:|---:|\n")
		for _, o := range t.Overturned {
			fmt.Fprintf(&b, "| %s | %s | %d | %d |\n", o.Model, o.Attack, o.Samples, o.Ran)
		}
	}
	if len(t.Comparisons) > 0 {
		fmt.Fprintf(&b, "\nMcNemar's exact test on the shared test images (alpha %g):\n\n| A | B | Column | shared | only A right | only B right | p | different |\n|---|---|---|---:|---:|---:|---:|---|\n", McNemarAlpha)
		for _, c := range t.Comparisons {
			d := "no"
			if c.Significant {
				d = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %.3g | %s |\n", c.A, c.B, c.Column, c.Shared, c.OnlyA, c.OnlyB, c.P, d)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes one line per model and column.
func (t *Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"model", "column", "norm", "eps", "k", "n", "acc", "lo", "hi", "cumulative"})
	for _, r := range t.Rows {
		for _, c := range t.Columns {
			cell, ok := r.Cells[c.Key]
			if !ok {
				continue
			}
			f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
			if r.Reference {
				cw.Write([]string{r.Model, c.Key, string(c.Norm), strconv.FormatFloat(c.Eps, 'g', -1, 64), "", strconv.Itoa(r.N), f(cell.Rate.Acc), "", "", "false"})
				continue
			}
			cw.Write([]string{r.Model, c.Key, string(c.Norm), strconv.FormatFloat(c.Eps, 'g', -1, 64), strconv.Itoa(cell.Rate.K), strconv.Itoa(cell.Rate.N),
				f(cell.Rate.Acc), f(cell.Rate.Lo), f(cell.Rate.Hi), strconv.FormatBool(cell.Cumulative)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteMcNemarCSV writes the comparisons.
func (t *Table) WriteMcNemarCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"a", "b", "column", "shared", "only_a", "only_b", "p", "significant"})
	for _, c := range t.Comparisons {
		cw.Write([]string{c.A, c.B, c.Column, strconv.Itoa(c.Shared), strconv.Itoa(c.OnlyA), strconv.Itoa(c.OnlyB),
			strconv.FormatFloat(c.P, 'g', 6, 64), strconv.FormatBool(c.Significant)})
	}
	cw.Flush()
	return cw.Error()
}

var texEscaper = strings.NewReplacer(`\`, `\textbackslash{}`, "&", `\&`, "%", `\%`, "$", `\$`, "#", `\#`, "_", `\_`, "{", `\{`, "}", `\}`, "~", `\textasciitilde{}`, "^", `\textasciicircum{}`)

// WriteLaTeX writes a tabular (booktabs) with the accuracy in % and the interval below.
func (t *Table) WriteLaTeX(w io.Writer) error {
	var b strings.Builder
	b.WriteString("\\begin{tabular}{l" + strings.Repeat("r", len(t.Columns)) + "}\n\\toprule\nModel")
	for _, c := range t.Columns {
		b.WriteString(" & " + texEscaper.Replace(c.Label))
	}
	b.WriteString(" \\\\\n\\midrule\n")
	for _, r := range t.Rows {
		b.WriteString(texEscaper.Replace(r.Model))
		for _, c := range t.Columns {
			cell, ok := r.Cells[c.Key]
			if !ok {
				b.WriteString(" & --")
				continue
			}
			if r.Reference {
				fmt.Fprintf(&b, " & %s", pct(cell.Rate.Acc))
				continue
			}
			mark := ""
			if cell.Cumulative {
				mark = "$^*$"
			}
			fmt.Fprintf(&b, " & %s%s {\\scriptsize [%s, %s]}", pct(cell.Rate.Acc), mark, pct(cell.Rate.Lo), pct(cell.Rate.Hi))
		}
		b.WriteString(" \\\\\n")
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// EpsLabel writes a budget for people: n/255 when it is a whole number of 8-bit grey
// levels that %g would print with many digits (8/255, not 0.03137254901960784), else %g.
func EpsLabel(eps float64) string {
	g := strconv.FormatFloat(eps, 'g', -1, 64)
	if n := math.Round(eps * 255); len(g) > 6 && n >= 1 && math.Abs(eps*255-n) < 1e-9 {
		return fmt.Sprintf("%.0f/255", n)
	}
	return g
}
