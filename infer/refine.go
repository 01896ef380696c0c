package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/eabs/eabs/runtime"
)

// Refine runs the second half of Classify, the latent optimisation, from given
// starting distributions instead of the best of the start bank: steps Adam steps on
// mean mu and (for variational inference) log-variance logvar, both (B, K, M), then
// the loss read as Options.LossAt says (for LossAtBest the start itself, at its mean,
// is one of the candidates). It is what a warm-started attacker needs: the previous
// iterate's z*_k and log-variance are an excellent start for an image that moved a
// little, so a few steps replace the 8000+1-start search and the 50 steps of
// Classify. The optimiser, tracker and noise use are Classify's, so Refine from the
// start Classify chose, with Options.Steps steps and the same noise, gives Classify's
// result up to float32 rounding of the losses at the means. Refine evaluates the
// start and the final mean without gradients (meanStep): an attacker calls it for
// every gradient, and with one Adam step two of its three latent steps computed
// gradients nobody read. Classify keeps latent steps there, because package
// crosscheck's wrappers perturb every latent step of full inference. mu and logvar
// are not modified; logvar may be nil (zero) and is ignored by exact inference.
// rngs[b] supplies image b's noise as in Classify.
func (e *Engine) Refine(x []float32, batch int, mu, logvar []float32, steps int, rngs []*rand.Rand) (*Output, error) {
	s := e.m.Spec()
	a := s.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	if err := runtime.CheckBatch("x", x, batch, P); err != nil {
		return nil, err
	}
	if err := runtime.CheckBatch("mu", mu, batch, K*M); err != nil {
		return nil, err
	}
	if logvar != nil {
		if err := runtime.CheckBatch("logvar", logvar, batch, K*M); err != nil {
			return nil, err
		}
	}
	if steps < 0 {
		return nil, fmt.Errorf("infer: %d refinement steps", steps)
	}
	variational := s.Variational && !e.opt.Exact
	if variational && steps > 0 && len(rngs) != batch {
		return nil, fmt.Errorf("infer: %d noise sources for %d images", len(rngs), batch)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("infer: image %d holds %v", i/P, v)
		}
	}
	for i, v := range mu {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("infer: starting mean of image %d class %d holds %v", i/(K*M), i/M%K, v)
		}
	}
	mu = append([]float32(nil), mu...)
	lv := make([]float32, batch*K*M)
	if variational && logvar != nil {
		for i, v := range logvar {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("infer: starting log-variance of image %d class %d holds %v", i/(K*M), i/M%K, v)
			}
		}
		copy(lv, logvar)
	}
	out := &Output{B: batch, K: K, M: M, P: P, FromEncoder: make([]bool, batch*K)}
	t1 := time.Now()
	best := e.opt.LossAt != LossAtFinal
	var bt *tracker
	if best {
		st, err := meanStep(e.m, x, batch, mu, lv)
		if err != nil {
			return nil, err
		}
		bt = newTracker(st, mu, lv, M, P)
	}
	samplesCount := best && s.HasDiscriminator()
	if err := e.adam(x, batch, mu, lv, steps, variational, rngs, bt, samplesCount); err != nil {
		return nil, err
	}
	if best && steps == 0 {
		// The start at its mean is the only point evaluated.
		out.Loss, out.Rec, out.Z, out.Logvar = bt.loss, bt.rec, bt.z, bt.lv
	} else {
		final, err := meanStep(e.m, x, batch, mu, lv)
		if err != nil {
			return nil, err
		}
		if best {
			bt.update(final, mu, lv, nil)
			out.Loss, out.Rec, out.Z, out.Logvar = bt.loss, bt.rec, bt.z, bt.lv
		} else {
			out.Loss, out.Rec, out.Z, out.Logvar = final.Loss, final.Rec, mu, lv
		}
	}
	out.Optimise = time.Since(t1)
	for i, v := range out.Loss {
		if math.IsNaN(float64(v)) {
			return nil, fmt.Errorf("infer: the loss of image %d class %d is NaN", i/K, i%K)
		}
	}
	return out, nil
}
