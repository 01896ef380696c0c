package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/crosscheck"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
)

func init() { register(newCrosscheckCmd) }

func newCrosscheckCmd() *cobra.Command {
	var out string
	var sf sampleFlags
	var ef engineFlags
	var of onnxFlags
	opt := crosscheck.Options{Infer: infer.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "crosscheck MODEL",
		Short: "Run the same images and noise through every runtime and compare",
		Long: `Cross-check the runtimes against the Go reference graph (float64): ONNX Runtime (on
the files of MODEL's export folder when it is one, else on a fresh export) and onnx-go
(the parts its Gorgonia backend runs).

Per tensor: encoder outputs, decoder outputs, discriminator logits, and the latent
step's per-class losses, reconstructions and gradients at shared random (mu, logvar,
eps); then the full inference with shared starts and noise on --full images: final
per-class losses and predictions. Prints max absolute and relative differences against
the tolerances, writes --out, and exits with status 2 if any tolerance is broken.

Rows beyond a tolerance are tested for bad conditioning before they count as broken
(a gradient at a ReLU kink, a chaotic optimisation; crosscheck/conditioning.go); at
most 1% of a tensor's rows may be excused, and the table names the rest.

A CNN is cross-checked on its logits and predictions; the full-inference flags do not
apply to it. A plain .onnx classifier (options as eabs attack --help says) is checked on
ONNX Runtime against onnx-go where onnx-go runs the graph, else against onnx/grad's
float64 evaluator, on its scores and predictions, and on the input gradients of its
gradient graph against the evaluator's (the first --grad-images images).`,
		Example: `  eabs crosscheck zoo:mnist-eabs --dataset mnist --n 1000 --out crosscheck.json
  eabs crosscheck my.onnx --dataset mnist --n 1000 --grad-images 100 --out crosscheck.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			src, err := runtime.Load(args[0])
			if err != nil {
				return err
			}
			if err := of.apply(cmd, src); err != nil {
				return err
			}
			if src.Weights == nil || src.Weights.Spec.Kind == models.CNN {
				if err := refuse(cmd, "applies to generative models' full inference", "full", "starts", "infer-steps", "infer-lr", "bank-seed", "loss-at"); err != nil {
					return err
				}
			}
			if src.Weights != nil {
				if err := refuse(cmd, "applies to plain .onnx classifiers", "grad-images"); err != nil {
					return err
				}
			}
			s, err := sf.load(cmd, src)
			if err != nil {
				return err
			}
			set, _, _ := s.Part()
			opt.Workers = ef.workers
			bars := map[string]*progress{}
			r, err := crosscheck.Check(crosscheck.Job{Model: src, Set: set, Dataset: s.Dataset, Runtime: ef.options(cmd), Options: opt,
				Progress: func(engine, stage string, done, total int) {
					key := engine + ": " + stage
					if bars[key] == nil {
						bars[key] = newProgress(stderr, total, key)
					}
					bars[key].Set(done)
				}})
			for _, b := range bars {
				b.Finish()
			}
			if err != nil {
				return err
			}
			for _, rep := range r.Runs {
				fmt.Fprintln(stdout)
				rep.WriteTable(stdout)
				for _, sk := range rep.Skipped {
					fmt.Fprintf(stdout, "  skipped (not implemented by %s): %s\n", rep.Other, sk)
				}
			}
			for name, why := range r.NotChecked {
				fmt.Fprintf(stdout, "%s: not cross-checked: %s\n", name, why)
			}
			r.Provenance = buildinfo.NewProvenance()
			if err := writeResult(cmd, out, r); err != nil {
				return err
			}
			if !r.Pass {
				return checkFailed{"cross-check failed: a tolerance was broken (see the table)"}
			}
			return nil
		},
	}
	f := cmd.Flags()
	ef.add(cmd, "ort")
	cmd.Flags().MarkHidden("runtime")
	sf.addFirst(f, 1000, "images compared tensor by tensor (the first of the split)")
	f.IntVar(&opt.FullImages, "full", 1000, "images (of those) run through the full inference on both runtimes")
	f.IntVar(&opt.GradImages, "grad-images", 100, "plain .onnx: images (of those) whose input gradients are compared")
	of.add(f)
	f.IntVar(&opt.Batch, "batch", 16, "batch size")
	f.Uint64Var(&opt.Seed, "seed", 1, "seed of the shared latents and noise")
	addInferFlags(f, &opt.Infer)
	addOut(f, &out, "write the report as JSON here")
	return cmd
}
