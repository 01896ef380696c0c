package grad_test

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/onnx/internal/onnxpb"
	"github.com/eabs/eabs/runtime/ort"
)

// reference is a NAME.reference.json of ../shared/onnx-models: PyTorch's outputs and
// float64 autograd gradients of the cross-entropy for 16 inputs.
type reference struct {
	InputShape  []any       `json:"input_shape"`
	Layout      string      `json:"layout"`
	Output      string      `json:"output"`
	Dataset     string      `json:"dataset"`
	TestIndices []int       `json:"test_indices"`
	Labels      []int64     `json:"labels"`
	Inputs      [][]float64 `json:"inputs"`
	Outputs     [][]float64 `json:"outputs"`
	GradCE      [][]float64 `json:"grad_ce"`
}

// fixtureInputs returns the 16 inputs of a reference, flattened in the model's layout:
// given in the file, or test images of its dataset (pixel/255, NHWC transposed).
func fixtureInputs(t *testing.T, ref *reference) [][]float32 {
	t.Helper()
	if ref.Inputs != nil {
		out := make([][]float32, len(ref.Inputs))
		for i, in := range ref.Inputs {
			out[i] = make([]float32, len(in))
			for j, v := range in {
				out[i][j] = float32(v)
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
	h, w := idx.Dims[1], idx.Dims[2]
	out := make([][]float32, len(ref.TestIndices))
	for i, k := range ref.TestIndices {
		px := idx.Data[k*h*w : (k+1)*h*w]
		out[i] = make([]float32, h*w)
		for j, p := range px {
			// One channel: NCHW and NHWC have the same order.
			out[i][j] = float32(p) / 255
		}
	}
	return out
}

// TestFixtures: on every PyTorch-exported classifier of ../shared/onnx-models, the
// gradient graph run by ONNX Runtime reproduces PyTorch's outputs within 1e-4 of the
// largest and its float64 autograd gradient of the cross-entropy (-log p[label] for
// the probabilities model) within 1e-3 of each sample's largest component.
func TestFixtures(t *testing.T) {
	dir := sharedDir(t, "EABS_ONNX_MODELS", "onnx-models")
	initORT(t)
	models, err := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if err != nil || len(models) < 5 {
		t.Fatalf("found %d models in %s (%v), want the 5 of its README", len(models), dir, err)
	}
	keep, written = t.TempDir(), nil
	defer func() {
		keep = ""
		// Every gradient graph is a valid ONNX model of its opset.
		testenv.OnnxCheck(t, written)
	}()
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
			kind := grad.Logits
			if ref.Output == "probabilities" {
				kind = grad.Probabilities
			}
			r, err := grad.BuildFile(path, grad.Options{Kind: kind})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d model nodes (%d folded) -> %d gradient graph nodes", r.ModelNodes, r.Folded, r.Nodes)
			s := openGrad(t, r)
			inputs := fixtureInputs(t, &ref)
			// A fixed batch of 1 runs one sample at a time, a dynamic batch all at once.
			batch := len(inputs)
			if fixed, ok := ref.InputShape[0].(float64); ok {
				batch = int(fixed)
			}
			shape := []int64{int64(batch)}
			for _, d := range ref.InputShape[1:] {
				shape = append(shape, int64(d.(float64)))
			}
			per := len(inputs[0])
			var worstOut, worstGrad float64
			for start := 0; start < len(inputs); start += batch {
				x := make([]float32, 0, batch*per)
				for _, in := range inputs[start : start+batch] {
					x = append(x, in...)
				}
				out, err := s.Run([]ort.Tensor{{Shape: shape, Data: x}, {Shape: []int64{int64(batch)}, Int64: ref.Labels[start : start+batch]}})
				if err != nil {
					t.Fatal(err)
				}
				logits, loss, g := out[0], out[1], out[2]
				k := len(ref.Outputs[0])
				for i := range batch {
					j := start + i
					scale := maxAbs(ref.Outputs[j])
					d := maxDiff(logits.Data[i*k:(i+1)*k], ref.Outputs[j]) / scale
					worstOut = max(worstOut, d)
					if d > 1e-4 {
						t.Errorf("sample %d: outputs differ from PyTorch's by %.3g of the largest (%.3g), want <= 1e-4", j, d, scale)
					}
					gs := maxAbs(ref.GradCE[j])
					dg := maxDiff(g.Data[i*per:(i+1)*per], ref.GradCE[j]) / gs
					worstGrad = max(worstGrad, dg)
					if dg > 1e-3 {
						t.Errorf("sample %d: gradient differs from PyTorch's by %.3g of its largest component (%.3g), want <= 1e-3", j, dg, gs)
					}
					if loss.Data[i] < 0 {
						t.Errorf("sample %d: cross-entropy %v < 0", j, loss.Data[i])
					}
				}
			}
			t.Logf("largest relative differences from PyTorch: outputs %.2g, gradients %.2g", worstOut, worstGrad)
			if batch == 1 {
				return
			}
			// The batch is symbolic: three samples alone get their own gradients.
			shape[0] = 3
			x := slices.Concat(inputs[0], inputs[1], inputs[2])
			out, err := s.Run([]ort.Tensor{{Shape: shape, Data: x}, {Shape: []int64{3}, Int64: ref.Labels[:3]}})
			if err != nil {
				t.Fatal(err)
			}
			for j := range 3 {
				gs := maxAbs(ref.GradCE[j])
				if d := maxDiff(out[2].Data[j*per:(j+1)*per], ref.GradCE[j]) / gs; d > 1e-3 {
					t.Errorf("sample %d in a batch of 3: gradient differs from PyTorch's by %.3g of its largest component", j, d)
				}
			}
		})
	}
}

