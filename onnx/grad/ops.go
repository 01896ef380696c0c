package grad

import (
	"fmt"
	"slices"
	"sort"

	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// node is one operator of a graph with its attributes by name.
type node struct {
	op, name, domain string
	in, out          []string
	attr             map[string]*onnxpb.AttributeProto
}

func newNode(p *onnxpb.NodeProto) *node {
	n := &node{op: p.OpType, name: p.Name, domain: p.Domain, in: p.Input, out: p.Output, attr: map[string]*onnxpb.AttributeProto{}}
	for _, a := range p.Attribute {
		n.attr[a.Name] = a
	}
	return n
}

// String names the node for error messages: its operator and name (or first output).
func (n *node) String() string {
	name := n.name
	if name == "" && len(n.out) > 0 {
		name = "producing " + n.out[0]
	}
	return fmt.Sprintf("%s node %q", n.op, name)
}

func (n *node) has(name string) bool { _, ok := n.attr[name]; return ok }

func (n *node) i(name string, def int64) int64 {
	if a, ok := n.attr[name]; ok {
		return a.I
	}
	return def
}

func (n *node) ints(name string, def []int64) []int64 {
	if a, ok := n.attr[name]; ok {
		return a.Ints
	}
	return def
}

func (n *node) f(name string, def float64) float64 {
	if a, ok := n.attr[name]; ok {
		return float64(a.F)
	}
	return def
}

func (n *node) s(name, def string) string {
	if a, ok := n.attr[name]; ok {
		return string(a.S)
	}
	return def
}

// value is what the builder knows about a tensor at build time: its element type and
// shape always; its content when it depends only on constants (k), or, for small
// integer tensors computed from shapes, its elements as dims (sym).
type value struct {
	name  string
	typ   int32
	shape shape
	k     *Tensor
	sym   []dim
}

func constValue(name string, t *Tensor) *value {
	return &value{name: name, typ: t.Type, shape: staticShape(t.Shape), k: t}
}

// dims returns the elements of a 0-D or 1-D integer value known at build time, as
// dims, and whether they are known.
func (v *value) dims() ([]dim, bool) {
	switch {
	case v == nil:
		return nil, false
	case v.sym != nil:
		return v.sym, true
	case v.k != nil && isInt(v.typ):
		out := make([]dim, len(v.k.I))
		for i, x := range v.k.I {
			out[i] = fixed(x)
		}
		return out, true
	}
	return nil, false
}

// constInts returns the elements of an integer value known at build time without
// symbols.
func (v *value) constInts() ([]int64, bool) {
	if v == nil || v.k == nil || !isInt(v.typ) {
		return nil, false
	}
	return v.k.I, true
}

// ctx is one application of an operator: the node, the model's opset, what is known
// of its inputs (nil for an omitted optional input) and, once an opDef function has
// run, of its outputs.
type ctx struct {
	n     *node
	opset int
	in    []*value
	out   []*value
}

func (c *ctx) errorf(format string, args ...any) error {
	return fmt.Errorf("%v: %s", c.n, fmt.Sprintf(format, args...))
}

// input returns input i, or nil when it is omitted.
func (c *ctx) input(i int) *value {
	if i < len(c.in) {
		return c.in[i]
	}
	return nil
}

// set records output i's type and shape.
func (c *ctx) set(i int, typ int32, s shape) {
	for len(c.out) <= i {
		c.out = append(c.out, &value{})
	}
	c.out[i].typ, c.out[i].shape = typ, s
}

// setK records output i's constant content.
func (c *ctx) setK(i int, t *Tensor) {
	c.set(i, t.Type, staticShape(t.Shape))
	c.out[i].k = t
}

// setSym records output i as a symbolic integer tensor of rank 0 (scalar) or 1.
func (c *ctx) setSym(i int, d []dim, scalar bool) {
	s := shape{fixed(int64(len(d)))}
	if scalar {
		s = shape{}
	}
	c.set(i, tInt64, s)
	c.out[i].sym = d
	allStatic := true
	for _, x := range d {
		allStatic = allStatic && x.static()
	}
	if allStatic {
		t := intTensor(s.ints(), make([]int64, len(d)))
		for j, x := range d {
			t.I[j] = x.n
		}
		c.out[i].k, c.out[i].sym = t, nil
	}
}

// constIntsInput returns the integer elements of input i (an attribute in older
// opsets, an input in newer ones), or an error naming what is not known.
func (c *ctx) constIntsInput(i int, what string) ([]int64, error) {
	v := c.input(i)
	if v == nil {
		return nil, nil
	}
	x, ok := v.constInts()
	if !ok {
		return nil, c.errorf("its %s (input %q) must be known before the graph runs; it is computed at run time", what, v.name)
	}
	return x, nil
}

// opDef is what the differentiator knows of an operator.
type opDef struct {
	// infer sets the outputs' types and shapes from the inputs'. Required.
	infer func(c *ctx) error
	// eval computes the outputs from constant inputs (all of c.in have k); nil when
	// the operator is never folded.
	eval func(c *ctx) error
	// sym computes symbolic integer outputs from inputs that are constant or
	// symbolic (shape arithmetic); nil when the operator has no such form. It returns
	// false when it cannot.
	sym func(c *ctx) (bool, error)
	// vjp emits the gradients of the inputs given those of the outputs (dy[i] is ""
	// when output i has none); it returns "" for inputs without a gradient. nil when
	// the operator has no gradient: it may then only compute what does not depend on
	// the differentiated input.
	vjp func(b *builder, c *ctx, dy []string) ([]string, error)
	// ints lists inputs that hold integer parameters (axes, shapes, pads), so no
	// gradient flows through them.
	paramInputs []int
	// minIn inputs are required (present and not omitted); maxIn bounds the inputs
	// (0: any number, all required).
	minIn, maxIn int
}

// arities gives, per operator, how many inputs it takes: the required ones, and at
// most (0: any number, all required). A package variable, so it is set before the
// init functions register the operators.
var arities = map[string][2]int{
	"Relu": {1, 1}, "LeakyRelu": {1, 1}, "Elu": {1, 1}, "Sigmoid": {1, 1}, "Tanh": {1, 1}, "Exp": {1, 1},
	"Log": {1, 1}, "Sqrt": {1, 1}, "Neg": {1, 1}, "Abs": {1, 1}, "Sign": {1, 1}, "Softplus": {1, 1},
	"Erf": {1, 1}, "Reciprocal": {1, 1}, "HardSigmoid": {1, 1}, "HardSwish": {1, 1},
	"Identity": {1, 1}, "Dropout": {1, 3}, "Cast": {1, 1}, "Not": {1, 1},
	"Add": {2, 2}, "Sub": {2, 2}, "Mul": {2, 2}, "Div": {2, 2}, "Pow": {2, 2}, "Mod": {2, 2},
	"Equal": {2, 2}, "Greater": {2, 2}, "Less": {2, 2}, "GreaterOrEqual": {2, 2}, "LessOrEqual": {2, 2},
	"And": {2, 2}, "Or": {2, 2}, "Where": {3, 3}, "Sum": {1, 0}, "PRelu": {2, 2}, "Clip": {1, 3},
	"Constant": {0, 0}, "Shape": {1, 1}, "Size": {1, 1}, "ConstantOfShape": {1, 1}, "Range": {3, 3},
	"Gather": {2, 2}, "Unsqueeze": {1, 2}, "Squeeze": {1, 2}, "Flatten": {1, 1}, "Reshape": {2, 2},
	"Transpose": {1, 1}, "Concat": {1, 0}, "Split": {1, 2}, "Slice": {3, 5}, "Pad": {2, 4},
	"Expand": {2, 2}, "ScatterElements": {3, 3},
	"Conv": {2, 3}, "ConvTranspose": {2, 3}, "MaxPool": {1, 1}, "AveragePool": {1, 1},
	"GlobalAveragePool": {1, 1}, "ReduceSum": {1, 2}, "ReduceMean": {1, 1}, "ReduceMax": {1, 1},
	"ArgMax": {1, 1}, "Softmax": {1, 1}, "LogSoftmax": {1, 1}, "Gemm": {2, 3}, "MatMul": {2, 2},
	"BatchNormalization": {5, 5},
}

// checkArity reports a node with too few or too many inputs.
func (d *opDef) checkArity(c *ctx) error {
	n := len(c.n.in)
	switch {
	case d.maxIn > 0 && n > d.maxIn:
		return c.errorf("has %d inputs; it takes at most %d", n, d.maxIn)
	case d.maxIn == 0 && d.minIn > 0 && n < d.minIn:
		return c.errorf("has no inputs")
	}
	required := d.minIn
	if d.maxIn == 0 {
		required = n
	}
	for i := range required {
		if c.input(i) == nil {
			return c.errorf("input %d is missing; it takes %d to %d inputs", i, d.minIn, max(d.maxIn, d.minIn))
		}
	}
	return nil
}

var ops = map[string]*opDef{}

// Supported returns the operators the differentiator accepts, sorted; Differentiable
// reports whether an operator also has a gradient (the others are accepted only where
// they compute shapes or constants, which are folded).
func Supported() []string {
	var names []string
	for name := range ops {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Differentiable reports whether the operator has a gradient rule.
func Differentiable(op string) bool {
	d, ok := ops[op]
	return ok && d.vjp != nil
}

func register(name string, d *opDef) {
	if _, dup := ops[name]; dup {
		panic("grad: operator registered twice: " + name)
	}
	a, ok := arities[name]
	if !ok {
		panic("grad: no arity for " + name)
	}
	d.minIn, d.maxIn = a[0], a[1]
	ops[name] = d
}

// sameAs is an infer for operators whose single output has the type and shape of
// their first input.
func sameAs(c *ctx) error {
	x := c.in[0]
	c.set(0, x.typ, x.shape)
	return nil
}

func needFloat(c *ctx, idx ...int) error {
	for _, i := range idx {
		if v := c.input(i); v != nil && !isFloat(v.typ) {
			return c.errorf("input %q has element type %s; this operator is supported on floats only", v.name, typeName(v.typ))
		}
	}
	return nil
}

func needRank(c *ctx, i int, ranks ...int) error {
	v := c.input(i)
	if v == nil {
		return c.errorf("input %d is missing", i)
	}
	if !slices.Contains(ranks, len(v.shape)) {
		return c.errorf("input %q has shape %v; rank %v supported", v.name, v.shape, ranks)
	}
	return nil
}
