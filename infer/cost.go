package infer

import "github.com/eabs/eabs/models"

// Work is what an inference call runs per image, in calls of the runtime: the counts
// that turn the per-layer costs of models.Layers into the cost of a verdict. They are
// read off Classify and Refine (TestWorkMatchesCalls counts the calls a run makes).
type Work struct {
	// Search is the number of bank starts scored per class (Bank.Search).
	Search int `json:"search_starts"`
	// Encodes counts passes of the encoder(s) (Model.Encode).
	Encodes int `json:"encodes"`
	// LatentSteps counts latent steps (Model.LatentStep): every decoder forward and
	// its gradient with respect to its latent, the discriminator's likewise, the
	// reconstruction error and its gradient.
	LatentSteps int `json:"latent_steps"`
	// MeanSteps counts evaluations at the means without gradients (meanStep: every
	// decoder and the discriminator forward, the reconstruction error).
	MeanSteps int `json:"mean_steps"`
}

// ClassifyWork is the work of Classify per image: the start search, the encoder, a
// latent step at the encoder's start, with LossAtBest another at the chosen starts,
// opt.Steps Adam steps, and one at the optimised means. The chosen starts' step runs
// when any class of the batch starts from the bank rather than the encoder, which with
// 8000 starts is the rule (ClassifyWork counts it; a batch whose every class starts
// from the encoder runs one latent step fewer).
func ClassifyWork(opt Options) Work {
	w := Work{Search: opt.Starts, Encodes: 1, LatentSteps: 2 + opt.Steps}
	if opt.LossAt != LossAtFinal {
		w.LatentSteps++
	}
	return w
}

// RefineWork is the work of Refine with the given Adam steps per image: with
// LossAtBest the start at its mean is evaluated first, and the optimised mean last
// unless there were no steps; with LossAtFinal only the last.
func RefineWork(opt Options, steps int) Work {
	w := Work{LatentSteps: steps, MeanSteps: 1}
	if opt.LossAt != LossAtFinal && steps > 0 {
		w.MeanSteps++
	}
	return w
}

// Cost is the arithmetic and memory traffic of the work for one call on a batch of
// images of a generative model (models.Cost's conventions). Each encoder and decoder
// reads its weights once per call and pass, the discriminator once for all K latents
// of the batch; the search reads the bank once per call (Bank.Search keeps a tile of
// it in cache across the batch's images). Terms of size K*M per image (the
// reparameterisation, the prior's softplus or KL, the latent Adam updates, the
// search's argmin) are left out: under 1e-5 of a latent step.
func (w Work) Cost(s models.Spec, batch int) models.Cost {
	a := s.Arch
	K, P := a.Classes, int64(a.Pixels())
	var c models.Cost
	if w.Search > 0 {
		S := int64(w.Search)
		b := int64(batch)
		// Per image and class one matrix-vector product with the bank (S x P),
		// then xn - 2*dot + norm2 + prior per start (4 FLOP); per image the squared
		// norm of x (2P). Traffic: the bank's reconstructions, norms and priors once
		// per call; per image its pixels and the S dots per class written and read.
		c = c.Plus(models.Cost{
			GEMM:        2 * int64(K) * S * P * b,
			Elementwise: (4*int64(K)*S + 2*P) * b,
			ActBytes:    4 * (P + 2*int64(K)*S) * b,
			WeightBytes: 4 * (int64(K)*S*(P+1) + S),
		})
	}
	if w.Encodes > 0 {
		enc := models.ModuleCost(models.MustLayers(s, models.ModuleEncoder), models.Pass{Forward: true}, batch)
		c = c.Plus(enc.Times(w.Encodes * s.Encoders()))
	}
	dec := models.MustLayers(s, models.ModuleDecoder)
	step := func(p models.Pass, errFLOP int64) models.Cost {
		d := models.ModuleCost(dec, p, batch).Times(K)
		// The reconstruction error against x per class (and its gradient).
		d = d.Plus(models.Cost{Elementwise: errFLOP * P * int64(K*batch), ActBytes: 4 * 2 * P * int64(K*batch)})
		if s.HasDiscriminator() {
			d = d.Plus(models.ModuleCost(models.MustLayers(s, models.ModuleDiscriminator), p, K*batch))
		}
		return d
	}
	if w.LatentSteps > 0 {
		c = c.Plus(step(models.Pass{Forward: true, InputGrad: true}, 2*models.SqDistFLOP).Times(w.LatentSteps))
	}
	if w.MeanSteps > 0 {
		c = c.Plus(step(models.Pass{Forward: true}, models.SqDistFLOP).Times(w.MeanSteps))
	}
	return c
}

// Plus returns the work of both.
func (w Work) Plus(v Work) Work {
	return Work{w.Search + v.Search, w.Encodes + v.Encodes, w.LatentSteps + v.LatentSteps, w.MeanSteps + v.MeanSteps}
}

// Times returns n times the work.
func (w Work) Times(n int) Work {
	return Work{w.Search * n, w.Encodes * n, w.LatentSteps * n, w.MeanSteps * n}
}
