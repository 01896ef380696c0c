package cli

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/eabs/eabs/crosscheck"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/report"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/spf13/cobra"
)

func init() { register(newDemoCmd) }

// DemoReport is the JSON eabs demo writes.
type DemoReport struct {
	provenance
	Model             string               `json:"model"`
	WeightsSHA        string               `json:"weights_sha256"`
	Images            int                  `json:"images"`
	AmortizedAccuracy float64              `json:"amortized_accuracy"`
	FullAccuracy      float64              `json:"full_accuracy"`
	Inference         infer.Options        `json:"inference"`
	FullImagesPerSec  float64              `json:"full_images_per_s"`
	BankSeconds       float64              `json:"bank_seconds"`
	Crosscheck        []*crosscheck.Report `json:"crosscheck"`
	Files             map[string]string    `json:"files"`
}

func newDemoCmd() *cobra.Command {
	var model, out string
	var n, checkN int
	var rf runtimeFlags
	opt := infer.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline on the embedded model and data",
		Long: `The main job on the embedded defaults: the MNIST test images compiled into the binary
and the zoo's trained MNIST E-ABS. It

  1. writes a grid of the sample images,
  2. classifies them with the encoder shortcut (Go reference graph),
  3. exports the model to ONNX and classifies them with the paper's full inference on
     ONNX Runtime (8000+1 starts, 50 Adam steps on mean and log-variance),
  4. draws every class's reconstruction G_k(z*) of the first images,
  5. cross-checks ONNX Runtime and onnx-go against the reference graph,

and writes everything, with a JSON summary, into --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			w, _, _, err := loadWeights(model)
			if err != nil {
				return err
			}
			ds, err := data.Load("mnist-sample", data.EmbeddedRoot)
			if err != nil {
				return err
			}
			set := firstN(ds.Test, n)
			rep := &DemoReport{provenance: provenance{Command: os.Args, Build: buildinfo.Collect(), Time: time.Now().UTC().Format(time.RFC3339)},
				Model: model, WeightsSHA: onnx.WeightsSHA256(w), Images: set.N, Inference: opt, Files: map[string]string{}}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			step := func(i int, what string) { fmt.Fprintf(stdout, "\n[%d/5] %s\n", i, what) }

			step(1, "sample images")
			grid := filepath.Join(out, "sample-grid.png")
			if err := data.WriteGrid(grid, set, 10, 2); err != nil {
				return err
			}
			rep.Files["sample_grid"] = grid
			fmt.Fprintf(stdout, "%d MNIST test images (embedded); grid in %s\n", set.N, grid)

			step(2, "encoder shortcut (amortised, reference graph)")
			am, err := infer.Amortized(w, set, 50, nil)
			if err != nil {
				return err
			}
			rep.AmortizedAccuracy = am.Accuracy()
			fmt.Fprintf(stdout, "accuracy %.3f\n", rep.AmortizedAccuracy)

			step(3, fmt.Sprintf("full inference on %s (%d+1 starts, %d Adam steps, lr %g)", rf.engine, opt.Starts, opt.Steps, opt.LR))
			m, cleanup, err := openModel(cmd, rf, model, w, opt)
			if err != nil {
				return err
			}
			defer cleanup()
			defer m.Close()
			t0 := time.Now()
			e, err := newEngine(stderr, m, opt)
			if err != nil {
				return err
			}
			rep.BankSeconds = time.Since(t0).Seconds()
			bar := newProgress(stderr, set.N, "classify")
			t1 := time.Now()
			full, _, err := e.ClassifySet(set, 10, rf.workers, 1, 1, func(d int) { bar.Set(d) })
			bar.Finish()
			if err != nil {
				return err
			}
			rep.FullAccuracy = full.Accuracy()
			rep.FullImagesPerSec = float64(set.N) / time.Since(t1).Seconds()
			fmt.Fprintf(stdout, "accuracy %.3f at %.2f images/s (start bank built in %.1fs)\n", rep.FullAccuracy, rep.FullImagesPerSec, rep.BankSeconds)

			step(4, "reconstructions")
			const show = 8
			sub := firstN(set, show)
			noise := make([]*rand.Rand, sub.N)
			for i := range noise {
				noise[i] = infer.NoiseFor(1, 0, i) // the same noise as step 3
			}
			o, err := e.Classify(sub.Images, sub.N, noise)
			if err != nil {
				return err
			}
			img, err := report.Reconstructions(sub.Images, o.Rec, o.Pred(), sub.Labels, w.Spec.Arch.Classes, sub.C, sub.H, sub.W, 2)
			if err != nil {
				return err
			}
			recPath := filepath.Join(out, "reconstructions.png")
			if err := report.WritePNG(recPath, img); err != nil {
				return err
			}
			rep.Files["reconstructions"] = recPath
			fmt.Fprintf(stdout, "input and G_k(z*) for k = 0..9 of %d images, prediction framed (green right, red wrong, blue the label): %s\n", sub.N, recPath)

			step(5, "cross-check against the reference graph")
			refm, err := ref.New(w)
			if err != nil {
				return err
			}
			defer refm.Close()
			checks := firstN(set, checkN)
			r, err := crosscheck.Run(refm, m, "ref", rf.engine, checks, crosscheck.Options{Batch: 8, Workers: rf.workers, Infer: opt, Seed: 1})
			if err != nil {
				return err
			}
			r.WriteTable(stdout)
			rep.Crosscheck = append(rep.Crosscheck, r)
			if gm, err := openOnnxGo(model, w); err == nil {
				defer gm.Close()
				r, err := crosscheck.Run(refm, gm, "ref", "onnx-go", checks, crosscheck.Options{Batch: 8, Seed: 1})
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout)
				r.WriteTable(stdout)
				rep.Crosscheck = append(rep.Crosscheck, r)
			}
			js := filepath.Join(out, "demo.json")
			if err := writeJSON(js, rep); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "\nsummary: %s\n", js)
			// The demo shows the pipeline; `eabs crosscheck` is the gate that exits
			// non-zero. A broken tolerance is reported here, not hidden, and recorded in
			// demo.json.
			for _, c := range rep.Crosscheck {
				if !c.Pass {
					fmt.Fprintf(stderr, "demo: WARNING: %s vs %s broke a cross-check tolerance (table above); run `eabs crosscheck` for the full check\n", c.Reference, c.Other)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	rf.add(cmd, "ort")
	f.StringVar(&model, "model", "zoo:mnist-eabs", "model to demonstrate")
	f.StringVar(&out, "out", "out/demo", "output directory")
	f.IntVar(&n, "n", 100, "embedded test images to classify (at most 100)")
	f.IntVar(&checkN, "check", 16, "images to cross-check")
	f.IntVar(&opt.Starts, "starts", opt.Starts, "random starts")
	f.IntVar(&opt.Steps, "steps", opt.Steps, "Adam steps")
	f.Float64Var(&opt.LR, "lr", opt.LR, "Adam step size")
	addLossAt(f, &opt.LossAt)
	return cmd
}
