package attack

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Settings are what the registry's constructors take from an evaluation run: the
// budget and the choices that depend on the dataset or the model. Every other option
// keeps its attack's documented default (the paper's budget).
type Settings struct {
	// Eps is the budget of the bounded attacks (pgd-*, apgd-*); the minimum-norm
	// attacks (deepfool-*, ddn, cw-l2, noise-*) ignore it and the runner compares
	// their distances with it.
	Eps float64
	// Restarts is PGD's number of random starts (0: 5, the paper's MNIST and
	// Fashion-MNIST value; the dataset profile has each dataset's). APGD keeps its
	// single start.
	Restarts int
	// KeepGoing is PGDAttack.KeepGoing and APGD.KeepGoing for pgd-* and apgd-*: step on
	// after the model is fooled and return the most confidently adversarial iterate (set
	// it for a randomised model such as E-ABS, whose verdict's fresh noise overturns a
	// barely fooled first iterate).
	KeepGoing bool
	// Queries is the per-sample query budget of the gradient-free attacks, the noise
	// attacks included (0: each attack's documented default).
	Queries int
	// Starts gives the decision-based attacks (boundary-l2, hsj-*) a starting image for x
	// of label y: the paper starts from a correctly classified test image of another
	// class (StartsFrom). nil: uniform noise.
	Starts func(x []float32, y int) ([]float32, bool)
}

// Constructor builds an attack from run settings.
type Constructor func(Settings) (Attack, error)

// entry is a registered attack: how to build it, its norm, and whether it stays within
// Settings.Eps (bounded) or searches for the smallest adversarial (the runner then
// judges its distances against the budget).
type entry struct {
	norm    Norm
	bounded bool
	c       Constructor
}

