package eval

import (
	"testing"

	"github.com/eabs/eabs/attack"
)

// full has every capability an attack may ask for (as E-ABS's Adaptive does).
type full struct{}

func (full) Classes() int                                 { return 2 }
func (full) Logits(x []float32, b int) ([]float32, error) { return make([]float32, 2*b), nil }
func (full) LogitsVJP(x []float32, b int, cot func([]float32) []float32) ([]float32, []float32, error) {
	return make([]float32, 2*b), []float32{0, 1}, nil
}
func (full) LossGrad(x []float32, y []int, b int) ([]float32, []float32, error) {
	return make([]float32, 2*b), []float32{0, 0}, nil
}
func (full) Reconstruct(x []float32, b int) ([]float32, []float32, error) {
	return make([]float32, 2*b), make([]float32, 2*b), nil
}

type par struct{}

func (par) Classes() int                                 { return 2 }
func (par) Logits(x []float32, b int) ([]float32, error) { return make([]float32, 2*b), nil }
func (par) Parallelism() (int, int)                      { return 3, 7 }

// TestWrapKeepsCapabilities: the gradient-counting wrapper hides no capability (the
// Latent Descent Attack needs Reconstructor, the oracle Parallel) and counts what passes.
func TestWrapKeepsCapabilities(t *testing.T) {
	var c gradCount
	w := wrap(full{}, &c)
	if _, ok := w.(attack.Reconstructor); !ok {
		t.Error("wrapped E-ABS-like model lost Reconstructor")
	}
	d, ok := w.(attack.Differentiable)
	if !ok {
		t.Fatal("wrapped model lost Differentiable")
	}
	l, ok := w.(attack.Model)
	if !ok {
		t.Fatal("wrapped model lost the cross-entropy Model")
	}
	d.LogitsVJP([]float32{0, 0}, 1, func(v []float32) []float32 { return v })
	l.LossGrad([]float32{0, 0}, []int{0}, 1)
	if c.rows != 2 || c.zero != 1 {
		t.Errorf("counted %d rows, %d zero; want 2, 1", c.rows, c.zero)
	}
	p, ok := wrap(par{}, &c).(attack.Parallel)
	if !ok {
		t.Fatal("wrapped ONNX classifier lost Parallel")
	}
	if wk, mb := p.Parallelism(); wk != 3 || mb != 7 {
		t.Errorf("Parallelism() = %d, %d; want 3, 7", wk, mb)
	}
}
