package certify

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/floats"
)

// Budgeted builds an L2 attack whose budget is eps (for a bounded attack such as PGD
// the radius of its ball; a minimum-norm attack such as DDN may ignore it, its
// result is measured against eps anyway). Validation builds one per certified sample,
// with eps just below that sample's eps*.
type Budgeted struct {
	Name string
	New  func(eps float64) attack.Attack
}

// Target is a classifier a certificate is checked against.
type Target struct {
	// Name is "exact" for the exact-inference classifier the bound is about and
	// "deployed" for the randomised model users run.
	Name string
	// Model gives the verdict: its prediction on an attack's final image decides
	// whether the certificate was violated (an attack's own belief never does).
	Model attack.Classifier
	// Attacked is the view of the model the attacks run on, nil for Model itself. For
	// E-ABS it is a warm-started adversary.Adaptive over the same engine: its gradient
	// costs a few latent steps instead of a full inference, and only the attacker uses
	// it, so a cheaper inference can weaken the attack but never fake a violation.
	Attacked attack.Classifier
}

// Targets builds the targets of one certificate. Validate calls it once per sample,
// possibly from several goroutines at once, so every call must return models of its
// own; seeding their noise from the sample (r.Index) keeps a validation independent
// of the number of workers.
type Targets func(r Result) ([]Target, error)

// ValidateOptions are the validation's knobs that are not attacks.
type ValidateOptions struct {
	// Workers is the number of samples attacked at once (0 means 1).
	Workers int
	// Seed seeds the attacks: sample r uses the stream (Seed, r.Index).
	Seed uint64
}

// Validation is the attack check of one certificate.
type Validation struct {
	// Budget is the L2 budget the attacks were given: eps* shrunk by a relative 1e-4,
	// so that anything they find lies strictly inside the certified radius.
	Budget float64 `json:"budget"`
	// Checks holds one entry per target.
	Checks []Check `json:"checks"`
}

// Check is the outcome of attacking one certified sample on one target.
type Check struct {
	Target string `json:"target"`
	// Attacks run, in order.
	Attacks []string `json:"attacks"`
	// Violated says that an attack found x' with ||x' - x|| < eps* that the target
	// classifies other than the label: the certificate does not hold there.
	Violated bool `json:"violated"`
	// Attack, L2 and Pred describe the violation: which attack, at what distance,
	// and the target's prediction on it.
	Attack string  `json:"attack,omitempty"`
	L2     float64 `json:"l2,omitempty"`
	Pred   int     `json:"pred"`
	// Closest is the smallest distance of an image inside the certified ball that an
	// attack believed adversarial but the verdict did not (0 when none): how near the
	// attacks came.
	Closest float64 `json:"closest,omitempty"`
	// Adv is the adversarial image of a violation (saved by the CLI as PNG and raw).
	Adv []float32 `json:"-"`
}

// budgetShrink keeps an attack's ball strictly inside the certified radius.
const budgetShrink = 1e-4

// resetter is an attacked model with per-sample state to forget between samples
// (adversary.Adaptive's warm start).
type resetter interface{ Reset() }

// Validate attacks every certified sample of rs (Eps > 0, correctly classified) with
// each attack, budget capped at its eps*, against each target, and records the outcome
// in rs[i].Validation. x holds the images of rs in order. The verdict is the target's
// own prediction on the attack's final image; a sample is violated when that
// prediction differs from the label and the image lies strictly inside eps*. Each
// sample is attacked alone (its budget is its own), opt.Workers samples at a time.
// tick reports the samples done. On an error or a cancelled ctx, samples already
// validated keep their result.
func Validate(ctx context.Context, rs []Result, x []float32, targets Targets, attacks []Budgeted, opt ValidateOptions, tick func(done, total int)) error {
	if len(rs) == 0 {
		return nil
	}
	P := len(x) / len(rs)
	if P*len(rs) != len(x) {
		return fmt.Errorf("certify: %d values for %d certificates", len(x), len(rs))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, done atomic.Int64
		mu         sync.Mutex
		firstErr   error
		wg         sync.WaitGroup
	)
	for w := 0; w < max(opt.Workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(rs) || ctx.Err() != nil {
					return
				}
				v, err := validateOne(ctx, rs[i], x[i*P:(i+1)*P], targets, attacks, opt.Seed)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					cancel()
				} else {
					rs[i].Validation = v
				}
				mu.Unlock()
				d := int(done.Add(1))
				if tick != nil && err == nil {
					tick(d, len(rs))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// validateOne attacks one certificate; nil when it certifies nothing.
func validateOne(ctx context.Context, r Result, xi []float32, targets Targets, attacks []Budgeted, seed uint64) (*Validation, error) {
	if r.Eps <= 0 || r.Pred != r.Label {
		return nil, nil
	}
	ts, err := targets(r)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, uint64(r.Index)))
	budget := r.Eps * (1 - budgetShrink)
	v := &Validation{Budget: budget}
	for _, t := range ts {
		am := t.Attacked
		if am == nil {
			am = t.Model
		}
		ch := Check{Target: t.Name, Pred: r.Label}
		for _, b := range attacks {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if rs, ok := am.(resetter); ok {
				rs.Reset()
			}
			a := b.New(budget)
			ch.Attacks = append(ch.Attacks, a.Name())
			f, err := a.Run(ctx, am, xi, []int{r.Label}, 1, rng)
			if err != nil {
				return nil, fmt.Errorf("certify: validating image %d with %s on %s: %w", r.Index, a.Name(), t.Name, err)
			}
			d := l2(f.Adv, xi)
			if !(d < r.Eps) {
				continue // outside the certified ball: not a counterexample
			}
			logits, err := t.Model.Logits(f.Adv, 1)
			if err != nil {
				return nil, err
			}
			if p := floats.Argmax(logits); p != r.Label {
				ch.Violated, ch.Attack, ch.L2, ch.Pred = true, a.Name(), d, p
				ch.Adv = append([]float32(nil), f.Adv...)
				break
			}
			if len(f.Ok) > 0 && f.Ok[0] && (ch.Closest == 0 || d < ch.Closest) {
				ch.Closest = d
			}
		}
		v.Checks = append(v.Checks, ch)
	}
	return v, nil
}

