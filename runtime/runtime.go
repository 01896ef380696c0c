// Package runtime defines what E-ABS inference, attacks and cross-checks need from an
// execution engine, so the same code runs on every engine: the Go-native reference
// graph (runtime/ref, Gorgonia), ONNX Runtime (runtime/ort) and onnx-go
// (runtime/onnxgo: the encoder and discriminator; its Gorgonia backend has no
// transposed convolution, so decoders and the latent step are not implemented there).
//
// All tensors cross this interface as float32 slices in row-major order; engines may
// compute in higher precision inside.
package runtime

import (
	"errors"
	"fmt"

	"github.com/eabs/eabs/models"
)

// Model is a trained generative model (E-ABS, ABS or an ablation variant) on some
// engine.
type Model interface {
	// Spec describes the model (architecture, kind, switches, beta).
	Spec() models.Spec
	// Encode returns the mean and log-variance of every encoder's Q(z|x), each
	// (B, E, M) with E = Spec().Encoders(), for images x (B, C, H, W).
	Encode(x []float32, batch int) (mu, logvar []float32, err error)
	// Decode returns every decoder's reconstruction (B, K, C, H, W) of latents z
	// (B, K, M): decoder k sees z[b, k, :].
	Decode(z []float32, batch int) ([]float32, error)
	// LatentStep evaluates eq. 6 with one reparameterised sample per class:
	// z = mu + exp(logvar/2)*eps, loss[b,k] = ||x_b - G_k(z_bk)||^2 + prior(z_bk), and
	// its gradients with respect to mu and logvar (see Step). mu, logvar and eps are
	// (B, K, M).
	LatentStep(x, mu, logvar, eps []float32, batch int) (*Step, error)
	// Close releases the engine's resources.
	Close() error
}

// Step is the result of a latent step. The prior is -beta*log D(z) for adversarial
// models and beta*KL(N(mu, exp(logvar)) || N(0, I)) otherwise (which is ABS's
// beta*||mu||^2/2 when logvar = 0 and eps = 0).
type Step struct {
	Loss       []float32 // (B, K)
	Rec        []float32 // (B, K, C, H, W): G_k(z)
	GradMu     []float32 // (B, K, M): d sum(loss) / d mu
	GradLogvar []float32 // (B, K, M): d sum(loss) / d logvar
}

// Discriminator is implemented by engines of adversarial models.
type Discriminator interface {
	// DiscLogit returns the discriminator's logit (N) for latents z (N, M);
	// D(z) = sigmoid(logit).
	DiscLogit(z []float32, n int) ([]float32, error)
}

// Classifier is a model that maps images straight to scores: a CNN baseline, or any
// ONNX classifier.
type Classifier interface {
	// Classes is the number of scores per image.
	Classes() int
	// Logits returns (B, K) scores for images x (B, C, H, W).
	Logits(x []float32, batch int) ([]float32, error)
	Close() error
}

// ErrNotImplemented is returned (wrapped in *NotImplementedError) by engines that cannot
// run some part of a model; conformance tests skip those parts.
var ErrNotImplemented = errors.New("not implemented by this runtime")

// NotImplementedError names what an engine cannot do.
type NotImplementedError struct{ Engine, What string }

func (e *NotImplementedError) Error() string {
	return fmt.Sprintf("runtime %s: %s: %v", e.Engine, e.What, ErrNotImplemented)
}

func (e *NotImplementedError) Unwrap() error { return ErrNotImplemented }

// CheckLatentStep validates the arguments of Model.LatentStep for a spec.
func CheckLatentStep(s models.Spec, x, mu, logvar, eps []float32, batch int) error {
	a := s.Arch
	if err := CheckBatch("x", x, batch, a.Pixels()); err != nil {
		return err
	}
	for i, v := range [][]float32{mu, logvar, eps} {
		if err := CheckBatch([]string{"mu", "logvar", "eps"}[i], v, batch, a.Classes*a.Latent); err != nil {
			return err
		}
	}
	return nil
}

// CheckBatch validates the length of a batched tensor argument.
func CheckBatch(name string, v []float32, batch, per int) error {
	if batch <= 0 {
		return fmt.Errorf("runtime: batch %d must be positive", batch)
	}
	if len(v) != batch*per {
		return fmt.Errorf("runtime: %s has %d values, want %d (batch %d x %d)", name, len(v), batch*per, batch, per)
	}
	return nil
}
