package eval

import (
	"testing"

	"github.com/eabs/eabs/attack"
)

// latentFull is full with a latent search, as E-ABS's Adaptive has.
type latentFull struct{ full }

func (latentFull) Latent() int { return 3 }
func (latentFull) Objective(x []float32, class []int, z []float32, n int) ([]float32, []float32, []float32, error) {
	return []float32{7}, x, z, nil
}
func (latentFull) Starts(x []float32, k int) ([]float32, []float32, error) {
	return []float32{1, 2, 3}, []float32{float32(k)}, nil
}
func (latentFull) Pool(x []float32, k int, eps float64, count int) ([]float32, error) {
	return make([]float32, count), nil
}
func (latentFull) Full() attack.Classifier { return par{} }

// TestWrapKeepsLatentModel: the wrapper of a model with a latent search passes it
// through to the basin attack (and keeps the other capabilities); one without gets
// none.
func TestWrapKeepsLatentModel(t *testing.T) {
	var c gradCount
	w := wrap(latentFull{}, &c)
	lm, ok := w.(attack.LatentModel)
	if !ok {
		t.Fatal("wrapped model lost LatentModel")
	}
	if _, ok := w.(attack.Reconstructor); !ok {
		t.Error("wrapped latent model lost Reconstructor")
	}
	if _, ok := w.(attack.Model); !ok {
		t.Error("wrapped latent model lost the cross-entropy Model")
	}
	v, _, _, _ := lm.Objective([]float32{0}, []int{0}, []float32{0}, 1)
	_, sv, _ := lm.Starts(nil, 4)
	p, _ := lm.Pool(nil, 0, 1, 5)
	if lm.Latent() != 3 || v[0] != 7 || sv[0] != 4 || len(p) != 5 {
		t.Errorf("wrapped latent model answers Latent %d, Objective %v, Starts %v, Pool %d values; want 3, 7, 4, 5", lm.Latent(), v, sv, len(p))
	}
	if _, ok := lm.Full().(par); !ok {
		t.Errorf("wrapped latent model's Full is %T, want the model's own", lm.Full())
	}
	if _, ok := wrap(full{}, &c).(attack.LatentModel); ok {
		t.Error("a model without a latent search gained LatentModel by wrapping")
	}
}
