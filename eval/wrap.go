package eval

import (
	"math"

	"github.com/eabs/eabs/attack"
)

// gradCount counts the gradient rows an attack received and how many of them were
// all zero (a saturated or masked loss: the attack is blind there) or held a NaN or
// an infinity (a broken gradient). Either, in numbers, means the attack's failure
// says little about robustness (gradient masking, Athalye et al. 2018).
type gradCount struct{ rows, zero, nan int }

func (c *gradCount) add(g []float32, batch int) {
	if batch <= 0 || len(g)%batch != 0 {
		return
	}
	n := len(g) / batch
	for b := 0; b < batch; b++ {
		zero, bad := true, false
		for _, v := range g[b*n : (b+1)*n] {
			if v != 0 {
				zero = false
			}
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				bad = true
			}
		}
		c.rows++
		switch {
		case bad:
			c.nan++
		case zero:
			c.zero++
		}
	}
}

// wrap returns m with every gradient it hands out counted in c. The wrapper has
// exactly the capabilities of m (Classifier, and Differentiable and/or the
// cross-entropy attack.Model when m has them, Reconstructor and LatentModel with both
// as E-ABS has, Parallel for a gradient-free classifier), so an attack's capability
// check sees the model it would have seen unwrapped.
func wrap(m attack.Classifier, c *gradCount) attack.Classifier {
	base := counted{m, c}
	d, isD := m.(attack.Differentiable)
	l, isL := m.(attack.Model)
	r, isR := m.(attack.Reconstructor)
	p, isP := m.(attack.Parallel)
	lm, isLM := m.(attack.LatentModel)
	switch {
	case isD && isL && isR && isLM:
		// E-ABS's Adaptive: the Latent Descent Attack needs its reconstructions, the
		// basin attack its latent search.
		return countedLatent{countedRec{countedBoth{countedVJP{base, d}, countedCE{base, l}}, r}, lm}
	case isD && isL && isR:
		// E-ABS's Adaptive: the Latent Descent Attack needs its reconstructions.
		return countedRec{countedBoth{countedVJP{base, d}, countedCE{base, l}}, r}
	case isD && isL:
		return countedBoth{countedVJP{base, d}, countedCE{base, l}}
	case isD:
		return countedVJP{base, d}
	case isL:
		return countedCE{base, l}
	case isP:
		// A classifier on ONNX Runtime: the gradient-free attacks' oracle batches
		// across its workers.
		return countedPar{base, p}
	}
	return base
}

type countedRec struct {
	countedBoth
	r attack.Reconstructor
}

func (w countedRec) Reconstruct(x []float32, batch int) ([]float32, []float32, error) {
	return w.r.Reconstruct(x, batch)
}

// countedLatent passes the latent search through; its gradients are with respect to
// latents, not the image, and are not counted.
type countedLatent struct {
	countedRec
	lm attack.LatentModel
}

func (w countedLatent) Latent() int { return w.lm.Latent() }
func (w countedLatent) Objective(x []float32, class []int, z []float32, n int) ([]float32, []float32, []float32, error) {
	return w.lm.Objective(x, class, z, n)
}
func (w countedLatent) Starts(x []float32, k int) ([]float32, []float32, error) {
	return w.lm.Starts(x, k)
}
func (w countedLatent) Pool(x []float32, k int, eps float64, count int) ([]float32, error) {
	return w.lm.Pool(x, k, eps, count)
}
func (w countedLatent) Full() attack.Classifier { return w.lm.Full() }

type countedPar struct {
	counted
	p attack.Parallel
}

func (w countedPar) Parallelism() (workers, maxBatch int) { return w.p.Parallelism() }

type counted struct {
	m attack.Classifier
	c *gradCount
}

func (w counted) Classes() int                                     { return w.m.Classes() }
func (w counted) Logits(x []float32, batch int) ([]float32, error) { return w.m.Logits(x, batch) }

type countedVJP struct {
	counted
	d attack.Differentiable
}

func (w countedVJP) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	l, g, err := w.d.LogitsVJP(x, batch, cot)
	if err == nil {
		w.c.add(g, batch)
	}
	return l, g, err
}

type countedCE struct {
	counted
	l attack.Model
}

func (w countedCE) LossGrad(x []float32, y []int, batch int) ([]float32, []float32, error) {
	l, g, err := w.l.LossGrad(x, y, batch)
	if err == nil {
		w.c.add(g, batch)
	}
	return l, g, err
}

type countedBoth struct {
	countedVJP
	ce countedCE
}

func (w countedBoth) LossGrad(x []float32, y []int, batch int) ([]float32, []float32, error) {
	return w.ce.LossGrad(x, y, batch)
}
