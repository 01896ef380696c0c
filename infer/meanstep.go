package infer

import (
	"fmt"
	"math"

	"github.com/eabs/eabs/runtime"
)

// meanStep is m.LatentStep(x, mu, logvar, 0, batch) without the gradients: the loss
// of eq. 6 at the means, loss[b,k] = ||x_b - G_k(mu_bk)||^2 + prior, and Rec =
// G_k(mu_bk), from the decoders alone (and the discriminator of adversarial models).
// The inference evaluates means only to read their loss, and engines run a latent
// step's vector-Jacobian products whether or not its gradients are read (ONNX Runtime
// does not prune unrequested outputs), which doubles the cost of such an evaluation:
// on the MNIST E-ABS the products are half the step's convolution work.
//
// The prior is the latent step's at eps = 0 (runtime.Step): beta*softplus(-logit(mu))
// = -beta*log D(mu) for adversarial models, beta/2*sum_m(mu^2 + exp(logvar) - logvar
// - 1), the KL term, otherwise (beta/2*||mu||^2 for exact inference, whose logvar is
// 0). The sums are taken in float64 from the engine's float32 reconstructions and
// logits, as Bank.Search does, so the loss agrees with the latent step's to float32
// rounding, not bit for bit. An adversarial model whose runtime hides its
// discriminator is evaluated by the latent step itself. The returned Step's gradients
// are nil.
func meanStep(m runtime.Model, x []float32, batch int, mu, logvar []float32) (*runtime.Step, error) {
	s := m.Spec()
	a := s.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	var d runtime.Discriminator
	if s.HasDiscriminator() {
		var ok bool
		if d, ok = m.(runtime.Discriminator); !ok {
			return m.LatentStep(x, mu, logvar, make([]float32, len(mu)), batch)
		}
	}
	if err := runtime.CheckBatch("x", x, batch, P); err != nil {
		return nil, err
	}
	for i, v := range [][]float32{mu, logvar} {
		if err := runtime.CheckBatch([]string{"mu", "logvar"}[i], v, batch, K*M); err != nil {
			return nil, err
		}
	}
	rec, err := m.Decode(mu, batch)
	if err != nil {
		return nil, err
	}
	if len(rec) != batch*K*P {
		return nil, fmt.Errorf("infer: the decoders returned %d values for %d images x %d classes x %d pixels", len(rec), batch, K, P)
	}
	var logit []float32
	if d != nil {
		if logit, err = d.DiscLogit(mu, batch*K); err != nil {
			return nil, err
		}
		if len(logit) != batch*K {
			return nil, fmt.Errorf("infer: the discriminator returned %d logits for %d latents", len(logit), batch*K)
		}
	}
	loss := make([]float32, batch*K)
	for b := 0; b < batch; b++ {
		xb := x[b*P : (b+1)*P]
		for k := 0; k < K; k++ {
			i := b*K + k
			var l float64
			for j, v := range rec[i*P : (i+1)*P] {
				e := float64(xb[j]) - float64(v)
				l += e * e
			}
			if d != nil {
				l += s.Beta * softplus(-float64(logit[i]))
			} else {
				var kl float64
				for j := i * M; j < (i+1)*M; j++ {
					u, v := float64(mu[j]), float64(logvar[j])
					kl += u*u + math.Exp(v) - v - 1
				}
				l += 0.5 * s.Beta * kl
			}
			loss[i] = float32(l)
		}
	}
	return &runtime.Step{Loss: loss, Rec: rec}, nil
}
