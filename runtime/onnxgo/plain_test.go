package onnxgo

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/internal/onnxfixtures"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/runtime"
)

// TestPlainClassifierFixtures: onnx-go runs the PyTorch-exported LeNet and reproduces
// PyTorch's outputs within 1e-5 of the largest on the 16 reference inputs, in a batch
// of 16 and in a batch of 5 (its pairs, the odd image padded); on the other fixtures
// it says what it cannot run (operators it lacks, a broadcast it does not do).
func TestPlainClassifierFixtures(t *testing.T) {
	for _, f := range onnxfixtures.Load(t) {
		t.Run(f.Name, func(t *testing.T) {
			src := &runtime.Source{Arg: f.Path, Path: f.Path, ONNX: f.Path}
			if f.Output == "probabilities" {
				src.Adapt = adapt.Options{Kind: grad.Probabilities}
			}
			c, err := runtime.OpenClassifier("onnx-go", src, runtime.Options{})
			if f.Name != "mnist-lenet" {
				want := map[string]string{"mnist-resnet-norm": "broadcast", "fashion-mlp-nhwc-softmax": "Shape not implemented"}[f.Name]
				if want == "" {
					want = "ConstantOfShape not implemented"
				}
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), f.Path) {
					t.Errorf("error %v, want one naming the file and %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			k, p := c.Classes(), f.Pixels()
			var x []float32
			for _, in := range f.Inputs {
				x = append(x, in...)
			}
			for _, n := range []int{16, 5} {
				z, err := c.Logits(x[:n*p], n)
				if err != nil {
					t.Fatal(err)
				}
				for i := range n {
					scale := 0.0
					for _, w := range f.Outputs[i] {
						scale = math.Max(scale, math.Abs(w))
					}
					for j, w := range f.Outputs[i] {
						if d := math.Abs(float64(z[i*k+j])-w) / scale; d > 1e-5 {
							t.Errorf("batch %d, input %d score %d = %v, PyTorch %v", n, i, j, z[i*k+j], w)
						}
					}
				}
			}
		})
	}
}

// TestPlainClassifierStateful: a batch-1 Gemm, which onnx-go accumulates into its
// bias run after run, is refused when the classifier is opened.
func TestPlainClassifierStateful(t *testing.T) {
	g := onnx.NewGraph("gemm1")
	x := g.Input("x", onnx.Shape("", 1, 1, 6, 6)...)
	w := make([]float32, 36*3)
	for i := range w {
		w[i] = float32(i%5) / 5
	}
	z := g.Op("Gemm", []string{g.Op("Flatten", []string{x}), g.Initializer("W", []int{36, 3}, w), g.Initializer("B", []int{3}, []float32{1, 2, 3})})
	g.Output("scores", z, onnx.Shape("", 1, 3)...)
	path := filepath.Join(t.TempDir(), "gemm1.onnx")
	if err := (&onnx.Model{Graph: g}).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	_, err := NewPlainClassifier(&runtime.Source{Arg: path, Path: path, ONNX: path})
	if err == nil || !strings.Contains(err.Error(), "keeps state") {
		t.Errorf("error %v, want one saying a kernel keeps state", err)
	}
}
