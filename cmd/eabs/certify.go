package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/runtime"
)

func init() { register(newCertifyCmd) }

type certifyFlags struct {
	out, csv, plot, advDir string
	state                  string
	batch                  int
	sf                     sampleFlags
	ef                     engineFlags
	of                     onnxFlags
	opt                    certify.Options
	validate, audit        bool
	auditOpt               certify.AuditOptions
	validateFrom           string
	val                    certify.ValidationConfig
	smoothing              float64
	smooth                 certify.Smoothing
	seed                   uint64
	memLimitMiB            int64
	force                  bool
}

func newCertifyCmd() *cobra.Command {
	cf := &certifyFlags{opt: certify.DefaultOptions(), smooth: certify.DefaultSmoothing(0), auditOpt: certify.DefaultAudit()}
	cmd := &cobra.Command{
		Use:   "certify MODEL --dataset D",
		Short: "Certified L2 radii: the Appendix-A lower bound of E-ABS, or randomized smoothing of any classifier",
		Long: `For each image, with exact inference (mean only, no sampling):
l*_k(x) = min_z ||x - G_k(z)||^2 - beta*log D(z), r = ||x - G_y(z*_y)||,
d_k(x) = min_z ||x - G_k(z)||, and

  eps*(x) = min_{k != y} (d_k(x)^2 - l*_y(x)) / (2 d_k(x) + 2 r)

(0 when the image is misclassified). This is a LOWER BOUND UNDER EXACT INFERENCE, and
only as far as the d_k found are the true minima: an optimiser can only overestimate
d_k, which inflates eps*. So d_k is minimised from independent start banks (--restarts,
--infer-steps; see the label each result carries), and every point any search evaluated
bounds it. The reference graph (--runtime ref, float64) is the source of truth; --runtime
ort runs the same computation on ONNX Runtime.

--validate attacks every certified image with --validate-attacks, budget just below its
eps*, against (a) the exact-inference classifier the bound is about and (b) the deployed
randomised model (the default inference); a violation is counted, reported and its image
saved (--adv-dir).

--smoothing SIGMA certifies a classifier (a CNN, or a plain .onnx) by randomized
smoothing instead (Cohen et al. 2019, CERTIFY), on ONNX Runtime unless --runtime ref.

Images are the seeded sample of --n (--sample-seed; 0: the first --n), split by --shard
for cluster jobs; eabs report --merge joins the parts.`,
		Example: `  eabs certify zoo:mnist-eabs --n 100 --validate --out certify.json
  eabs certify --smoothing 0.25 zoo:mnist-cnn-smooth025 --n 500 --out sigma025.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cf.memLimitMiB > 0 {
				debug.SetMemoryLimit(cf.memLimitMiB << 20)
			}
			src, err := runtime.Load(args[0])
			if err != nil {
				return err
			}
			if err := cf.of.apply(cmd, src); err != nil {
				return err
			}
			if cmd.Flags().Changed("smoothing") {
				return runSmoothing(cmd, cf, src)
			}
			return runCertify(cmd, cf, src)
		},
	}
	f := cmd.Flags()
	cf.sf.add(f, 100, "images to certify")
	cf.ef.add(cmd, "ref")
	cf.of.add(f)
	f.IntVar(&cf.batch, "batch", 8, "images per batch")
	o := &cf.opt
	addInferFlags(f, &o.Infer)
	f.IntVar(&o.Restarts, "restarts", o.Restarts, "independent minimisations of d_k (fresh start banks) at least; d_k is the lowest point any evaluated")
	f.IntVar(&o.MaxRestarts, "max-restarts", o.MaxRestarts, "restarts per image at most: after --restarts, an image is restarted until its binding d_k moved by at most --d-tol and its prediction held (0: --restarts)")
	f.Float64Var(&o.DTol, "d-tol", o.DTol, "convergence tolerance (L2) on the binding class's d_k")
	a := &cf.auditOpt
	f.BoolVar(&cf.audit, "audit", false, "re-search d_k of every certified image with other start banks and a direct descent on the distance, and report where it finds a smaller one")
	f.IntVar(&a.Banks, "audit-banks", a.Banks, "audit: start banks (other seeds than the certificate's)")
	f.IntVar(&a.Starts, "audit-starts", a.Starts, "audit: random starting means per bank")
	f.Uint64Var(&a.Seed, "audit-seed", a.Seed, "audit: seed of the first bank")
	f.IntVar(&a.Top, "audit-top", a.Top, "audit: closest starts per bank and class descended from")
	f.IntVar(&a.Steps, "audit-steps", a.Steps, "audit: descent steps on ||x - G_k(z)||")
	f.Float64Var(&a.Tol, "audit-tol", a.Tol, "audit: a d_k this much below the certificate's counts as smaller")
	f.Int64Var(&cf.memLimitMiB, "mem-limit", 1536, "soft limit of the Go heap in MiB (the garbage collector works harder near it); 0: Go's default")
	f.IntVar(&o.Chunk, "chunk", o.Chunk, "start-bank means decoded per call (bounds the reference graph's memory)")
	f.BoolVar(&cf.validate, "validate", false, "attack every certified image inside its radius (exact and deployed model)")
	f.StringSliceVar(&cf.val.Attacks, "validate-attacks", []string{"pgd-l2", "ddn", "lda"}, "L2 attacks of the validation, in order")
	f.IntVar(&cf.val.Steps, "validate-steps", 80, "steps of the validation's PGD-L2 and DDN (the paper's budget)")
	f.IntVar(&cf.val.Restarts, "validate-restarts", 2, "PGD-L2 random restarts of the validation")
	f.IntVar(&cf.val.Warm, "validate-warm", 1, "Adam steps of the attacker's warm-started inference per gradient (-1: full inference for every gradient)")
	f.IntVar(&cf.val.EOT, "validate-eot", 1, "inference runs the attacker averages per gradient on the deployed model")
	f.IntVar(&cf.val.VerdictEOT, "validate-verdict-eot", 5, "inference runs (fresh noise) the deployed model's verdict averages")
	f.IntVar(&cf.val.Workers, "validate-workers", goruntime.NumCPU(), "certificates validated at once")
	f.Uint64Var(&cf.val.Seed, "validate-seed", 1, "seed of the validation's attacks and the deployed model's noise")
	f.StringVar(&cf.validateFrom, "validate-from", "", "validate the certificates of this eabs certify report (same model) instead of computing them")
	f.IntVar(&cf.val.N, "validate-n", 0, "validate only the first N images of the sample (0: all)")
	f.StringVar(&cf.val.Runtime, "validate-runtime", "", "engine of the validation's attacks (default: --runtime)")
	f.StringVar(&cf.advDir, "adv-dir", "", "where violations' adversarial images go (default: certify-violations beside --out)")
	f.Float64Var(&cf.smoothing, "smoothing", 0, "certify by randomized smoothing with this noise sigma (MODEL is a classifier)")
	f.IntVar(&cf.smooth.N0, "n0", cf.smooth.N0, "smoothing: noisy samples selecting the top class")
	f.IntVar(&cf.smooth.N, "samples", cf.smooth.N, "smoothing: noisy samples estimating p_A")
	f.Float64Var(&cf.smooth.Alpha, "alpha", cf.smooth.Alpha, "smoothing: failure probability of the Clopper-Pearson bound")
	f.IntVar(&cf.smooth.Batch, "smooth-batch", cf.smooth.Batch, "smoothing: noisy samples per ONNX Runtime call")
	f.Uint64Var(&cf.seed, "seed", 1, "smoothing: seed of the noise (image i uses stream (seed, i))")
	addOut(f, &cf.out, "write the report with every certificate as JSON here ({shard}: i-of-n)")
	f.BoolVar(&cf.force, "force", false, "replace an existing results file --out")
	f.StringVar(&cf.state, "state", "", "state file, saved after every restart and resumed from (default: OUT.state)")
	f.StringVar(&cf.csv, "csv", "", "write per-image certificates as CSV here")
	f.StringVar(&cf.plot, "plot", "", "write the certified-accuracy curve as PNG here")
	return cmd
}

func runCertify(cmd *cobra.Command, cf *certifyFlags, src *runtime.Source) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := refuse(cmd, "applies to randomized smoothing (--smoothing SIGMA)", "n0", "samples", "alpha", "smooth-batch", "seed"); err != nil {
		return err
	}
	if !cf.validate && cf.validateFrom == "" {
		if err := refuse(cmd, "applies to --validate", "validate-attacks", "validate-steps", "validate-restarts", "validate-warm", "validate-eot",
			"validate-verdict-eot", "validate-workers", "validate-seed", "validate-n", "validate-runtime", "adv-dir"); err != nil {
			return err
		}
	}
	// Certification keeps no state: a signal ends it at once (handleSignals).
	ctx := context.Background()
	if !cf.audit {
		if err := refuse(cmd, "applies to --audit", "audit-banks", "audit-starts", "audit-seed", "audit-top", "audit-steps", "audit-tol"); err != nil {
			return err
		}
	}
	progress, finish := bars(stderr)
	job := certify.Job{Model: src, Engine: cf.ef.engine, Runtime: cf.ef.options(cmd), Options: cf.opt, Batch: cf.batch, Progress: progress}
	if cf.audit {
		if cf.validateFrom != "" {
			return fmt.Errorf("--audit runs with a certification, not with --validate-from")
		}
		job.Audit = &cf.auditOpt
	}
	if cf.validate || cf.validateFrom != "" {
		job.Validate = &cf.val
	}
	var (
		rep *certify.Report
		set *data.Set
		err error
	)
	out := cf.out
	if cf.validateFrom != "" {
		prev, err := certify.ReadReport(cf.validateFrom)
		if err != nil {
			return err
		}
		root, _ := data.ResolveRoot(cf.sf.dataDir, os.Getenv)
		if err := checkOutputs(out, "", cf.force); err != nil {
			return err
		}
		rep, set, err = certify.Revalidate(ctx, job, prev, root)
		finish()
		if err != nil {
			return err
		}
	} else {
		if job.Sample, err = cf.sf.load(cmd, src); err != nil {
			return err
		}
		out = job.Sample.Shard.PartPath(out)
		if job.State = cf.state; job.State == "" && out != "" && out != "-" {
			job.State = out + ".state"
		} else {
			job.State = job.Sample.Shard.PartPath(job.State)
		}
		if err := checkOutputs(out, job.State, cf.force); err != nil {
			return err
		}
		rep, set, err = certify.Run(ctx, job)
		finish()
		if err != nil {
			if job.State != "" {
				fmt.Fprintf(stderr, "finished restarts are saved in %s; rerun the same command to resume\n", job.State)
			}
			return err
		}
	}
	rep.Provenance = buildinfo.NewProvenance()
	printCertify(stdout, rep)
	if job.Validate != nil {
		dir := cf.advDir
		if dir == "" {
			dir = filepath.Join(filepath.Dir(out), "certify-violations")
		}
		vs, err := certify.SaveViolations(dir, set, rep.Results)
		for _, v := range vs {
			fmt.Fprintf(stderr, "VIOLATION: image %d (label %d, eps* %.4f) on %s: %s found prediction %d at L2 %.4f; saved %s.{png,f32}\n",
				v.Result.Index, v.Result.Label, v.Result.Eps, v.Check.Target, v.Check.Attack, v.Check.Pred, v.Check.L2, v.Base)
		}
		if err != nil {
			return err
		}
	}
	if err := rep.WriteFiles(src.Name(), cf.csv, cf.plot); err != nil {
		return err
	}
	if err := writeResult(cmd, out, rep); err != nil {
		return err
	}
	if job.State != "" {
		os.Remove(job.State)
	}
	return nil
}
