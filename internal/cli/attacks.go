package cli

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/suite"
)

// attackOptions are the budgets of the attacks built by name.
type attackOptions struct {
	// PGD: steps and random restarts per sample (the paper's 80 and 5 on MNIST and
	// Fashion-MNIST, 20 restarts on the 32x32 sets).
	pgdSteps, pgdRestarts int
}

// attackKind is how one attack is made from its budget.
type attackKind struct {
	norm    attack.Norm
	bounded bool
	build   func(eps float64, o attackOptions) attack.Attack
}

// attackKinds are the attacks eabs attack knows by name. The other attacks of the
// suite (APGD, DeepFool, DDN, CW, noise, LDA, and the gradient-free ones) are added
// here as they land in package attack.
var attackKinds = map[string]attackKind{
	"pgd-l2": {attack.L2, true, func(eps float64, o attackOptions) attack.Attack {
		return pgdAttack{P: attack.PGD{Norm: attack.L2, Eps: eps, Steps: o.pgdSteps, RandomStart: true}, Restarts: o.pgdRestarts}
	}},
	"pgd-linf": {attack.Linf, true, func(eps float64, o attackOptions) attack.Attack {
		return pgdAttack{P: attack.PGD{Norm: attack.Linf, Eps: eps, Steps: o.pgdSteps, RandomStart: true}, Restarts: o.pgdRestarts}
	}},
}

func attackNames() string {
	var out []string
	for k := range attackKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// buildAttack makes the attack called name at its norm's budget.
func buildAttack(name string, eps map[attack.Norm]float64, o attackOptions) (suite.Entry, error) {
	k, ok := attackKinds[name]
	if !ok {
		return suite.Entry{}, fmt.Errorf("--attacks: unknown attack %q (known: %s)", name, attackNames())
	}
	e, ok := eps[k.norm]
	if !ok || !(e > 0) {
		return suite.Entry{}, fmt.Errorf("--attacks: %s needs a positive %s budget", name, k.norm)
	}
	return suite.Entry{Attack: k.build(e, o), Eps: e, Bounded: k.bounded}, nil
}

// buildAttacks parses --attacks; sweep holds, per norm, its first bounded attack at
// each factor times the norm's budget (the accuracy-vs-eps self-check).
func buildAttacks(list string, eps map[attack.Norm]float64, o attackOptions, factors []float64) (entries, sweep []suite.Entry, err error) {
	seen := map[string]bool{}
	swept := map[attack.Norm]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("--attacks: %s listed twice", name)
		}
		seen[name] = true
		e, err := buildAttack(name, eps, o)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
		n := e.Attack.Norm()
		if e.Bounded && !swept[n] {
			swept[n] = true
			for _, f := range factors {
				big := map[attack.Norm]float64{n: f * eps[n]}
				s, err := buildAttack(name, big, o)
				if err != nil {
					return nil, nil, err
				}
				sweep = append(sweep, s)
			}
		}
	}
	if len(entries) == 0 {
		return nil, nil, fmt.Errorf("--attacks: no attack given (known: %s)", attackNames())
	}
	return entries, sweep, nil
}

// pgdAttack adapts attack.PGD, whose Run takes the cross-entropy attack.Model, to
// attack.Attack: Restarts runs from independent random starts, each on the samples
// the earlier ones did not break (by the attacked model's own logits), keeping the
// first adversarial iterate found, else the last.
type pgdAttack struct {
	P        attack.PGD
	Restarts int
}

func (a pgdAttack) Name() string      { return "pgd-" + string(a.P.Norm) }
func (a pgdAttack) Norm() attack.Norm { return a.P.Norm }

