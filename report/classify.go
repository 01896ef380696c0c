package report

import (
	"fmt"
	"io"

	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/stats"
)

// ClassifyRow is one classification run in a ClassifyTable.
type ClassifyRow struct {
	Name    string  `json:"name"`
	Correct int     `json:"correct"`
	N       int     `json:"n"`
	Acc     float64 `json:"accuracy"`
	Lo      float64 `json:"ci_lo"`
	Hi      float64 `json:"ci_hi"`
	// OnlyBase and OnlyThis count the shared images only the first run (the baseline)
	// or only this run classifies correctly; P is McNemar's exact two-sided p-value on
	// them (1 for the baseline itself).
	OnlyBase int     `json:"only_base"`
	OnlyThis int     `json:"only_this"`
	P        float64 `json:"mcnemar_p"`
}

// ClassifyTable compares classification runs of the same images (ablations: an
// inference setting, an epoch, a recipe) with the first run as the baseline.
type ClassifyTable struct {
	Dataset string        `json:"dataset"`
	Split   string        `json:"split"`
	Shared  int           `json:"shared"`
	Rows    []ClassifyRow `json:"rows"`
}

// CompareClassify builds the table. The runs must be of one dataset and split; they
// are paired on the images they all classified (by dataset index), and every row's
// counts are on those images, so the intervals and the tests speak of the same set.
func CompareClassify(names []string, rs []*eval.ClassifyResult) (*ClassifyTable, error) {
	if len(rs) == 0 || len(names) != len(rs) {
		return nil, fmt.Errorf("report: %d names for %d classification results", len(names), len(rs))
	}
	t := &ClassifyTable{Dataset: rs[0].Header.Dataset, Split: rs[0].Header.Split}
	correct := make([]map[int]bool, len(rs))
	for i, r := range rs {
		if r.Header.Dataset != t.Dataset || r.Header.Split != t.Split {
			return nil, fmt.Errorf("report: %s classifies %s %s images, %s %s %s: compare runs of one split",
				names[i], r.Header.Dataset, r.Header.Split, names[0], t.Dataset, t.Split)
		}
		correct[i] = make(map[int]bool, len(r.Records))
		for _, rec := range r.Records {
			if rec.Label < 0 {
				return nil, fmt.Errorf("report: %s: image %d has no label", names[i], rec.Index)
			}
			correct[i][rec.Index] = rec.Correct
		}
	}
	var shared []int
	for _, rec := range rs[0].Records {
		all := true
		for _, c := range correct[1:] {
			if _, ok := c[rec.Index]; !ok {
				all = false
				break
			}
		}
		if all {
			shared = append(shared, rec.Index)
		}
	}
	if len(shared) == 0 {
		return nil, fmt.Errorf("report: the %d classification results share no image", len(rs))
	}
	t.Shared = len(shared)
	for i := range rs {
		row := ClassifyRow{Name: names[i], N: len(shared)}
		for _, idx := range shared {
			this, base := correct[i][idx], correct[0][idx]
			if this {
				row.Correct++
			}
			if base && !this {
				row.OnlyBase++
			}
			if this && !base {
				row.OnlyThis++
			}
		}
		row.Acc = float64(row.Correct) / float64(row.N)
		var err error
		if row.Lo, row.Hi, err = stats.ClopperPearson(row.Correct, row.N, 0.05); err != nil {
			return nil, err
		}
		if row.P, err = stats.McNemar(row.OnlyBase, row.OnlyThis); err != nil {
			return nil, err
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// WriteMarkdown writes the table.
func (t *ClassifyTable) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "%d %s %s images shared by every run; McNemar's exact test against %s\n\n", t.Shared, t.Dataset, t.Split, t.Rows[0].Name)
	fmt.Fprintln(w, "| run | correct | accuracy | 95% CI | only baseline right | only this right | McNemar p |")
	fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---:|")
	for i, r := range t.Rows {
		vs := fmt.Sprintf("%d | %d | %.3g", r.OnlyBase, r.OnlyThis, r.P)
		if i == 0 {
			vs = "(baseline) | | "
		}
		if _, err := fmt.Fprintf(w, "| %s | %d/%d | %.4f | [%.4f, %.4f] | %s |\n", r.Name, r.Correct, r.N, r.Acc, r.Lo, r.Hi, vs); err != nil {
			return err
		}
	}
	return nil
}
