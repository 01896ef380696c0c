// Package attack implements the adversarial attacks of the paper's evaluation against any
// model that exposes a differentiable per-sample loss, and serves adversarial training.
//
// # Contracts
//
// A model is asked for the smallest capability an attack needs:
//   - Classifier: scores (logits) of a batch, what score-based gradient-free attacks
//     and every verdict need (decision-based attacks take the argmax);
//   - Differentiable: the gradient of any function of the logits, through a cotangent
//     computed from the logits of the same evaluation (a randomised model such as E-ABS
//     evaluates once per call, so the cotangent must come from the logits that produced
//     the gradient);
//   - Model: the cross-entropy special case, kept for adversarial training.
//
// An Attack runs on a batch and returns its best candidate per sample with its own
// belief of success and the queries it spent; the evaluation runner (package eval)
// decides success with the model's own full inference (fresh noise, EOT) and
// measures distances itself, so an attack's claim is never the verdict.
//
// # Randomised models
//
// Expectation over transformation is the model's business: a randomised model
// averages its own runs per call (E-ABS: adversary.Adaptive.EOT, the paper's 5), so
// every attack sees the averaged logits and gradient. The attacks' EOT fields average
// that many calls of a model that cannot average itself, for library use; the
// registry (New, AutoAttack) leaves them at 1.
package attack

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// Model is what gradient attacks need: the logits of a batch and the gradient of the
// per-sample cross-entropy with respect to the input. For a CNN that is its logits;
// for E-ABS the logits are -l_k and the gradient the adaptive one of eq. 8.
type Model interface {
	// LossGrad returns the logits (B, K) of images x (B, C, H, W) and the gradient of
	// sum_b CE(logits_b, y_b) with respect to x.
	LossGrad(x []float32, y []int, batch int) (logits, grad []float32, err error)
}

// Classifier answers queries with scores: the prediction is the argmax of a row.
type Classifier interface {
	// Classes is the number of classes K.
	Classes() int
	// Logits returns the scores (B, K) of images x (B, C, H, W).
	Logits(x []float32, batch int) ([]float32, error)
}

// Differentiable is a Classifier whose scores can be differentiated with respect to
// the input.
type Differentiable interface {
	Classifier
	// LogitsVJP evaluates the logits of x once, calls cot with them (B, K) to get the
	// cotangent v (B, K), and returns the logits and d/dx sum_b <v_b, logits_b>
	// (B, C, H, W).
	LogitsVJP(x []float32, batch int, cot func(logits []float32) []float32) (logits, grad []float32, err error)
}

// Attack is one attack of the suite.
type Attack interface {
	// Name is the attack's key on the command line and in results ("pgd-l2").
	Name() string
	// Norm is the norm its distances are measured in.
	Norm() Norm
	// Run attacks images x (B, C, H, W) with labels y. m is asserted to the capability
	// the attack needs (Differentiable, ...); a model without it gives an
	// *UnsupportedError. rng is the attack's only source of randomness.
	Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error)
}

// Found is an attack's answer for each sample of a batch.
type Found struct {
	// Adv (B, C, H, W) is the best candidate per sample, in [0,1]: for a bounded attack
	// within its budget, for a minimum-norm attack the smallest adversarial it found.
	// Where the attack found nothing, Adv holds its last iterate or x.
	Adv []float32
	// Ok is the attack's own belief that Adv is misclassified (not the verdict).
	Ok []bool
	// Queries is the number of model evaluations spent per sample; a logits-and-gradient
	// evaluation counts as one.
	Queries []int
}

// UnsupportedError says that an attack needs a capability the model lacks.
type UnsupportedError struct {
	Attack, Needs string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("attack %s needs %s, which this model does not provide", e.Attack, e.Needs)
}
