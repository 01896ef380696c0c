package adversary

import (
	"fmt"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/models"
)

// GradientCost is the arithmetic and memory traffic of one adaptive gradient
// (Adaptive.LogitsVJP) on a batch of images, for an Adaptive with the given EOT, Chunk
// and Warm and an engine with options opt (models.Cost's conventions). Each of the EOT
// runs infers every chunk of the batch in one call: the full inference
// (infer.ClassifyWork) without Warm, or, with Warm, a warm-started refinement of
// Warm.Steps Adam steps (infer.RefineWork): the steady state of a warm-started attack,
// whose full searches (the first call for a sample, a random restart, a changed
// prediction) cost as much as a call without Warm. Then eq. 8's gradient,
// -2 cot_k (x - G_k(z*_k)), is accumulated per run, image and class (3 FLOP per pixel)
// and averaged over runs (1 per pixel).
func GradientCost(s models.Spec, opt infer.Options, eot, chunk int, warm *WarmStart, batch int) (models.Cost, error) {
	if batch <= 0 {
		return models.Cost{}, fmt.Errorf("attack: batch %d must be positive", batch)
	}
	if err := s.Validate(); err != nil {
		return models.Cost{}, err
	}
	if s.Kind != models.Generative {
		return models.Cost{}, fmt.Errorf("attack: %s has no adaptive gradient", s.Name())
	}
	// The defaults of Adaptive.evaluate.
	eot, chunk = max(eot, 1), max(chunk, 0)
	if chunk == 0 {
		chunk = 8
	}
	w := infer.ClassifyWork(opt)
	if warm != nil {
		w = infer.RefineWork(opt, warm.Steps)
	}
	var run models.Cost
	for lo := 0; lo < batch; lo += chunk {
		run = run.Plus(w.Cost(s, min(chunk, batch-lo)))
	}
	K, P, b := int64(s.Arch.Classes), int64(s.Arch.Pixels()), int64(batch)
	run = run.Plus(models.Cost{Elementwise: 3 * K * P * b, ActBytes: 4 * 2 * K * P * b})
	return run.Times(eot).Plus(models.Cost{Elementwise: P * b, ActBytes: 4 * 2 * P * b}), nil
}
