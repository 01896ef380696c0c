package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/shard"
	"github.com/spf13/cobra"
)

func init() { register(newCertifyCmd) }

// CertifyReport is the JSON eabs certify writes (the Appendix-A bound).
type CertifyReport struct {
	provenance
	Header     shard.Header     `json:"header"`
	Label      string           `json:"label"`
	Model      string           `json:"model"`
	WeightsSHA string           `json:"weights_sha256"`
	Dataset    string           `json:"dataset"`
	Split      string           `json:"split"`
	Runtime    string           `json:"runtime"`
	Options    certify.Options  `json:"options"`
	Validation *validateConfig  `json:"validation,omitempty"`
	Summary    certify.Summary  `json:"summary"`
	Seconds    float64          `json:"seconds"`
	PerImage   float64          `json:"seconds_per_image"`
	Results    []certify.Result `json:"results"`
}

// SmoothReport is the JSON eabs certify --smoothing writes.
type SmoothReport struct {
	provenance
	Header     shard.Header           `json:"header"`
	Label      string                 `json:"label"`
	Model      string                 `json:"model"`
	WeightsSHA string                 `json:"weights_sha256"`
	Dataset    string                 `json:"dataset"`
	Split      string                 `json:"split"`
	Smoothing  certify.Smoothing      `json:"smoothing"`
	Seed       uint64                 `json:"seed"`
	Summary    certify.SmoothSummary  `json:"summary"`
	Seconds    float64                `json:"seconds"`
	PerImage   float64                `json:"seconds_per_image"`
	Results    []certify.SmoothResult `json:"results"`
}

// validateConfig is the validation's budget, recorded in every report next to the
// certificates it checked.
type validateConfig struct {
	Attacks []string `json:"attacks"`
	// Steps are PGD-L2's and DDN's steps (the paper's budget for both is 80),
	// Restarts PGD-L2's random restarts.
	Steps    int    `json:"pgd_steps"`
	Restarts int    `json:"pgd_restarts"`
	Seed     uint64 `json:"seed"`
	Runtime  string `json:"runtime"`
	// Warm is the attacker's warm start (Adam steps per gradient from the previous
	// iterate's z*; -1: full inference for every gradient), EOT the inference runs the
	// attacker averages on the deployed model, VerdictEOT the runs the deployed
	// model's verdict averages (the exact model needs one).
	Warm       int      `json:"warm_steps"`
	EOT        int      `json:"eot"`
	VerdictEOT int      `json:"verdict_eot"`
	Targets    []string `json:"targets"`
	// N is how many images (the first in sample order) were validated; 0: all.
	N int `json:"n"`
	// Workers is not part of the result (validation does not depend on it).
	Workers int `json:"-"`
}

// label says what the validation ran, for stdout and plot titles.
func (v *validateConfig) label() string {
	warm := "full inference per gradient"
	if v.Warm >= 0 {
		warm = fmt.Sprintf("warm start %d step(s)", v.Warm)
	}
	return fmt.Sprintf("%s inside eps* (PGD-L2 %d steps x %d restarts, DDN %d steps; attacker %s, EOT %d on the deployed model; verdict EOT %d)",
		strings.Join(v.Attacks, ", "), v.Steps, v.Restarts, v.Steps, warm, v.EOT, v.VerdictEOT)
}

type certifyFlags struct {
	jsonOut, csvOut, plotOut, advDir string
	batch                            int
	sf                               setFlags
	rf                               runtimeFlags
	opt                              certify.Options
	sampleSeed                       uint64
	shardFlag                        string
	shardCount                       int
	validate                         bool
	validateFrom                     string
	val                              validateConfig
	smoothing                        float64
	smooth                           certify.Smoothing
	seed                             uint64
	memLimitMiB                      int64
}

