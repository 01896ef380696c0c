package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/adversary"
	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/runtime"
)

func init() { register(newAttackCmd) }

type attackCmdOptions struct {
	ef                        engineFlags
	sf                        sampleFlags
	of                        onnxFlags
	attacks, sweepFactors     string
	epsL2, epsLinf            budgetFlag
	out, state, after, reuse  string
	run                       eval.Config
	as                        eval.AttackSettings
	eabs                      eval.EABSSettings
	warm                      adversary.WarmStart
	verdictRetries, warmSteps int
	force                     bool
	beta                      float64
}

func newAttackCmd() *cobra.Command {
	o := &attackCmdOptions{eabs: eval.EABSSettings{Infer: infer.DefaultOptions()}, warm: adversary.DefaultWarmStart()}
	cmd := &cobra.Command{
		Use:   "attack MODEL --attacks pgd-l2,pgd-linf,... --n N --out RESULTS.json",
		Short: "Run the attack suite on a seeded random sample of test images",
		Long: `Attack a model with a list of attacks on the same --n seeded random test images
(--sample-seed: every model evaluated with the same seed sees the same images) and write
per-sample results: the clean verdict, and per attack whether the sample is still robust
at the budget, the smallest verified adversarial distance (L2 and Linf) and the queries.

Attacks run in the order given, each only on the samples still robust in its norm, so
"All" per norm is the per-sample worst case (--attack-all: every attack on every correct
sample). No attack is trusted: every candidate is classified again by the verdict (a
classifier: its logits; E-ABS: full inference with fresh noise, --verdict-eot runs), and
counts only if misclassified within the budget (default: the dataset's, the paper's).

The state is saved after every batch (--state, default OUT.state) and a rerun resumes
from it; SIGINT and SIGTERM save and exit. --shard runs a part; eabs report --merge joins
the parts, equal to the unsharded run. Self-checks in every result: randomised verdicts,
zero or NaN gradient rows, candidates outside [0,1] or the budget, and an
accuracy-vs-eps sweep (--sweep-factors times the budget on --sweep-n samples).

MODEL may be a plain .onnx classifier, run on ONNX Runtime with gradients from its
gradient graph (onnx/grad): --layout NCHW|NHWC (default: read from the input shape),
--bounds lo,hi (Foolbox's bounds: [0,1] pixels are mapped onto them; budgets stay in
[0,1] units), --mean/--std (Foolbox's preprocessing, inside the model, so gradients are
with respect to the pixels), --output-name, --output-kind logits|probabilities|
log-probabilities (attacks read the log of probabilities). A graph the differentiator
cannot take is refused for gradient attacks before any work, naming the node.
--dataset may name your own data (folder:DIR, npz:FILE, ...; eabs data --help), which
has no budgets: give --eps-l2 and --eps-linf for the norms of the attacks.
Attacks: ` + strings.Join(attack.Names(), ", ") + `.
AutoAttack's standard version (APGD-CE, APGD-T, FAB-T, Square, with its parameters;
a RobustBench-style summary line): autoattack (Linf then L2), autoattack-linf,
autoattack-l2; its plus version: autoattack-plus, autoattack-plus-linf, -l2.`,
		Example: `  eabs attack zoo:mnist-cnn --dataset mnist --attacks pgd-l2,pgd-linf --n 500 --out cnn.json
  eabs attack zoo:mnist-eabs --attacks pgd-l2 --n 500 --shard 0/4 --out eabs.json
  eabs attack net.onnx --dataset mnist --attacks autoattack-linf --eps-linf 0.3 --n 1000 --out aa.json
  eabs report --merge eabs.shard-*-of-4.json --out eabs.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAttack(cmd, o, args) },
	}
	f := cmd.Flags()
	o.ef.add(cmd, "ort")
	o.sf.add(f, 100, "seeded random test images to attack")
	o.of.add(f)
	f.StringVar(&o.attacks, "attacks", "pgd-l2,pgd-linf", "comma-separated attacks, run in this order")
	f.Var(&o.epsL2, "eps-l2", "L2 budget, a number or a fraction like 3/2 (default: the dataset's, the paper's; own data: required)")
	f.Var(&o.epsLinf, "eps-linf", "Linf budget, a number or a fraction like 8/255 (default: the dataset's, the paper's; own data: required)")
	f.StringVar(&o.out, "out", "", "results file (JSON); a shard writes OUT with .shard-i-of-n before the extension, or {shard} replaced")
	f.StringVar(&o.state, "state", "", "state file, saved after every batch and resumed from (default: OUT.state)")
	f.BoolVar(&o.force, "force", false, "replace an existing results file --out")
	f.IntVar(&o.run.Batch, "batch", 16, "samples per batch (state saved after each; verdicts batched)")
	f.IntVar(&o.run.AttackBatch, "attack-batch", 1, "samples per attack call: 1 gives every sample its own random stream (exact shard merges)")
	f.BoolVar(&o.run.AttackAll, "attack-all", false, "run every attack on every correctly classified sample, not only those still robust")
	f.Uint64Var(&o.run.Seed, "seed", 1, "seed of the attacks' randomness and the verdict's noise")
	f.IntVar(&o.run.Keep, "keep", 10, "store clean and adversarial images of the first K samples (figures)")
	f.IntVar(&o.run.SweepN, "sweep-n", 20, "samples of the accuracy-vs-eps sweep (0: no sweep)")
	f.StringVar(&o.sweepFactors, "sweep-factors", "2,4", "sweep budgets as multiples of each norm's budget (each > 1)")
	f.IntVar(&o.verdictRetries, "verdict-retries", -1, "attack a sample again with fresh random streams, up to this many times, when the verdict overturned the attacker's claimed adversarial; -1: 3 for generative models, 0 for classifiers")
	f.IntVar(&o.as.PGDSteps, "pgd-steps", 80, "PGD steps (the paper's 80)")
	f.IntVar(&o.as.PGDRestarts, "pgd-restarts", 0, "PGD random restarts (default: the dataset's, the paper's 5 or 20)")
	f.StringVar(&o.as.KeepGoing, "pgd-keep-going", "auto", "PGD and APGD step on to the end of a restart once fooled and keep the most adversarial iterate: on, off, or auto (on for generative models)")
	f.StringVar(&o.as.Judge, "pgd-judge", "auto", "who decides a PGD restart fooled a generative model: auto (its full inference, one query per claim; the warm-started attacker's claims are often false) or off (the attacker, as runs made before)")
	f.IntVar(&o.as.Queries, "queries", 0, "per-sample query budget of the gradient-free attacks (default: each attack's)")
	f.IntVar(&o.as.BasinTargets, "basin-targets", 0, "basin-l2: wrong classes attacked, those with the lowest reachable bound first (default 2)")
	f.IntVar(&o.as.BasinCandidates, "basin-candidates", 0, "basin-l2: latent candidates descended from per target, about one PGD restart each (default 2)")
	f.StringVar(&o.after, "after", "", "continue this complete results file of the same model: run --attacks after its attacks on the samples still robust, as one run of all of them")
	f.StringVar(&o.reuse, "reuse", "", "grow this complete results file of the same model and configuration to --n samples, attacking only the new ones (needs --attack-batch 1)")
	f.IntVar(&o.eabs.EOT, "eot", 5, "generative models: inference runs averaged per attack gradient (the paper's 5)")
	f.IntVar(&o.eabs.VerdictEOT, "verdict-eot", 5, "generative models: inference runs averaged per verdict, with fresh noise")
	f.IntVar(&o.warmSteps, "warm-steps", o.warm.Steps, "generative models: Adam steps of each gradient's latent optimisation, warm-started from the previous iterate's z* (-1: full inference for every gradient)")
	f.IntVar(&o.warm.Restart, "warm-restart", o.warm.Restart, "with --warm-steps: Adam steps from the sample's first optimum at a random restart (0: full search)")
	f.IntVar(&o.warm.Changed, "warm-changed", o.warm.Changed, "with --warm-steps: more Adam steps at a changed prediction (0: full search)")
	addInferFlags(f, &o.eabs.Infer)
	addExactFlag(f, &o.eabs.Infer)
	f.Float64Var(&o.beta, "infer-beta", 0, "generative models: the inference's prior weight beta of -beta*log D(z), for ablations (default: the model's, the paper's 1)")
	return cmd
}

func runAttack(cmd *cobra.Command, o *attackCmdOptions, args []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.out == "" {
		return fmt.Errorf("--out is required (the results file)")
	}
	job, err := o.job(cmd, args[0])
	if err != nil {
		return err
	}
	ctx, stop, stopped := signalContext(cmd)
	defer stop()
	out := job.Sample.Shard.PartPath(o.out)
	job.Run.State = o.state
	if job.Run.State == "" {
		job.Run.State = out + ".state"
	} else {
		job.Run.State = job.Sample.Shard.PartPath(job.Run.State)
	}
	if err := checkOutputs(out, job.Run.State, o.force); err != nil {
		return err
	}
	total := len(job.Sample.Shard.Positions(job.Sample.N))
	fmt.Fprintf(stderr, "attack %s shard %s: %s on %d of %d samples; state %s\n", job.Model.Name(), job.Sample.Shard, o.attacks, total, job.Sample.N, job.Run.State)
	var bank *progress
	job.BankProgress = func(d, n int) {
		if bank == nil {
			bank = newProgress(stderr, n, "start bank")
		}
		bank.Set(d)
	}
	bar := newProgress(stderr, total, "attack "+job.Sample.Shard.String())
	job.Progress = bar.resumable()
	r, prov, err := eval.Attack(ctx, job)
	bank.Finish()
	bar.Finish()
	if err != nil {
		if errors.Is(err, eval.ErrInterrupted) {
			fmt.Fprintf(stderr, "interrupted: finished batches saved in %s; rerun the same command to resume\n", job.Run.State)
			if s := stopped(); s != nil {
				return s
			}
		}
		return err
	}
	r.Provenance = struct {
		buildinfo.Provenance
		eval.AttackProvenance
	}{buildinfo.NewProvenance(), prov}
	if err := eval.WriteFile(out, r); err != nil {
		return err
	}
	if err := os.Remove(job.Run.State); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "warning: could not remove the finished state %s: %v\n", job.Run.State, err)
	}
	printSummary(stdout, r)
	fmt.Fprintf(stderr, "wrote %s\n", out)
	return nil
}

// job turns the flags into the library's attack job.
func (o *attackCmdOptions) job(cmd *cobra.Command, arg string) (eval.AttackJob, error) {
	job := eval.AttackJob{Run: o.run, AfterFile: o.after, ReuseFile: o.reuse}
	var err error
	if job.Model, err = runtime.Load(arg); err != nil {
		return job, err
	}
	if err := o.of.apply(cmd, job.Model); err != nil {
		return job, err
	}
	for _, p := range []struct {
		file string
		dst  **eval.Result
	}{{o.after, &job.Run.After}, {o.reuse, &job.Run.Reuse}} {
		if p.file == "" {
			continue
		}
		if *p.dst, err = eval.ReadFile(p.file); err != nil {
			return job, err
		}
		o.takeFrom(cmd, *p.dst, p.dst == &job.Run.Reuse)
	}
	if o.after != "" && o.reuse != "" {
		return job, fmt.Errorf("--after and --reuse: a run either continues another or grows one, not both")
	}
	job.Run = eval.Config{Seed: o.run.Seed, Batch: o.run.Batch, AttackBatch: o.run.AttackBatch, AttackAll: o.run.AttackAll,
		Keep: o.run.Keep, SweepN: o.run.SweepN, Retries: o.verdictRetries, After: job.Run.After, Reuse: job.Run.Reuse}
	if job.Sample, err = o.sf.load(cmd, job.Model); err != nil {
		return job, err
	}
	job.Runtime = o.ef.options(cmd)
	o.as.Names = splitList(o.attacks)
	o.as.EpsL2, o.as.EpsLinf = float64(o.epsL2), float64(o.epsLinf)
	if o.as.SweepFactors, err = parseFactors(o.sweepFactors); err != nil {
		return job, err
	}
	job.Attacks = o.as
	job.EABS = o.eabs
	job.EABS.Engine = o.ef.engine
	if changed(cmd, "infer-beta") {
		job.EABS.Beta = &o.beta
	}
	if o.warmSteps >= 0 {
		w := o.warm
		w.Steps = o.warmSteps
		job.EABS.Warm = &w
	}
	return job, job.CheckAttacks()
}

// takeFrom sets the run settings that --after's (or --reuse's) results file fixes
// (sample, seeds, batches, kept images, sweep size, dataset) from it, unless the user
// gave them; the runner refuses a continuation whose settings differ. A run grown with
// --reuse keeps its own --n.
func (o *attackCmdOptions) takeFrom(cmd *cobra.Command, prev *eval.Result, grow bool) {
	f := cmd.Flags()
	set := func(name string, apply func()) {
		if !f.Changed(name) {
			apply()
		}
	}
	ps, h := prev.Settings, prev.Header
	set("dataset", func() { o.sf.dataset = h.Dataset })
	set("split", func() { o.sf.split = h.Split })
	if !grow {
		set("n", func() { o.sf.n = h.SampleN })
	}
	set("sample-seed", func() { o.sf.seed = h.SampleSeed })
	set("seed", func() { o.run.Seed = ps.Seed })
	set("batch", func() { o.run.Batch = ps.Batch })
	set("attack-batch", func() { o.run.AttackBatch = ps.AttackBatch })
	set("attack-all", func() { o.run.AttackAll = ps.AttackAll })
	set("keep", func() { o.run.Keep = ps.Keep })
	set("sweep-n", func() { o.run.SweepN = ps.SweepN })
}
