package main

import (
	"fmt"
	"io"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/eval"
)

// The summaries the commands print of their results.

// printSummary writes a result's accuracies and failed checks.
func printSummary(w io.Writer, r *eval.Result) {
	s := r.Summary
	fmt.Fprintf(w, "%s, %d samples (shard %s): clean %.1f%% [%.1f, %.1f]\n", r.Model, s.N, r.Header.Shard, 100*s.Clean.Acc, 100*s.Clean.Lo, 100*s.Clean.Hi)
	for _, a := range s.Attacks {
		note := ""
		if a.Skipped > 0 {
			note = fmt.Sprintf(" (cumulative: %d samples broken earlier were not attacked)", a.Skipped)
		}
		if a.Overturned > 0 {
			note += fmt.Sprintf(" (the verdict overturned the attacker's claimed adversarial on %d samples)", a.Overturned)
		}
		if a.ScaledOut > 0 {
			note += fmt.Sprintf(" (%d broken only by the candidate scaled out to the budget)", a.ScaledOut)
		}
		fmt.Fprintf(w, "  %-12s %-4s eps %-7g robust %5.1f%% [%.1f, %.1f]%s\n", a.Name, a.Norm, a.Eps, 100*a.Robust.Acc, 100*a.Robust.Lo, 100*a.Robust.Hi, note)
	}
	for _, a := range s.All {
		fmt.Fprintf(w, "  %-12s %-4s eps %-7g robust %5.1f%% [%.1f, %.1f]\n", "All", a.Norm, a.Eps, 100*a.Robust.Acc, 100*a.Robust.Lo, 100*a.Robust.Hi)
	}
	for _, b := range s.RobustBench {
		fmt.Fprintf(w, "  AutoAttack (%s), RobustBench style: %s eps %g, n %d: clean %.2f%%, robust %.2f%%\n", b.Version, b.ThreatModel, b.Eps, b.N, 100*b.CleanAcc, 100*b.RobustAcc)
	}
	for _, m := range s.Checks.Warnings {
		fmt.Fprintf(w, "  check: %s\n", m)
	}
}

func printCertify(w io.Writer, rep *certify.Report) {
	s := rep.Summary
	violations := func(v map[string]int) string {
		if rep.Validation == nil || len(v) == 0 {
			return ""
		}
		return fmt.Sprintf(" violations: exact %d, deployed %d", v["exact"], v["deployed"])
	}
	fmt.Fprintf(w, "%s on %d %s images (sample seed %d, shard %s): eps* is a %s\n", rep.Model, s.N, rep.Dataset, rep.Header.SampleSeed, rep.Header.Shard, rep.Label)
	fmt.Fprintf(w, "  accuracy (exact inference) %.3f, median eps* %.3f, mean %.3f; %.1f s per image on %s\n", float64(s.Correct)/float64(max(s.N, 1)), s.Median, s.Mean, rep.PerImage, rep.Runtime)
	fmt.Fprintf(w, "  restarts: binding class changed for %d images, largest eps* spread %.4f\n", s.BindingChanged, s.MaxEpsSpread)
	for _, l := range s.Certified {
		fmt.Fprintf(w, "  certified accuracy at L2 %.2f: %.3f (%d images)%s\n", l.Eps, l.Accuracy, l.Count, violations(l.Violations))
	}
	if rep.Validation != nil {
		fmt.Fprintf(w, "  validation by %s on %d certified images:%s\n", rep.Validation.Text(), s.Validated, violations(s.Violations))
	} else {
		fmt.Fprintln(w, "  not validated by attack (run with --validate)")
	}
	if s.Invalid > 0 {
		fmt.Fprintf(w, "  %d certificates fail the bound's condition eps* < d_k\n", s.Invalid)
	}
	if len(s.NotConverged) > 0 {
		fmt.Fprintf(w, "  %d images did not converge within %d restarts (their d_k may still be too large): %v\n", len(s.NotConverged), rep.Options.MaxRestarts, s.NotConverged)
	}
	if s.Audited > 0 {
		fmt.Fprintf(w, "  audit of %d certificates: a smaller d_k on %d images, lowering eps* on %d (at most by %.4f)\n", s.Audited, len(s.AuditSmaller), len(s.AuditLowered), s.MaxAuditDrop)
	}
}

func printClassify(w io.Writer, r *eval.ClassifyResult, s *eval.Sample) {
	if r.Accuracy == nil {
		for _, rec := range r.Records {
			name := ""
			if rec.Pred < len(s.Set.ClassNames) {
				name = s.Set.ClassNames[rec.Pred]
			}
			fmt.Fprintf(w, "%s\t%d\t%s\n", rec.File, rec.Pred, name)
		}
		return
	}
	a, t := r.Accuracy, r.Run.Timing
	fmt.Fprintf(w, "%s (%s, %s) on %d %s %s images (sample seed %d, shard %s): accuracy %.4f (%d/%d), 95%% CI [%.4f, %.4f], in %.1fs, %.2f images/s\n",
		r.Model, r.Run.Mode, r.Run.Runtime, s.N, s.Dataset, s.Split, s.Seed, s.Shard, a.Acc, a.K, a.N, a.Lo, a.Hi, t.Seconds, t.ImagesPerSec)
}
