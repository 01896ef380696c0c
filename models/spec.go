package models

import (
	"fmt"
	"math"
	"strings"
)

// Kind is the family of a model.
type Kind string

const (
	// Generative models classify by per-class synthesis losses: E-ABS, ABS and the
	// ablation variants of Table 5.
	Generative Kind = "generative"
	// CNN is the encoder's convolution stack plus a linear layer (also the base of the
	// adversarially trained baselines).
	CNN Kind = "cnn"
)

// Spec fully describes a model's structure: its architecture, family and switches. Two
// models with equal Specs have identical parameter names and shapes.
type Spec struct {
	Arch Arch `json:"arch"`
	Kind Kind `json:"kind"`
	// Adversarial (ablation "A"): the latent prior is enforced by a discriminator (an
	// adversarial autoencoder) instead of the VAE's KL term. One discriminator is
	// shared by all classes, because the prior it tests is the same for all of them.
	Adversarial bool `json:"adversarial"`
	// Discriminative (ablation "D"): one shared encoder, trained with the
	// discriminative cross-entropy over -c(x, G_k(z)) weighted by Gamma. Without it
	// there are K class-specific encoders, each trained on its own class only (ABS).
	Discriminative bool `json:"discriminative"`
	// Variational (ablation "V"): at test time optimise both mean and log-variance of
	// Q*(z) on eq. 6. Without it, ABS's exact inference: mean only, unit variance, KL.
	Variational bool `json:"variational"`
	// Beta weights the prior term (-beta*log D(z) or beta*KL); the paper uses 1.
	Beta float64 `json:"beta"`
	// Gamma weights the discriminative loss; the paper uses 10.
	Gamma float64 `json:"gamma"`
	// Temperature (0 or 1: eq. 5 as the paper gives it) softens the discriminative
	// loss to gamma*T*(-log softmax_k(-c(x, G_k(z))/T)[y]), for an ablation beyond the
	// paper (issue 26): with T = 1 the cross-entropy saturates once the wrong classes'
	// errors exceed the right one's by a few units of c, long before the margins that
	// robustness to L2 1.5 needs (about 15 on MNIST: results/mnist/eabs/margins/), so
	// it stops pushing them apart; a larger T keeps a gradient up to margins of a few
	// T, and its factor T keeps the gradient's size at small margins as at T = 1.
	Temperature float64 `json:"ce_temperature,omitempty"`
}

// CETemperature is the discriminative loss's temperature: Temperature, or 1 (the
// paper's eq. 5) when unset.
func (s Spec) CETemperature() float64 {
	if s.Temperature == 0 {
		return 1
	}
	return s.Temperature
}

// ModelNames lists the names NewSpec accepts: the paper's models and the Table 5
// ablation variants (letters A, D, V as in the paper; "adv" is E-ABS).
var ModelNames = []string{"eabs", "abs", "cnn", "a", "d", "v", "ad", "av", "dv", "adv"}

// NewSpec returns the spec of a named model on a dataset's architecture, with the
// paper's beta = 1 and gamma = 10. Names: "eabs" (= "adv"), "abs" (no switch), "cnn",
// and any combination of the letters a, d, v for the ablation variants. The
// adversarially trained baselines are "cnn" models trained differently.
func NewSpec(dataset, model string) (Spec, error) {
	arch, err := ArchFor(dataset)
	if err != nil {
		return Spec{}, err
	}
	s := Spec{Arch: arch, Kind: Generative, Beta: 1, Gamma: 10}
	switch m := strings.ToLower(model); m {
	case "eabs", "e-abs":
		s.Adversarial, s.Discriminative, s.Variational = true, true, true
	case "abs":
	case "cnn", "adv-linf", "adv-l2":
		s.Kind = CNN
	default:
		for _, c := range m {
			switch c {
			case 'a':
				s.Adversarial = true
			case 'd':
				s.Discriminative = true
			case 'v':
				s.Variational = true
			default:
				return Spec{}, fmt.Errorf("models: unknown model %q (known: %s)", model, strings.Join(ModelNames, ", "))
			}
		}
	}
	return s, s.Validate()
}

// Name is the short name of the model ("eabs", "abs", "cnn" or the variant letters).
func (s Spec) Name() string {
	if s.Kind == CNN {
		return "cnn"
	}
	v := ""
	if s.Adversarial {
		v += "a"
	}
	if s.Discriminative {
		v += "d"
	}
	if s.Variational {
		v += "v"
	}
	switch v {
	case "adv":
		return "eabs"
	case "":
		return "abs"
	}
	return v
}

// Encoders is the number of encoders: one when shared, K otherwise (0 never happens).
func (s Spec) Encoders() int {
	if s.Kind == CNN || s.Discriminative {
		return 1
	}
	return s.Arch.Classes
}

// HasDiscriminator reports whether the model has a latent discriminator.
func (s Spec) HasDiscriminator() bool { return s.Kind == Generative && s.Adversarial }

// Validate checks the spec for consistency.
func (s Spec) Validate() error {
	if err := s.Arch.Validate(); err != nil {
		return err
	}
	switch s.Kind {
	case Generative, CNN:
	default:
		return fmt.Errorf("models: unknown kind %q", s.Kind)
	}
	if s.Beta < 0 || s.Gamma < 0 {
		return fmt.Errorf("models: negative beta %g or gamma %g", s.Beta, s.Gamma)
	}
	if t := s.Temperature; t < 0 || math.IsNaN(t) || math.IsInf(t, 0) {
		return fmt.Errorf("models: discriminative-loss temperature %g: want a positive number (0: the paper's 1)", t)
	}
	return nil
}
