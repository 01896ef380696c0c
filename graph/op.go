package graph

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernel is the numeric body of one custom Gorgonia operation. Gorgonia lacks a
// transposed convolution and its BatchNorm resets its statistics whenever a machine is
// built, so the graph uses its own ops for convolutions, BatchNorm, activations and the
// E-ABS loss terms; op adapts a kernel to Gorgonia's Op, SDOp and UsePreallocDoer.
type kernel[T float32 | float64] interface {
	// String names the kernel with every parameter that changes its result: Gorgonia
	// merges nodes whose op hashes and children are equal.
	String() string
	// dims is the number of dimensions of each input and of the output.
	dims() (in []int, out int)
	outShape(in []tensor.Shape) (tensor.Shape, error)
	// forward computes the output into out, which it must fully overwrite.
	forward(in [][]T, shapes []tensor.Shape, out []T) error
}

// differ is a kernel with gradients: diff builds the gradient node of each input
// given the output's gradient (nil for inputs that get none).
// Only the inputs marked in need get a node, so no gradient is computed that nothing
// reads (Gorgonia executes every node of a graph, used or not).
type differ interface {
	diff(inputs G.Nodes, output, grad *G.Node, need []bool) (G.Nodes, error)
}

type op[T float32 | float64] struct {
	k    kernel[T]
	need []bool // which inputs get a gradient
	// out is the output of the last run, reused by the next: Gorgonia's tape machine
	// forgets its registers on Reset, so without it every run allocated every
	// intermediate afresh (320 MB per MNIST E-ABS training step at batch 64, and
	// twice the live set in garbage before a collection).
	out *tensor.Dense
}

// apply adds a kernel to the graph. need marks the inputs that get a gradient (nil: all).
func apply[T float32 | float64](k kernel[T], need []bool, inputs ...*G.Node) (*G.Node, error) {
	if need == nil {
		need = make([]bool, len(inputs))
		for i := range need {
			need[i] = true
		}
	}
	return G.ApplyOp(&op[T]{k: k, need: need}, inputs...)
}

func dtypeOf[T float32 | float64]() tensor.Dtype {
	var z T
	if _, ok := any(z).(float32); ok {
		return tensor.Float32
	}
	return tensor.Float64
}

func (o *op[T]) Arity() int {
	in, _ := o.k.dims()
	return len(in)
}

func (o *op[T]) Type() hm.Type {
	a := hm.TypeVariable('a')
	in, out := o.k.dims()
	ts := make([]hm.Type, 0, len(in)+1)
	for _, d := range in {
		ts = append(ts, G.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, G.TensorType{Dims: out, Of: a})
	return hm.NewFnType(ts...)
}

func (o *op[T]) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(ds))
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("graph: %v: input %d has no shape", o.k, i)
		}
		shapes[i] = s
	}
	return o.k.outShape(shapes)
}

func (o *op[T]) Do(vs ...G.Value) (G.Value, error) {
	return o.UsePreallocDo(nil, vs...)
}

func (o *op[T]) UsePreallocDo(prealloc G.Value, vs ...G.Value) (G.Value, error) {
	if len(vs) != o.Arity() {
		return nil, fmt.Errorf("graph: %v: got %d inputs, want %d", o.k, len(vs), o.Arity())
	}
	in := make([][]T, len(vs))
	shapes := make([]tensor.Shape, len(vs))
	for i, v := range vs {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("graph: %v: input %d is %T, not a dense tensor", o.k, i, v)
		}
		data, ok := d.Data().([]T)
		if !ok {
			if d.Shape().IsScalar() {
				data = []T{d.Data().(T)}
			} else {
				return nil, fmt.Errorf("graph: %v: input %d has dtype %v", o.k, i, d.Dtype())
			}
		}
		in[i], shapes[i] = data, d.Shape()
	}
	s, err := o.k.outShape(shapes)
	if err != nil {
		return nil, err
	}
	var out *tensor.Dense
	if p, ok := prealloc.(*tensor.Dense); ok && p.Shape().Eq(s) && p.Dtype() == dtypeOf[T]() {
		out = p
	} else if o.out != nil && o.out.Shape().Eq(s) {
		// A node's value is overwritten by its next run, as a tape machine's
		// registers are; every kernel fully overwrites its output.
		out = o.out
	} else {
		out = tensor.New(tensor.Of(dtypeOf[T]()), tensor.WithShape(s...))
		o.out = out
	}
	if err := o.k.forward(in, shapes, out.Data().([]T)); err != nil {
		return nil, err
	}
	return out, nil
}

func (o *op[T]) ReturnsPtr() bool     { return false }
func (o *op[T]) CallsExtern() bool    { return false }
func (o *op[T]) OverwritesInput() int { return -1 }
func (o *op[T]) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "eabs.%s", o.k.String())
}
func (o *op[T]) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}
func (o *op[T]) String() string { return o.k.String() }

func (o *op[T]) DiffWRT(n int) []bool {
	_, ok := o.k.(differ)
	out := make([]bool, n)
	for i := range out {
		out[i] = ok && i < len(o.need) && o.need[i]
	}
	return out
}

func (o *op[T]) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, ok := o.k.(differ)
	if !ok {
		return nil, fmt.Errorf("graph: %v has no gradient", o.k)
	}
	return d.diff(inputs, output, grad, o.need)
}
