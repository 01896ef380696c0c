// Package train trains E-ABS, ABS (and the Table 5 ablation variants) and the CNN
// baseline with Gorgonia on the CPU: the paper's losses (eq. 5 and the discriminator
// loss, interleaved), Adam with the learning rate halved on a schedule, additive
// Gaussian noise augmentation, validation on a seeded 10% split, per-epoch metrics, a
// run manifest, and atomic, versioned checkpoints from which a killed run resumes to the
// same weights it would have reached uninterrupted.
package train

import (
	"fmt"
	"math"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/models"
)

// Config is everything that determines a training run's result. A resumed run must
// have the same Config as the run that wrote the checkpoint.
type Config struct {
	Dataset string `json:"dataset"`
	// Model is a models.NewSpec name: eabs, abs, cnn, or ablation letters (a, d, v).
	Model  string `json:"model"`
	Epochs int    `json:"epochs"`
	// Batch is the minibatch size. The paper uses 512; on two CPU cores smaller
	// batches reach a given accuracy in far less time, so the CLI defaults to 64.
	Batch int     `json:"batch"`
	LR    float64 `json:"lr"`
	// HalveEvery halves the learning rate every this many epochs. The paper halves it
	// every 200 of 500 epochs; Resolve scales that to Epochs (0.4*Epochs, at least 1).
	HalveEvery int `json:"halve_every"`
	// Noise is the std of the additive Gaussian augmentation noise; the result is
	// clipped to [0,1]. Negative means the paper's value: 0.2 for grey-scale, 0.01 for
	// RGB datasets.
	Noise float64 `json:"noise"`
	// NoisyTarget makes the augmented image the reconstruction target as well as the
	// encoder's input. The paper only says "additive Gaussian noise augmentation"; by
	// default the target is the clean image (a denoising objective), because the
	// decoders then learn clean digits, which is what test images are; a noisy target
	// teaches them the clipped noise's grey background (mean 0.08 at std 0.2).
	NoisyTarget bool `json:"noisy_target,omitempty"`
	// NoiseUnclipped leaves the noisy image unclipped (x + N(0, Noise^2) may leave
	// [0,1]). Randomized smoothing (Cohen et al. 2019) classifies exactly such
	// unclipped noisy images, so its base classifiers are trained this way.
	NoiseUnclipped bool `json:"noise_unclipped,omitempty"`
	// ValFrac is the held-out validation fraction of the training set (paper: 0.1).
	ValFrac float64 `json:"val_frac"`
	Seed    uint64  `json:"seed"`
	// MaxTrain, when positive, trains on only the first MaxTrain images of the
	// training split (after the validation split): for smoke tests and benchmarks.
	MaxTrain int `json:"max_train,omitempty"`
	// CheckpointSteps also writes a checkpoint every this many steps inside an epoch
	// (0: only at epoch ends).
	CheckpointSteps int `json:"checkpoint_steps"`
	// Init starts from the weights of this model file instead of a seeded
	// initialisation (required for the adversarially trained CNNs, which start from a
	// trained CNN). InitSHA256 records the file's weights.
	Init       string `json:"init,omitempty"`
	InitSHA256 string `json:"init_sha256,omitempty"`
	// Beta and Gamma, when set, replace the paper's prior weight (1) and
	// discriminative weight (10) of eq. 5 for an ablation. Beta is recorded in the
	// model's Spec, so the inference uses it too unless told otherwise.
	Beta  *float64 `json:"beta,omitempty"`
	Gamma *float64 `json:"gamma,omitempty"`
	// CETemperature, when set, softens eq. 5's cross-entropy (models.Spec.Temperature;
	// an ablation beyond the paper, whose loss is T = 1).
	CETemperature float64 `json:"ce_temperature,omitempty"`
	// DiscSteps is the discriminator's updates per training step (0: one, the paper's
	// interleaving, Algorithm 1), each on fresh prior draws against the same encoded
	// latents. DiscLR is its Adam learning rate as a multiple of the run's (0: 1, the
	// paper's single learning rate). Both tune how strongly the adversarial
	// regulariser pulls the encoder's latents to the prior (issue 26's diagnosis).
	DiscSteps int     `json:"disc_steps,omitempty"`
	DiscLR    float64 `json:"disc_lr,omitempty"`
	// Adversarial training (models adv-linf and adv-l2): every batch is replaced by
	// PGD adversarial examples with these settings (Madry et al.).
	PGD *PGDConfig `json:"pgd,omitempty"`
}

