package report

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/eabs/eabs/eval"
)

// paperCSV holds the paper's headline accuracies (Table 2 and the SVHN rows, as
// /work/shared/paper/METHOD.md lists them: 1000 random test samples each), keyed by the
// table's column keys. eabs's gtsrb-10 is a stand-in for the paper's SuperTraffic-10
// (GTSRB alone, not GTSRB + DFG + BelgiumTS), so its rows say which dataset they are
// from: "E-ABS on SuperTraffic-10 (paper)".
//
//go:embed paper.csv
var paperCSV string

// AddPaper appends the paper's rows for dataset, marked "(paper)" and without
// intervals, under the columns the table has; it returns how many rows it added.
func (t *Table) AddPaper(dataset string) (int, error) {
	recs, err := csv.NewReader(strings.NewReader(paperCSV)).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("report: paper.csv: %w", err)
	}
	has := map[string]bool{}
	for _, c := range t.Columns {
		has[c.Key] = true
	}
	var order []string
	rows := map[string]*Row{}
	for _, r := range recs[1:] {
		if r[0] != dataset || !has[r[2]] {
			continue
		}
		v, err := strconv.ParseFloat(r[3], 64)
		if err != nil {
			return 0, fmt.Errorf("report: paper.csv: %q: %w", r[3], err)
		}
		row := rows[r[1]]
		if row == nil {
			row = &Row{Model: r[1] + " (paper)", Source: "paper", N: 1000, Reference: true, Cells: map[string]*Cell{}}
			rows[r[1]] = row
			order = append(order, r[1])
		}
		row.Cells[r[2]] = &Cell{Rate: eval.Rate{Acc: v / 100}}
	}
	for _, m := range order {
		t.Rows = append(t.Rows, *rows[m])
	}
	return len(order), nil
}
