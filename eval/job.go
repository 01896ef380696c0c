package eval

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eabs/eabs/adversary"
	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
)

// AttackSettings are the attacks of a run by name (attack.Names), in order, and what
// they are built with.
type AttackSettings struct {
	// Names are attacks (attack.Names) or suites (attack.SuiteNames): "autoattack" stands
	// for AutoAttack's standard version in Linf then in L2, "autoattack-linf" and
	// "autoattack-l2" for one norm (attack.AutoAttack: apgd-ce, apgd-t, fab-t, square,
	// with the standard's parameters, whatever PGDRestarts and Queries say), and
	// "autoattack-plus..." for its plus version; each entry is marked with its Suite
	// (AutoAttackSuite).
	Names []string
	// EpsL2, EpsLinf are the budgets (0: the dataset profile's, the paper's; own data
	// has none, and an attack of a norm without a budget is refused).
	EpsL2, EpsLinf float64
	// PGDSteps and PGDRestarts (0: the profile's) are PGD's; KeepGoing steps PGD and APGD
	// on to the end of a restart once fooled ("auto": for generative models, whose
	// randomised verdict overturns barely fooled candidates).
	PGDSteps, PGDRestarts int
	KeepGoing             string
	// Judge decides whether a PGD restart fooled a generative model: "auto" (or ""):
	// the model's full inference with fresh noise (adversary.Adaptive.Full), one per
	// claimed restart, because the warm-started attacker's stale latents overstate the
	// true class's loss and its false claims ended PGD after one or two restarts;
	// "off": the attacker's own claim, as before (to continue or grow older runs).
	Judge string
	// Queries is the gradient-free attacks' per-sample budget (0: each attack's own).
	Queries int
	// BasinTargets and BasinCandidates are basin-l2's wrong classes attacked and latent
	// candidates per class (0: the registry's 2 and 2; each candidate costs about one
	// PGD restart).
	BasinTargets, BasinCandidates int
	// SweepFactors re-run each norm's first bounded attack at these multiples of the
	// budget on the first SweepN samples (the accuracy-vs-eps self-check).
	SweepFactors []float64
}

// EABSSettings are how a generative model is attacked and judged.
type EABSSettings struct {
	// Engine ("ort", "ref") runs the inference.
	Engine string
	Infer  infer.Options
	// EOT inference runs the attacker's gradient averages; VerdictEOT the verdict's.
	EOT, VerdictEOT int
	// Warm is the attacker's warm start (nil: full inference for every gradient).
	Warm *adversary.WarmStart
	// Beta, when set, replaces the model's prior weight in the inference the attacker
	// and the verdict run (an ablation: a different deployed model, same weights).
	Beta *float64
}

// AttackJob is one attack run: the model, the sample, the attacks, the runner's
// settings (Config without Header, Model, Attacks and Sweep, which the job fills).
type AttackJob struct {
	Model   *runtime.Source
	Sample  *Sample
	Runtime runtime.Options
	Attacks AttackSettings
	EABS    EABSSettings
	Run     Config
	// After and Reuse continue or grow an earlier run (Config.After, Config.Reuse);
	// AfterFile and ReuseFile name them in the provenance.
	AfterFile, ReuseFile string
	// BankProgress reports the start bank; Progress the samples (done counts those of a
	// resumed state).
	BankProgress, Progress func(done, total int)
}

// AttackProvenance is what an attack run adds to the provenance.
type AttackProvenance struct {
	Model    string                   `json:"model_path"`
	Seconds  float64                  `json:"seconds"`
	After    *Source                  `json:"after,omitempty"`
	Reuse    *Source                  `json:"reuse,omitempty"`
	Attacker *adversary.AdaptiveStats `json:"attacker_inference,omitempty"`
}

// Source names a run a result continues, with that run's provenance.
type Source struct {
	File       string `json:"file"`
	Provenance any    `json:"provenance"`
}

