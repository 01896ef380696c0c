package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
)

func init() { register(newClassifyCmd) }

type classifyOptions struct {
	ef        engineFlags
	sf        sampleFlags
	of        onnxFlags
	batch     int
	amortized bool
	eot       int
	seed      uint64
	infer     infer.Options
	out, csv  string
	beta      float64
}

func newClassifyCmd() *cobra.Command {
	o := &classifyOptions{infer: infer.DefaultOptions()}
	cmd := &cobra.Command{
		Use:     "classify MODEL (--dataset D | IMAGE...)",
		Aliases: []string{"eval"},
		Short:   "Classify images with the paper's inference (or the encoder shortcut)",
		Long: `Classify the sample of a dataset split (--n images, --sample-seed; --all: the whole
split), of your own data (--dataset folder:DIR, npz:FILE, ...; eabs data --help), or
image files (PNG, JPEG, PPM; resized to the model's input).

Full inference (the default) follows Section 3.3: per class, the best of --starts random
means and the encoder's Q(z|x), then --infer-steps Adam steps on the mean and
log-variance of Q*(z); l_k is read where --loss-at says and the prediction is argmin_k
l_k. --eot N averages l_k over N runs with independent noise, drawn from --seed and the
image's position in the sample list. --amortized scores the encoder's mean instead (the
validation metric of training). A CNN, or a plain .onnx classifier, is classified by its
logits; --layout, --bounds, --mean, --std, --output-name and --output-kind say how a
plain .onnx takes images and what it returns (eabs attack --help).`,
		Example: `  eabs classify zoo:mnist-eabs --dataset mnist --n 1000 --out clean.json
  eabs classify zoo:mnist-cnn --dataset folder:my-digits --all --out mine.json
  eabs classify zoo:mnist-eabs --dataset mnist --amortized --all
  eabs classify zoo:mnist-eabs digit.png
  eabs classify resnet.onnx --dataset cifar10:data --mean 0.49,0.48,0.45 --std 0.25,0.24,0.26 --all`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runClassify(cmd, o, args) },
	}
	f := cmd.Flags()
	o.ef.add(cmd, "ort")
	o.sf.add(f, 0, "images to classify (0: the whole split)")
	o.of.add(f)
	f.IntVar(&o.batch, "batch", 16, "images per inference call")
	f.BoolVar(&o.amortized, "amortized", false, "score the encoder's mean instead of optimising (Go reference graph)")
	f.IntVar(&o.eot, "eot", 1, "full inference: average the per-class losses over N runs with independent noise")
	f.Uint64Var(&o.seed, "seed", 1, "full inference: seed of the reparameterisation noise")
	addInferFlags(f, &o.infer)
	addExactFlag(f, &o.infer)
	f.Float64Var(&o.beta, "infer-beta", 0, "inference: the prior weight beta of -beta*log D(z), for ablations (default: the model's, the paper's 1)")
	addOut(f, &o.out, "write the results (per image: logits, prediction; the accuracy with its interval) as JSON here ({shard}: i-of-n)")
	f.StringVar(&o.csv, "csv", "", "write per-image predictions and logits as CSV here")
	return cmd
}

func runClassify(cmd *cobra.Command, o *classifyOptions, args []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	src, err := runtime.Load(args[0])
	if err != nil {
		return err
	}
	if err := o.of.apply(cmd, src); err != nil {
		return err
	}
	files := args[1:]
	var sample *eval.Sample
	switch {
	case len(files) > 0 && cmd.Flags().Changed("dataset"):
		return fmt.Errorf("give --dataset or image files, not both")
	case len(files) > 0:
		c, h, w, err := src.ImageShape()
		if err != nil {
			return err
		}
		set, err := data.ReadImages(files, c, h, w)
		if err != nil {
			return err
		}
		sample = eval.SampleOf(set)
	default:
		if sample, err = o.sf.load(cmd, src); err != nil {
			return err
		}
	}
	if err := o.check(cmd, src); err != nil {
		return err
	}
	var bank, bar *progress
	job := eval.ClassifyJob{Model: src, Sample: sample, Engine: o.ef.engine, Runtime: o.ef.options(cmd), Amortized: o.amortized,
		Infer: o.infer, EOT: o.eot, Seed: o.seed, Batch: o.batch, Workers: o.ef.workers,
		BankProgress: func(d, n int) {
			if bank == nil {
				bank = newProgress(stderr, n, "start bank")
			}
			bank.Set(d)
		},
		Progress: func(d, n int) {
			if bar == nil {
				bank.Finish()
				bar = newProgress(stderr, n, "classify "+sample.Shard.String())
			}
			bar.Set(d)
		}}
	if changed(cmd, "infer-beta") {
		job.Beta = &o.beta
	}
	r, err := eval.Classify(job)
	bank.Finish()
	bar.Finish()
	if err != nil {
		return err
	}
	r.Provenance = buildinfo.NewProvenance()
	printClassify(stdout, r, sample)
	if o.csv != "" {
		if err := r.WriteCSV(o.csv); err != nil {
			return err
		}
	}
	return writeResult(cmd, sample.Shard.PartPath(o.out), r)
}

// check refuses settings that would not act on this model: every flag acts or is
// refused.
func (o *classifyOptions) check(cmd *cobra.Command, src *runtime.Source) error {
	if src.Weights != nil && src.Weights.Spec.Kind == models.Generative && !o.amortized {
		return nil
	}
	how := "its logits"
	if o.amortized {
		how = "the encoder's mean (--amortized)"
	}
	return refuse(cmd, "applies to the full inference of a generative model; "+src.Arg+" is classified by "+how,
		"eot", "seed", "starts", "infer-steps", "infer-lr", "bank-seed", "loss-at", "runtime", "threads", "infer-beta", "infer-exact")
}
