package infer

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// TestAmortizedMatchesOracle compares Amortized's logits with internal/naive's float64
// plain-loop model: -(||x - G_k(mu)||^2 + prior(mu)) with mu the mean of encoder
// min(k, E-1) (the prior at a unit-variance Q: -beta*log D(mu) or beta*||mu||^2/2),
// and the CNN's logits, over 5 images in batches of 2 (the last one padded). Labels
// are chosen so that exactly 3 of 5 predictions are right.
func TestAmortizedMatchesOracle(t *testing.T) {
	for i, model := range []string{"eabs", "abs", "cnn"} {
		t.Run(model, func(t *testing.T) {
			w := runtimetest.Weights(t, model, uint64(20+i))
			a := w.Spec.Arch
			K, P := a.Classes, a.Pixels()
			const n = 5
			set := &data.Set{N: n, C: a.InC, H: a.InH, W: a.InW, Classes: K, Images: make([]float32, n*P), Labels: make([]int, n)}
			r := rand.New(rand.NewPCG(uint64(i), 8))
			for j := range set.Images {
				set.Images[j] = float32(r.Float64())
			}
			o := naive.New(w)
			want := make([]float64, n*K)
			for b := 0; b < n; b++ {
				x := naive.ImageFrom32(a.InC, a.InH, a.InW, set.Images[b*P:(b+1)*P])
				if model == "cnn" {
					copy(want[b*K:], o.Logits(x))
				} else {
					zero := make([]float64, a.Latent)
					for k := 0; k < K; k++ {
						mu, _ := o.Encode(min(k, w.Spec.Encoders()-1), x)
						l, _ := o.Loss(x, k, mu, zero, zero)
						want[b*K+k] = -l
					}
				}
				best := 0
				for k := range K {
					if want[b*K+k] > want[b*K+best] {
						best = k
					}
				}
				set.Labels[b] = best
				if b >= 3 {
					set.Labels[b] = (best + 1) % K
				}
			}
			var ticks []int
			res, err := Amortized(w, set, 2, func(done int) { ticks = append(ticks, done) })
			if err != nil {
				t.Fatal(err)
			}
			const tol = 1e-4 // relative: the float32 graph against float64
			for j, v := range res.Logits {
				if d := math.Abs(float64(v) - want[j]); !(d <= tol*max(1, math.Abs(want[j]))) {
					t.Errorf("image %d class %d: logit %.7g, float64 oracle %.7g", j/K, j%K, v, want[j])
				}
			}
			if got := res.Accuracy(); got != 3.0/5 {
				t.Errorf("accuracy %v with 3 of 5 labels at the oracle's prediction, want 0.6 (predictions %v, labels %v)", got, res.Pred, set.Labels)
			}
			if !slices.Equal(ticks, []int{2, 4, 5}) {
				t.Errorf("progress ticks %v, want [2 4 5]", ticks)
			}
		})
	}
}

func TestAmortizedEdgeCases(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 3)
	a := w.Spec.Arch
	res, err := Amortized(w, &data.Set{C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes}, 4, nil)
	if err != nil || res.N != 0 || res.Accuracy() != 0 {
		t.Errorf("empty set: %+v, %v; want an empty result with accuracy 0", res, err)
	}
	_, err = Amortized(w, &data.Set{N: 1, C: a.InC, H: a.InH + 1, W: a.InW, Images: make([]float32, a.InC*(a.InH+1)*a.InW)}, 4, nil)
	if err == nil || !strings.Contains(err.Error(), "wants") {
		t.Errorf("wrong image size: error %v, want one naming the sizes", err)
	}
	// A set that fills its batches exactly: two batches, two progress ticks.
	set := &data.Set{N: 4, C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes, Images: make([]float32, 4*a.Pixels())}
	var ticks []int
	if _, err := Amortized(w, set, 2, func(done int) { ticks = append(ticks, done) }); err != nil || !slices.Equal(ticks, []int{2, 4}) {
		t.Errorf("4 images in batches of 2: ticks %v, error %v; want [2 4]", ticks, err)
	}
	if acc := (&Result{N: 2, Pred: []int{1, 0}}).Accuracy(); acc != 0 {
		t.Errorf("accuracy without labels %v, want 0", acc)
	}
}

// TestAmortizedBatchInvariance classifies the same images whole and as parts in other
// batch sizes on the MNIST architectures (whose products are large enough for
// OpenBLAS's kernels to sum a row differently by its position): every logit must be
// the same bits.
func TestAmortizedBatchInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, model := range []string{"cnn", "eabs"} {
		t.Run(model, func(t *testing.T) {
			s, err := models.NewSpec("mnist", model)
			if err != nil {
				t.Fatal(err)
			}
			w, err := models.NewWeights(s, rng)
			if err != nil {
				t.Fatal(err)
			}
			naive.RandomizeBN(w, rng)
			a := s.Arch
			const n = 13
			set := &data.Set{N: n, C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes, Images: make([]float32, n*a.Pixels())}
			for i := range set.Images {
				set.Images[i] = rng.Float32()
			}
			whole, err := Amortized(w, set, 16, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ lo, hi, batch int }{{0, 1, 16}, {5, 6, 1}, {3, 11, 4}, {12, 13, 16}, {2, 13, 5}} {
				part := &data.Set{N: c.hi - c.lo, C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes,
					Images: set.Images[c.lo*a.Pixels() : c.hi*a.Pixels()]}
				got, err := Amortized(w, part, c.batch, nil)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range got.Logits {
					want := whole.Logits[c.lo*a.Classes+i]
					if math.Float32bits(v) != math.Float32bits(want) {
						t.Fatalf("image %d class %d in images [%d, %d) at batch %d: logit %v, in all %d at batch 16: %v",
							c.lo+i/a.Classes, i%a.Classes, c.lo, c.hi, c.batch, v, n, want)
					}
				}
			}
		})
	}
}