// Attack runs an attack job.
func Attack(ctx context.Context, job AttackJob) (*Result, AttackProvenance, error) {
	var prov AttackProvenance
	src, s := job.Model, job.Sample
	generative := src.Weights != nil && src.Weights.Spec.Kind == models.Generative
	prof, err := data.ProfileOf(s.Dataset)
	if err != nil {
		return nil, prov, err
	}
	entries, sweep, err := job.Attacks.build(prof, generative, attack.StartsFrom(s.Set.Images, s.Set.Labels))
	if err != nil {
		return nil, prov, err
	}
	if src.Weights != nil {
		if err := fits(src, src.Weights.Spec.Arch, s.Dataset, s.Set); err != nil {
			return nil, prov, err
		}
	}
	modelSHA, err := src.SHA256()
	if err != nil {
		return nil, prov, err
	}
	if job.EABS.Beta != nil && !generative {
		return nil, prov, fmt.Errorf("an inference beta applies to generative models; %s is classified by its logits", src.Arg)
	}
	h := s.Header(Kind, modelSHA, "")
	var model, verdict attack.Classifier
	var attacker *adversary.Adaptive
	switch {
	case src.Weights == nil || src.Weights.Spec.Kind == models.CNN:
		engine := "ref"
		h.Config = "cnn logits, reference graph float64"
		opt := job.Runtime
		if src.Weights == nil {
			engine, h.Config = "ort", PlainConfig(src)
			// The gradient graph is built only for attacks that use it: a graph it
			// cannot differentiate still runs the gradient-free ones.
			opt.Gradients = needGradients(job.Attacks.Names)
			if err := src.CheckData(s.Dataset, s.Set, 0); err != nil {
				return nil, prov, err
			}
		}
		c, err := runtime.OpenClassifier(engine, src, opt)
		if err != nil {
			return nil, prov, err
		}
		defer c.Close()
		model, verdict = c, c
	default:
		if job.EABS.Beta != nil {
			src = withBeta(src, *job.EABS.Beta)
		}
		m, err := runtime.Open(job.EABS.Engine, src, job.Runtime)
		if err != nil {
			return nil, prov, err
		}
		defer m.Close()
		e, err := infer.NewEngine(m, job.EABS.Infer, job.BankProgress)
		if err != nil {
			return nil, prov, err
		}
		attacker = &adversary.Adaptive{Engine: e, EOT: job.EABS.EOT, Workers: job.Runtime.Workers, Warm: job.EABS.Warm}
		model = attacker
		if job.Attacks.Judge != "off" {
			judge(entries, attacker.Full())
			judge(sweep, attacker.Full())
		}
		verdict = &adversary.Verdict{Engine: e, EOT: job.EABS.VerdictEOT, Workers: job.Runtime.Workers, Seed: job.Run.Seed}
		h.Config = fmt.Sprintf("e-abs adaptive gradient (eq. 8) EOT %d %s, verdict full inference EOT %d, runtime %s, inference %+v",
			job.EABS.EOT, warmText(job.EABS.Warm), job.EABS.VerdictEOT, job.EABS.Engine, job.EABS.Infer)
		if job.EABS.Beta != nil {
			h.Config += fmt.Sprintf(", inference beta %g", *job.EABS.Beta)
		}
	}
	for _, e := range append(append([]Entry(nil), entries...), sweep...) {
		if err := attack.Check(e.Attack.Name(), model); err != nil {
			return nil, prov, err
		}
	}
	if a := model.Classes(); a != s.Set.Classes {
		return nil, prov, fmt.Errorf("model %s has %d classes, data %s %d", src.Arg, a, s.Dataset, s.Set.Classes)
	}
	if job.Run.After != nil {
		// The continued run's sweep is kept; a norm it did not sweep is swept with its
		// first bounded attack here, as one run of all the attacks would.
		swept := map[attack.Norm]bool{}
		for _, a := range job.Run.After.Settings.Sweep {
			swept[a.Norm] = true
		}
		sweep = slices.DeleteFunc(sweep, func(e Entry) bool { return swept[e.Attack.Norm()] })
	}
	cfg := job.Run
	cfg.Header, cfg.Model, cfg.Attacks, cfg.Sweep = h, src.Name(), entries, sweep
	if cfg.Retries < 0 {
		cfg.Retries = 0
		if generative {
			cfg.Retries = 3
		}
	}
	start := time.Now()
	r, err := Run(ctx, cfg, s.Set, model, verdict, job.Progress)
	if err != nil {
		return nil, prov, err
	}
	r.ClassNames = s.Set.ClassNames
	prov = AttackProvenance{Model: src.Path, Seconds: time.Since(start).Seconds()}
	if cfg.After != nil {
		prov.After = &Source{job.AfterFile, cfg.After.Provenance}
	}
	if cfg.Reuse != nil {
		prov.Reuse = &Source{job.ReuseFile, cfg.Reuse.Provenance}
	}
	if attacker != nil {
		st := attacker.Stats()
		prov.Attacker = &st
	}
	return r, prov, nil
}

