package attack

import (
	"math"
	"math/rand/v2"
)

// Outcome is the per-sample result of attacking a set of images.
type Outcome struct {
	N int `json:"n"`
	// CleanCorrect and Robust flag each sample: a sample is robust when it is
	// classified correctly and no restart of the attack changed that.
	CleanCorrect []bool `json:"clean_correct"`
	Robust       []bool `json:"robust"`
	// CleanPred is the prediction on the clean image.
	CleanPred []int `json:"clean_pred"`
	// Adv holds, per sample, the first successful adversarial example, or the last
	// restart's result when none succeeded (N x C*H*W).
	Adv []float32 `json:"-"`
	// AdvPred is the prediction on Adv.
	AdvPred []int `json:"adv_pred"`
	// L2 and Linf are the perturbation sizes of Adv.
	L2   []float64 `json:"l2"`
	Linf []float64 `json:"linf"`
}

// CleanAccuracy and RobustAccuracy are the fractions of samples flagged.
func (o *Outcome) CleanAccuracy() float64  { return frac(o.CleanCorrect) }
func (o *Outcome) RobustAccuracy() float64 { return frac(o.Robust) }

func frac(v []bool) float64 {
	if len(v) == 0 {
		return 0
	}
	n := 0
	for _, b := range v {
		if b {
			n++
		}
	}
	return float64(n) / float64(len(v))
}

func argmaxK(logits []float32, k int) []int {
	out := make([]int, len(logits)/k)
	for b := range out {
		row := logits[b*k : (b+1)*k]
		best := 0
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
		}
		out[b] = best
	}
	return out
}

// Evaluate attacks images x (N x C*H*W) with labels y, batch images at a time, with
// `restarts` independent runs of p, attacking only samples still robust (as
// AutoAttack does), and classifies every final image once more with m. tick reports
// the samples done.
func Evaluate(m Model, p PGD, restarts int, x []float32, y []int, batch, classes int, rng *rand.Rand, tick func(done int)) (*Outcome, error) {
	n := len(y)
	size := len(x) / n
	o := &Outcome{N: n, CleanCorrect: make([]bool, n), Robust: make([]bool, n), CleanPred: make([]int, n), Adv: append([]float32(nil), x...),
		AdvPred: make([]int, n), L2: make([]float64, n), Linf: make([]float64, n)}
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		b := hi - lo
		logits, _, err := m.LossGrad(x[lo*size:hi*size], y[lo:hi], b)
		if err != nil {
			return nil, err
		}
		for i, pr := range argmaxK(logits, classes) {
			o.CleanPred[lo+i] = pr
			o.CleanCorrect[lo+i] = pr == y[lo+i]
			o.Robust[lo+i] = o.CleanCorrect[lo+i]
			o.AdvPred[lo+i] = pr
		}
		for r := 0; r < max(restarts, 1); r++ {
			var idx []int
			for i := lo; i < hi; i++ {
				if o.Robust[i] {
					idx = append(idx, i)
				}
			}
			if len(idx) == 0 {
				break
			}
			xs := make([]float32, 0, len(idx)*size)
			ys := make([]int, len(idx))
			for j, i := range idx {
				xs = append(xs, x[i*size:(i+1)*size]...)
				ys[j] = y[i]
			}
			adv, err := p.Run(m, xs, ys, len(idx), rng)
			if err != nil {
				return nil, err
			}
			logits, _, err := m.LossGrad(adv, ys, len(idx))
			if err != nil {
				return nil, err
			}
			for j, pr := range argmaxK(logits, classes) {
				i := idx[j]
				copy(o.Adv[i*size:(i+1)*size], adv[j*size:(j+1)*size])
				o.AdvPred[i] = pr
				o.Robust[i] = pr == y[i]
			}
		}
		if tick != nil {
			tick(hi)
		}
	}
	for i := 0; i < n; i++ {
		var s, mx float64
		for j := i * size; j < (i+1)*size; j++ {
			d := math.Abs(float64(o.Adv[j] - x[j]))
			s += d * d
			mx = math.Max(mx, d)
		}
		o.L2[i], o.Linf[i] = math.Sqrt(s), mx
	}
	return o, nil
}