func (a pgdAttack) Run(ctx context.Context, m attack.Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*attack.Found, error) {
	lm, ok := m.(attack.Model)
	if !ok {
		d, ok := m.(attack.Differentiable)
		if !ok {
			return nil, &attack.UnsupportedError{Attack: a.Name(), Needs: "gradients"}
		}
		lm = ceModel{d}
	}
	if batch <= 0 || len(x)%batch != 0 || len(y) != batch {
		return nil, fmt.Errorf("%s: %d values, %d labels for a batch of %d", a.Name(), len(x), len(y), batch)
	}
	n, K := len(x)/batch, m.Classes()
	f := &attack.Found{Adv: slices.Clone(x), Ok: make([]bool, batch), Queries: make([]int, batch)}
	for r := 0; r < max(a.Restarts, 1); r++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var idx []int
		for b := 0; b < batch; b++ {
			if !f.Ok[b] {
				idx = append(idx, b)
			}
		}
		if len(idx) == 0 {
			break
		}
		xs := make([]float32, 0, len(idx)*n)
		ys := make([]int, len(idx))
		for j, b := range idx {
			xs = append(xs, x[b*n:(b+1)*n]...)
			ys[j] = y[b]
		}
		adv, err := a.P.Run(lm, xs, ys, len(idx), rng)
		if err != nil {
			return nil, err
		}
		logits, err := m.Logits(adv, len(idx))
		if err != nil {
			return nil, err
		}
		for j, b := range idx {
			copy(f.Adv[b*n:(b+1)*n], adv[j*n:(j+1)*n])
			f.Ok[b] = argmaxRow(logits[j*K:(j+1)*K]) != y[b]
			f.Queries[b] += a.P.Steps + 1
		}
	}
	return f, nil
}

func argmaxRow(row []float32) int {
	best := 0
	for k, v := range row {
		if v > row[best] {
			best = k
		}
	}
	return best
}

// ceModel is the cross-entropy attack.Model of a Differentiable classifier: the
// cotangent of sum_b CE(logits_b, y_b) is softmax(logits_b) - onehot(y_b).
type ceModel struct{ d attack.Differentiable }

func (c ceModel) LossGrad(x []float32, y []int, batch int) ([]float32, []float32, error) {
	K := c.d.Classes()
	return c.d.LogitsVJP(x, batch, func(l []float32) []float32 {
		v := make([]float32, len(l))
		for b := 0; b < len(l)/K; b++ {
			row := l[b*K : (b+1)*K]
			m := math.Inf(-1)
			for _, u := range row {
				m = math.Max(m, float64(u))
			}
			var z float64
			for _, u := range row {
				z += math.Exp(float64(u) - m)
			}
			for k, u := range row {
				v[b*K+k] = float32(math.Exp(float64(u)-m) / z)
			}
			v[b*K+y[b]]--
		}
		return v
	})
}

// cnnModel is a CNN on the float64 reference graph as the attacks' model and as its
// own (deterministic) verdict.
type cnnModel struct{ c *ref.Classifier }

func (m cnnModel) Classes() int { return m.c.Spec().Arch.Classes }
func (m cnnModel) Logits(x []float32, batch int) ([]float32, error) {
	return m.c.Logits(x, batch)
}
func (m cnnModel) LossGrad(x []float32, y []int, batch int) ([]float32, []float32, error) {
	return m.c.LossGrad(x, y, batch)
}

// LogitsVJP makes the CNN an attack.Differentiable from its cross-entropy gradients
// alone, until runtime/ref offers a native vector-Jacobian product: with g_k the
// gradient of CE(logits, k) = J^T (p - e_k), a cotangent v whose entries sum to zero
// (every shift-invariant attack loss: cross-entropy, margins, DLR, DeepFool's
// differences) gives J^T v = -sum_k v_k g_k. The K gradients come from one batched
// evaluation of the B images each repeated K times, so a product costs K gradients.
// A cotangent that does not sum to zero (the all-ones direction is invisible to
// cross-entropy) is refused.
func (m cnnModel) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	K := m.Classes()
	if batch <= 0 || len(x)%batch != 0 {
		return nil, nil, fmt.Errorf("cnn: %d values for a batch of %d", len(x), batch)
	}
	P := len(x) / batch
	xs := make([]float32, 0, batch*K*P)
	ys := make([]int, 0, batch*K)
	for b := 0; b < batch; b++ {
		for k := 0; k < K; k++ {
			xs = append(xs, x[b*P:(b+1)*P]...)
			ys = append(ys, k)
		}
	}
	lk, gk, err := m.c.LossGrad(xs, ys, batch*K)
	if err != nil {
		return nil, nil, err
	}
	logits := make([]float32, batch*K)
	for b := 0; b < batch; b++ {
		copy(logits[b*K:(b+1)*K], lk[b*K*K:b*K*K+K])
	}
	v := cot(logits)
	if len(v) != batch*K {
		return nil, nil, fmt.Errorf("cnn: cotangent of %d values for %d logits", len(v), batch*K)
	}
	grad := make([]float32, len(x))
	for b := 0; b < batch; b++ {
		var sum, abs float64
		for _, u := range v[b*K : (b+1)*K] {
			sum += float64(u)
			abs += math.Abs(float64(u))
		}
		if math.Abs(sum) > 1e-4*max(abs, 1e-30) {
			return nil, nil, fmt.Errorf("cnn: cotangent row %d sums to %g, not 0: the reference CNN's gradient needs a shift-invariant loss", b, sum)
		}
		g := grad[b*P : (b+1)*P]
		for k := 0; k < K; k++ {
			f := -v[b*K+k]
			if f == 0 {
				continue
			}
			src := gk[(b*K+k)*P : (b*K+k+1)*P]
			for j := range g {
				g[j] += f * src[j]
			}
		}
	}
	return logits, grad, nil
}