// CheckAttacks builds the job's attacks without running anything, so that an unknown
// name or a missing budget (own data has none) is refused when the flags are read,
// before the model is opened. For a plain ONNX classifier it also checks that the
// images fit the model and, when an attack needs gradients, that its gradient graph
// builds: an operator the differentiator cannot take is refused here, naming the node.
func (job AttackJob) CheckAttacks() error {
	prof, err := data.ProfileOf(job.Sample.Dataset)
	if err != nil {
		return err
	}
	src := job.Model
	generative := src.Weights != nil && src.Weights.Spec.Kind == models.Generative
	if _, _, err = job.Attacks.build(prof, generative, nil); err != nil {
		return err
	}
	if !generative {
		// A classifier gives scores and gradients at most.
		for _, n := range job.Attacks.Names {
			if err := attack.Check(n, withGradients{}); err != nil {
				return err
			}
		}
	}
	if src.ONNX == "" {
		return nil
	}
	if err := src.CheckData(job.Sample.Dataset, job.Sample.Set, 0); err != nil {
		return err
	}
	if !needGradients(job.Attacks.Names) {
		return nil
	}
	if _, err := src.GradientGraph(); err != nil {
		var need []string
		for _, n := range job.Attacks.Names {
			if needGradients([]string{n}) {
				need = append(need, n)
			}
		}
		return fmt.Errorf("%s need input gradients, which this model does not give (the gradient-free attacks run: %s): %w",
			strings.Join(need, ", "), strings.Join(gradientFree(), ", "), err)
	}
	return nil
}

// PlainConfig is the model configuration results record for a plain ONNX classifier:
// ONNX Runtime, and the options that adapt the model, if any.
func PlainConfig(src *runtime.Source) string {
	c := "onnx classifier logits, ONNX Runtime"
	if a := src.ClassifierConfig(); a != "" {
		c += "; " + a
	}
	return c
}

// scoresOnly is a classifier of scores alone, for asking attack.Check which attacks
// need more.
type scoresOnly struct{}

func (scoresOnly) Classes() int { return 2 }
func (scoresOnly) Logits(x []float32, batch int) ([]float32, error) {
	return make([]float32, 2*batch), nil
}

// withGradients is a classifier with scores and gradients, what a classifier offers.
type withGradients struct{ scoresOnly }

func (withGradients) LogitsVJP(x []float32, batch int, _ func([]float32) []float32) ([]float32, []float32, error) {
	return make([]float32, 2*batch), make([]float32, len(x)), nil
}

// needGradients says whether any of the named attacks needs input gradients.
func needGradients(names []string) bool {
	for _, n := range names {
		var ue *attack.UnsupportedError
		if errors.As(attack.Check(n, scoresOnly{}), &ue) && strings.Contains(ue.Needs, "gradient") {
			return true
		}
	}
	return false
}

// gradientFree lists the attacks that run on scores alone.
func gradientFree() []string {
	var out []string
	for _, n := range attack.Names() {
		if attack.Check(n, scoresOnly{}) == nil {
			out = append(out, n)
		}
	}
	return out
}

// judge makes j the Judge of the PGD attacks among es (attack.PGDAttack.Judge).
func judge(es []Entry, j attack.Classifier) {
	for i, e := range es {
		if p, ok := e.Attack.(attack.PGDAttack); ok {
			p.Judge = j
			es[i].Attack = p
		}
	}
}

// warmText names the attacker's warm start in the configuration; the restart and
// changed-prediction refinements only when set, so configurations without them keep
// their hash.
func warmText(w *adversary.WarmStart) string {
	if w == nil {
		return "warm steps -1"
	}
	t := fmt.Sprintf("warm steps %d", w.Steps)
	if w.Restart > 0 {
		t += fmt.Sprintf(" restart %d", w.Restart)
	}
	if w.Changed > 0 {
		t += fmt.Sprintf(" changed %d", w.Changed)
	}
	return t
}

