package adversary

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/eabs/eabs/infer"
)

// Verdict judges adversarial candidates of a randomised E-ABS (or ABS): the model's own
// full inference, never warm-started, with fresh noise on every call; the per-class
// losses are averaged over EOT runs and the logits are their negation. An attack's
// belief that it won never replaces this.
//
// Logits draws fresh keys from a call counter. LogitsKeyed takes one key per row: row
// i's noise in run r is infer.NoiseFor(keys[i], r, 0), a function of its key alone, so
// a verdict does not depend on the batch or the shard the image is in (the suite runner
// keys rows by sample, which makes sharded runs merge into exactly the unsharded one).
// Rows are split over Workers concurrent inferences. A Verdict is safe for concurrent
// use.
type Verdict struct {
	Engine *infer.Engine
	// EOT is the number of inference runs averaged (0 means 1; NewVerdict gives the
	// paper's 5).
	EOT int
	// Workers is the number of concurrent inferences (0 means 1).
	Workers int
	// Seed seeds the keys Logits draws.
	Seed uint64

	mu    sync.Mutex
	calls uint64
}

// NewVerdict returns the verdict for engine e with eot runs (0 means the paper's 5).
func NewVerdict(e *infer.Engine, eot int, seed uint64, workers int) *Verdict {
	if eot <= 0 {
		eot = 5
	}
	return &Verdict{Engine: e, EOT: eot, Seed: seed, Workers: workers}
}

// Classes implements Classifier.
func (v *Verdict) Classes() int { return v.Engine.Model().Spec().Arch.Classes }

// Logits implements Classifier with keys Seed ^ (call << 32) ^ row.
func (v *Verdict) Logits(x []float32, batch int) ([]float32, error) {
	v.mu.Lock()
	v.calls++
	c := v.calls
	v.mu.Unlock()
	keys := make([]uint64, batch)
	for i := range keys {
		keys[i] = v.Seed ^ (c << 32) ^ uint64(i)
	}
	return v.LogitsKeyed(x, batch, keys)
}

// LogitsKeyed returns the logits of x with row i's noise drawn from keys[i].
func (v *Verdict) LogitsKeyed(x []float32, batch int, keys []uint64) ([]float32, error) {
	K := v.Classes()
	if batch <= 0 || len(x)%batch != 0 || len(keys) != batch {
		return nil, fmt.Errorf("verdict: %d values and %d keys for %d images", len(x), len(keys), batch)
	}
	P := len(x) / batch
	out := make([]float32, batch*K)
	w := max(1, min(v.Workers, batch))
	per := (batch + w - 1) / w
	errs := make([]error, w)
	eot := max(v.EOT, 1)
	var wg sync.WaitGroup
	for j := 0; j < w; j++ {
		lo, hi := j*per, min((j+1)*per, batch)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := make([]float64, (hi-lo)*K)
			for r := 0; r < eot; r++ {
				rs := make([]*rand.Rand, hi-lo)
				for i := range rs {
					rs[i] = infer.NoiseFor(keys[lo+i], r, 0)
				}
				o, err := v.Engine.Classify(x[lo*P:hi*P], hi-lo, rs)
				if err != nil {
					errs[j] = err
					return
				}
				for i, l := range o.Loss {
					sum[i] += float64(l)
				}
			}
			for i, s := range sum {
				out[lo*K+i] = float32(-s / float64(eot))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
