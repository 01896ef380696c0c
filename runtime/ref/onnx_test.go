package ref

import (
	"math"
	"testing"

	"github.com/eabs/eabs/internal/onnxfixtures"
	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/runtime"
)

// TestONNXClassifierFixtures: the float64 evaluator of a plain ONNX classifier
// reproduces PyTorch's float64 outputs (the log of the probabilities model's) within
// 1e-6 of the largest, and, through the gradient graph, its autograd gradient of the
// cross-entropy within 1e-5 of the largest component, on 4 of each fixture's inputs
// (float32 rounding of the results is 6e-8; the models' float32 constants differ
// from PyTorch's float64 copies by about 1e-9).
func TestONNXClassifierFixtures(t *testing.T) {
	for _, f := range onnxfixtures.Load(t) {
		t.Run(f.Name, func(t *testing.T) {
			probs := f.Output == "probabilities"
			src := &runtime.Source{Arg: f.Path, Path: f.Path, ONNX: f.Path}
			if probs {
				src.Adapt = adapt.Options{Kind: grad.Probabilities}
			}
			c, err := runtime.OpenClassifier(Engine, src, runtime.Options{Gradients: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			d := c.(*ONNXClassifier)
			const n = 4
			k, p := d.Classes(), f.Pixels()
			var x []float32
			for _, in := range f.Inputs[:n] {
				x = append(x, in...)
			}
			z, g, err := d.LogitsVJP(x, n, func(z []float32) []float32 {
				v := make([]float32, len(z))
				for b := range n {
					y := f.Labels[b]
					if probs {
						v[b*k+y] = -1
						continue
					}
					// softmax - onehot, the label's entry as minus the others' sum
					m := math.Inf(-1)
					for _, s := range z[b*k : (b+1)*k] {
						m = math.Max(m, float64(s))
					}
					sum, others := 0.0, 0.0
					for _, s := range z[b*k : (b+1)*k] {
						sum += math.Exp(float64(s) - m)
					}
					for j, s := range z[b*k : (b+1)*k] {
						if j != y {
							q := math.Exp(float64(s)-m) / sum
							v[b*k+j], others = float32(q), others+q
						}
					}
					v[b*k+y] = float32(-others)
				}
				return v
			})
			if err != nil {
				t.Fatal(err)
			}
			var worstZ, worstG float64
			for i := range n {
				want := f.Outputs[i]
				if probs {
					want = make([]float64, k)
					for j, q := range f.Outputs[i] {
						want[j] = math.Log(q)
					}
				}
				scale := 0.0
				for _, w := range want {
					scale = math.Max(scale, math.Abs(w))
				}
				for j, w := range want {
					dz := math.Abs(float64(z[i*k+j])-w) / scale
					worstZ = math.Max(worstZ, dz)
					if dz > 1e-6 {
						t.Errorf("input %d score %d = %v, PyTorch %v", i, j, z[i*k+j], w)
					}
				}
				gs := 0.0
				for _, w := range f.GradCE[i] {
					gs = math.Max(gs, math.Abs(w))
				}
				for j, w := range f.GradCE[i] {
					dg := math.Abs(float64(g[i*p+j])-w) / gs
					worstG = math.Max(worstG, dg)
					if dg > 1e-5 {
						t.Errorf("input %d gradient %d = %v, PyTorch %v (%.2g of the largest)", i, j, g[i*p+j], w, dg)
						break
					}
				}
			}
			t.Logf("largest differences from PyTorch: scores %.2g, gradients %.2g of the largest", worstZ, worstG)
		})
	}
}
