package report

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/shard"
)

// Merge joins the parts of one sharded run of any result kind (attack, classify,
// certify, certify-smoothing) into the whole run's results.
func Merge(parts []shard.File) (kind string, merged any, err error) {
	if kind, err = shard.KindOf(parts); err != nil {
		return "", nil, fmt.Errorf("merge: %w", err)
	}
	switch kind {
	case eval.Kind:
		merged, err = eval.MergeAttack(parts)
	case eval.ClassifyKind:
		merged, err = eval.MergeClassify(parts)
	case certify.Kind:
		merged, err = certify.MergeReports(parts)
	case certify.SmoothKind:
		merged, err = certify.MergeSmoothReports(parts)
	default:
		return kind, nil, fmt.Errorf("merge: no merge for results of kind %q (known: %s)", kind,
			strings.Join([]string{eval.Kind, eval.ClassifyKind, certify.Kind, certify.SmoothKind}, ", "))
	}
	return kind, merged, err
}

// Options are what Write draws.
type Options struct {
	GridN, Scale, Points int
}

// Write writes the report of attack results into dir: the table (table.md, .csv, .tex,
// table-headline.md), McNemar's tests (mcnemar.csv), the accuracy-vs-eps curves per norm
// (curve-NORM.png, .svg) and per model and norm a grid of clean images above their
// smallest adversarial example (grid-MODEL-NORM.png). It returns the files written and
// notes about what it could not draw.
func Write(dir string, t *Table, rs []*eval.Result, o Options) (files, notes []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	write := func(name string, f func(io.Writer) error) error {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			return err
		}
		p := filepath.Join(dir, name)
		files = append(files, p)
		return atomicfile.WriteBytes(p, b.Bytes())
	}
	for _, x := range []struct {
		name string
		f    func(io.Writer) error
	}{{"table.md", t.WriteMarkdown}, {"table.csv", t.WriteCSV}, {"table.tex", t.WriteLaTeX}, {"mcnemar.csv", t.WriteMcNemarCSV},
		{"table-headline.md", t.Headline().WriteMarkdown}} {
		if err := write(x.name, x.f); err != nil {
			return files, notes, err
		}
	}
	var curves []Curve
	for i, r := range rs {
		curves = append(curves, Curves(r, t.Rows[i].Model, o.Points)...)
	}
	done := map[string]bool{}
	for _, c := range curves {
		if done[string(c.Norm)] {
			continue
		}
		done[string(c.Norm)] = true
		for _, format := range []string{"png", "svg"} {
			p := filepath.Join(dir, fmt.Sprintf("curve-%s.%s", c.Norm, format))
			if err := PlotCurves(p, format, c.Norm, curves); err != nil {
				return files, notes, err
			}
			files = append(files, p)
		}
	}
	for i, r := range rs {
		if o.GridN == 0 {
			break // no grids asked for
		}
		for _, nm := range r.Norms() {
			items := GridItems(r, nm, o.GridN)
			if len(items) == 0 {
				notes = append(notes, fmt.Sprintf("%s: no stored images for a %s grid (eabs attack --keep > 0 stores them)", t.Rows[i].Source, nm))
				continue
			}
			img, err := AdversarialGrid(items, r.Shape[0], r.Shape[1], r.Shape[2], o.Scale)
			if err != nil {
				return files, notes, err
			}
			p := filepath.Join(dir, fmt.Sprintf("grid-%s-%s.png", fileSafe(t.Rows[i].Model), nm))
			if err := WritePNG(p, img); err != nil {
				return files, notes, err
			}
			files = append(files, p)
		}
	}
	return files, notes, nil
}

func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
