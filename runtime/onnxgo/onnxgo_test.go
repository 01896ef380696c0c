package onnxgo

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// tol bounds the encoder's and discriminator's deviation from the float64 oracle
// (absolute, or relative above 1), as for ONNX Runtime: onnx-go computes in float32.
// The deviations reached are about 1e-6 (TestAgainstOracle logs them).
const tol = 1e-5

func open(t testing.TB, w *models.Weights) *Model {
	t.Helper()
	m, err := New(w)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T, w *models.Weights) runtime.Model { return open(t, w) },
		runtimetest.Tolerances{Value: tol, Grad: 1e-4})
}

func uniform(rng *rand.Rand, n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return v
}

// deviation returns max |got-want|/max(1,|want|).
func deviation(got []float32, want []float64) float64 {
	var worst float64
	for i, w := range want {
		d := math.Abs(float64(got[i])-w) / max(1, math.Abs(w))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		worst = max(worst, d)
	}
	return worst
}

// TestAgainstOracle runs the encoder and the discriminator on several batch sizes
// (the discriminator's hidden widths 6 and 8 among them, where onnx-go's Add broadcast
// of a bias failed when the batch had that size), each twice with new inputs on the
// same compiled graph (onnx-go's Gemm at batch 1 gave a different answer the second
// time before the onnx-go forms).
func TestAgainstOracle(t *testing.T) {
	batches := []int{1, 2, 6, 8, 1, 35, 65}
	for i, model := range []string{"eabs", "abs", "dv"} {
		t.Run(model, func(t *testing.T) {
			w := runtimetest.Weights(t, model, uint64(10+i))
			m := open(t, w)
			defer m.Close()
			o := naive.New(w)
			a, E := w.Spec.Arch, w.Spec.Encoders()
			P, M := a.Pixels(), a.Latent
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var worstEnc, worstDisc float64
			for rep := 0; rep < 2; rep++ {
				for _, batch := range batches {
					if testing.Short() && batch > 35 {
						continue
					}
					x := uniform(rng, batch*P, 0, 1)
					mu, lv, err := m.Encode(x, batch)
					if err != nil {
						t.Fatalf("Encode(batch %d): %v", batch, err)
					}
					if len(mu) != batch*E*M || len(lv) != batch*E*M {
						t.Fatalf("Encode(batch %d) returned %d and %d values, want %d", batch, len(mu), len(lv), batch*E*M)
					}
					var wantMu, wantLv []float64
					for b := 0; b < batch; b++ {
						img := naive.ImageFrom32(a.InC, a.InH, a.InW, x[b*P:(b+1)*P])
						for e := 0; e < E; e++ {
							wm, wl := o.Encode(e, img)
							wantMu, wantLv = append(wantMu, wm...), append(wantLv, wl...)
						}
					}
					d := max(deviation(mu, wantMu), deviation(lv, wantLv))
					if d > tol {
						t.Errorf("Encode(batch %d), run %d: deviation %.3g from the oracle", batch, rep, d)
					}
					worstEnc = max(worstEnc, d)

					if !w.Spec.HasDiscriminator() {
						continue
					}
					z := uniform(rng, batch*M, -2, 2)
					l, err := m.DiscLogit(z, batch)
					if err != nil {
						t.Fatalf("DiscLogit(n %d): %v", batch, err)
					}
					want := make([]float64, batch)
					for b := range want {
						want[b] = o.DiscLogit(naive.To64(z[b*M : (b+1)*M]))
					}
					d = deviation(l, want)
					if d > tol {
						t.Errorf("DiscLogit(n %d), run %d: deviation %.3g from the oracle", batch, rep, d)
					}
					worstDisc = max(worstDisc, d)
				}
			}
			t.Logf("largest deviation from the float64 oracle: encoder %.2g", worstEnc)
			if w.Spec.HasDiscriminator() {
				t.Logf("largest deviation from the float64 oracle: discriminator %.2g", worstDisc)
			}
		})
	}
}

