package adapt_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/eabs/eabs/internal/onnxfixtures"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
)

// TestFixtures: each PyTorch-exported classifier of ../shared/onnx-models, adapted with
// the options its README gives (the layout is read from the input shape), takes NCHW
// pixels and returns PyTorch's outputs (the log of its probabilities for the softmax
// model) within 1e-6 of the largest, run by onnx/grad's float64 evaluator; the
// adapted files pass the ONNX checker.
func TestFixtures(t *testing.T) {
	var written []string
	tmp := t.TempDir()
	for _, f := range onnxfixtures.Load(t) {
		t.Run(f.Name, func(t *testing.T) {
			var o adapt.Options
			if f.Output == "probabilities" {
				o.Kind = grad.Probabilities
			}
			m, err := adapt.File(f.Path, o)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Layout) != f.Layout {
				t.Errorf("layout read from %s: %s, want %s", m.InputShape, m.Layout, f.Layout)
			}
			if m.Batch != f.Batch || m.Classes != len(f.Outputs[0]) || m.C != f.C || m.H != f.H || m.W != f.W {
				t.Errorf("batch %d, %d classes, %dx%dx%d; want %d, %d, %dx%dx%d", m.Batch, m.Classes, m.C, m.H, m.W, f.Batch, len(f.Outputs[0]), f.C, f.H, f.W)
			}
			if want := f.Layout != "NCHW" || f.Output == "probabilities"; m.Changed != want {
				t.Errorf("Changed = %v, want %v", m.Changed, want)
			}
			for i, x32 := range f.Inputs {
				x := make([]float64, len(x32))
				for j, v := range x32 {
					x[j] = float64(v)
				}
				out, err := grad.Evaluate(m.ONNX, map[string]*grad.Tensor{m.Input: {Type: grad.Float64, Shape: []int{1, m.C, m.H, m.W}, F: x}})
				if err != nil {
					t.Fatal(err)
				}
				z := out[m.Output].F
				want := f.Outputs[i]
				if f.Output == "probabilities" {
					want = make([]float64, len(f.Outputs[i]))
					for k, p := range f.Outputs[i] {
						want[k] = math.Log(p)
					}
				}
				scale := 0.0
				for _, v := range want {
					scale = math.Max(scale, math.Abs(v))
				}
				for k := range want {
					if d := math.Abs(z[k]-want[k]) / scale; d > 1e-6 {
						t.Errorf("input %d, score %d = %.10g, PyTorch %.10g: %.2g of the largest", i, k, z[k], want[k], d)
					}
				}
			}
			p := filepath.Join(tmp, f.Name+".onnx")
			if err := os.WriteFile(p, m.ONNX, 0o644); err != nil {
				t.Fatal(err)
			}
			written = append(written, p)
		})
	}
	testenv.OnnxCheck(t, written)
}
