// Package infer classifies images with trained models: the encoder-amortised shortcut
// used for validation, and the paper's full inference (best of 8000+1 starts, then
// Adam on mean and log-variance of Q*(z) per class).
package infer

import (
	"fmt"

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

// Amortized classifies every image of set with the encoder's mean as the latent:
// argmin_k ||x - G_k(mu(x))||^2 + prior(mu(x)) (see graph.NewAmortized); for a CNN its
// logits. It runs the float32 reference graph in evaluation mode, one image at a time
// (graph.Samples: an image's logits do not depend on the others), batch images between
// calls of tick with the number of images done.
func Amortized(w *models.Weights, set *data.Set, batch int, tick func(done int)) (*Result, error) {
	a := w.Spec.Arch
	if set.C != a.InC || set.H != a.InH || set.W != a.InW {
		return nil, fmt.Errorf("infer: images are %dx%dx%d, model %q wants %dx%dx%d", set.C, set.H, set.W, a.Name, a.InC, a.InH, a.InW)
	}
	if batch < 1 {
		return nil, fmt.Errorf("infer: batch %d must be positive", batch)
	}
	out, sign := "loss", float32(-1)
	if w.Spec.Kind == models.CNN {
		out, sign = "logits", 1
	}
	pool := graph.NewSamples(func() (*graph.Program[float32], error) { return graph.NewAmortized[float32](w, 1) })
	defer pool.Close()
	K, n := a.Classes, set.ImageSize()
	res := &Result{N: set.N, Classes: K, Logits: make([]float32, set.N*K), Pred: make([]int, set.N), Labels: set.Labels}
	for lo := 0; lo < set.N; lo += batch {
		hi := min(lo+batch, set.N)
		err := pool.Each(hi-lo, func(p *graph.Program[float32], j int) error {
			i := lo + j
			if err := p.Set("x", set.Images[i*n:(i+1)*n]); err != nil {
				return err
			}
			if err := p.Run(); err != nil {
				return err
			}
			row := res.Logits[i*K : (i+1)*K]
			for k, v := range p.Output(out) {
				row[k] = sign * v
			}
			res.Pred[i] = floats.Argmax(row)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if tick != nil {
			tick(hi)
		}
	}
	return res, nil
}
