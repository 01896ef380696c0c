package grad_test

import (
	"math/rand/v2"
	"runtime/debug"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// corrupt damages one random node, attribute or initializer of a model.
func corrupt(rnd *rand.Rand, model []byte) ([]byte, string) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(model, &m); err != nil {
		panic(err)
	}
	g := m.Graph
	n := g.Node[rnd.IntN(len(g.Node))]
	var what string
	switch rnd.IntN(7) {
	case 0:
		if len(n.Input) > 0 {
			i := rnd.IntN(len(n.Input))
			n.Input = append(n.Input[:i], n.Input[i+1:]...)
		}
		what = "drop an input of " + n.OpType
	case 1:
		if len(n.Input) > 0 {
			n.Input[rnd.IntN(len(n.Input))] = ""
		}
		what = "omit an input of " + n.OpType
	case 2:
		if len(n.Attribute) > 0 {
			i := rnd.IntN(len(n.Attribute))
			n.Attribute = append(n.Attribute[:i], n.Attribute[i+1:]...)
		}
		what = "drop an attribute of " + n.OpType
	case 3:
		for _, a := range n.Attribute {
			a.Ints, a.I, a.T = []int64{-3, 99}, -7, nil
		}
		what = "bad attribute values of " + n.OpType
	case 4:
		if len(g.Initializer) > 0 {
			t := g.Initializer[rnd.IntN(len(g.Initializer))]
			t.Dims = append(t.Dims, 2)
		}
		what = "an initializer's shape"
	case 5:
		if len(g.Initializer) > 0 {
			t := g.Initializer[rnd.IntN(len(g.Initializer))]
			t.RawData, t.Dims = nil, []int64{0}
		}
		what = "an empty initializer"
	default:
		n.Input = append(n.Input, g.Node[0].Output[0])
		what = "an extra input of " + n.OpType
	}
	b, err := proto.Marshal(&m)
	if err != nil {
		panic(err)
	}
	return b, what
}

// TestMalformedNoPanic: Build and Evaluate answer damaged models (inputs dropped or
// omitted, attributes dropped or nonsensical, initializers of the wrong size or
// empty, extra inputs) with an error or a result, never a panic.
func TestMalformedNoPanic(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	for i := range n {
		rnd := rand.New(rand.NewPCG(uint64(i), 99))
		model, _, shape := randomGraph(uint64(i), 11+i%7, tFloat, 2+rnd.IntN(5))
		bad, what := corrupt(rnd, model)
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("graph %d with %s: panic: %v\n%s", i, what, p, debug.Stack())
				}
			}()
			for _, loss := range []grad.Loss{grad.Cotangent, grad.CrossEntropy} {
				_, _ = grad.Build(bad, grad.Options{Loss: loss})
			}
			_, _ = grad.Evaluate(bad, map[string]*grad.Tensor{"x": randomInput(rnd, shape)})
			_, _ = grad.Evaluate(bad, map[string]*grad.Tensor{"x": {Type: tDouble, Shape: []int{1}, F: []float64{1}}})
		}()
	}
}