// adaptiveModel is E-ABS's adaptive-gradient attack.Model (attack.Adaptive) as an
// attack.Classifier whose noise the runner reseeds per attack call.
type adaptiveModel struct {
	a *attack.Adaptive
	k int
}

func (m adaptiveModel) Classes() int { return m.k }

// Logits runs the inference once through LossGrad (labels are irrelevant to logits).
func (m adaptiveModel) Logits(x []float32, batch int) ([]float32, error) {
	l, _, err := m.a.LossGrad(x, make([]int, batch), batch)
	return l, err
}
func (m adaptiveModel) LossGrad(x []float32, y []int, batch int) ([]float32, []float32, error) {
	return m.a.LossGrad(x, y, batch)
}

// Reseed implements suite.Reseeder: fresh noise stream, call counter restarted.
func (m adaptiveModel) Reseed(seed uint64) {
	*m.a = attack.Adaptive{Engine: m.a.Engine, EOT: m.a.EOT, Seed: seed}
}

// eabsVerdict judges candidates with E-ABS's full inference, averaging the per-class
// losses over EOT runs with independent noise; with keys (suite.Keyed) row i's noise
// in run r is a function of (keys[i], r) alone, so a verdict does not depend on the
// batch or shard the image is in. Rows are split over workers concurrent inferences.
type eabsVerdict struct {
	e       *infer.Engine
	eot     int
	workers int
	seed    uint64

	mu    sync.Mutex
	calls uint64
}

func (v *eabsVerdict) Classes() int { return v.e.Model().Spec().Arch.Classes }

// Logits draws fresh keys from a call counter.
func (v *eabsVerdict) Logits(x []float32, batch int) ([]float32, error) {
	v.mu.Lock()
	v.calls++
	c := v.calls
	v.mu.Unlock()
	keys := make([]uint64, batch)
	for i := range keys {
		keys[i] = v.seed ^ (c << 32) ^ uint64(i)
	}
	return v.LogitsKeyed(x, batch, keys)
}

func (v *eabsVerdict) LogitsKeyed(x []float32, batch int, keys []uint64) ([]float32, error) {
	K := v.Classes()
	if batch <= 0 || len(x)%batch != 0 || len(keys) != batch {
		return nil, fmt.Errorf("verdict: %d values and %d keys for %d images", len(x), len(keys), batch)
	}
	P := len(x) / batch
	out := make([]float32, batch*K)
	w := max(1, min(v.workers, batch))
	per := (batch + w - 1) / w
	errs := make([]error, w)
	var wg sync.WaitGroup
	for j := 0; j < w; j++ {
		lo, hi := j*per, min((j+1)*per, batch)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := make([]float64, (hi-lo)*K)
			eot := max(v.eot, 1)
			for r := 0; r < eot; r++ {
				rs := make([]*rand.Rand, hi-lo)
				for i := range rs {
					rs[i] = infer.NoiseFor(keys[lo+i], r, 0)
				}
				o, err := v.e.Classify(x[lo*P:hi*P], hi-lo, rs)
				if err != nil {
					errs[j] = err
					return
				}
				for i, l := range o.Loss {
					sum[i] += float64(l)
				}
			}
			for i, s := range sum {
				out[lo*K+i] = float32(-s / float64(eot))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