var registry = struct {
	sync.Mutex
	m map[string]entry
}{m: map[string]entry{
	"pgd-linf": {Linf, true, bounded(func(s Settings) Attack {
		return PGDAttack{Lp: Linf, Eps: s.Eps, Restarts: s.Restarts, KeepGoing: s.KeepGoing}
	})},
	"pgd-l2": {L2, true, bounded(func(s Settings) Attack {
		return PGDAttack{Lp: L2, Eps: s.Eps, Restarts: s.Restarts, KeepGoing: s.KeepGoing}
	})},
	"apgd-ce-linf": {Linf, true, bounded(func(s Settings) Attack {
		return APGD{Lp: Linf, Eps: s.Eps, Loss: "ce", KeepGoing: s.KeepGoing}
	})},
	"apgd-ce-l2": {L2, true, bounded(func(s Settings) Attack {
		return APGD{Lp: L2, Eps: s.Eps, Loss: "ce", KeepGoing: s.KeepGoing}
	})},
	"apgd-dlr-linf": {Linf, true, bounded(func(s Settings) Attack {
		return APGD{Lp: Linf, Eps: s.Eps, Loss: "dlr", KeepGoing: s.KeepGoing}
	})},
	"apgd-dlr-l2": {L2, true, bounded(func(s Settings) Attack {
		return APGD{Lp: L2, Eps: s.Eps, Loss: "dlr", KeepGoing: s.KeepGoing}
	})},
	"apgd-t-linf": {Linf, true, bounded(func(s Settings) Attack {
		return APGDT{Lp: Linf, Eps: s.Eps, KeepGoing: s.KeepGoing}
	})},
	"apgd-t-l2": {L2, true, bounded(func(s Settings) Attack {
		return APGDT{Lp: L2, Eps: s.Eps, KeepGoing: s.KeepGoing}
	})},
	"fab-t-linf":    {Linf, false, minNorm(func(s Settings) Attack { return FAB{Lp: Linf, Eps: s.Eps} })},
	"fab-t-l2":      {L2, false, minNorm(func(s Settings) Attack { return FAB{Lp: L2, Eps: s.Eps} })},
	"fab-linf":      {Linf, false, minNorm(func(s Settings) Attack { return FAB{Lp: Linf, Eps: s.Eps, Untargeted: true} })},
	"fab-l2":        {L2, false, minNorm(func(s Settings) Attack { return FAB{Lp: L2, Eps: s.Eps, Untargeted: true} })},
	"deepfool-linf": {Linf, false, minNorm(func(s Settings) Attack { return DeepFool{Lp: Linf} })},
	"deepfool-l2":   {L2, false, minNorm(func(s Settings) Attack { return DeepFool{Lp: L2} })},
	"ddn":           {L2, false, minNorm(func(s Settings) Attack { return DDN{} })},
	"cw-l2":         {L2, false, minNorm(func(s Settings) Attack { return CW{} })},
	"noise-l2":      {L2, false, minNorm(func(s Settings) Attack { return noiseFor(L2, s) })},
	"noise-linf":    {Linf, false, minNorm(func(s Settings) Attack { return noiseFor(Linf, s) })},
	// Gradient-free (score- and decision-based), through the query-counting Oracle.
	"square-linf": {Linf, true, bounded(func(s Settings) Attack { return Square{Lp: Linf, Eps: s.Eps, Queries: s.Queries} })},
	"square-l2":   {L2, true, bounded(func(s Settings) Attack { return Square{Lp: L2, Eps: s.Eps, Queries: s.Queries} })},
	"nes-linf":    {Linf, true, bounded(func(s Settings) Attack { return NES{Lp: Linf, Eps: s.Eps, Queries: s.Queries} })},
	"nes-l2":      {L2, true, bounded(func(s Settings) Attack { return NES{Lp: L2, Eps: s.Eps, Queries: s.Queries} })},
	"spsa-linf":   {Linf, true, bounded(func(s Settings) Attack { return NES{Lp: Linf, Eps: s.Eps, SPSA: true, Queries: s.Queries} })},
	"spsa-l2":     {L2, true, bounded(func(s Settings) Attack { return NES{Lp: L2, Eps: s.Eps, SPSA: true, Queries: s.Queries} })},
	"hsj-l2": {L2, false, minNorm(func(s Settings) Attack {
		return HopSkipJump{Lp: L2, Eps: s.Eps, Starts: s.Starts, Queries: s.Queries}
	})},
	"hsj-linf": {Linf, false, minNorm(func(s Settings) Attack {
		return HopSkipJump{Lp: Linf, Eps: s.Eps, Starts: s.Starts, Queries: s.Queries}
	})},
	// E-ABS's own attack, on models that expose their reconstructions (Reconstructor).
	"lda":         {L2, false, minNorm(func(Settings) Attack { return LDA{} })},
	"boundary-l2": {L2, false, minNorm(func(s Settings) Attack { return Boundary{Eps: s.Eps, Starts: s.Starts, Queries: s.Queries} })},
	// Toward the basins of other optima of a wrong class's latent search, on models
	// that expose it (LatentModel): two targets of two candidates each (options
	// recorded as set, so runs of other choices keep other configuration hashes).
	"basin-l2": {L2, true, bounded(func(s Settings) Attack { return Basin{Eps: s.Eps, Targets: 2, Candidates: 2} })},
}}

// queryOnly names the attacks that see nothing of the model but its answers through
// the query-counting Oracle (score- or decision-based): the gradient-masking check.
var queryOnly = map[string]bool{
	"square-linf": true, "square-l2": true, "nes-linf": true, "nes-l2": true, "spsa-linf": true, "spsa-l2": true,
	"hsj-l2": true, "hsj-linf": true, "boundary-l2": true,
}

// QueryOnly reports whether the registered attack name is gradient-free: it asks the
// model only for scores or decisions (square, nes, spsa, hsj, boundary). The others
// use gradients (pgd, apgd, deepfool, ddn, cw), reconstructions (lda) or random noise.
func QueryOnly(name string) bool { return queryOnly[name] }

func checkSettings(s Settings) error {
	if s.Restarts < 0 || s.Queries < 0 {
		return fmt.Errorf("attack: restarts %d and queries %d must not be negative", s.Restarts, s.Queries)
	}
	return nil
}

func bounded(f func(Settings) Attack) Constructor {
	return func(s Settings) (Attack, error) {
		if err := checkSettings(s); err != nil {
			return nil, err
		}
		a := f(s)
		if err := checkEps(a.Name(), s.Eps); err != nil {
			return nil, err
		}
		return a, nil
	}
}

