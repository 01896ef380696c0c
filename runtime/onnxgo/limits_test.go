package onnxgo

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	onnxgo "github.com/owulveryck/onnx-go"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// TestOnnxGoLimits pins down the onnx-go v0.5.0 behaviour that ExportOptions.OnnxGo
// and this package work around, each on the smallest graph that shows it. When
// onnx-go is upgraded and a case fails, its workaround may no longer be needed.
func TestOnnxGoLimits(t *testing.T) {
	tiny := func(model, role string) graphFunc {
		return func(t testing.TB) ([]byte, []int) {
			w := runtimetest.Weights(t, model, 1)
			m, err := onnx.BuildModel(w, role, onnx.ExportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			return b, []int{2, 1, 28, 28}
		}
	}
	for _, c := range []struct {
		name  string
		graph graphFunc
		runs  int
		// check returns nil when onnx-go behaves as documented.
		check func(outs [][][]float32, err error) error
	}{
		{
			name:  "default encoder: opset-13 Unsqueeze",
			graph: tiny("eabs", onnx.RoleEncoder),
			check: wantErr("unsqueeze: axes in not an []int64"),
		},
		{
			name:  "default ABS encoder: no Tile",
			graph: tiny("abs", onnx.RoleEncoder),
			check: wantNotImplemented("Tile"),
		},
		{
			name:  "no ConvTranspose",
			graph: oneOp([]int{1, 2, 3, 3}, "ConvTranspose", []int{2, 1, 2, 2}, nil),
			check: wantNotImplemented("ConvTranspose"),
		},
		{
			name:  "MatMul is 2-D only",
			graph: oneOp([]int{2, 3, 4}, "MatMul", []int{4, 5}, nil),
			check: wantNotImplemented("Matmul"),
		},
		{
			// -1 is resolved from the input's dimensions cut or padded with zeros to
			// the target's rank: it fails when the rank grows (so the onnx-go forms
			// reshape [B, E*M] to [B, E, M] with 0, "copy", for the batch).
			name:  "Reshape -1 to a higher rank",
			graph: reshape([]int{2, 3}, -1, 1, 3),
			check: wantErr("shape size doesn't not match. Expected 6, got 3"),
		},
		{
			// y = x·W + b at batch 1 is written into b's memory: the second run
			// returns 2·x·W + b.
			name:  "Gemm at batch 1 accumulates into its bias",
			graph: oneOp([]int{1, 2}, "Gemm", []int{2, 2}, []int{2}),
			runs:  2,
			check: func(outs [][][]float32, err error) error {
				if err != nil {
					return err
				}
				if fmt.Sprint(outs[0]) == fmt.Sprint(outs[1]) {
					return errors.New("two runs on the same input agree")
				}
				return nil
			},
		},
		{
			// Add of x [3, 3] and b [3] reshapes b to [3, 3] (it looks for axes of
			// size 3), which fails, and the error is lost.
			name:  "Add of a bias whose size is the batch",
			graph: oneOp([]int{3, 3}, "Add", nil, []int{3}),
			check: wantErr(fixErr((*onnxgo.ErrNotImplemented)(nil)).Error()),
		},
		{
			// A depthwise convolution (group 2, weights [2, 1, 1, 1]) fails: with the
			// group attribute ignored, the weights should have 2 input channels.
			name:  "Conv ignores group",
			graph: oneOp([]int{1, 2, 3, 3}, "Conv", []int{2, 1, 1, 1}, nil, onnx.IntsAttr("kernel_shape", 1, 1), onnx.IntAttr("group", 2)),
			check: wantErr("conv: 1 (kernel) * 1 (width) * 1 (height) must be 2, got 1"),
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, shape := c.graph(t)
			var outs [][][]float32
			p, err := compile(b, shape)
			for i := 0; err == nil && i < max(1, c.runs); i++ {
				var o [][]float32
				if o, err = p.run(make1(shape)); err == nil {
					outs = append(outs, o)
				}
			}
			if err := c.check(outs, err); err != nil {
				t.Error(err)
			}
		})
	}
}

// make1 returns a tensor of ones.
func make1(shape []int) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// graphFunc returns an ONNX model and the shape of its input.
type graphFunc func(t testing.TB) ([]byte, []int)

// oneOp returns a graph y = op(x, W, b) with input x of shape in, and random
// initializers W and b of the given shapes (omitted when nil).
func oneOp(in []int, op string, wShape, bShape []int, attrs ...onnx.Attr) graphFunc {
	return func(t testing.TB) ([]byte, []int) {
		rng := rand.New(rand.NewPCG(1, 1))
		g := onnx.NewGraph("limit")
		dims := make([]onnx.Dim, len(in))
		for i, d := range in {
			dims[i] = onnx.Fixed(d)
		}
		inputs := []string{g.Input("x", dims...)}
		for i, s := range [][]int{wShape, bShape} {
			if s != nil {
				data := make([]float32, models.Size(s))
				for j := range data {
					data[j] = float32(rng.NormFloat64())
				}
				inputs = append(inputs, g.Initializer(fmt.Sprint("p", i), s, data))
			}
		}
		g.Output("y", g.Op(op, inputs, attrs...))
		b, err := (&onnx.Model{Graph: g}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b, in
	}
}

// reshape returns a graph y = Reshape(x, to) with input x of shape in.
func reshape(in []int, to ...int64) graphFunc {
	return func(t testing.TB) ([]byte, []int) {
		g := onnx.NewGraph("limit")
		dims := make([]onnx.Dim, len(in))
		for i, d := range in {
			dims[i] = onnx.Fixed(d)
		}
		g.Output("y", g.Op("Reshape", []string{g.Input("x", dims...), g.Ints(to...)}))
		b, err := (&onnx.Model{Graph: g}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b, in
	}
}

func wantNotImplemented(op string) func([][][]float32, error) error {
	return func(_ [][][]float32, err error) error {
		var ni *onnxgo.ErrNotImplemented
		if !errors.As(err, &ni) || ni == nil || ni.Operator != op {
			return fmt.Errorf("error %v, want *onnx.ErrNotImplemented for %s", err, op)
		}
		return nil
	}
}

func wantErr(msg string) func([][][]float32, error) error {
	return func(_ [][][]float32, err error) error {
		if err == nil || err.Error() != msg {
			return fmt.Errorf("error %v, want %q", err, msg)
		}
		return nil
	}
}
