package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/internal/floats"
)

// Reconstructor is a classifier that also shows its per-class reconstructions, what
// the Latent Descent Attack aims at. Adaptive implements it for E-ABS and ABS.
type Reconstructor interface {
	Classifier
	// Reconstruct returns the logits (B, K) of images x (B, C, H, W) and every class's
	// reconstruction (B, K, C, H, W) of them, G_k(z*_k) for an ABS-like model.
	Reconstruct(x []float32, batch int) (logits, rec []float32, err error)
}

// LDA is the Latent Descent Attack of Schott et al. 2019 (the ABS paper), a
// minimum-norm L2 attack on ABS-like models: for each sample it takes the
// reconstruction G_k(z*_k) of the nearest other class (the highest logit k != y, the
// lowest l_k), walks the segment x_t = (1-t) x + t G_k(z*_k) from t = 0 in steps of Step
// until the model's decision changes, then bisects t between the last point still
// classified y and the first that is not. The target is read once, at x: ABS's
// description re-reads it along the way, but on E-ABS the first target already lies in
// the other class's mode, and a fixed segment makes the result's distance at most
// ||G_k(z*_k) - x||.
type LDA struct {
	// Step is the increment of t on the segment (0 means 0.05: 20 queries to reach
	// the reconstruction).
	Step float64
	// BinarySteps bisect t once the decision has changed (0 means 10: t to within
	// Step/1024).
	BinarySteps int
}

// Name implements Attack.
func (LDA) Name() string { return "lda" }

// Norm implements Attack.
func (LDA) Norm() Norm { return L2 }

// Run implements Attack; m must be a Reconstructor. rng is unused: the attack is
// deterministic given the model's answers.
func (l LDA) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*Found, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rm, ok := m.(Reconstructor)
	if !ok {
		return nil, &UnsupportedError{Attack: l.Name(), Needs: "Reconstructor (per-class reconstructions)"}
	}
	K := m.Classes()
	if batch <= 0 || len(x)%batch != 0 || len(y) != batch {
		return nil, fmt.Errorf("attack: lda: %d values and %d labels for a batch of %d", len(x), len(y), batch)
	}
	for b, v := range y {
		if v < 0 || v >= K {
			return nil, fmt.Errorf("attack: lda: label %d of image %d is not a class of %d", v, b, K)
		}
	}
	step, bin := l.Step, l.BinarySteps
	if step == 0 {
		step = 0.05
	}
	if bin == 0 {
		bin = 10
	}
	if !(step > 0 && step <= 1) || bin < 0 {
		return nil, fmt.Errorf("attack: lda: step %g must be in (0, 1] and binary steps %d not negative", step, bin)
	}
	P := len(x) / batch
	f := &Found{Adv: append([]float32(nil), x...), Ok: make([]bool, batch), Queries: make([]int, batch)}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logits, rec, err := rm.Reconstruct(x, batch)
	if err != nil {
		return nil, err
	}
	if len(logits) != batch*K || len(rec) != batch*K*P {
		return nil, fmt.Errorf("attack: lda: the model returned %d logits and %d reconstruction values for %d images", len(logits), len(rec), batch)
	}
	target := make([]float32, batch*P)
	lo, hi := make([]float64, batch), make([]float64, batch)
	var active []int
	for b := 0; b < batch; b++ {
		f.Queries[b]++
		row := logits[b*K : (b+1)*K]
		if floats.Argmax(row) != y[b] {
			// Already misclassified: x itself is the smallest adversarial.
			f.Ok[b] = true
			continue
		}
		k := -1
		for j, v := range row {
			if j != y[b] && (k < 0 || v > row[k]) {
				k = j
			}
		}
		copy(target[b*P:(b+1)*P], rec[(b*K+k)*P:(b*K+k+1)*P])
		active = append(active, b)
	}
	point := func(b int, t float64, dst []float32) {
		xb, tb := x[b*P:(b+1)*P], target[b*P:(b+1)*P]
		for i := range dst {
			dst[i] = float32(min(max((1-t)*float64(xb[i])+t*float64(tb[i]), 0), 1))
		}
	}
	// query classifies the active samples at their t and says which are adversarial.
	query := func(idx []int, t []float64) ([]bool, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		xs := make([]float32, len(idx)*P)
		for j, b := range idx {
			point(b, t[b], xs[j*P:(j+1)*P])
		}
		l, err := m.Logits(xs, len(idx))
		if err != nil {
			return nil, err
		}
		adv := make([]bool, len(idx))
		for j, b := range idx {
			f.Queries[b]++
			adv[j] = floats.Argmax(l[j*K:(j+1)*K]) != y[b]
		}
		return adv, nil
	}
	// Walk the segments.
	tt := make([]float64, batch)
	var found []int
	for n := 1; len(active) > 0; n++ {
		t := math.Min(float64(n)*step, 1)
		for _, b := range active {
			tt[b] = t
		}
		adv, err := query(active, tt)
		if err != nil {
			return nil, err
		}
		var still []int
		for j, b := range active {
			if adv[j] {
				lo[b], hi[b] = math.Max(t-step, 0), t
				found = append(found, b)
			} else {
				still = append(still, b)
			}
		}
		active = still
		if t == 1 {
			// Not even the reconstruction is adversarial: keep it as the last iterate.
			for _, b := range active {
				point(b, 1, f.Adv[b*P:(b+1)*P])
			}
			break
		}
	}
	// Bisect the adversarial ones.
	for s := 0; s < bin && len(found) > 0; s++ {
		for _, b := range found {
			tt[b] = (lo[b] + hi[b]) / 2
		}
		adv, err := query(found, tt)
		if err != nil {
			return nil, err
		}
		for j, b := range found {
			if adv[j] {
				hi[b] = tt[b]
			} else {
				lo[b] = tt[b]
			}
		}
	}
	for _, b := range found {
		point(b, hi[b], f.Adv[b*P:(b+1)*P])
		f.Ok[b] = true
	}
	return f, nil
}
