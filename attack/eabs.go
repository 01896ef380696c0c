package attack

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/infer"
)

// Adaptive is the attack.Model of an E-ABS (or ABS) classifier: its logits are -l_k(x)
// from the paper's full inference, and its gradient is the adaptive one of eq. 8, which
// holds the optimised latents fixed: d l_k / dx = 2 (x - G_k(z*_k)). With EOT > 1 both
// are averaged over that many inference runs with independent noise (the paper's
// Appendix B.1 uses 5).
type Adaptive struct {
	Engine *infer.Engine
	EOT    int
	// Seed seeds the inference noise; every call draws fresh noise from it.
	Seed  uint64
	calls int
}

// LossGrad implements Model.
func (a *Adaptive) LossGrad(x []float32, y []int, batch int) (logits, grad []float32, err error) {
	s := a.Engine.Model().Spec()
	K, P := s.Arch.Classes, s.Arch.Pixels()
	if len(y) != batch || len(x) != batch*P {
		return nil, nil, fmt.Errorf("attack: %d values and %d labels for %d images", len(x), len(y), batch)
	}
	eot := max(a.EOT, 1)
	logits = make([]float32, batch*K)
	grad = make([]float32, len(x))
	for r := 0; r < eot; r++ {
		rs := make([]*rand.Rand, batch)
		for i := range rs {
			rs[i] = infer.NoiseFor(a.Seed, a.calls, i)
		}
		a.calls++
		out, err := a.Engine.Classify(x, batch, rs)
		if err != nil {
			return nil, nil, err
		}
		for b := 0; b < batch; b++ {
			l := out.Loss[b*K : (b+1)*K]
			// p = softmax(-l); d CE / d l_k = onehot_k - p_k.
			m := math.Inf(1)
			for _, v := range l {
				m = math.Min(m, float64(v))
			}
			var z float64
			for _, v := range l {
				z += math.Exp(m - float64(v))
			}
			xb := x[b*P : (b+1)*P]
			gb := grad[b*P : (b+1)*P]
			for k, v := range l {
				logits[b*K+k] += -v / float32(eot)
				c := -math.Exp(m-float64(v)) / z
				if k == y[b] {
					c++
				}
				if c == 0 {
					continue
				}
				f := float32(2 * c / float64(eot))
				rec := out.Rec[(b*K+k)*P : (b*K+k+1)*P]
				for j := range gb {
					gb[j] += f * (xb[j] - rec[j])
				}
			}
		}
	}
	return logits, grad, nil
}