// TestEvaluateFixtures checks grad.Evaluate, the float64 reference the property test
// differentiates numerically, against PyTorch's float64 outputs and gradients on the
// fixtures: outputs within 1e-6 of the largest (the models' float32 constants, such
// as a LeakyRelu slope of float32(0.1), differ from PyTorch's float64 ones by about
// 1e-9 relative), and central differences (step 1e-5) of the cross-entropy within
// 1e-5 of the gradient's largest component at its 6 largest components where the
// loss is differentiable.
func TestEvaluateFixtures(t *testing.T) {
	dir := sharedDir(t, "EABS_ONNX_MODELS", "onnx-models")
	models, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			model, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(strings.TrimSuffix(path, ".onnx") + ".reference.json")
			if err != nil {
				t.Fatal(err)
			}
			var ref reference
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatal(err)
			}
			inputs := fixtureInputs(t, &ref)
			shape := []int{1}
			for _, d := range ref.InputShape[1:] {
				shape = append(shape, int(d.(float64)))
			}
			const j = 1 // one sample: the evaluator is plain Go loops
			x := make([]float64, len(inputs[j]))
			for i, v := range inputs[j] {
				x[i] = float64(v)
			}
			f := func(x []float64) []float64 {
				out, err := grad.Evaluate(model, map[string]*grad.Tensor{"input": {Type: grad.Float64, Shape: shape, F: x}})
				if err != nil {
					t.Fatal(err)
				}
				return out["output"].F
			}
			out := f(x)
			scale := maxAbs(ref.Outputs[j])
			for i, want := range ref.Outputs[j] {
				if d := math.Abs(out[i]-want) / scale; d > 1e-6 {
					t.Errorf("output %d = %.12g, PyTorch %.12g: %.3g of the largest, want <= 1e-6", i, out[i], want, d)
				}
			}
			ce := func(x []float64) float64 {
				z := f(x)
				y := ref.Labels[j]
				if ref.Output == "probabilities" {
					return -math.Log(z[y])
				}
				m := z[0]
				for _, v := range z {
					m = math.Max(m, v)
				}
				s := 0.0
				for _, v := range z {
					s += math.Exp(v - m)
				}
				return m + math.Log(s) - z[y]
			}
			g := ref.GradCE[j]
			order := make([]int, len(g))
			for i := range order {
				order[i] = i
			}
			slices.SortFunc(order, func(a, b int) int { return cmp.Compare(math.Abs(g[b]), math.Abs(g[a])) })
			gs := maxAbs(g)
			const h = 1e-5
			checked, f0 := 0, ce(x)
			for _, i := range order {
				if checked == 6 {
					break
				}
				xp, xm := slices.Clone(x), slices.Clone(x)
				xp[i] += h
				xm[i] -= h
				fp, fm := ce(xp), ce(xm)
				// At a kink (a MaxPool window of tied values: the background's
				// zeros give them) the one-sided differences disagree and no central
				// difference is a derivative; PyTorch's gradient there is a choice.
				if math.Abs((fp-f0)-(f0-fm))/h > 1e-4*gs {
					continue
				}
				checked++
				fd := (fp - fm) / (2 * h)
				if d := math.Abs(fd-g[i]) / gs; d > 1e-5 {
					t.Errorf("d loss / d x[%d]: central difference %.9g, PyTorch %.9g: %.3g of the largest, want <= 1e-5", i, fd, g[i], d)
				}
			}
			if checked < 6 {
				t.Errorf("only %d coordinates where the loss is differentiable", checked)
			}
		})
	}
}

