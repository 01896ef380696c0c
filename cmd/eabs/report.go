package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/report"
	"github.com/eabs/eabs/shard"
)

func init() { register(newReportCmd) }

type reportOptions struct {
	merge  bool
	same   bool
	out    string
	outDir string
	gridN  int
	scale  int
	points int
	paper  bool
	names  string
	// csv and plot: a merged certify run's per-image CSV and certified-accuracy curve,
	// the files the unsharded eabs certify --csv/--plot writes.
	csv, plot string
}

func newReportCmd() *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report RESULTS... | report --merge PARTS... --out FILE",
		Short: "Tables, tests, curves and figures from attack results; compare classifications; merge shard parts",
		Long: `Make the robustness report from attack result files (eabs attack --out), and nothing
else: accuracy per attack and "All" per norm with 95% Clopper-Pearson intervals, McNemar's
exact test between every pair of models on the test images they share (alpha 0.01), the
table (rows models; columns clean, each attack, All per norm) in Markdown on stdout and,
with --out-dir, as table.md, table.csv, table.tex and mcnemar.csv, and table-headline.md
with the paper's headline columns only (clean, PGD and All per norm); accuracy-vs-eps curves
per norm (curve-NORM.png and .svg, from the smallest verified adversarial distances, with
the self-check sweep's points); and per model and norm a grid of clean images above
their smallest adversarial example and the perturbation, with the predicted class
(grid-MODEL-NORM.png; from the first --keep samples a run stores).

Given classification results (eabs classify --out) instead, it compares them as
ablations of one another: accuracy with its interval on the images they all classified,
and McNemar's exact test of each against the first (with --out-dir: classify-table.md
and classify-table.json; rows named by --names, else by file name).

--same A B compares two result files record by record, ignoring only provenance and the
shard (exit 2 naming the first difference).

--merge joins the part files of a sharded run (eabs attack/classify --shard) into the
whole run's file after checking that they belong together (kind, model, data, sample
list, configuration) and that none is missing or repeated, naming the culprits.`,
		Example: `  eabs report --merge attack.shard-*-of-4.json --out attack.json
  eabs report eabs.json cnn.json --out-dir report
  eabs report val-beta1.json val-beta0.json --names beta1,beta0`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.same {
				return runSame(cmd, args)
			}
			if o.merge {
				return runMerge(cmd, o, args)
			}
			return runReport(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.merge, "merge", false, "merge the shard parts given as arguments into --out")
	f.BoolVar(&o.same, "same", false, "compare two result files record by record (ignoring provenance and shard); exit 2 naming the first difference")
	f.StringVar(&o.out, "out", "", "with --merge: the merged results file")
	f.StringVar(&o.csv, "csv", "", "with --merge of certify parts: also write the per-image certificates as CSV here")
	f.StringVar(&o.plot, "plot", "", "with --merge of certify parts: also write the certified-accuracy curve as PNG here")
	f.StringVar(&o.outDir, "out-dir", "", "write the tables, curves and grids into this directory")
	f.IntVar(&o.gridN, "grid-n", 10, "samples per adversarial grid")
	f.IntVar(&o.scale, "scale", 2, "pixels per image pixel in the grids")
	f.IntVar(&o.points, "points", 61, "points per accuracy-vs-eps curve")
	f.StringVar(&o.names, "names", "", "comma-separated row labels, one per result file in order (default: each file's model name)")
	f.BoolVar(&o.paper, "paper", true, "add the paper's published rows for the results' dataset (marked (paper), no intervals)")
	return cmd
}

// runSame is eabs report --same A B: whether two result files hold the same results,
// e.g. a merged sharded run and the unsharded one (scripts/slurm-test.sh).
func runSame(cmd *cobra.Command, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("--same compares exactly two result files, got %d", len(args))
	}
	fs, err := shard.ReadFiles(args)
	if err != nil {
		return err
	}
	if err := shard.Same(fs[0].Name, fs[0].Data, fs[1].Name, fs[1].Data); err != nil {
		return checkFailed{err.Error()}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s and %s hold the same results\n", args[0], args[1])
	return nil
}

