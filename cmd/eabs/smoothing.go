package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/runtime"
)

// runSmoothing certifies a classifier by randomized smoothing.
func runSmoothing(cmd *cobra.Command, cf *certifyFlags, src *runtime.Source) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if !(cf.smoothing > 0) {
		return fmt.Errorf("--smoothing %g: the noise sigma must be positive (without --smoothing, certify computes the Appendix-A bound)", cf.smoothing)
	}
	if err := refuse(cmd, "applies to the Appendix-A bound, not to randomized smoothing", "validate", "validate-from", "csv", "restarts", "max-restarts", "d-tol",
		"audit", "starts", "infer-steps", "infer-lr", "bank-seed", "loss-at", "chunk", "batch", "adv-dir"); err != nil {
		return err
	}
	if !cmd.Flags().Changed("runtime") {
		cf.ef.engine = "ort" // smoothing's 100,000 forward passes per image want ONNX Runtime
	}
	s, err := cf.sf.load(cmd, src)
	if err != nil {
		return err
	}
	out := s.Shard.PartPath(cf.out)
	if err := checkOutputs(out, "", cf.force); err != nil {
		return err
	}
	sm := cf.smooth
	sm.Sigma = cf.smoothing
	bar := newProgress(stderr, len(s.Shard.Positions(s.N)), fmt.Sprintf("smoothing sigma %g (%s)", sm.Sigma, cf.ef.engine))
	rep, _, err := certify.RunSmoothing(certify.SmoothJob{Model: src, Sample: s, Engine: cf.ef.engine, Runtime: cf.ef.options(cmd),
		Smoothing: sm, Seed: cf.seed, Progress: func(d, _ int) { bar.Set(d) }})
	bar.Finish()
	if err != nil {
		return err
	}
	rep.Provenance = buildinfo.NewProvenance()
	sum := rep.Summary
	fmt.Fprintf(stdout, "%s on %d %s images (sample seed %d, shard %s): %s\n", rep.Model, sum.N, rep.Dataset, s.Seed, s.Shard, rep.Label)
	fmt.Fprintf(stdout, "  smoothed accuracy %.3f, abstained %d, median radius %.3f; %.2f s per image on %s\n", float64(sum.Correct)/float64(max(sum.N, 1)), sum.Abstain, sum.Median, rep.PerImage, cf.ef.engine)
	for _, l := range sum.Certified {
		fmt.Fprintf(stdout, "  certified accuracy at L2 %.2f: %.3f (%d images)\n", l.Eps, l.Accuracy, l.Count)
	}
	if cf.plot != "" {
		conv := make([]certify.Result, len(rep.Results))
		for i, r := range rep.Results {
			conv[i] = certify.Result{Label: r.Label, Pred: r.Pred, Eps: r.Radius}
		}
		title := fmt.Sprintf("%s, %d images:\nrandomized smoothing sigma %g (n %d, alpha %g)", src.Name(), sum.N, sm.Sigma, sm.N, sm.Alpha)
		if err := atomicfile.Write(cf.plot, func(w io.Writer) error { return certify.PlotCurve(w, conv, title) }); err != nil {
			return err
		}
	}
	return writeResult(cmd, out, rep)
}