func l2(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// EngineClassifier exposes an E-ABS inference engine as an attack.Differentiable: its
// logits are -l_k(x) and its gradient the adaptive one of eq. 8 (z*_k held fixed,
// d l_k / dx = 2 (x - G_k(z*_k))). With an exact engine (Options.Exact) it is the
// deterministic classifier the certified bound is about; otherwise every call draws
// fresh inference noise from Seed: the deployed, randomised model.
type EngineClassifier struct {
	Engine *infer.Engine
	Seed   uint64
	calls  int
}

var _ attack.Differentiable = (*EngineClassifier)(nil)

// Classes implements attack.Classifier.
func (e *EngineClassifier) Classes() int { return e.Engine.Model().Spec().Arch.Classes }

func (e *EngineClassifier) run(x []float32, batch int) (*infer.Output, error) {
	rs := make([]*rand.Rand, batch)
	for i := range rs {
		rs[i] = infer.NoiseFor(e.Seed, e.calls, i)
	}
	e.calls++
	return e.Engine.Classify(x, batch, rs)
}

// Logits implements attack.Classifier.
func (e *EngineClassifier) Logits(x []float32, batch int) ([]float32, error) {
	out, err := e.run(x, batch)
	if err != nil {
		return nil, err
	}
	l := make([]float32, len(out.Loss))
	for i, v := range out.Loss {
		l[i] = -v
	}
	return l, nil
}

// LogitsVJP implements attack.Differentiable: d/dx sum_b <v_b, -l_b> =
// -2 sum_k v_bk (x_b - G_k(z*_bk)).
func (e *EngineClassifier) LogitsVJP(x []float32, batch int, cot func(logits []float32) []float32) ([]float32, []float32, error) {
	out, err := e.run(x, batch)
	if err != nil {
		return nil, nil, err
	}
	K, P := out.K, out.P
	logits := make([]float32, len(out.Loss))
	for i, v := range out.Loss {
		logits[i] = -v
	}
	v := cot(logits)
	if len(v) != len(logits) {
		return nil, nil, fmt.Errorf("certify: cotangent has %d values for %d logits", len(v), len(logits))
	}
	grad := make([]float32, len(x))
	for b := 0; b < batch; b++ {
		xb, gb := x[b*P:(b+1)*P], grad[b*P:(b+1)*P]
		for k := 0; k < K; k++ {
			c := v[b*K+k]
			if c == 0 {
				continue
			}
			rec := out.Rec[(b*K+k)*P : (b*K+k+1)*P]
			for j := range gb {
				gb[j] -= 2 * c * (xb[j] - rec[j])
			}
		}
	}
	return logits, grad, nil
}

// DeployedOptions is the inference the validation's "deployed" target must run: the
// one users run (infer.DefaultOptions: 50 Adam steps on mean and variance, sampled),
// sharing the certificate's start bank (its Starts and BankSeed, the defaults' 8000
// and 1 unless changed) so the target needs no bank of its own. The certificate's
// own inference (exact, 100 steps) is another, stronger classifier: attacking it as
// "deployed" would test a model nobody runs.
func DeployedOptions(certified infer.Options) infer.Options {
	d := infer.DefaultOptions()
	d.Starts, d.BankSeed = certified.Starts, certified.BankSeed
	return d
}