func runMerge(cmd *cobra.Command, o *reportOptions, args []string) error {
	if o.out == "" {
		return fmt.Errorf("--merge needs --out FILE")
	}
	for _, a := range args {
		if a == o.out {
			return fmt.Errorf("--out %s is also one of the parts", o.out)
		}
	}
	parts, err := shard.ReadFiles(args)
	if err != nil {
		return err
	}
	kind, merged, err := report.Merge(parts)
	if err != nil {
		return err
	}
	if o.csv != "" || o.plot != "" {
		rep, ok := merged.(*certify.Report)
		if !ok {
			return fmt.Errorf("--csv and --plot apply to certify (Appendix A) parts; these are %s results", kind)
		}
		if err := rep.WriteFiles(rep.Model, o.csv, o.plot); err != nil {
			return err
		}
	}
	if err := writeResult(cmd, o.out, merged); err != nil {
		return err
	}
	switch m := merged.(type) {
	case *eval.Result:
		printSummary(cmd.OutOrStdout(), m)
	case *certify.Report:
		printCertify(cmd.OutOrStdout(), m)
	case *eval.ClassifyResult:
		if a := m.Accuracy; a != nil {
			fmt.Fprintf(cmd.OutOrStdout(), "%s, %d samples: accuracy %.4f (%d/%d), 95%% CI [%.4f, %.4f]\n", m.Model, a.N, a.Acc, a.K, a.N, a.Lo, a.Hi)
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "merged %d %s parts into %s\n", len(parts), kind, o.out)
	return nil
}

func runReport(cmd *cobra.Command, o *reportOptions, args []string) error {
	if refuseFlags := refuse(cmd, "applies to --merge", "out", "csv", "plot"); refuseFlags != nil {
		return refuseFlags
	}
	given, err := shard.ReadFiles(args)
	if err != nil {
		return err
	}
	if kind, err := shard.KindOf(given); err == nil && kind == eval.ClassifyKind {
		return runCompareClassify(cmd, o, args)
	}
	var rs []*eval.Result
	for _, a := range args {
		r, err := eval.ReadFile(a)
		if err != nil {
			return fmt.Errorf("%w (eabs report reads eabs attack results)", err)
		}
		rs = append(rs, r)
	}
	if o.names != "" {
		names := strings.Split(o.names, ",")
		if len(names) != len(rs) {
			return fmt.Errorf("--names gives %d names for %d result files", len(names), len(rs))
		}
		for i, n := range names {
			if n = strings.TrimSpace(n); n != "" {
				rs[i].Model = n
			}
		}
	}
	t, err := report.Build(rs, args)
	if err != nil {
		return err
	}
	if o.paper {
		if _, err := t.AddPaper(rs[0].Header.Dataset); err != nil {
			return err
		}
	}
	if err := t.WriteMarkdown(cmd.OutOrStdout()); err != nil {
		return err
	}
	for i, r := range rs {
		for _, m := range eval.Summarize(r).Checks.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "check (%s): %s\n", args[i], m)
		}
	}
	if o.outDir == "" {
		return refuse(cmd, "draws into --out-dir, which was not given", "grid-n", "scale", "points")
	}
	files, notes, err := report.Write(o.outDir, t, rs, report.Options{GridN: o.gridN, Scale: o.scale, Points: o.points})
	for _, n := range notes {
		fmt.Fprintln(cmd.ErrOrStderr(), n)
	}
	for _, f := range files {
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", f)
	}
	return err
}

// runCompareClassify is eabs report on classification results: an ablation table.
func runCompareClassify(cmd *cobra.Command, o *reportOptions, args []string) error {
	if err := refuse(cmd, "applies to attack results", "grid-n", "scale", "points", "paper"); err != nil {
		return err
	}
	names := make([]string, len(args))
	rs := make([]*eval.ClassifyResult, len(args))
	for i, a := range args {
		r, err := eval.ReadClassify(a)
		if err != nil {
			return err
		}
		rs[i], names[i] = r, strings.TrimSuffix(filepath.Base(a), ".json")
	}
	if o.names != "" {
		given := strings.Split(o.names, ",")
		if len(given) != len(args) {
			return fmt.Errorf("--names gives %d names for %d result files", len(given), len(args))
		}
		for i, n := range given {
			if n = strings.TrimSpace(n); n != "" {
				names[i] = n
			}
		}
	}
	t, err := report.CompareClassify(names, rs)
	if err != nil {
		return err
	}
	if err := t.WriteMarkdown(cmd.OutOrStdout()); err != nil || o.outDir == "" {
		return err
	}
	md := filepath.Join(o.outDir, "classify-table.md")
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(md, t.WriteMarkdown); err != nil {
		return err
	}
	return atomicfile.WriteJSON(filepath.Join(o.outDir, "classify-table.json"), t)
}
