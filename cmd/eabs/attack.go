package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/shard"
	"github.com/eabs/eabs/suite"
	"github.com/spf13/cobra"
)

func init() { register(newAttackCmd) }

func newProvenance() provenance {
	return provenance{Command: os.Args, Build: buildinfo.Collect(), Time: time.Now().UTC().Format(time.RFC3339)}
}

type attackCmdOptions struct {
	sf                 setFlags
	rf                 runtimeFlags
	sh                 shardFlags
	attacks            string
	sampleSeed, seed   uint64
	epsL2, epsLinf     float64
	state, out         string
	batch, attackBatch int
	attackAll          bool
	eot, verdictEOT    int
	verdictRetries     int
	keep, sweepN       int
	sweepFactors       string
	ao                 attackOptions
	pgdKeepGoing       string
	after, reuse       string
	warmSteps          int
	warmRestart        int
	warmChanged        int
	infer              infer.Options
}

func newAttackCmd() *cobra.Command {
	o := &attackCmdOptions{infer: infer.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "attack MODEL --attacks pgd-l2,pgd-linf,... --n N --out RESULTS.json",
		Short: "Run the attack suite on a seeded random sample of test images",
		Long: `Attack a model with a list of attacks on the same --n seeded random test images
(--sample-seed; every model evaluated with the same seed sees the same images) and write
per-sample results: the clean verdict, and per attack whether the sample is still robust
at the budget, the smallest verified adversarial distance (L2 and Linf) and the queries.

Attacks run in the order given, each only on the samples still robust in its norm, so
"All" per norm is the per-sample worst case (--attack-all runs every attack on every
correct sample, for per-attack columns that are each attack's own accuracy). No attack
is trusted: every candidate is classified again by the verdict (a CNN: its logits; E-ABS:
full inference with fresh noise averaged over --verdict-eot runs), distances are measured
here, and a candidate counts only if misclassified within the budget.

The run saves its state after every batch (--state, default OUT.state) and resumes from
it after a kill (refusing a state of another model, sample, data or configuration);
SIGINT and SIGTERM save and exit. --shard i/n (or auto under Slurm or Kubernetes) runs a
deterministic part of the sample list into its own file; eabs report --merge joins the
parts. With --attack-batch 1 (the default) every sample has its own random stream and a
merged sharded run equals the unsharded one exactly.

Self-checks in every result: randomised verdicts (two clean verdicts differ), gradient
rows all zero or NaN, candidates outside [0,1] or their budget, and an accuracy-vs-eps
sweep (the first bounded attack of each norm again at --sweep-factors times the budget
on the first --sweep-n samples) that must fall to ~0.

Attacks: ` + attackNames() + `. Budgets default to the paper's for the dataset (L2 1.5;
Linf 0.3 MNIST, 0.1 Fashion-MNIST, 8/255 otherwise).`,
		Example: `  eabs attack zoo:mnist-cnn --dataset mnist --attacks pgd-l2,pgd-linf --n 500 --out results/mnist-cnn/attack.json
  eabs attack zoo:mnist-eabs --attacks pgd-l2 --n 500 --shard 0/4 --out results/mnist-eabs/attack.json
  eabs report --merge results/mnist-eabs/attack.shard-*-of-4.json --out results/mnist-eabs/attack.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAttack(cmd, o, args) },
	}
	f := cmd.Flags()
	o.rf.add(cmd, "ort")
	o.sf.add(f, "dataset (default: the model's)", 100, "number of seeded random test images to attack")
	o.sh.add(f)
	f.StringVar(&o.attacks, "attacks", "pgd-l2,pgd-linf", "comma-separated attacks, run in this order: "+attackNames())
	f.Uint64Var(&o.sampleSeed, "sample-seed", 1, "seed of the random sample of test images (data.SampleIndices); keep it equal across models")
	f.Float64Var(&o.epsL2, "eps-l2", 0, "L2 budget (default: the paper's, 1.5)")
	f.Float64Var(&o.epsLinf, "eps-linf", 0, "Linf budget (default: the paper's for the dataset)")
	f.StringVar(&o.out, "out", "", "results file (JSON); a shard writes OUT with .shard-i-of-n before the extension, or {shard} replaced")
	f.StringVar(&o.state, "state", "", "state file, saved after every batch and resumed from (default: the results file + .state)")
	f.IntVar(&o.batch, "batch", 16, "samples per batch (state saved after each; verdicts batched)")
	f.IntVar(&o.attackBatch, "attack-batch", 1, "samples per attack call: 1 gives every sample its own random stream (exact shard merges); more is faster on batched models")
	f.BoolVar(&o.attackAll, "attack-all", false, "run every attack on every correctly classified sample, not only those still robust")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the attacks' randomness and the verdict's noise")
	f.IntVar(&o.eot, "eot", 5, "E-ABS: inference runs averaged per attack gradient (the paper's 5)")
	f.IntVar(&o.verdictEOT, "verdict-eot", 5, "E-ABS: inference runs averaged per verdict, with fresh noise")
	f.IntVar(&o.verdictRetries, "verdict-retries", -1, "attack a sample again (fresh random streams), up to this many times, when the attacker's own inference called its candidate adversarial and the verdict overturned it (a randomised model: PGD skips its remaining restarts once it believes it won); each retry is one more candidate judged with fresh noise, its queries counted. -1 (auto): 3 for E-ABS and ABS (measured: PGD-Linf on 100 MNIST images left 4 robust without, 1 with up to 3 retries; results/mnist/verdict-retries.md), 0 for deterministic classifiers, where a verdict cannot overturn; 0 keeps the configuration of runs made before the flag")
	f.IntVar(&o.keep, "keep", 10, "store clean and adversarial images of the first K samples (figures)")
	f.IntVar(&o.sweepN, "sweep-n", 20, "samples of the accuracy-vs-eps sweep (0: no sweep)")
	f.StringVar(&o.sweepFactors, "sweep-factors", "2,4", "sweep budgets as multiples of each norm's budget (each > 1)")
	f.IntVar(&o.ao.pgdSteps, "pgd-steps", 80, "PGD steps (the paper's 80)")
	dw := attack.DefaultWarmStart()
	f.IntVar(&o.warmSteps, "warm-steps", dw.Steps, "E-ABS attacker: warm-start each gradient's latent optimisation from the previous iterate's z* with this many Adam steps (0 re-reads z* at the new image; the full search runs for a new sample and, unless --warm-restart/--warm-changed, at a restart or a changed prediction; defaults chosen by measurement: results/bench/pgd-l2-speed/README.md); -1: full inference for every gradient")
	f.IntVar(&o.ao.queries, "queries", 0, "per-sample query budget of the gradient-free attacks (default: each attack's: square/nes/spsa ~5000, hsj ~36,000, boundary 25,000 steps, noise 1000: 100 sizes x 10 draws, both shrunk to fit a smaller budget)")
	f.StringVar(&o.after, "after", "", "continue this complete results file of the same model: keep its records and run --attacks after its attacks, on the samples still robust, as if one run had listed them all (sample, seeds, batches, kept images and sweep come from it; a smaller --n continues only its first N samples)")
	f.IntVar(&o.warmRestart, "warm-restart", dw.Restart, "E-ABS attacker, with --warm-steps: answer a random restart (the image moved farther than the warm start's MaxMove) with this many Adam steps from the sample's first optimum instead of the full search; 0: full search")
	f.IntVar(&o.warmChanged, "warm-changed", dw.Changed, "E-ABS attacker, with --warm-steps: answer a changed warm-started prediction with this many more Adam steps instead of the full search; 0: full search")
	f.StringVar(&o.reuse, "reuse", "", "grow this complete results file of the same model and configuration to --n samples: its samples are the first of the larger seeded sample, so their records are copied and only the new samples are attacked (seeds, batches, kept images, sweep and dataset come from it; needs --attack-batch 1)")
	f.StringVar(&o.pgdKeepGoing, "pgd-keep-going", "auto", "PGD steps on to the end of the restart after the model is fooled and returns the most confidently adversarial iterate: on, off, or auto (on for E-ABS, whose randomised verdict overturns barely-fooled candidates; off for deterministic classifiers, where stopping early is only faster)")
	f.IntVar(&o.ao.pgdRestarts, "pgd-restarts", 0, "PGD random restarts (default: the paper's, 5 on MNIST and Fashion-MNIST, 20 otherwise)")
	f.IntVar(&o.infer.Starts, "starts", o.infer.Starts, "E-ABS inference: random starts")
	f.IntVar(&o.infer.Steps, "infer-steps", o.infer.Steps, "E-ABS inference: Adam steps")
	f.Float64Var(&o.infer.LR, "lr", o.infer.LR, "E-ABS inference: Adam step size")
	addLossAt(f, &o.infer.LossAt)
	return cmd
}

func parseFactors(s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || !(v > 1) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--sweep-factors: %q is not a finite number > 1", p)
		}
		out = append(out, v)
	}
	return out, nil
}

// check validates every numeric flag, naming it and its range.
func (o *attackCmdOptions) check(dataset string) (map[attack.Norm]float64, error) {
	checks := []struct {
		name string
		bad  bool
		want string
		val  any
	}{
		{"--n", o.sf.n < 1, "at least 1", o.sf.n},
		{"--batch", o.batch < 1, "at least 1", o.batch},
		{"--attack-batch", o.attackBatch < 1, "at least 1", o.attackBatch},
		{"--eot", o.eot < 1, "at least 1", o.eot},
		{"--verdict-eot", o.verdictEOT < 1, "at least 1", o.verdictEOT},
		{"--verdict-retries", o.verdictRetries < -1, "-1 (auto) or more", o.verdictRetries},
		{"--keep", o.keep < 0, "0 or more", o.keep},
		{"--sweep-n", o.sweepN < 0, "0 or more", o.sweepN},
		{"--pgd-steps", o.ao.pgdSteps < 1, "at least 1", o.ao.pgdSteps},
		{"--pgd-restarts", o.ao.pgdRestarts < 0, "0 (the paper's) or more", o.ao.pgdRestarts},
		{"--eps-l2", !(o.epsL2 >= 0) || math.IsInf(o.epsL2, 0), "a finite budget > 0 (0: the paper's)", o.epsL2},
		{"--eps-linf", !(o.epsLinf >= 0) || o.epsLinf > 1, "in (0, 1] (0: the paper's)", o.epsLinf},
		{"--starts", o.infer.Starts < 0, "0 or more", o.infer.Starts},
		{"--infer-steps", o.infer.Steps < 0, "0 or more", o.infer.Steps},
		{"--lr", !(o.infer.LR > 0) || math.IsInf(o.infer.LR, 0), "a finite step > 0", o.infer.LR},
	}
	for _, c := range checks {
		if c.bad {
			return nil, fmt.Errorf("%s %v: want %s", c.name, c.val, c.want)
		}
	}
	prof, err := data.ProfileOf(dataset)
	if err != nil {
		return nil, err
	}
	eps := map[attack.Norm]float64{attack.L2: o.epsL2, attack.Linf: o.epsLinf}
	if eps[attack.L2] == 0 {
		eps[attack.L2] = prof.EpsL2
	}
	if eps[attack.Linf] == 0 {
		eps[attack.Linf] = prof.EpsLinf
	}
	if o.ao.pgdRestarts == 0 {
		o.ao.pgdRestarts = prof.Restarts
	}
	return eps, nil
}

// takeFrom sets the run settings --after's (or --reuse's) results file fixes (sample,
// seeds, batches, kept images, sweep size, dataset) from it, unless the user gave them;
// the suite refuses a continuation whose settings differ, naming the difference. A
// run grown with --reuse keeps its own --n.
func (o *attackCmdOptions) takeFrom(cmd *cobra.Command, prev *suite.Result, grow bool) {
	f := cmd.Flags()
	set := func(name string, apply func()) {
		if !f.Changed(name) {
			apply()
		}
	}
	ps := prev.Settings
	set("dataset", func() { o.sf.dataset = prev.Header.Dataset })
	set("split", func() { o.sf.split = prev.Header.Split })
	if !grow {
		set("n", func() { o.sf.n = prev.Header.SampleN })
	}
	set("sample-seed", func() { o.sampleSeed = prev.Header.SampleSeed })
	set("seed", func() { o.seed = ps.Seed })
	set("batch", func() { o.batch = ps.Batch })
	set("attack-batch", func() { o.attackBatch = ps.AttackBatch })
	set("attack-all", func() { o.attackAll = ps.AttackAll })
	set("keep", func() { o.keep = ps.Keep })
	set("sweep-n", func() { o.sweepN = ps.SweepN })
}

func runAttack(cmd *cobra.Command, o *attackCmdOptions, args []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.out == "" {
		return fmt.Errorf("--out is required (the results file)")
	}
	sp, err := o.sh.parse()
	if err != nil {
		return err
	}
	var prev *suite.Result
	if o.after != "" {
		if prev, err = suite.ReadFile(o.after); err != nil {
			return fmt.Errorf("--after: %w", err)
		}
		o.takeFrom(cmd, prev, false)
	}
	var grown *suite.Result
	if o.reuse != "" {
		if o.after != "" {
			return fmt.Errorf("--after and --reuse: a run either continues another or grows one, not both")
		}
		if grown, err = suite.ReadFile(o.reuse); err != nil {
			return fmt.Errorf("--reuse: %w", err)
		}
		o.takeFrom(cmd, grown, true)
	}
	// A plain .onnx classifier (one image input, one logits output) runs on ONNX
	// Runtime; everything else is an eabs model (file, run, export or zoo name).
	onnxFile := strings.EqualFold(filepath.Ext(args[0]), ".onnx")
	var w *models.Weights
	path := args[0]
	if onnxFile {
		if o.sf.dataset == "" {
			return fmt.Errorf("%s is a plain ONNX classifier, which names no dataset: give --dataset", path)
		}
	} else if w, path, err = o.sf.loadModel(args[0]); err != nil {
		return err
	}
	eps, err := o.check(o.sf.dataset)
	if err != nil {
		return err
	}
	factors, err := parseFactors(o.sweepFactors)
	if err != nil {
		return err
	}
	// The decision-based attacks start from the nearest test image of another class
	// (the paper's Boundary attack start), once the data is loaded.
	var starts func([]float32, int) ([]float32, bool)
	o.ao.starts = func(x []float32, y int) ([]float32, bool) { return starts(x, y) }
	// The "auto" settings are for randomised (generative) models.
	generative := w != nil && w.Spec.Kind == models.Generative
	switch o.pgdKeepGoing {
	case "on":
		o.ao.pgdKeepGoing = true
	case "auto":
		o.ao.pgdKeepGoing = generative
	}
	if o.verdictRetries == -1 {
		o.verdictRetries = 0
		if generative {
			o.verdictRetries = 3
		}
	}
	entries, sweep, err := buildAttacks(o.attacks, eps, o.ao, factors)
	if err != nil {
		return err
	}
	set, err := loadSet(stderr, o.sf.dataset, o.sf.dataDir, o.sf.split)
	if err != nil {
		return err
	}
	starts = attack.StartsFrom(set.Images, set.Labels)
	var oc *ort.Classifier
	if onnxFile {
		if err := initORT(cmd); err != nil {
			return err
		}
		if oc, err = ort.OpenClassifier(path, ort.ClassifierOptions{Workers: o.rf.workers}); err != nil {
			return err
		}
		defer oc.Close()
		c, h, wd := oc.Shape()
		w = &models.Weights{Spec: models.Spec{Arch: models.Arch{Name: filepath.Base(path), InC: c, InH: h, InW: wd, Classes: oc.Classes()}}}
	}
	if err := checkSetFits(path, w.Spec.Arch, o.sf.dataset, set); err != nil {
		return err
	}
	if all, err := o.sf.count(); err != nil {
		return err
	} else if all < 0 {
		o.sf.n = set.N // --all: the sample is a permutation of the whole split
	}
	if o.sf.n > set.N {
		return fmt.Errorf("--n %d: want 1..%d (the images of %s %s)", o.sf.n, set.N, o.sf.dataset, o.sf.split)
	}
	fp, err := dataFingerprint(o.sf.dataset, o.sf.dataDir)
	if err != nil {
		return err
	}
	modelSHA := ""
	if onnxFile {
		if modelSHA, err = fileSHA256(path); err != nil {
			return err
		}
	} else {
		modelSHA = onnx.WeightsSHA256(w)
	}
	h := shard.Header{ModelSHA256: modelSHA, DataFingerprint: fp, Dataset: o.sf.dataset, Split: o.sf.split,
		SampleSeed: o.sampleSeed, SampleN: o.sf.n, Shard: sp}
	var model, verdict attack.Classifier
	var attacker *attack.Adaptive // E-ABS: its inference counts go into the provenance
	switch {
	case onnxFile:
		model, verdict = oc, oc
		h.Config = "onnx classifier logits, ONNX Runtime"
	case w.Spec.Kind == models.CNN:
		c, err := ref.NewClassifier(w)
		if err != nil {
			return err
		}
		defer c.Close()
		model, verdict = c, c
		h.Config = "cnn logits, reference graph float64"
	default:
		rt, cleanup, err := openModel(cmd, o.rf, args[0], w, o.infer)
		if err != nil {
			return err
		}
		defer cleanup()
		defer rt.Close()
		e, err := newEngine(stderr, rt, o.infer)
		if err != nil {
			return err
		}
		adaptive := &attack.Adaptive{Engine: e, EOT: o.eot, Workers: o.rf.workers}
		warm := fmt.Sprintf("warm steps %d", o.warmSteps)
		if o.warmSteps >= 0 {
			ws := attack.DefaultWarmStart()
			ws.Steps, ws.Restart, ws.Changed = o.warmSteps, o.warmRestart, o.warmChanged
			adaptive.Warm = &ws
			// Named only when set, so runs from before these options keep their
			// configuration (what they did is what 0 does).
			if ws.Restart > 0 {
				warm += fmt.Sprintf(" restart %d", ws.Restart)
			}
			if ws.Changed > 0 {
				warm += fmt.Sprintf(" changed %d", ws.Changed)
			}
		}
		model = adaptive
		attacker = adaptive
		verdict = &attack.Verdict{Engine: e, EOT: o.verdictEOT, Workers: o.rf.workers, Seed: o.seed}
		h.Config = fmt.Sprintf("e-abs adaptive gradient (eq. 8) EOT %d %s, verdict full inference EOT %d, runtime %s, inference %+v", o.eot, warm, o.verdictEOT, o.rf.engine, o.infer)
	}
	out := partPath(o.out, sp)
	state := o.state
	if state == "" {
		state = out + ".state"
	} else {
		state = partPath(state, sp)
	}
	// The model is named by what the user called it: a zoo name, or the file's base
	// name (a training run's directory name for its model.eabs).
	name := strings.TrimPrefix(args[0], "zoo:")
	if !strings.HasPrefix(args[0], "zoo:") {
		name = strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0]))
		if name == "model" {
			name = filepath.Base(filepath.Dir(args[0]))
		}
	}
	if prev != nil {
		// The continued run's sweep is kept; a norm it did not sweep is swept with its
		// first bounded attack here, as one run of all the attacks would.
		swept := map[attack.Norm]bool{}
		for _, a := range prev.Settings.Sweep {
			swept[a.Norm] = true
		}
		sweep = slices.DeleteFunc(sweep, func(e suite.Entry) bool { return swept[e.Attack.Norm()] })
	}
	cfg := suite.Config{Header: h, Model: name, Attacks: entries, Sweep: sweep, SweepN: o.sweepN, Seed: o.seed,
		Batch: o.batch, AttackBatch: o.attackBatch, AttackAll: o.attackAll, Keep: o.keep, State: state, After: prev, Reuse: grown,
		Retries: o.verdictRetries}
	ctx, stop := signalContext(cmd)
	defer stop()
	total := len(sp.Positions(min(o.sf.n, set.N)))
	var names []string
	for _, e := range entries {
		names = append(names, fmt.Sprintf("%s@%g", e.Attack.Name(), e.Eps))
	}
	fmt.Fprintf(stderr, "attack %s (%s) shard %s: %s on %d of %d samples; state %s\n", name, path, sp, strings.Join(names, ", "), total, o.sf.n, state)
	bar := newProgress(stderr, total, "attack "+sp.String())
	start := time.Now()
	r, err := suite.Run(ctx, cfg, set, model, verdict, bar.resumable())
	bar.Finish()
	if err != nil {
		if errors.Is(err, suite.ErrInterrupted) {
			fmt.Fprintf(stderr, "interrupted: finished batches saved in %s; rerun the same command to resume\n", state)
		}
		return err
	}
	// A continued (--after) or grown (--reuse) run keeps the provenance of the records
	// it took over.
	type source struct {
		File       string `json:"file"`
		Provenance any    `json:"provenance"`
	}
	var after, reused *source
	if prev != nil {
		after = &source{o.after, prev.Provenance}
	}
	if grown != nil {
		reused = &source{o.reuse, grown.Provenance}
	}
	// Where an E-ABS attacker's inference went (full searches, warm refinements and
	// their CPU time), for the cost reports.
	var stats *attack.AdaptiveStats
	if attacker != nil {
		st := attacker.Stats()
		stats = &st
	}
	r.Provenance = struct {
		provenance
		Model    string                `json:"model_path"`
		Seconds  float64               `json:"seconds"`
		After    *source               `json:"after,omitempty"`
		Reuse    *source               `json:"reuse,omitempty"`
		Attacker *attack.AdaptiveStats `json:"attacker_inference,omitempty"`
	}{newProvenance(), path, time.Since(start).Seconds(), after, reused, stats}
	if err := suite.WriteFile(out, r); err != nil {
		return err
	}
	if err := os.Remove(state); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "warning: could not remove the finished state %s: %v\n", state, err)
	}
	printSummary(stdout, r)
	fmt.Fprintf(stderr, "wrote %s\n", out)
	return nil
}

// printSummary writes a result's accuracies and failed checks.
func printSummary(w io.Writer, r *suite.Result) {
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
		fmt.Fprintf(w, "  %-12s %-4s eps %-7g robust %5.1f%% [%.1f, %.1f]%s\n", a.Name, a.Norm, a.Eps, 100*a.Robust.Acc, 100*a.Robust.Lo, 100*a.Robust.Hi, note)
	}
	for _, a := range s.All {
		fmt.Fprintf(w, "  %-12s %-4s eps %-7g robust %5.1f%% [%.1f, %.1f]\n", "All", a.Norm, a.Eps, 100*a.Robust.Acc, 100*a.Robust.Lo, 100*a.Robust.Hi)
	}
	for _, m := range s.Checks.Warnings {
		fmt.Fprintf(w, "  check: %s\n", m)
	}
}

// fileSHA256 identifies a plain ONNX classifier by its file's bytes (an eabs model is
// identified by its weights, onnx.WeightsSHA256).
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