// TestShapeChainsFolded: the shape arithmetic PyTorch exports is computed when the
// gradient graph is built and is not in it. fashion-mlp-nhwc-softmax flattens with
// x.view(x.size(0), -1) (Shape, Gather, Unsqueeze, Concat into a Reshape): the Reshape
// must read the constant [0, -1] (0 copies the batch); rgb32-ops-random-batch1 builds
// F.pad's pads with ConstantOfShape, Concat, Reshape, Slice, Transpose, Reshape and
// Cast: the Pad must read a constant.
func TestShapeChainsFolded(t *testing.T) {
	dir := sharedDir(t, "EABS_ONNX_MODELS", "onnx-models")
	for _, test := range []struct {
		model, consumer string
		chain           []string
		want            []int64 // the consumer's constant input, when checked
	}{
		{"fashion-mlp-nhwc-softmax", "/Reshape", []string{"/Shape", "/Constant", "/Gather", "Constant_4", "/Unsqueeze", "/Constant_1", "/Concat"}, []int64{0, -1}},
		{"rgb32-ops-random-batch1", "/Pad", []string{"/Constant_2", "/Constant_3", "/ConstantOfShape", "/Concat_1", "/Constant_4", "/Reshape",
			"/Slice", "/Transpose", "/Reshape_1", "/Cast"}, nil},
	} {
		t.Run(test.model, func(t *testing.T) {
			kind := grad.Logits
			if strings.Contains(test.model, "softmax") {
				kind = grad.Probabilities
			}
			r, err := grad.BuildFile(filepath.Join(dir, test.model+".onnx"), grad.Options{Kind: kind})
			if err != nil {
				t.Fatal(err)
			}
			var m onnxpb.ModelProto
			if err := proto.Unmarshal(r.Model, &m); err != nil {
				t.Fatal(err)
			}
			inits := map[string]*onnxpb.TensorProto{}
			for _, init := range m.Graph.Initializer {
				inits[init.Name] = init
			}
			var consumer *onnxpb.NodeProto
			for _, n := range m.Graph.Node {
				if slices.Contains(test.chain, n.Name) {
					t.Errorf("node %s (%s) of the shape chain is in the gradient graph", n.Name, n.OpType)
				}
				if n.Name == test.consumer {
					consumer = n
				}
			}
			if consumer == nil {
				t.Fatalf("no node %s in the gradient graph", test.consumer)
			}
			k, ok := inits[consumer.Input[1]]
			if !ok {
				t.Fatalf("%s reads %q, which is not an initializer", test.consumer, consumer.Input[1])
			}
			if test.want != nil {
				got := make([]int64, len(k.RawData)/8)
				for i := range got {
					got[i] = int64(binary.LittleEndian.Uint64(k.RawData[8*i:]))
				}
				if !slices.Equal(got, test.want) {
					t.Errorf("%s reads the constant %v, want %v", test.consumer, got, test.want)
				}
			}
			if r.Folded < len(test.chain) {
				t.Errorf("Result.Folded = %d, want at least the chain's %d nodes", r.Folded, len(test.chain))
			}
		})
	}
}
