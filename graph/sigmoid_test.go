package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestBiasSigmoidMatchesGorgonia checks the fused decoder output layer bit for bit
// against what it replaced, Bias then Gorgonia's Sigmoid with Gorgonia's derivative,
// on cost = sum(r * sigmoid(x + b)): the output and the gradients in x and b, in
// float32 and float64, on a batch large enough to be spread over the threads and with
// pre-activations at and beyond both clamps of Gorgonia's sigmoid.
func TestBiasSigmoidMatchesGorgonia(t *testing.T) {
	testBiasSigmoid[float32](t)
	testBiasSigmoid[float64](t)
}

func testBiasSigmoid[T float32 | float64](t *testing.T) {
	const b, c, h, w = 12, 2, 40, 40 // 38400 values: above largeWork
	rng := rand.New(rand.NewPCG(3, 4))
	x, r := make([]T, b*c*h*w), make([]T, b*c*h*w)
	for i := range x {
		x[i] = T(6 * rng.NormFloat64())
		r[i] = T(rng.NormFloat64())
	}
	// Pre-activations x + 0.25 (channel 0) at and around the clamps: -709 and 19 in
	// float64, -88 and 15 in float32.
	edges := []float64{-710, -709.25, -709.2, -100, -88.25, -88.2, 0, 14.7, 14.75, 14.8, 18.7, 18.75, 18.8, 40}
	for i, e := range edges {
		x[i*97] = T(e)
	}
	bias := []T{0.25, -0.5}
	// run builds the layer and returns its output, or with grad the gradients in x
	// and b: the output is read from a forward-only graph, since Gorgonia's tape
	// machine may reuse the output's memory for the gradient's temporaries.
	run := func(fused, grad bool) [][]T {
		gr := G.NewGraph()
		xn := G.NodeFromAny(gr, tensor.New(tensor.WithShape(b, c, h, w), tensor.WithBacking(append([]T(nil), x...))), G.WithName("x"))
		bn := G.NodeFromAny(gr, tensor.New(tensor.WithShape(c), tensor.WithBacking(append([]T(nil), bias...))), G.WithName("b"))
		rn := G.NodeFromAny(gr, tensor.New(tensor.WithShape(b, c, h, w), tensor.WithBacking(append([]T(nil), r...))), G.WithName("r"))
		var out *G.Node
		var err error
		if fused {
			out, err = apply[T](biasSigmoidKernel[T]{}, nil, xn, bn)
		} else {
			var pre *G.Node
			if pre, err = apply[T](biasKernel[T]{4}, nil, xn, bn); err == nil {
				out, err = G.Sigmoid(pre)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		want := G.Nodes{out}
		if grad {
			cost := G.Must(G.Sum(G.Must(G.HadamardProd(out, rn))))
			if want, err = G.Grad(cost, xn, bn); err != nil {
				t.Fatal(err)
			}
		}
		vm := G.NewTapeMachine(gr)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		var vals [][]T
		for _, n := range want {
			vals = append(vals, append([]T(nil), n.Value().Data().([]T)...))
		}
		return vals
	}
	wantY, wantG := run(false, false)[0], run(false, true)
	gotY, gotG := run(true, false)[0], run(true, true)
	name := fmt.Sprintf("%T", x[0])
	for _, v := range []struct {
		what      string
		got, want []T
	}{{"output", gotY, wantY}, {"input gradient", gotG[0], wantG[0]}, {"bias gradient", gotG[1], wantG[1]}} {
		if len(v.got) != len(v.want) {
			t.Fatalf("%s %s: %d values, want %d", name, v.what, len(v.got), len(v.want))
		}
		for i := range v.got {
			if math.Float64bits(float64(v.got[i])) != math.Float64bits(float64(v.want[i])) {
				t.Errorf("%s %s[%d] = %v, Gorgonia's Bias and Sigmoid give %v", name, v.what, i, v.got[i], v.want[i])
				break
			}
		}
	}
	// The test reaches both clamps.
	if gotY[0] != 0 || gotY[13*97] != 1 {
		t.Errorf("%s: sigmoid(%v) = %v and sigmoid(%v) = %v, want the clamps 0 and 1", name, x[0]+bias[0], gotY[0], x[13*97]+bias[0], gotY[13*97])
	}
}
