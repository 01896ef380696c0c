package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/demo"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/buildinfo"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var ef engineFlags
	o := demo.Options{Infer: infer.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline on the embedded model and data",
		Long: `The main job on the embedded defaults: the MNIST test images compiled into the binary
and the zoo's trained MNIST E-ABS. It

  1. writes a grid of the sample images,
  2. classifies them with the encoder shortcut (Go reference graph),
  3. classifies them with the paper's full inference on ONNX Runtime (8000+1 starts,
     50 Adam steps on mean and log-variance),
  4. draws every class's reconstruction G_k(z*) of the first images,
  5. cross-checks ONNX Runtime and onnx-go against the reference graph,
  6. attacks the first --attack-n images with a few steps of PGD-L2 (eps 1.5) along
     the adaptive gradient of eq. 8, warm-started from the previous step's latents,
     and judges each candidate by the model's full inference (fresh noise, EOT 5),

and writes everything, with a JSON summary, into --out-dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			o.Engine, o.Runtime, o.Workers = ef.engine, ef.options(cmd), ef.workers
			o.Stdout, o.Provenance = cmd.OutOrStdout(), buildinfo.NewProvenance()
			bars := map[string]*progress{}
			o.Progress = func(stage string, d, n int) {
				if bars[stage] == nil {
					bars[stage] = newProgress(stderr, n, stage)
				}
				bars[stage].Set(d)
			}
			rep, err := demo.Run(o)
			for _, b := range bars {
				b.Finish()
			}
			if err != nil {
				return err
			}
			// The demo shows the pipeline; eabs crosscheck is the gate that exits
			// non-zero. A broken tolerance is reported here and recorded in demo.json.
			for _, c := range rep.Crosscheck {
				if !c.Pass {
					fmt.Fprintf(stderr, "demo: WARNING: %s vs %s broke a cross-check tolerance (table above); run eabs crosscheck for the full check\n", c.Reference, c.Other)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	ef.add(cmd, "ort")
	f.StringVar(&o.Model, "model", "zoo:mnist-eabs", "model to demonstrate")
	f.StringVar(&o.Out, "out-dir", "out/demo", "output folder")
	alias(f, "out", "out-dir")
	f.IntVar(&o.N, "n", 100, "embedded test images to classify (at most 100)")
	f.IntVar(&o.CheckN, "check", 16, "images to cross-check")
	f.IntVar(&o.AttackN, "attack-n", 4, "embedded test images to attack (0 skips the attack step)")
	f.IntVar(&o.AttackSteps, "attack-steps", 5, "PGD-L2 steps of the attack step")
	addInferFlags(f, &o.Infer)
	return cmd
}