// build makes the attacks at their norms' budgets, and per norm its first bounded
// attack at each sweep factor times the budget.
func (a AttackSettings) build(prof data.Profile, generative bool, starts func([]float32, int) ([]float32, bool)) (entries, sweep []Entry, err error) {
	eps := map[attack.Norm]float64{attack.L2: a.EpsL2, attack.Linf: a.EpsLinf}
	if eps[attack.L2] == 0 {
		eps[attack.L2] = prof.EpsL2
	}
	if eps[attack.Linf] == 0 {
		eps[attack.Linf] = prof.EpsLinf
	}
	st := attack.Settings{Restarts: a.PGDRestarts, Queries: a.Queries, Starts: starts}
	if st.Restarts == 0 {
		st.Restarts = prof.Restarts
	}
	if a.Judge != "" && a.Judge != "auto" && a.Judge != "off" {
		return nil, nil, fmt.Errorf("judge %q: want auto or off", a.Judge)
	}
	switch a.KeepGoing {
	case "on":
		st.KeepGoing = true
	case "auto", "":
		st.KeepGoing = generative
	case "off":
	default:
		return nil, nil, fmt.Errorf("keep-going %q: want on, off or auto", a.KeepGoing)
	}
	one := func(name string, e float64) (Entry, error) {
		s := st
		s.Eps = e
		at, err := attack.New(name, s)
		if err != nil {
			return Entry{}, err
		}
		if p, ok := at.(attack.PGDAttack); ok && a.PGDSteps > 0 {
			p.Steps = a.PGDSteps
			at = p
		}
		if b, ok := at.(attack.Basin); ok {
			if a.BasinTargets > 0 {
				b.Targets = a.BasinTargets
			}
			if a.BasinCandidates > 0 {
				b.Candidates = a.BasinCandidates
			}
			at = b
		}
		_, bounded, _ := attack.Kind(name)
		return Entry{Attack: at, Eps: e, Bounded: bounded}, nil
	}
	seen := map[string]bool{}
	swept := map[attack.Norm]bool{}
	// add appends the attack name, which build makes at a budget, and its sweep.
	add := func(name string, build func(eps float64) (Entry, error)) error {
		norm, bounded, err := attack.Kind(name)
		if err != nil {
			return fmt.Errorf("unknown attack %q (known: %s; and %s)", name, strings.Join(attack.Names(), ", "), strings.Join(attack.SuiteNames(), ", "))
		}
		if !(eps[norm] > 0) {
			// Own data has no paper's budget, and no default would mean anything.
			return fmt.Errorf("attack %s needs a budget: dataset %s has none (own data): pass --eps-%s", name, prof.Name, norm)
		}
		if seen[name] {
			return fmt.Errorf("attack %s listed twice", name)
		}
		seen[name] = true
		e, err := build(eps[norm])
		if err != nil {
			return err
		}
		entries = append(entries, e)
		if bounded && !swept[norm] {
			swept[norm] = true
			for _, f := range a.SweepFactors {
				s, err := build(f * eps[norm])
				if err != nil {
					return err
				}
				sweep = append(sweep, s)
			}
		}
		return nil
	}
	for _, name := range a.Names {
		version, norms, suite := attack.Suite(name)
		if !suite {
			if err := add(name, func(e float64) (Entry, error) { return one(name, e) }); err != nil {
				return nil, nil, err
			}
			continue
		}
		// A suite (autoattack) stands for its attacks, per norm, with its own parameters.
		for _, norm := range norms {
			list := func(e float64) ([]attack.Attack, error) {
				s := st
				s.Eps = e
				return attack.AutoAttack(version, norm, s)
			}
			if !(eps[norm] > 0) {
				return nil, nil, fmt.Errorf("%s needs a budget in %s: dataset %s has none (own data): pass --eps-%s", name, norm, prof.Name, norm)
			}
			as, err := list(eps[norm])
			if err != nil {
				return nil, nil, err
			}
			for k, at := range as {
				err := add(at.Name(), func(e float64) (Entry, error) {
					as, err := list(e)
					if err != nil {
						return Entry{}, err
					}
					_, bounded, _ := attack.Kind(as[k].Name())
					return Entry{Attack: as[k], Eps: e, Bounded: bounded, Suite: AutoAttackSuite(version)}, nil
				})
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %w", name, err)
				}
			}
		}
	}
	if len(entries) == 0 {
		return nil, nil, fmt.Errorf("no attack given (known: %s)", strings.Join(attack.Names(), ", "))
	}
	return entries, sweep, nil
}
