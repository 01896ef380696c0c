package grad_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// handModel writes a model with input x [batch, 2, 6, 6] (or the shape given), the
// nodes build writes, and output y.
func handModel(opset int, build func(g *gen) string, xShape ...int) []byte {
	g := &gen{rnd: rand.New(rand.NewPCG(1, 1)), opset: opset, typ: tFloat, g: &onnxpb.GraphProto{Name: "hand"}}
	if xShape == nil {
		xShape = []int{batch, 2, 6, 6}
	}
	y := build(g)
	vi := func(name string, s []int) *onnxpb.ValueInfoProto {
		ts := &onnxpb.TensorShapeProto{}
		for i, d := range s {
			dim := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}}
			if i == 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}
			}
			ts.Dim = append(ts.Dim, dim)
		}
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: tFloat, Shape: ts}}}}
	}
	g.g.Input = []*onnxpb.ValueInfoProto{vi("x", xShape)}
	g.g.Output = []*onnxpb.ValueInfoProto{{Name: y, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: tFloat}}}}}
	m := &onnxpb.ModelProto{IrVersion: 7, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: int64(opset)}}, Graph: g.g}
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// TestUnsupportedRefusedFirst: a model with operators Build does not know is refused
// by Check and Build with an *UnsupportedError naming every such operator and its
// node, before anything else is looked at: the model below also has a Conv whose
// weights do not fit its input, which would fail later.
func TestUnsupportedRefusedFirst(t *testing.T) {
	model := handModel(13, func(g *gen) string {
		bad := g.node("Conv", []string{"x", g.floats([]int{4, 3, 3, 3}, -1, 1)}) // 3 channels for a 2-channel input
		lrn := g.node("LRN", []string{bad}, attrI("size", 3))
		g.g.Node[len(g.g.Node)-1].Name = "norm1"
		r := g.node("Relu", []string{lrn})
		res := g.node("Resize", []string{r, "", g.floats([]int{4}, 1, 1)})
		g.g.Node[len(g.g.Node)-1].Name = "up"
		custom := g.node("FusedGemm", []string{res})
		g.g.Node[len(g.g.Node)-1].Domain = "com.microsoft"
		g.g.Node[len(g.g.Node)-1].Name = "fused"
		return custom
	})
	for name, err := range map[string]error{
		"Check": grad.Check(model),
		"Build": func() error { _, err := grad.Build(model, grad.Options{}); return err }(),
	} {
		var ue *grad.UnsupportedError
		if !errors.As(err, &ue) {
			t.Fatalf("%s error = %v (%T), want *grad.UnsupportedError", name, err, err)
		}
		want := []grad.UnsupportedOp{{Op: "LRN", Node: "norm1"}, {Op: "Resize", Node: "up"}, {Op: "FusedGemm", Domain: "com.microsoft", Node: "fused"}}
		if len(ue.Ops) != len(want) {
			t.Fatalf("%s: unsupported %v, want %v", name, ue.Ops, want)
		}
		for i := range want {
			if ue.Ops[i] != want[i] {
				t.Errorf("%s: unsupported[%d] = %v, want %v", name, i, ue.Ops[i], want[i])
			}
		}
		for _, s := range []string{`LRN (node "norm1")`, `Resize (node "up")`, `com.microsoft.FusedGemm (node "fused")`, "supported: "} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s error %q does not contain %q", name, err, s)
			}
		}
	}
}

// TestRefused: models and options Build refuses, each with an error that names the
// problem.
func TestRefused(t *testing.T) {
	pool := func(attrs ...*onnxpb.AttributeProto) func(g *gen) string {
		return func(g *gen) string { return g.node("AveragePool", []string{"x"}, attrs...) }
	}
	flatLogits := func(g *gen) string {
		return g.node("Flatten", []string{"x"})
	}
	for _, test := range []struct {
		name  string
		model []byte
		opts  grad.Options
		want  []string
	}{
		{"not ONNX", []byte("hello, world"), grad.Options{}, []string{"not an ONNX model"}},
		{"opset 10", handModel(10, flatLogits), grad.Options{}, []string{"opset 10; opsets 11 to 17 are supported"}},
		{"opset 18", handModel(18, flatLogits), grad.Options{}, []string{"opset 18; opsets 11 to 17"}},
		{"no gradient on the path", handModel(13, func(g *gen) string {
			return g.node("Gather", []string{"x", g.ints(0, 1)}, attrI("axis", 1))
		}), grad.Options{Loss: grad.Cotangent}, []string{`Gather node "n_Gather_`, `" lies between input "x" and output "Gather_`, `and has no gradient here`}},
		{"reflect pad", handModel(13, func(g *gen) string {
			return g.node("Pad", []string{"x", g.ints(0, 0, 1, 1, 0, 0, 1, 1)}, attrS("mode", "reflect"))
		}), grad.Options{Loss: grad.Cotangent}, []string{`Pad node "n_Pad_`, `the gradient of mode "reflect" is not supported`}},
		{"training batch norm", handModel(14, func(g *gen) string {
			c := func() string { return g.floats([]int{2}, 1, 2) }
			return g.node("BatchNormalization", []string{"x", c(), c(), c(), c()}, attrI("training_mode", 1))
		}), grad.Options{Loss: grad.Cotangent}, []string{"training mode (batch statistics) is not supported"}},
		{"ceil window past the input", handModel(13, pool(attrInts("kernel_shape", 1, 1), attrInts("strides", 2, 2), attrI("ceil_mode", 1))),
			grad.Options{Loss: grad.Cotangent}, []string{"ceil_mode with a last window that starts past the input (size 6, kernel 1, stride 2"}},
		{"3-D pooling", handModel(13, pool(attrInts("kernel_shape", 2, 2, 2)), batch, 2, 4, 4, 4), grad.Options{Loss: grad.Cotangent}, []string{"only 2-D images ([N, C, H, W]) are supported"}},
		{"classifier loss on an image", handModel(13, func(g *gen) string { return g.node("Relu", []string{"x"}) }), grad.Options{}, []string{"has shape [batch,2,6,6]; the cross-entropy loss needs [batch, classes]"}},
		{"unknown loss", handModel(13, flatLogits), grad.Options{Loss: "hinge"}, []string{`unknown loss "hinge"`}},
		{"unknown kind", handModel(13, flatLogits), grad.Options{Kind: "odds"}, []string{`unknown output kind "odds"`}},
		{"no such input", handModel(13, flatLogits), grad.Options{Input: "image"}, []string{`no input "image" (its inputs: x)`}},
		{"no such output", handModel(13, flatLogits), grad.Options{Output: "logits"}, []string{`no output "logits" (its outputs: Flatten_1)`}},
	} {
		t.Run(test.name, func(t *testing.T) {
			r, err := grad.Build(test.model, test.opts)
			if err == nil {
				t.Fatalf("Build succeeded (%d nodes), want an error containing %q", r.Nodes, test.want)
			}
			for _, w := range test.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Build error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}