// TestMNIST checks the full-size MNIST E-ABS and ABS encoders (10 encoders for ABS).
func TestMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("MNIST-size oracle in -short mode")
	}
	for i, model := range []string{"eabs", "abs"} {
		t.Run(model, func(t *testing.T) {
			s, err := models.NewSpec("mnist", model)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			w, err := models.NewWeights(s, rng)
			if err != nil {
				t.Fatal(err)
			}
			naive.RandomizeBN(w, rng)
			m := open(t, w)
			defer m.Close()
			o := naive.New(w)
			a, E := s.Arch, s.Encoders()
			const batch = 3
			x := uniform(rng, batch*a.Pixels(), 0, 1)
			mu, lv, err := m.Encode(x, batch)
			if err != nil {
				t.Fatal(err)
			}
			var wantMu, wantLv []float64
			for b := 0; b < batch; b++ {
				img := naive.ImageFrom32(a.InC, a.InH, a.InW, x[b*a.Pixels():(b+1)*a.Pixels()])
				for e := 0; e < E; e++ {
					wm, wl := o.Encode(e, img)
					wantMu, wantLv = append(wantMu, wm...), append(wantLv, wl...)
				}
			}
			d := max(deviation(mu, wantMu), deviation(lv, wantLv))
			if d > tol {
				t.Errorf("Encode: deviation %.3g from the oracle", d)
			}
			t.Logf("largest deviation from the float64 oracle: %.2g", d)
		})
	}
}

func TestNotImplemented(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 1)
	m := open(t, w)
	defer m.Close()
	a := w.Spec.Arch
	z := make([]float32, a.Classes*a.Latent)
	_, errDec := m.Decode(z, 1)
	_, errStep := m.LatentStep(make([]float32, a.Pixels()), z, z, z, 1)
	for _, c := range []struct {
		name string
		err  error
		want []string
	}{
		{"Decode", errDec, []string{"ConvTranspose"}},
		{"LatentStep", errStep, []string{"ConvTranspose", "Greater", "Where", "ReduceSum"}},
	} {
		var ni *runtime.NotImplementedError
		if !errors.As(c.err, &ni) || !errors.Is(c.err, runtime.ErrNotImplemented) || ni.Engine != Engine {
			t.Errorf("%s error = %v, want a *runtime.NotImplementedError of %s", c.name, c.err, Engine)
			continue
		}
		for _, op := range c.want {
			if !strings.Contains(ni.What, op) {
				t.Errorf("%s error %q does not name %s", c.name, c.err, op)
			}
		}
	}
	// Bad arguments are reported as such, not as not implemented.
	if _, err := m.Decode(z[1:], 1); err == nil || errors.Is(err, runtime.ErrNotImplemented) {
		t.Errorf("Decode of a short z: %v, want an argument error", err)
	}
	// A model without a discriminator says so.
	abs := open(t, runtimetest.Weights(t, "abs", 2))
	defer abs.Close()
	if _, err := abs.DiscLogit(make([]float32, a.Latent), 1); err == nil || !strings.Contains(err.Error(), "no discriminator") {
		t.Errorf("DiscLogit on ABS: %v, want a no-discriminator error", err)
	}
}

// TestCNNRefused: a CNN has no encoder in the runtime.Model sense (its convolution
// stack feeds class logits), so New refuses it and says why.
func TestCNNRefused(t *testing.T) {
	s, err := models.NewSpec("tiny", "cnn")
	if err != nil {
		t.Fatal(err)
	}
	w, err := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(w)
	if err == nil {
		m.Close()
		t.Fatal("New accepted a CNN")
	}
	if msg := err.Error(); !strings.Contains(msg, "cnn") || !strings.Contains(msg, "not a generative model") {
		t.Errorf("New(cnn) error %q does not say the model is a CNN, not a generative model", msg)
	}
}

func TestClosed(t *testing.T) {
	w := runtimetest.Weights(t, "dv", 1)
	m := open(t, w)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Encode(make([]float32, w.Spec.Arch.Pixels()), 1); err == nil {
		t.Error("Encode after Close succeeded")
	}
}

// TestConcurrent calls Encode from several goroutines at once (with -race, this
// checks the serialisation); every result must equal the sequential one.
func TestConcurrent(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 3)
	m := open(t, w)
	defer m.Close()
	P := w.Spec.Arch.Pixels()
	rng := rand.New(rand.NewPCG(3, 3))
	const workers = 4
	xs := make([][]float32, workers)
	want := make([][]float32, workers)
	for i := range xs {
		batch := 1 + i%2
		xs[i] = uniform(rng, batch*P, 0, 1)
		mu, _, err := m.Encode(xs[i], batch)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = mu
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i := range xs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				mu, _, err := m.Encode(xs[i], len(xs[i])/P)
				if err != nil {
					errs[i] = err
					return
				}
				for j := range mu {
					if mu[j] != want[i][j] {
						errs[i] = errors.New("concurrent Encode differs from the sequential one")
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
}