// PGDConfig are the inner-attack settings of adversarial training. The paper gives
// the budgets (MNIST Linf 0.3, Fashion-MNIST Linf 0.1, SVHN/traffic Linf 8/255, L2 1.5)
// but not the attack's steps; 10 steps of 2.5*eps/10 from a random start keep an
// epoch affordable on two cores.
type PGDConfig struct {
	Norm  string  `json:"norm"`
	Eps   float64 `json:"eps"`
	Steps int     `json:"steps"`
	Step  float64 `json:"step"`
}

// DefaultConfig returns the paper's settings for a dataset and model, with the batch
// size and epoch count chosen for CPU training (see Config.Batch).
func DefaultConfig(dataset, model string) Config {
	return Config{Dataset: dataset, Model: model, Epochs: 10, Batch: 64, LR: 1e-3,
		Noise: -1, ValFrac: data.DefaultValFrac, Seed: data.DefaultValSeed, CheckpointSteps: 200}
}

// Resolve fills derived defaults (HalveEvery, Noise) and validates the config.
func (c Config) Resolve() (Config, error) {
	if c.Epochs <= 0 || c.Batch <= 0 || c.LR <= 0 || math.IsNaN(c.LR) {
		return c, fmt.Errorf("train: epochs %d, batch %d and learning rate %g must be positive", c.Epochs, c.Batch, c.LR)
	}
	if !(c.ValFrac >= 0 && c.ValFrac < 1) {
		return c, fmt.Errorf("train: validation fraction %g outside [0,1)", c.ValFrac)
	}
	if c.HalveEvery <= 0 {
		c.HalveEvery = max(1, int(math.Round(float64(c.Epochs)*200/500)))
	}
	if c.Noise < 0 {
		prof, err := data.ProfileOf(c.Dataset)
		if err != nil {
			return c, err
		}
		c.Noise = prof.Noise
	}
	spec, err := c.spec()
	if err != nil {
		return c, err
	}
	if (c.DiscSteps != 0 || c.DiscLR != 0) && !spec.HasDiscriminator() {
		return c, fmt.Errorf("train: model %s has no discriminator to tune (--disc-steps, --disc-lr)", c.Model)
	}
	if c.DiscSteps < 0 || c.DiscLR < 0 || math.IsNaN(c.DiscLR) {
		return c, fmt.Errorf("train: discriminator steps %d and learning-rate factor %g must not be negative", c.DiscSteps, c.DiscLR)
	}
	switch c.Model {
	case "adv-linf", "adv-l2":
		if c.Init == "" {
			return c, fmt.Errorf("train: %s starts from a trained CNN: pass --init runs/<dataset>-cnn/model.eabs", c.Model)
		}
		if c.PGD == nil {
			c.PGD = &PGDConfig{Norm: c.Model[4:], Steps: 10}
		}
		if c.PGD.Eps == 0 {
			prof, err := data.ProfileOf(c.Dataset)
			if err != nil {
				return c, err
			}
			c.PGD.Eps = prof.EpsLinf
			if c.PGD.Norm == string(attack.L2) {
				c.PGD.Eps = prof.EpsL2
			}
		}
		if c.PGD.Step == 0 && c.PGD.Steps > 0 {
			c.PGD.Step = 2.5 * c.PGD.Eps / float64(c.PGD.Steps)
		}
		c.Noise = 0 // the paper: no noise augmentation for adversarially trained models
	default:
		if c.PGD != nil {
			return c, fmt.Errorf("train: PGD settings only apply to adv-linf and adv-l2")
		}
	}
	return c, nil
}

// LRAt is the learning rate during an epoch (0-based).
func (c Config) LRAt(epoch int) float64 {
	return c.LR * math.Pow(0.5, float64(epoch/c.HalveEvery))
}

// spec is the model the run trains: the named model with the config's Beta and Gamma.
func (c Config) spec() (models.Spec, error) {
	s, err := models.NewSpec(c.Dataset, c.Model)
	if err != nil {
		return s, err
	}
	if (c.Beta != nil || c.Gamma != nil) && s.Kind != models.Generative {
		return s, fmt.Errorf("train: model %s has no beta or gamma", c.Model)
	}
	if c.CETemperature != 0 && !s.Discriminative {
		return s, fmt.Errorf("train: model %s has no discriminative loss to soften (--ce-temperature)", c.Model)
	}
	s.Temperature = c.CETemperature
	if c.Beta != nil {
		s.Beta = *c.Beta
	}
	if c.Gamma != nil {
		s.Gamma = *c.Gamma
	}
	return s, s.Validate()
}
