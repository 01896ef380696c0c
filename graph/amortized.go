package graph

import (
	"fmt"

	dataset "github.com/eabs/eabs/data"
	"github.com/eabs/eabs/models"
)

// Amortized scores every image of set with the encoder's mean as the latent (the
// validation metric of training, and the encoder start of inference): logits (N, K)
// = -(||x - G_k(mu(x))||^2 + prior(mu(x))) (see NewAmortized); for a CNN its logits. It
// runs the float32 graph in evaluation mode, one image at a time (Samples: an image's
// logits do not depend on the others), batch images between calls of tick with the
// number of images done.
func Amortized(w *models.Weights, set *dataset.Set, batch int, tick func(done int)) ([]float32, error) {
	a := w.Spec.Arch
	if set.C != a.InC || set.H != a.InH || set.W != a.InW {
		return nil, fmt.Errorf("graph: images are %dx%dx%d, model %q wants %dx%dx%d", set.C, set.H, set.W, a.Name, a.InC, a.InH, a.InW)
	}
	if batch < 1 {
		return nil, fmt.Errorf("graph: batch %d must be positive", batch)
	}
	out, sign := "loss", float32(-1)
	if w.Spec.Kind == models.CNN {
		out, sign = "logits", 1
	}
	pool := NewSamples(func() (*Program[float32], error) { return NewAmortized[float32](w, 1) })
	defer pool.Close()
	K, n := a.Classes, set.ImageSize()
	logits := make([]float32, set.N*K)
	for lo := 0; lo < set.N; lo += batch {
		hi := min(lo+batch, set.N)
		err := pool.Each(hi-lo, func(p *Program[float32], j int) error {
			i := lo + j
			if err := p.Set("x", set.Images[i*n:(i+1)*n]); err != nil {
				return err
			}
			if err := p.Run(); err != nil {
				return err
			}
			for k, v := range p.Output(out) {
				logits[i*K+k] = sign * v
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if tick != nil {
			tick(hi)
		}
	}
	return logits, nil
}
