package adapt_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
)

// sharedDir returns a folder of ../shared (beside the checkout), or $env when set;
// tests that need it skip when it is absent.
func sharedDir(tb testing.TB, env, name string) string {
	tb.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", name)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		tb.Skipf("no folder %s (set %s): skipping the test on the shared fixtures", dir, env)
	}
	return dir
}

// reference is the part of a NAME.reference.json of ../shared/onnx-models this test
// reads: PyTorch's float64 outputs for 16 inputs.
type reference struct {
	InputShape  []any       `json:"input_shape"`
	Layout      string      `json:"layout"`
	Output      string      `json:"output"`
	Dataset     string      `json:"dataset"`
	TestIndices []int       `json:"test_indices"`
	Inputs      [][]float64 `json:"inputs"`
	Outputs     [][]float64 `json:"outputs"`
}

// nchwInputs returns a reference's inputs as NCHW pixels: given in the file in the
// model's layout (transposed here), or its dataset's test images (pixel/255).
func nchwInputs(t *testing.T, ref *reference, c, h, w int) [][]float64 {
	t.Helper()
	if ref.Inputs != nil {
		out := make([][]float64, len(ref.Inputs))
		for i, in := range ref.Inputs {
			out[i] = make([]float64, len(in))
			for ch := range c {
				for y := range h {
					for x := range w {
						j := (ch*h+y)*w + x
						if ref.Layout == "NHWC" {
							j = (y*w+x)*c + ch
						}
						out[i][(ch*h+y)*w+x] = float64(float32(in[j]))
					}
				}
			}
		}
		return out
	}
	dir := filepath.Join(sharedDir(t, data.EnvDataDir, "data"), ref.Dataset)
	f, err := os.Open(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx, err := data.ReadIDX(f, f.Name())
	if err != nil {
		t.Fatal(err)
	}
	p := idx.Dims[1] * idx.Dims[2]
	out := make([][]float64, len(ref.TestIndices))
	for i, k := range ref.TestIndices {
		out[i] = make([]float64, p)
		for j, v := range idx.Data[k*p : (k+1)*p] {
			out[i][j] = float64(float32(v) / 255)
		}
	}
	return out
}

// TestFixtures: each PyTorch-exported classifier of ../shared/onnx-models, adapted with
// the options its README gives (the layout is read from the input shape), takes NCHW
// pixels and returns PyTorch's outputs (the log of its probabilities for the softmax
// model) within 1e-6 of the largest, run by onnx/grad's float64 evaluator; the
// adapted files pass the ONNX checker.
func TestFixtures(t *testing.T) {
	dir := sharedDir(t, "EABS_ONNX_MODELS", "onnx-models")
	models, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if len(models) < 5 {
		t.Fatalf("found %d models in %s, want the 5 of its README", len(models), dir)
	}
	var written []string
	tmp := t.TempDir()
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(strings.TrimSuffix(path, ".onnx") + ".reference.json")
			if err != nil {
				t.Fatal(err)
			}
			var ref reference
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatal(err)
			}
			var o adapt.Options
			if ref.Output == "probabilities" {
				o.Kind = grad.Probabilities
			}
			m, err := adapt.File(path, o)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Layout) != ref.Layout {
				t.Errorf("layout read from %s: %s, want %s", m.InputShape, m.Layout, ref.Layout)
			}
			wantBatch := 0
			if fixed, ok := ref.InputShape[0].(float64); ok {
				wantBatch = int(fixed)
			}
			if m.Batch != wantBatch || m.Classes != len(ref.Outputs[0]) {
				t.Errorf("batch %d, %d classes; want %d, %d", m.Batch, m.Classes, wantBatch, len(ref.Outputs[0]))
			}
			if want := ref.Layout != "NCHW" || ref.Output == "probabilities"; m.Changed != want {
				t.Errorf("Changed = %v, want %v", m.Changed, want)
			}
			for i, x := range nchwInputs(t, &ref, m.C, m.H, m.W) {
				out, err := grad.Evaluate(m.ONNX, map[string]*grad.Tensor{m.Input: {Type: grad.Float64, Shape: []int{1, m.C, m.H, m.W}, F: x}})
				if err != nil {
					t.Fatal(err)
				}
				z := out[m.Output].F
				want := ref.Outputs[i]
				if ref.Output == "probabilities" {
					want = make([]float64, len(ref.Outputs[i]))
					for k, p := range ref.Outputs[i] {
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
			p := filepath.Join(tmp, name+".onnx")
			if err := os.WriteFile(p, m.ONNX, 0o644); err != nil {
				t.Fatal(err)
			}
			written = append(written, p)
		})
	}
	testenv.OnnxCheck(t, written)
}