func newCertifyCmd() *cobra.Command {
	cf := &certifyFlags{opt: certify.DefaultOptions(), smooth: certify.DefaultSmoothing(0)}
	cmd := &cobra.Command{
		Use:   "certify MODEL --dataset D",
		Short: "Certified L2 radii: the Appendix-A lower bound of E-ABS, or randomized smoothing of any classifier",
		Long: `For each image, with exact inference (mean only, no sampling):
l*_k(x) = min_z ||x - G_k(z)||^2 - beta*log D(z), r = ||x - G_y(z*_y)||,
d_k(x) = min_z ||x - G_k(z)||, and

  eps*(x) = min_{k != y} (d_k(x)^2 - l*_y(x)) / (2 d_k(x) + 2 r)

(0 when the image is misclassified). This is a LOWER BOUND UNDER EXACT INFERENCE, and
only as far as the d_k found are the true minima: an optimiser can only overestimate
d_k, which inflates eps*. So d_k and l*_k are minimised --restarts times from
independent start banks (seeds --bank-seed, +1, ...) with --steps Adam steps, the
smallest values are used, and the spread across restarts is reported per image. The
default, 3 restarts x 100 steps, comes from results/mnist-eabs/certify/convergence.json. The reference graph
(--runtime ref, float64) is the source of truth; --runtime ort runs the same
computation on ONNX Runtime.

--validate attacks every certified image with --validate-attacks (default PGD-L2 with
random restarts, DDN and ABS's Latent Descent Attack), budget just below its eps*,
against (a) the exact-inference classifier the bound is about and (b) the deployed
randomised model. The attacks run on a warm-started view of each model (its gradient
costs one latent Adam step, --validate-warm); the verdict on their final image is the
target's own full inference (EOT --validate-verdict-eot on the deployed model). A
violation (a misclassified image strictly inside eps*) is counted, reported, and its
image saved (--adv-dir, PNG and raw float32).

--smoothing SIGMA certifies a classifier (a CNN) by randomized smoothing instead
(Cohen et al. 2019, CERTIFY: n0 = 100, n = 100,000, alpha = 0.001, Clopper-Pearson
lower bound of p_A, abstain when p_A <= 1/2, radius sigma * Phi^-1(p_A)), on ONNX
Runtime unless --runtime ref is given.

Images are the seeded random sample data.SampleIndices(split size, --n, --sample-seed)
(--sample-seed 0: the first --n), split by --shard i/n|auto for cluster jobs; parts
merge with eabs report --merge.`,
		Example: `  eabs certify zoo:mnist-eabs --n 100 --runtime ort --validate --json results/mnist-eabs/certify/certify.json
  eabs certify --smoothing 0.25 zoo:mnist-cnn-smooth025 --n 500 --json results/mnist-cnn-smooth/sigma025.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cf.memLimitMiB > 0 {
				debug.SetMemoryLimit(cf.memLimitMiB << 20)
			}
			if cf.smoothing != 0 {
				return runSmoothing(cmd, cf, args[0])
			}
			if cf.validate || cf.validateFrom != "" {
				if _, err := validationAttacks(&cf.val); err != nil {
					return err // before hours of certification
				}
			}
			if cf.validateFrom != "" {
				return runValidateFrom(cmd, cf, args[0])
			}
			return runCertify(cmd, cf, args[0])
		},
	}
	f := cmd.Flags()
	cf.sf.add(f, "dataset (default: the model's)", 100, "images to certify")
	cf.rf.add(cmd, "ref")
	f.Uint64Var(&cf.sampleSeed, "sample-seed", 1, "seed of the random image sample (data.SampleIndices); 0 takes the first --n")
	f.StringVar(&cf.shardFlag, "shard", "", "certify part i/n of the sample (or auto: Slurm array / Kubernetes indexed job)")
	f.IntVar(&cf.shardCount, "shard-count", 0, "number of parts with --shard auto on Kubernetes")
	f.IntVar(&cf.batch, "batch", 8, "images per batch")
	o := &cf.opt
	f.IntVar(&o.Infer.Starts, "starts", o.Infer.Starts, "random starts of both minimisations")
	f.IntVar(&o.Infer.Steps, "steps", o.Infer.Steps, "Adam steps of both minimisations (default chosen from results/mnist-eabs/certify/convergence.json)")
	f.IntVar(&o.Restarts, "restarts", o.Restarts, "independent minimisations of d_k (fresh start banks); d_k is their minimum")
	f.Float64Var(&o.Infer.LR, "lr", o.Infer.LR, "Adam step size")
	addLossAt(f, &o.Infer.LossAt)
	f.Uint64Var(&o.Infer.BankSeed, "bank-seed", o.Infer.BankSeed, "seed of the first start bank (restart i uses seed + i)")
	f.Int64Var(&cf.memLimitMiB, "mem-limit", 1536, "soft limit of the Go heap in MiB (runtime/debug.SetMemoryLimit): the garbage collector works harder near it instead of letting the heap double; 0 leaves Go's default")
	f.IntVar(&o.Chunk, "chunk", o.Chunk, "start-bank means decoded per call (bounds the reference graph's memory)")
	f.BoolVar(&cf.validate, "validate", false, "attack every certified image inside its radius (exact and deployed model)")
	f.StringSliceVar(&cf.val.Attacks, "validate-attacks", []string{"pgd-l2", "ddn", "lda"}, "L2 attacks of the validation, in order (pgd-l2, ddn, lda, cw-l2, deepfool-l2)")
	f.IntVar(&cf.val.Steps, "validate-steps", 80, "steps of the validation's PGD-L2 and DDN (the paper's budget)")
	f.IntVar(&cf.val.Restarts, "validate-restarts", 2, "PGD-L2 random restarts of the validation")
	f.IntVar(&cf.val.Warm, "validate-warm", 1, "Adam steps of the attacker's warm-started inference per gradient (-1: full inference for every gradient, ~20x slower)")
	f.IntVar(&cf.val.EOT, "validate-eot", 1, "inference runs the attacker averages per gradient on the deployed model")
	f.IntVar(&cf.val.VerdictEOT, "validate-verdict-eot", 5, "inference runs (fresh noise) the deployed model's verdict averages")
	f.IntVar(&cf.val.Workers, "validate-workers", goruntime.NumCPU(), "certificates validated at once")
	f.Uint64Var(&cf.val.Seed, "validate-seed", 1, "seed of the validation's attacks and the deployed model's noise")
	f.StringVar(&cf.validateFrom, "validate-from", "", "validate the certificates of this eabs certify --json report (same model) instead of computing them")
	f.IntVar(&cf.val.N, "validate-n", 0, "validate only the first N images of the sample (0: all; the attacks cost many inferences per image)")
	f.StringVar(&cf.val.Runtime, "validate-runtime", "", "engine of the validation's attacks (default: --runtime)")
	f.StringVar(&cf.advDir, "adv-dir", "", "where violations' adversarial images go (default: certify-violations beside --json)")
	f.Float64Var(&cf.smoothing, "smoothing", 0, "certify by randomized smoothing with this noise sigma (MODEL is a classifier)")
	f.IntVar(&cf.smooth.N0, "n0", cf.smooth.N0, "smoothing: noisy samples selecting the top class")
	f.IntVar(&cf.smooth.N, "samples", cf.smooth.N, "smoothing: noisy samples estimating p_A")
	f.Float64Var(&cf.smooth.Alpha, "alpha", cf.smooth.Alpha, "smoothing: failure probability of the Clopper-Pearson bound")
	f.IntVar(&cf.smooth.Batch, "smooth-batch", cf.smooth.Batch, "smoothing: noisy samples per ONNX Runtime call")
	f.Uint64Var(&cf.seed, "seed", 1, "smoothing: seed of the noise (image i uses stream (seed, i))")
	f.StringVar(&cf.jsonOut, "json", "", "write the report with every certificate as JSON here")
	f.StringVar(&cf.jsonOut, "out", "", "the same as --json (the results-file flag every sharded command shares; {shard} is replaced by i-of-n)")
	f.StringVar(&cf.csvOut, "csv", "", "write per-image certificates as CSV here")
	f.StringVar(&cf.plotOut, "plot", "", "write the certified-accuracy curve as PNG here")
	return cmd
}

// sample picks the images: the seeded sample (or the first n), then this shard's part.
func (cf *certifyFlags) sample(cmd *cobra.Command, w *models.Weights, kind, config string) (*data.Set, []int, []int, shard.Header, error) {
	var h shard.Header
	spec, err := shard.Parse(cf.shardFlag, os.Getenv, cf.shardCount)
	if err != nil {
		return nil, nil, nil, h, err
	}
	if cf.jsonOut != "" {
		cf.jsonOut = partPath(cf.jsonOut, spec) // each part its own file
	}
	set, err := loadSet(cmd.ErrOrStderr(), cf.sf.dataset, cf.sf.dataDir, cf.sf.split)
	if err != nil {
		return nil, nil, nil, h, err
	}
	var idx []int
	if cf.sampleSeed == 0 {
		for i := 0; i < min(cf.sf.n, set.N); i++ {
			idx = append(idx, i)
		}
	} else {
		idx = data.SampleIndices(set.N, cf.sf.n, cf.sampleSeed)
	}
	if len(idx) == 0 {
		return nil, nil, nil, h, fmt.Errorf("certify: --n %d selects no images", cf.sf.n)
	}
	root, _ := resolveDataDir(cf.sf.dataDir, os.Getenv)
	fp, err := data.Fingerprint(cf.sf.dataset, root)
	if err != nil {
		return nil, nil, nil, h, err
	}
	h = shard.Header{Kind: kind, ModelSHA256: onnx.WeightsSHA256(w), DataFingerprint: fp, Dataset: cf.sf.dataset, Split: cf.sf.split,
		SampleSeed: cf.sampleSeed, SampleN: len(idx), Config: config, Shard: spec}
	pos := spec.Positions(len(idx))
	mine := make([]int, len(pos))
	for i, p := range pos {
		mine[i] = idx[p]
	}
	return set.Subset(mine), pos, mine, h, nil
}

func runCertify(cmd *cobra.Command, cf *certifyFlags, arg string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	w, path, err := cf.sf.loadModel(arg)
	if err != nil {
		return err
	}
	if w.Spec.Kind != models.Generative {
		return fmt.Errorf("certify: %s is a %s; the Appendix-A bound needs a generative model (use --smoothing SIGMA for a classifier)", path, w.Spec.Name())
	}
	label := cf.opt.Label()
	config := fmt.Sprintf("%s; starts %d lr %g bank-seed %d loss-at %s; runtime %s", label, cf.opt.Infer.Starts, cf.opt.Infer.LR, cf.opt.Infer.BankSeed, cf.opt.Infer.LossAt, cf.rf.engine)
	if cf.validate {
		config += fmt.Sprintf("; validate %s seed %d first %d", cf.val.label(), cf.val.Seed, cf.val.N)
	}
	set, pos, idx, header, err := cf.sample(cmd, w, "certify", config)
	if err != nil {
		return err
	}
	model, dist, cleanup, err := openCertifyModels(cmd, cf.rf, arg, w, cf.opt.Infer)
	if err != nil {
		return err
	}
	defer cleanup()
	bank := newProgress(stderr, cf.opt.Infer.Starts, fmt.Sprintf("start bank (%s)", cf.rf.engine))
	c, err := certify.NewWith(model, dist, cf.opt, func(d, _ int) { bank.Set(d) })
	bank.Finish()
	if err != nil {
		return err
	}
	defer c.Close()
	bar := newProgress(stderr, set.N*cf.opt.Restarts, fmt.Sprintf("certify (%d restarts)", cf.opt.Restarts))
	start := time.Now()
	results, err := c.Certify(set.Images, set.Labels, cf.batch, func(d, _ int) { bar.Set(d) })
	bar.Finish()
	if err != nil {
		return err
	}
	for i := range results {
		results[i].Pos, results[i].Index = pos[i], idx[i]
	}
	seconds := time.Since(start).Seconds()
	var vc *validateConfig
	if cf.validate {
		vc = &cf.val
		if err := runValidation(cmd, cf, arg, w, c.Engine(), set, results); err != nil {
			return err
		}
	}
	rep := &CertifyReport{provenance: provenance{Command: os.Args, Build: buildinfo.Collect(), Time: time.Now().UTC().Format(time.RFC3339)},
		Header: header, Label: label, Model: path, WeightsSHA: onnx.WeightsSHA256(w), Dataset: cf.sf.dataset, Split: cf.sf.split, Runtime: cf.rf.engine,
		Options: c.Options(), Validation: vc, Summary: certify.Summarise(results, certify.Levels), Seconds: seconds,
		PerImage: seconds / float64(set.N), Results: results}
	rep.Summary.Label = label
	s := rep.Summary
	fmt.Fprintf(stdout, "%s on %d %s images (sample seed %d, shard %s): eps* is a %s\n", w.Spec.Name(), s.N, cf.sf.dataset, cf.sampleSeed, header.Shard, label)
	fmt.Fprintf(stdout, "  accuracy (exact inference) %.3f, median eps* %.3f, mean %.3f; %.1f s per image on %s\n", float64(s.Correct)/float64(s.N), s.Median, s.Mean, rep.PerImage, cf.rf.engine)
	fmt.Fprintf(stdout, "  restarts: binding class changed for %d images, largest eps* spread %.4f\n", s.BindingChanged, s.MaxEpsSpread)
	for _, l := range s.Certified {
		fmt.Fprintf(stdout, "  certified accuracy at L2 %.2f: %.3f (%d images)%s\n", l.Eps, l.Accuracy, l.Count, violationText(cf.validate, l.Violations))
	}
	if cf.validate {
		fmt.Fprintf(stdout, "  validation by %s on %d certified images:%s\n", cf.val.label(), s.Validated, violationText(true, s.Violations))
		if err := saveViolations(stderr, cf, set, results); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, "  not validated by attack (run with --validate)")
	}
	if s.Invalid > 0 {
		fmt.Fprintf(stdout, "  %d certificates fail the bound's condition eps* < d_k\n", s.Invalid)
	}
	if cf.csvOut != "" {
		if err := writeCertificates(cf.csvOut, label, results); err != nil {
			return err
		}
	}
	if cf.plotOut != "" {
		title := fmt.Sprintf("%s, %s, %d images: eps*\n%s", w.Spec.Name(), cf.sf.dataset, s.N, label)
		if cf.validate {
			title += "; " + violationText(true, s.Violations)
		}
		err := atomicfile.Write(cf.plotOut, func(wr io.Writer) error { return certify.PlotCurve(wr, results, title) })
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", cf.plotOut)
	}
	return writeReport(stderr, cf.jsonOut, rep)
}

func violationText(on bool, v map[string]int) string {
	if !on {
		return ""
	}
	if len(v) == 0 {
		return ""
	}
	return fmt.Sprintf(" violations: exact %d, deployed %d", v["exact"], v["deployed"])
}

// openCertifyModels opens the model and the same decoders with beta = 0 on the chosen
// engine. On ONNX Runtime the beta = 0 latent step comes from a second export.
func openCertifyModels(cmd *cobra.Command, rf runtimeFlags, arg string, w *models.Weights, opt infer.Options) (model, dist runtime.Model, cleanup func(), err error) {
	noPrior := w.Clone()
	noPrior.Spec.Beta = 0
	switch rf.engine {
	case "ref":
		m, err := ref.New(w)
		if err != nil {
			return nil, nil, nil, err
		}
		d, err := ref.New(noPrior)
		if err != nil {
			m.Close()
			return nil, nil, nil, err
		}
		return m, d, func() { m.Close(); d.Close() }, nil
	case "ort":
		m, c1, err := openModel(cmd, rf, arg, w, opt)
		if err != nil {
			return nil, nil, nil, err
		}
		dir, err := os.MkdirTemp("", "eabs-noprior-*")
		if err != nil {
			m.Close()
			c1()
			return nil, nil, nil, err
		}
		c2 := func() { os.RemoveAll(dir) }
		if _, err := exportModel(noPrior, dir, "", opt); err != nil {
			m.Close()
			c1()
			c2()
			return nil, nil, nil, err
		}
		d, err := ort.OpenModel(dir, ort.Options{IntraOpThreads: rf.threads})
		if err != nil {
			m.Close()
			c1()
			c2()
			return nil, nil, nil, err
		}
		return m, d, func() { m.Close(); d.Close(); c1(); c2() }, nil
	}
	return nil, nil, nil, fmt.Errorf("unknown --runtime %q (want ort or ref)", rf.engine)
}

// runValidation attacks the certified images inside their radii on the exact and the
// deployed model, on --validate-runtime (the start bank is the certifier's).
func runValidation(cmd *cobra.Command, cf *certifyFlags, arg string, w *models.Weights, exact *infer.Engine, set *data.Set, rs []certify.Result) error {
	engine := cf.val.Runtime
	if engine == "" {
		engine = cf.rf.engine
	}
	cf.val.Runtime = engine
	var m runtime.Model = exact.Model()
	if engine != cf.rf.engine {
		rf := cf.rf
		rf.engine = engine
		om, cleanup, err := openModel(cmd, rf, arg, w, cf.opt.Infer)
		if err != nil {
			return err
		}
		defer cleanup()
		defer om.Close()
		m = om
	}
	eo := cf.opt.Infer
	eo.Exact = true
	ee, err := infer.NewEngineWithBank(m, eo, exact.Bank(), nil)
	if err != nil {
		return err
	}
	do := eo
	do.Exact = false
	de, err := infer.NewEngineWithBank(m, do, exact.Bank(), nil)
	if err != nil {
		return err
	}
	cf.val.Targets = []string{"exact", "deployed"}
	attacks, err := validationAttacks(&cf.val)
	if err != nil {
		return err
	}
	v := cf.val
	targets := func(r certify.Result) ([]certify.Target, error) {
		// Each certificate gets its own models, seeded from its image, so the
		// validation does not depend on --validate-workers.
		seed := rand.New(rand.NewPCG(v.Seed, uint64(r.Index))).Uint64()
		attacker := func(e *infer.Engine, eot int) *attack.Adaptive {
			a := &attack.Adaptive{Engine: e, EOT: eot, Seed: seed, Workers: 1}
			if v.Warm >= 0 {
				a.Warm = &attack.WarmStart{Steps: v.Warm}
			}
			return a
		}
		return []certify.Target{
			{Name: "exact", Model: &certify.EngineClassifier{Engine: ee}, Attacked: attacker(ee, 1)},
			{Name: "deployed", Model: attack.NewVerdict(de, v.VerdictEOT, seed^0x7E4D1C7, 1), Attacked: attacker(de, v.EOT)},
		}, nil
	}
	vr, vx := rs, set.Images
	if cf.val.N > 0 {
		// The first N positions of the sample list (whatever shard holds them).
		var keep []int
		for i, r := range rs {
			if r.Pos < cf.val.N {
				keep = append(keep, i)
			}
		}
		P := set.ImageSize()
		vr, vx = make([]certify.Result, len(keep)), make([]float32, 0, len(keep)*P)
		for j, i := range keep {
			vr[j] = rs[i]
			vx = append(vx, set.Images[i*P:(i+1)*P]...)
		}
		defer func() {
			for j, i := range keep {
				rs[i].Validation = vr[j].Validation
			}
		}()
	}
	bar := newProgress(cmd.ErrOrStderr(), len(vr), fmt.Sprintf("validate (%s)", engine))
	err = certify.Validate(context.Background(), vr, vx, targets, attacks, certify.ValidateOptions{Workers: cf.val.Workers, Seed: cf.val.Seed}, func(d, _ int) { bar.Set(d) })
	bar.Finish()
	return err
}

// validationAttacks builds the --validate-attacks, each with its budget capped at a
// certificate's eps* where the attack has one.
func validationAttacks(v *validateConfig) ([]certify.Budgeted, error) {
	var out []certify.Budgeted
	for _, name := range v.Attacks {
		var mk func(eps float64) attack.Attack
		switch name {
		case "pgd-l2":
			mk = func(eps float64) attack.Attack {
				return attack.PGDAttack{Lp: attack.L2, Eps: eps, Steps: v.Steps, Restarts: v.Restarts, KeepGoing: true}
			}
		case "ddn":
			mk = func(float64) attack.Attack { return attack.DDN{Steps: v.Steps} }
		case "lda":
			mk = func(float64) attack.Attack { return attack.LDA{} }
		case "cw-l2":
			mk = func(float64) attack.Attack { return attack.CW{} }
		case "deepfool-l2":
			mk = func(float64) attack.Attack { return attack.DeepFool{Lp: attack.L2} }
		default:
			return nil, fmt.Errorf("--validate-attacks: unknown attack %q (want pgd-l2, ddn, lda, cw-l2 or deepfool-l2)", name)
		}
		out = append(out, certify.Budgeted{Name: name, New: mk})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--validate-attacks: no attack given")
	}
	return out, nil
}

// saveViolations writes every violation's adversarial image as PNG and raw float32
// (little endian, C*H*W) and names them on stderr.
func saveViolations(stderr io.Writer, cf *certifyFlags, set *data.Set, rs []certify.Result) error {
	dir := cf.advDir
	if dir == "" {
		dir = "certify-violations"
		if cf.jsonOut != "" {
			dir = filepath.Join(filepath.Dir(cf.jsonOut), "certify-violations")
		}
	}
	for _, r := range rs {
		if r.Validation == nil {
			continue
		}
		for _, ch := range r.Validation.Checks {
			if !ch.Violated {
				continue
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			base := filepath.Join(dir, fmt.Sprintf("image%05d-%s-%s", r.Index, ch.Target, ch.Attack))
			var raw bytes.Buffer
			binary.Write(&raw, binary.LittleEndian, ch.Adv)
			if err := atomicfile.WriteBytes(base+".f32", raw.Bytes()); err != nil {
				return err
			}
			if err := atomicfile.Write(base+".png", func(w io.Writer) error { return png.Encode(w, toImage(ch.Adv, set.C, set.H, set.W)) }); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "VIOLATION: image %d (label %d, eps* %.4f) on %s: %s found prediction %d at L2 %.4f; saved %s.{png,f32}\n",
				r.Index, r.Label, r.Eps, ch.Target, ch.Attack, ch.Pred, ch.L2, base)
		}
	}
	return nil
}

func toImage(v []float32, c, h, w int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	px := func(ch, y, x int) uint8 {
		return uint8(math.Round(255 * math.Min(1, math.Max(0, float64(v[(ch*h+y)*w+x])))))
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if c == 1 {
				g := px(0, y, x)
				img.Set(x, y, color.RGBA{g, g, g, 255})
			} else {
				img.Set(x, y, color.RGBA{px(0, y, x), px(1, y, x), px(2, y, x), 255})
			}
		}
	}
	return img
}

func writeCertificates(path, label string, rs []certify.Result) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# eps: %s\n", label)
	w := csv.NewWriter(&buf)
	w.Write([]string{"index", "position", "label", "pred", "eps", "binding", "r", "l_label", "d_binding", "valid", "eps_spread", "d_spread", "binding_changed", "violated_exact", "violated_deployed"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, r := range rs {
		db := ""
		if r.Binding >= 0 {
			db = f(r.D[r.Binding])
		}
		ve, vd := "", ""
		if r.Validation != nil {
			for _, c := range r.Validation.Checks {
				switch c.Target {
				case "exact":
					ve = strconv.FormatBool(c.Violated)
				case "deployed":
					vd = strconv.FormatBool(c.Violated)
				}
			}
		}
		w.Write([]string{strconv.Itoa(r.Index), strconv.Itoa(r.Pos), strconv.Itoa(r.Label), strconv.Itoa(r.Pred), f(r.Eps), strconv.Itoa(r.Binding), f(r.R), f(r.L[r.Label]), db,
			strconv.FormatBool(r.Valid), f(r.EpsSpread), f(r.DSpread), strconv.FormatBool(r.BindingChanged), ve, vd})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}

// runSmoothing certifies a classifier by randomized smoothing on ONNX Runtime.
func runSmoothing(cmd *cobra.Command, cf *certifyFlags, arg string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	w, path, err := cf.sf.loadModel(arg)
	if err != nil {
		return err
	}
	if w.Spec.Kind != models.CNN {
		return fmt.Errorf("certify --smoothing: %s is a %s; smoothing certifies a classifier (a cnn model)", path, w.Spec.Name())
	}
	if !cmd.Flags().Changed("runtime") {
		cf.rf.engine = "ort" // smoothing's 100,000 forward passes per image want ONNX Runtime
	}
	sm := cf.smooth
	sm.Sigma = cf.smoothing
	label := sm.Label()
	config := fmt.Sprintf("%s; seed %d; runtime %s", label, cf.seed, cf.rf.engine)
	set, pos, idx, header, err := cf.sample(cmd, w, "certify-smoothing", config)
	if err != nil {
		return err
	}
	m, cleanup, err := openClassifier(cmd, cf.rf, w)
	if err != nil {
		return err
	}
	defer cleanup()
	bar := newProgress(stderr, set.N, fmt.Sprintf("smoothing sigma %g (%s)", sm.Sigma, cf.rf.engine))
	start := time.Now()
	P := set.ImageSize()
	rs := make([]certify.SmoothResult, set.N)
	for i := range rs {
		t0 := time.Now()
		// Image i's noise is a function of (seed, its index in the split) only, so a
		// sharded run draws the same noise as a whole one.
		r, err := sm.Certify(m, set.Images[i*P:(i+1)*P], set.Labels[i], rand.New(rand.NewPCG(cf.seed, uint64(idx[i]))))
		if err != nil {
			return fmt.Errorf("image %d: %w", idx[i], err)
		}
		r.Index, r.Pos, r.Seconds = idx[i], pos[i], time.Since(t0).Seconds()
		rs[i] = r
		bar.Set(i + 1)
	}
	bar.Finish()
	seconds := time.Since(start).Seconds()
	rep := &SmoothReport{provenance: provenance{Command: os.Args, Build: buildinfo.Collect(), Time: time.Now().UTC().Format(time.RFC3339)},
		Header: header, Label: label, Model: path, WeightsSHA: onnx.WeightsSHA256(w), Dataset: cf.sf.dataset, Split: cf.sf.split,
		Smoothing: sm, Seed: cf.seed, Summary: certify.SummariseSmoothing(rs, certify.Levels), Seconds: seconds, PerImage: seconds / float64(set.N), Results: rs}
	rep.Summary.Label = label
	s := rep.Summary
	fmt.Fprintf(stdout, "%s on %d %s images (sample seed %d, shard %s): %s\n", path, s.N, cf.sf.dataset, cf.sampleSeed, header.Shard, label)
	fmt.Fprintf(stdout, "  smoothed accuracy %.3f, abstained %d, median radius %.3f; %.2f s per image on %s\n", float64(s.Correct)/float64(s.N), s.Abstain, s.Median, rep.PerImage, cf.rf.engine)
	for _, l := range s.Certified {
		fmt.Fprintf(stdout, "  certified accuracy at L2 %.2f: %.3f (%d images)\n", l.Eps, l.Accuracy, l.Count)
	}
	if cf.plotOut != "" {
		conv := make([]certify.Result, len(rs))
		for i, r := range rs {
			conv[i] = certify.Result{Label: r.Label, Pred: r.Pred, Eps: r.Radius}
		}
		title := fmt.Sprintf("%s, %d images:\nrandomized smoothing sigma %g (n %d, alpha %g)", path, s.N, sm.Sigma, sm.N, sm.Alpha)
		if err := atomicfile.Write(cf.plotOut, func(wr io.Writer) error { return certify.PlotCurve(wr, conv, title) }); err != nil {
			return err
		}
	}
	return writeReport(stderr, cf.jsonOut, rep)
}

// openClassifier opens a CNN as an attack.Classifier: its ONNX export on ONNX Runtime
// (--runtime ort, through ort.OpenClassifier) or the reference graph (ref).
func openClassifier(cmd *cobra.Command, rf runtimeFlags, w *models.Weights) (attack.Classifier, func(), error) {
	switch rf.engine {
	case "ref":
		c, err := ref.NewClassifier(w)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	case "ort":
		if err := initORT(cmd); err != nil {
			return nil, nil, err
		}
		dir, err := os.MkdirTemp("", "eabs-cnn-*")
		if err != nil {
			return nil, nil, err
		}
		paths, err := onnx.Export(w, dir, onnx.ExportOptions{})
		if err != nil || len(paths) != 1 {
			os.RemoveAll(dir)
			return nil, nil, fmt.Errorf("exporting the classifier: %v (%d files)", err, len(paths))
		}
		c, err := ort.OpenClassifier(paths[0], ort.ClassifierOptions{Options: ort.Options{IntraOpThreads: rf.threads}})
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		return c, func() { c.Close(); os.RemoveAll(dir) }, nil
	}
	return nil, nil, fmt.Errorf("unknown --runtime %q (want ort or ref)", rf.engine)
}

// runValidateFrom validates the certificates of an earlier eabs certify report: the
// exact and deployed engines need one start bank (the report's first seed), not the
// certification's restarts.
func runValidateFrom(cmd *cobra.Command, cf *certifyFlags, arg string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	w, path, err := cf.sf.loadModel(arg)
	if err != nil {
		return err
	}
	var src CertifyReport
	b, err := os.ReadFile(cf.validateFrom)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &src); err != nil {
		return fmt.Errorf("%s: %w", cf.validateFrom, err)
	}
	if src.WeightsSHA != onnx.WeightsSHA256(w) {
		return fmt.Errorf("%s certifies other weights (%s) than %s", cf.validateFrom, src.WeightsSHA, path)
	}
	if len(src.Results) == 0 {
		return fmt.Errorf("%s holds no certificates", cf.validateFrom)
	}
	set, err := loadSet(stderr, src.Dataset, cf.sf.dataDir, src.Split)
	if err != nil {
		return err
	}
	var rs []certify.Result
	var idx []int
	for _, r := range src.Results {
		if cf.val.N <= 0 || r.Pos < cf.val.N {
			if r.Index < 0 || r.Index >= set.N {
				return fmt.Errorf("%s: image index %d outside the %s split", cf.validateFrom, r.Index, src.Split)
			}
			rs, idx = append(rs, r), append(idx, r.Index)
		}
	}
	sub := set.Subset(idx)
	keepN := cf.val.N
	cf.val.N = 0 // rs is already the selection
	opt := src.Options.Infer
	opt.Exact = true
	m, cleanup, err := openModel(cmd, cf.rf, arg, w, opt)
	if err != nil {
		return err
	}
	defer cleanup()
	defer m.Close()
	bank := newProgress(stderr, opt.Starts, fmt.Sprintf("start bank (%s)", cf.rf.engine))
	exact, err := infer.NewEngine(m, opt, func(d, _ int) { bank.Set(d) })
	bank.Finish()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := runValidation(cmd, cf, arg, w, exact, sub, rs); err != nil {
		return err
	}
	cf.val.N = keepN
	s := certify.Summarise(rs, certify.Levels)
	s.Label = src.Label
	rep := &CertifyReport{provenance: provenance{Command: os.Args, Build: buildinfo.Collect(), Time: time.Now().UTC().Format(time.RFC3339)},
		Header: src.Header, Label: src.Label, Model: path, WeightsSHA: src.WeightsSHA, Dataset: src.Dataset, Split: src.Split, Runtime: src.Runtime,
		Options: src.Options, Validation: &cf.val, Summary: s, Seconds: time.Since(start).Seconds(), PerImage: time.Since(start).Seconds() / float64(len(rs)), Results: rs}
	fmt.Fprintf(stdout, "validation of %d certificates from %s (%s): %s, on %s:%s\n",
		s.Validated, cf.validateFrom, src.Label, cf.val.label(), cf.val.Runtime, violationText(true, s.Violations))
	for _, l := range s.Certified {
		fmt.Fprintf(stdout, "  certified at L2 %.2f: %d images%s\n", l.Eps, l.Count, violationText(true, l.Violations))
	}
	if err := saveViolations(stderr, cf, sub, rs); err != nil {
		return err
	}
	return writeReport(stderr, cf.jsonOut, rep)
}
