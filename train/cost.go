package train

import (
	"fmt"

	"github.com/eabs/eabs/models"
)

// StepCost is the arithmetic and memory traffic of one training step on a batch of
// images (models.Cost's conventions), as the steppers run it:
//
//   - models with one shared encoder (E-ABS, the D variants): the encoder forward with
//     batch statistics and dropout, every layer's input gradient but the first
//     convolution's (its input is data) and every weight gradient; all K decoders
//     likewise, with every input gradient (the latent's feeds the encoder) and eq. 5's
//     reconstruction errors against the target and their gradients; the prior through
//     the discriminator (forward and input gradient, its weights are not trained here);
//   - class-specific encoders (ABS, A, V): one class's encoder and decoder per step;
//   - the discriminator's step (adversarial models): its forward, input and weight
//     gradients on the prior draws and on the encoded latents, the first layer's input
//     gradient excluded as for the encoder;
//   - a CNN: the encoder with its classifier head;
//   - Adam on every parameter trained in the step (models.AdamFLOP each).
//
// Left out, all below 1e-4 of a step: terms of size K or M per image (the
// reparameterisation, log-sum-exp, softplus, KL), the augmentation noise, and what
// Gorgonia computes beyond the model's gradients (it differentiates both operands of a
// product, so the dropout masks and the discriminator step's inputs get gradients
// nobody reads). Adversarial training's PGD is not included.
func StepCost(s models.Spec, batch int) (models.Cost, error) {
	if batch <= 0 {
		return models.Cost{}, fmt.Errorf("train: batch %d must be positive", batch)
	}
	enc, err := models.Layers(s, models.ModuleEncoder)
	if err != nil {
		return models.Cost{}, err
	}
	full := models.Pass{Train: true, Forward: true, InputGrad: true, SkipFirstInput: true, WeightGrad: true}
	c := models.ModuleCost(enc, full, batch)
	trained := params(enc)
	if s.Kind == models.CNN {
		return c.Plus(adam(trained)), nil
	}
	dec, err := models.Layers(s, models.ModuleDecoder)
	if err != nil {
		return models.Cost{}, err
	}
	P := int64(s.Arch.Pixels())
	decoders := s.Arch.Classes // decoders each image goes through
	if !s.Discriminative {
		decoders = 1
	}
	d := models.ModuleCost(dec, models.Pass{Train: true, Forward: true, InputGrad: true, WeightGrad: true}, batch)
	// c(target, G_k(z)) and its gradient with respect to the reconstruction.
	d = d.Plus(models.Cost{Elementwise: 2 * models.SqDistFLOP * P * int64(batch), ActBytes: 4 * 2 * 2 * P * int64(batch)})
	c = c.Plus(d.Times(decoders))
	trained += params(dec) * int64(decoders)
	if s.HasDiscriminator() {
		disc := models.MustLayers(s, models.ModuleDiscriminator)
		c = c.Plus(models.ModuleCost(disc, models.Pass{Train: true, Forward: true, InputGrad: true}, batch))
		// The discriminator's step: batch prior draws and batch encoded latents.
		c = c.Plus(models.ModuleCost(disc, models.Pass{Train: true, Forward: true, InputGrad: true, SkipFirstInput: true, WeightGrad: true}, 2*batch))
		c = c.Plus(adam(params(disc)))
	}
	return c.Plus(adam(trained)), nil
}

func params(ls []models.LayerCost) int64 {
	var n int64
	for _, l := range ls {
		n += l.Trainable
	}
	return n
}

// adam is one Adam update of n parameters; it reads and writes per parameter, not per
// image, so its bytes count with the weights.
func adam(n int64) models.Cost {
	return models.Cost{Elementwise: models.AdamFLOP * n, WeightBytes: models.AdamBytes * n}
}
