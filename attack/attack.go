// Package attack implements the adversarial attacks of the paper's evaluation against any
// model that exposes a differentiable per-sample loss, and serves adversarial training.
package attack

// Model is what gradient attacks need: the logits of a batch and the gradient of the
// per-sample cross-entropy with respect to the input. For a CNN that is its logits;
// for E-ABS the logits are -l_k and the gradient the adaptive one of eq. 8.
type Model interface {
	// LossGrad returns the logits (B, K) of images x (B, C, H, W) and the gradient of
	// sum_b CE(logits_b, y_b) with respect to x.
	LossGrad(x []float32, y []int, batch int) (logits, grad []float32, err error)
}
