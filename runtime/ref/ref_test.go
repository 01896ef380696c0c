package ref

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/internal/naive"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	// The reference computes in float64 but returns float32: 2e-7 relative is float32
	// rounding; the gradient tolerance covers the oracle's finite-difference error.
	runtimetest.Run(t, func(t *testing.T, w *models.Weights) runtime.Model {
		m, err := New(w)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}, runtimetest.Tolerances{Value: 2e-7, Grad: 1e-6})
}

func TestClassifierAgainstOracle(t *testing.T) {
	w := runtimetest.Weights(t, "cnn", 4)
	c, err := NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := naive.New(w)
	a := w.Spec.Arch
	const batch = 2
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, batch*a.Pixels())
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	y := []int{2, 0}
	logits, grad, err := c.LossGrad(x, y, batch)
	if err != nil {
		t.Fatal(err)
	}
	ce := func(img naive.Image, label int) float64 {
		z := o.Logits(img)
		m := math.Inf(-1)
		for _, v := range z {
			m = math.Max(m, v)
		}
		var s float64
		for _, v := range z {
			s += math.Exp(v - m)
		}
		return m + math.Log(s) - z[label]
	}
	for b := 0; b < batch; b++ {
		img := naive.ImageFrom32(a.InC, a.InH, a.InW, x[b*a.Pixels():(b+1)*a.Pixels()])
		for k, v := range o.Logits(img) {
			if got := float64(logits[b*a.Classes+k]); math.Abs(got-v) > 1e-6*math.Max(1, math.Abs(v)) {
				t.Fatalf("logit[%d,%d] = %v, oracle %v", b, k, got, v)
			}
		}
		for trial := 0; trial < 5; trial++ {
			j := rng.IntN(a.Pixels())
			const h = 1e-5
			orig := img.Data[j]
			img.Data[j] = orig + h
			lp := ce(img, y[b])
			img.Data[j] = orig - h
			lm := ce(img, y[b])
			img.Data[j] = orig
			fd := (lp - lm) / (2 * h)
			if got := float64(grad[b*a.Pixels()+j]); math.Abs(got-fd) > 1e-5*math.Max(1, math.Abs(fd)) {
				t.Errorf("d CE / d x[%d,%d] = %v, finite difference %v", b, j, got, fd)
			}
		}
	}
	if _, _, err := c.LossGrad(x, []int{0, 9}, batch); err == nil {
		t.Error("LossGrad accepted a label outside the classes")
	}
}

func TestClassifierBatchInvariance(t *testing.T) {
	w := runtimetest.Weights(t, "cnn", 4)
	c, err := NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runtimetest.CheckClassifierBatchInvariance(t, c, w.Spec.Arch.Pixels(), rand.New(rand.NewPCG(4, 4)))
}

// TestBatchInvarianceMNIST checks batch invariance at the MNIST architectures' sizes,
// where OpenBLAS's kernels have the shapes whose tails differ (the tiny models'
// products are too small for that).
func TestBatchInvarianceMNIST(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
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
			if model == "cnn" {
				c, err := NewClassifier(w)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				runtimetest.CheckClassifierBatchInvariance(t, c, s.Arch.Pixels(), rng)
				return
			}
			m, err := New(w)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			runtimetest.CheckBatchInvariance(t, m, rng)
		})
	}
}