func minNorm(f func(Settings) Attack) Constructor {
	return func(s Settings) (Attack, error) {
		if err := checkSettings(s); err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

// New builds the attack registered under name (see Names) with the run's settings:
//
//	pgd-linf, pgd-l2            PGDAttack: 80 steps, step 2.5*eps/80, Settings.Restarts
//	apgd-ce-linf, apgd-ce-l2    APGD, cross-entropy: 100 iterations, 1 restart
//	apgd-dlr-linf, apgd-dlr-l2  APGD, DLR loss (3 or more classes)
//	apgd-t-linf, apgd-t-l2      APGD-T, targeted DLR loss: 9 targets x 100 iterations
//	                            (4 or more classes)
//	fab-t-linf, fab-t-l2        FAB-T: 9 targets x 100 iterations, alpha_max 0.1, eta 1.05,
//	                            beta 0.9 (stops a sample once within Settings.Eps)
//	fab-linf, fab-l2            FAB, untargeted: 100 iterations, every class linearised
//	deepfool-linf, deepfool-l2  DeepFool: 100 steps, overshoot 0.02, all classes
//	ddn                         DDN (L2): 80 steps, gamma 0.05
//	cw-l2                       Carlini-Wagner L2: 5 x 100 steps, lr 0.01
//	noise-l2, noise-linf        additive Gaussian noise: 100 sizes x 10 draws (fewer
//	                            of both, in that proportion, to fit a smaller Queries)
//	square-linf, square-l2      Square Attack: 5000 queries, p_init 0.8
//	nes-*, spsa-*               PGD on NES / SPSA gradient estimates: 50 steps x 100 samples
//	                            (fewer samples, then steps, to fit a smaller Queries)
//	hsj-l2, hsj-linf            HopSkipJump: 64 steps, 100..10,000 estimation queries
//	boundary-l2                 Boundary attack: 25,000 steps (the paper: 100,000)
//	lda                         Latent Descent Attack (ABS): toward the nearest other
//	                            class's reconstruction, then bisection (E-ABS only)
//	basin-l2                    Basin: descent toward chosen optima of the two
//	                            nearest wrong classes' latent searches (2 candidates
//	                            each), judged by the model's full inference (E-ABS only)
//
// pgd, apgd, basin, square, nes and spsa are bounded by Settings.Eps (Kind says which); the
// others minimise the distance (hsj, boundary and fab stop a sample once within Eps).
// Settings.KeepGoing reaches pgd and apgd. Suite names lists of attacks (autoattack).
func New(name string, s Settings) (Attack, error) {
	registry.Lock()
	e, ok := registry.m[name]
	registry.Unlock()
	if !ok {
		return nil, fmt.Errorf("attack: unknown attack %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return e.c(s)
}

// Kind returns a registered attack's norm and whether it is bounded by Settings.Eps
// (false: it searches for the smallest adversarial, which may lie outside the budget).
func Kind(name string) (norm Norm, bounded bool, err error) {
	registry.Lock()
	e, ok := registry.m[name]
	registry.Unlock()
	if !ok {
		return "", false, fmt.Errorf("attack: unknown attack %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return e.norm, e.bounded, nil
}

// Names lists the registered attacks, sorted.
func Names() []string {
	registry.Lock()
	defer registry.Unlock()
	out := make([]string, 0, len(registry.m))
	for k := range registry.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Check reports, before any work, whether model m offers what the registered attack
// name asks of it: scores only (the gradient-free and noise attacks), per-class
// reconstructions (lda), a latent search (basin-l2), or gradients (the others).
func Check(name string, m Classifier) error {
	switch {
	case QueryOnly(name), strings.HasPrefix(name, "noise-"):
		return nil
	case name == "lda":
		if _, ok := m.(Reconstructor); !ok {
			return &UnsupportedError{Attack: name, Needs: "Reconstructor (per-class reconstructions)"}
		}
	case name == "basin-l2":
		if _, ok := m.(LatentModel); !ok {
			return &UnsupportedError{Attack: name, Needs: "LatentModel (latent objective, search starts, start bank and full inference)"}
		}
	default:
		if _, ok := m.(Differentiable); !ok {
			return &UnsupportedError{Attack: name, Needs: "gradients (attack.Differentiable)"}
		}
	}
	return nil
}

// suites are the names that stand for a list of attacks: AutoAttack's version and its
// norms, in this order.
var suites = map[string]struct {
	version string
	norms   []Norm
}{
	"autoattack":           {"standard", []Norm{Linf, L2}},
	"autoattack-linf":      {"standard", []Norm{Linf}},
	"autoattack-l2":        {"standard", []Norm{L2}},
	"autoattack-plus":      {"plus", []Norm{Linf, L2}},
	"autoattack-plus-linf": {"plus", []Norm{Linf}},
	"autoattack-plus-l2":   {"plus", []Norm{L2}},
}

// Suite reports whether name stands for a list of attacks rather than one: the
// AutoAttack version it runs (see AutoAttack) and its norms in order. "autoattack" is
// AutoAttack's standard version in Linf, then in L2; "autoattack-linf" and
// "autoattack-l2" in one norm; "autoattack-plus..." its plus version likewise.
func Suite(name string) (version string, norms []Norm, ok bool) {
	s, ok := suites[name]
	return s.version, s.norms, ok
}

// SuiteNames lists the names Suite accepts, sorted.
func SuiteNames() []string {
	out := make([]string, 0, len(suites))
	for k := range suites {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// AutoAttackVersions are the versions of AutoAttack that AutoAttack builds.
var AutoAttackVersions = []string{"standard", "plus"}

// AutoAttack returns the attacks of a version of AutoAttack (Croce and Hein 2020) in the
// norm, in its order, at budget s.Eps, with its parameters written out. "standard", the
// version RobustBench ranks by:
//
//	apgd-ce-*  APGD, cross-entropy, 100 iterations, 1 restart
//	apgd-t-*   APGD-T, targeted DLR, 9 targets x 100 iterations, 1 restart each
//	fab-t-*    FAB-T, 9 targets x 100 iterations, alpha_max 0.1, eta 1.05, beta 0.9
//	square-*   Square, 5000 queries, p_init 0.8, the unrescaled schedule
//
// "plus": apgd-ce-* and apgd-dlr-* with 5 restarts, untargeted fab-* with 5 restarts,
// square-*, apgd-t-*, fab-t-* (the last three as in the standard version).
//
// The evaluation runs each on the samples the earlier ones left robust, so the norm's
// "All" is AutoAttack's robust accuracy. s.KeepGoing reaches APGD and APGD-T as it
// reaches the single attacks (AutoAttack has false, for a deterministic classifier);
// EOT is AutoAttack's 1 (a randomised model averages its own runs, as the registry's
// attacks leave it to); s.Restarts and s.Queries do not apply.
func AutoAttack(version string, norm Norm, s Settings) ([]Attack, error) {
	if err := checkNorm("autoattack", norm); err != nil {
		return nil, err
	}
	if err := checkSettings(s); err != nil {
		return nil, err
	}
	if err := checkEps("autoattack-"+string(norm), s.Eps); err != nil {
		return nil, err
	}
	const eot = 1
	apgd := func(loss string, restarts int) APGD {
		return APGD{Lp: norm, Eps: s.Eps, Loss: loss, Steps: 100, Restarts: restarts, EOT: eot, Momentum: 0.75, Rho: 0.75, KeepGoing: s.KeepGoing}
	}
	fab := func(targets, restarts int, untargeted bool) FAB {
		return FAB{Lp: norm, Eps: s.Eps, Targets: targets, Steps: 100, Restarts: restarts, AlphaMax: 0.1, Eta: 1.05, Beta: 0.9, EOT: eot, Untargeted: untargeted}
	}
	apgdt := APGDT{Lp: norm, Eps: s.Eps, Targets: 9, Steps: 100, Restarts: 1, EOT: eot, Momentum: 0.75, Rho: 0.75, KeepGoing: s.KeepGoing}
	square := Square{Lp: norm, Eps: s.Eps, Queries: 5000, PInit: 0.8, FixedSchedule: true}
	switch version {
	case "standard":
		return []Attack{apgd("ce", 1), apgdt, fab(9, 1, false), square}, nil
	case "plus":
		return []Attack{apgd("ce", 5), apgd("dlr", 5), fab(0, 5, true), square, apgdt, fab(9, 1, false)}, nil
	}
	return nil, fmt.Errorf("attack: unknown AutoAttack version %q (known: %s)", version, strings.Join(AutoAttackVersions, ", "))
}
