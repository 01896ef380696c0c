package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/eabs/eabs/crosscheck"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/onnxgo"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/spf13/cobra"
)

func init() { register(newCrosscheckCmd) }

// CrosscheckReport is the JSON eabs crosscheck writes.
type CrosscheckReport struct {
	provenance
	Model      string                          `json:"model"`
	WeightsSHA string                          `json:"weights_sha256"`
	Dataset    string                          `json:"dataset"`
	Seed       uint64                          `json:"seed"`
	Inference  *infer.Options                  `json:"inference,omitempty"` // generative models only
	Tolerances map[string]crosscheck.Tolerance `json:"tolerances"`
	Runs       []*crosscheck.Report            `json:"runs"`
	Pass       bool                            `json:"pass"`
}

func newCrosscheckCmd() *cobra.Command {
	var jsonOut string
	var full, batch int
	var sf setFlags
	var seed uint64
	var rf runtimeFlags
	opt := infer.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "crosscheck MODEL",
		Short: "Run the same images and noise through every runtime and compare",
		Long: `Cross-check the runtimes against the Go reference graph (float64): ONNX Runtime on the
exported model (all tensors) and onnx-go (the parts its Gorgonia backend runs).

Per tensor: encoder outputs, decoder outputs, discriminator logits, and the latent
step's per-class losses, reconstructions and gradients at shared random (mu, logvar,
eps); then the full inference with shared starts and noise on --full images: final
per-class losses and predictions. Prints max absolute and relative differences against
the tolerances, writes --json, and exits with status 2 if any tolerance is broken.

Rows beyond a tolerance are tested for bad conditioning before they count as broken:
a gradient row is excused when the other runtime's gradient equals the reference's at
the latent mean moved by 1e-6 or 1e-5 (a ReLU kink), and an image's final losses when
one runtime, rerun with float32-rounded latents, reproduces the other's (a chaotic
optimisation). At most 1% of a tensor's rows may be excused; the table says how many
were, and names the rows that were not.

A CNN baseline is cross-checked on its logits and predictions (argmax): ONNX Runtime
and onnx-go (the CNN's whole graph) against the reference graph, on --n images; the
generative-model flags (--full, --starts, ...) do not apply.`,
		Example: `  eabs crosscheck zoo/mnist-eabs --dataset mnist --n 1000 --json results/crosscheck-mnist-eabs.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			w, path, err := sf.loadModel(args[0])
			if err != nil {
				return err
			}
			set, err := sf.images(stderr)
			if err != nil {
				return err
			}
			if w.Spec.Kind == models.CNN {
				return crosscheckClassifier(cmd, rf, w, path, sf.dataset, set, batch, seed, jsonOut)
			}
			refm, err := ref.New(w)
			if err != nil {
				return err
			}
			defer refm.Close()
			rf.engine = "ort"
			ortm, cleanup, err := openModel(cmd, rf, args[0], w, opt)
			if err != nil {
				return err
			}
			defer cleanup()
			defer ortm.Close()
			rep := &CrosscheckReport{provenance: provenance{Command: os.Args, Build: buildinfo.Collect(), Time: time.Now().UTC().Format(time.RFC3339)},
				Model: path, WeightsSHA: onnx.WeightsSHA256(w), Dataset: sf.dataset, Seed: seed, Inference: &opt,
				Tolerances: crosscheck.DefaultTolerances(w.Spec.Arch.Latent), Pass: true}
			others := []struct {
				name string
				m    runtime.Model
				full int
			}{{"ort", ortm, full}}
			if gm, err := openOnnxGo(args[0], w); err == nil {
				defer gm.Close()
				others = append(others, struct {
					name string
					m    runtime.Model
					full int
				}{"onnx-go", gm, 0})
			} else {
				fmt.Fprintf(stderr, "onnx-go: not cross-checked: %v\n", err)
			}
			for _, o := range others {
				var bar interface{ Set(int) error }
				stage := ""
				r, err := crosscheck.Run(refm, o.m, "ref", o.name, set, crosscheck.Options{Batch: batch, Workers: rf.workers, FullImages: o.full, Infer: opt, Seed: seed,
					Tick: func(s string, done, total int) {
						if s != stage {
							stage = s
							bar = newProgress(stderr, total, o.name+": "+s)
						}
						bar.Set(done)
					}})
				if err != nil {
					return fmt.Errorf("%s: %w", o.name, err)
				}
				fmt.Fprintln(stdout)
				r.WriteTable(stdout)
				for _, s := range r.Skipped {
					fmt.Fprintf(stdout, "  skipped (not implemented by %s): %s\n", o.name, s)
				}
				rep.add(r)
			}
			return rep.finish(stderr, jsonOut)
		},
	}
	f := cmd.Flags()
	rf.add(cmd, "ort")
	cmd.Flags().MarkHidden("runtime")
	sf.add(f, "dataset whose images are used (default: the model's)", 1000, "images compared tensor by tensor")
	f.IntVar(&full, "full", 1000, "images (of those) run through the full inference on both runtimes")
	f.IntVar(&batch, "batch", 16, "batch size")
	f.Uint64Var(&seed, "seed", 1, "seed of the shared latents and noise")
	f.IntVar(&opt.Starts, "starts", opt.Starts, "full inference: random starts")
	f.IntVar(&opt.Steps, "steps", opt.Steps, "full inference: Adam steps")
	f.Float64Var(&opt.LR, "lr", opt.LR, "full inference: Adam step size")
	addLossAt(f, &opt.LossAt)
	f.StringVar(&jsonOut, "json", "", "write the report as JSON here")
	return cmd
}

// crosscheckClassifier cross-checks a CNN: the logits of ONNX Runtime and onnx-go
// against the reference graph's (crosscheck.RunClassifier), one report each.
func crosscheckClassifier(cmd *cobra.Command, rf runtimeFlags, w *models.Weights, path, dataset string, set *data.Set, batch int, seed uint64, jsonOut string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	refc, err := ref.NewClassifier(w)
	if err != nil {
		return err
	}
	defer refc.Close()
	rf.engine = "ort"
	ortc, cleanup, err := openClassifier(cmd, rf, w)
	if err != nil {
		return err
	}
	defer cleanup()
	others := []struct {
		name string
		c    crosscheck.Logitser
	}{{"ort", ortc}}
	if gc, err := onnxgo.NewClassifier(w); err == nil {
		defer gc.Close()
		others = append(others, struct {
			name string
			c    crosscheck.Logitser
		}{"onnx-go", gc})
	} else {
		fmt.Fprintf(stderr, "onnx-go: not cross-checked: %v\n", err)
	}
	K := w.Spec.Arch.Classes
	rep := &CrosscheckReport{provenance: provenance{Command: os.Args, Build: buildinfo.Collect(), Time: time.Now().UTC().Format(time.RFC3339)},
		Model: path, WeightsSHA: onnx.WeightsSHA256(w), Dataset: dataset, Seed: seed,
		Tolerances: crosscheck.ClassifierTolerances(K), Pass: true}
	for _, o := range others {
		bar := newProgress(stderr, set.N, o.name+": logits")
		r, err := crosscheck.RunClassifier(refc, o.c, K, "ref", o.name, set, crosscheck.Options{Batch: batch,
			Tick: func(_ string, done, _ int) { bar.Set(done) }})
		if err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
		fmt.Fprintln(stdout)
		r.WriteTable(stdout)
		rep.add(r)
	}
	return rep.finish(stderr, jsonOut)
}

// add records one runtime's comparison.
func (rep *CrosscheckReport) add(r *crosscheck.Report) {
	rep.Runs = append(rep.Runs, r)
	rep.Pass = rep.Pass && r.Pass
}

// finish writes the report and turns a broken tolerance into exit status 2.
func (rep *CrosscheckReport) finish(stderr io.Writer, jsonOut string) error {
	if err := writeReport(stderr, jsonOut, rep); err != nil {
		return err
	}
	if !rep.Pass {
		return checkFailed{"cross-check failed: a tolerance was broken (see the table)"}
	}
	return nil
}
