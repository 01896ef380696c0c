// Package infer classifies images with trained models: the encoder-amortised shortcut
// used for validation, and the paper's full inference (best of 8000+1 starts, then
// Adam on mean and log-variance of Q*(z) per class).
package infer

import (
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/graph"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/models"
)

// Result holds per-image predictions. Logits are -l_k(x) for generative models and the
// network's logits for a CNN, so argmax is the prediction in both cases.
type Result struct {
	N, Classes int
	Logits     []float32 // N x Classes
	Pred       []int
	Labels     []int // nil when unknown
}

// Correct counts the correct predictions (0 without labels).
func (r *Result) Correct() int {
	if r.Labels == nil {
		return 0
	}
	ok := 0
	for i, p := range r.Pred {
		if p == r.Labels[i] {
			ok++
		}
	}
	return ok
}

// Accuracy is the fraction of correct predictions (0 without labels).
func (r *Result) Accuracy() float64 {
	if r.Labels == nil || r.N == 0 {
		return 0
	}
	return float64(r.Correct()) / float64(r.N)
}

// Amortized classifies every image of set with the encoder's mean as the latent
// (graph.Amortized): argmin_k ||x - G_k(mu(x))||^2 + prior(mu(x)); for a CNN its
// logits. tick is called with the number of images done.
func Amortized(w *models.Weights, set *data.Set, batch int, tick func(done int)) (*Result, error) {
	logits, err := graph.Amortized(w, set, batch, tick)
	if err != nil {
		return nil, err
	}
	K := w.Spec.Arch.Classes
	res := &Result{N: set.N, Classes: K, Logits: logits, Pred: make([]int, set.N), Labels: set.Labels}
	for i := range res.Pred {
		res.Pred[i] = floats.Argmax(logits[i*K : (i+1)*K])
	}
	return res, nil
}
