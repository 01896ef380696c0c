package grad

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// builder writes the output graph. Every node, whether copied from the model or
// written for a gradient, goes through apply, which folds it when its inputs are known
// at build time (constant, or shape arithmetic on the symbolic batch) and otherwise
// infers its outputs' types and shapes and emits it. Constants become initializers
// only when an emitted node reads them, so folded chains leave nothing behind.
type builder struct {
	opset int
	vals  map[string]*value
	// origin holds, for values known only up to symbols (sym), the node that
	// computed them, so the chain can be emitted when a run-time operator needs the
	// actual tensor.
	origin   map[string]*node
	emitted  map[string]bool // values the output graph defines
	nodes    []*onnxpb.NodeProto
	inits    []*onnxpb.TensorProto
	used     map[string]bool // every name of the model and of the output graph
	counter  int
	consts   map[string]string // cache of small constants written for gradients
	active   map[string]bool   // values that depend on the differentiated input
	err      error
	nodeName string // the node whose gradient is being written, for error messages
	tag      string // its name, for the names of the nodes written for it
}

func newBuilder(opset int, used map[string]bool) *builder {
	return &builder{
		opset:   opset,
		vals:    map[string]*value{},
		origin:  map[string]*node{},
		emitted: map[string]bool{},
		used:    used,
		consts:  map[string]string{},
		active:  map[string]bool{},
	}
}

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// fresh returns an unused value name built from prefix.
func (b *builder) fresh(prefix string) string {
	for {
		b.counter++
		name := fmt.Sprintf("grad/%s_%d", prefix, b.counter)
		if !b.used[name] {
			b.used[name] = true
			return name
		}
	}
}

// Attribute constructors.
func ai(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func aints(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

func aint2(name string, v [2]int64) *onnxpb.AttributeProto { return aints(name, v[0], v[1]) }

func apads(pb, pe [2]int64) *onnxpb.AttributeProto { return aints("pads", pb[0], pb[1], pe[0], pe[1]) }

func atensor(name string, t *Tensor) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_TENSOR, T: encodeTensor("", t)}
}

// apply runs one node: folds it or emits it. outs names its outputs.
func (b *builder) apply(n *node) ([]*value, error) {
	def, ok := ops[n.op]
	if !ok || (n.domain != "" && n.domain != "ai.onnx") {
		return nil, &UnsupportedError{Ops: []UnsupportedOp{{Op: n.op, Domain: n.domain, Node: n.name}}}
	}
	c := &ctx{n: n, opset: b.opset}
	allConst := true
	for _, name := range n.in {
		if name == "" {
			c.in = append(c.in, nil)
			continue
		}
		v, ok := b.vals[name]
		if !ok {
			return nil, fmt.Errorf("%v reads %q, which no earlier node or input defines", n, name)
		}
		c.in = append(c.in, v)
		allConst = allConst && v.k != nil
	}
	if err := def.checkArity(c); err != nil {
		return nil, err
	}
	// Shape inference validates the node before anything computes with it.
	if err := def.infer(c); err != nil {
		return nil, err
	}
	folded := false
	if def.eval != nil && allConst {
		if err := def.eval(c); err != nil {
			return nil, err
		}
		folded = true
	} else if def.sym != nil {
		ok, err := def.sym(c)
		if err != nil {
			return nil, err
		}
		if folded = ok; !ok {
			c.out = nil
			if err := def.infer(c); err != nil {
				return nil, err
			}
		}
	}
	if len(c.out) < len(n.out) {
		return nil, fmt.Errorf("%v has %d outputs; %d supported", n, len(n.out), len(c.out))
	}
	for i, name := range n.out {
		if name == "" {
			continue
		}
		v := c.out[i]
		v.name = name
		b.vals[name] = v
		if v.sym != nil {
			b.origin[name] = n
		}
	}
	if !folded {
		b.emit(n, c)
	}
	return c.out[:len(n.out)], nil
}

// emit writes a node that runs in the output graph, after making its inputs available.
func (b *builder) emit(n *node, c *ctx) {
	p := &onnxpb.NodeProto{OpType: n.op, Name: n.name, Domain: n.domain, Output: n.out}
	for _, a := range n.attr {
		p.Attribute = append(p.Attribute, a)
	}
	slices.SortFunc(p.Attribute, func(x, y *onnxpb.AttributeProto) int { return strings.Compare(x.Name, y.Name) })
	for i, name := range n.in {
		if name == "" {
			p.Input = append(p.Input, "")
			continue
		}
		if n.op == "Reshape" && i == 1 && b.vals[name].sym != nil {
			if enc, ok := encodeShape(b.vals[name].sym, c.in[0].shape, n.i("allowzero", 0) != 0); ok {
				p.Input = append(p.Input, b.materialize(b.intsConst(enc...)))
				continue
			}
		}
		p.Input = append(p.Input, b.materialize(name))
	}
	for _, o := range n.out {
		b.emitted[o] = true
	}
	b.nodes = append(b.nodes, p)
}

// materialize makes a value available in the output graph and returns its name:
// constants become initializers, symbolic values re-run the chain that computed them.
func (b *builder) materialize(name string) string {
	if b.emitted[name] {
		return name
	}
	v := b.vals[name]
	switch {
	case v.k != nil:
		b.inits = append(b.inits, encodeTensor(name, v.k))
		b.emitted[name] = true
	case v.sym != nil:
		n := b.origin[name]
		c := &ctx{n: n, opset: b.opset}
		for _, in := range n.in {
			c.in = append(c.in, b.vals[in])
		}
		b.emit(n, c)
	default:
		b.fail(fmt.Errorf("grad: internal error: value %q is used before it is defined", name))
	}
	return name
}

// encodeShape writes a Reshape target known up to symbols as constants: a symbolic
// dimension equal to the input's at the same position becomes 0 (copy), one other
// becomes -1 (infer).
func encodeShape(t []dim, in shape, allowZero bool) ([]int64, bool) {
	out := make([]int64, len(t))
	inferred := false
	for i, d := range t {
		switch {
		case d.static():
			if d.n == 0 && !allowZero {
				return nil, false
			}
			out[i] = d.n
		case !allowZero && i < len(in) && in[i] == d:
			out[i] = 0
		case !inferred:
			out[i], inferred = -1, true
		default:
			return nil, false
		}
	}
	return out, true
}

// op writes an operator for a gradient and returns its (single) output. Arguments
// are input names (strings) and attributes.
func (b *builder) op(op string, args ...any) string {
	return b.opN(op, 1, args...)[0]
}

func (b *builder) opN(op string, nout int, args ...any) []string {
	outs := make([]string, nout)
	if b.err != nil {
		for i := range outs {
			outs[i] = "grad/error"
		}
		return outs
	}
	n := &node{op: op, attr: map[string]*onnxpb.AttributeProto{}}
	for _, a := range args {
		switch a := a.(type) {
		case string:
			n.in = append(n.in, a)
		case *onnxpb.AttributeProto:
			n.attr[a.Name] = a
		default:
			panic(fmt.Sprintf("grad: bad argument %T to op", a))
		}
	}
	for i := range outs {
		outs[i] = b.fresh(strings.ToLower(op))
	}
	n.out = outs
	n.name = b.fresh(strings.TrimPrefix(b.tag, "/") + "/" + op)
	if _, err := b.apply(n); err != nil {
		b.fail(fmt.Errorf("writing the gradient of %s: %w", b.nodeName, err))
	}
	return outs
}

// constant registers a constant value for a gradient and returns its name.
func (b *builder) constant(t *Tensor) string {
	name := b.fresh("const")
	b.vals[name] = constValue(name, t)
	return name
}

// constF is a float constant of type typ.
func (b *builder) constF(typ int32, s []int, data []float64) string {
	return b.constant(floatTensor(typ, s, data).round())
}

// intsConst is a 1-D int64 constant, shared between uses.
func (b *builder) intsConst(v ...int64) string {
	key := fmt.Sprint("i", v)
	if name, ok := b.consts[key]; ok {
		return name
	}
	name := b.constant(intTensor([]int{len(v)}, slices.Clone(v)))
	b.consts[key] = name
	return name
}

func (b *builder) ints(v ...int64) string { return b.intsConst(v...) }

// typeOf returns a value's element type (float when unknown, after an error).
func (b *builder) typeOf(name string) int32 {
	if v, ok := b.vals[name]; ok {
		return v.typ
	}
	return tFloat
}

func (b *builder) shapeOf(name string) shape {
	if v, ok := b.vals[name]; ok {
		return v.shape
	}
	return nil
}

// scalarLike is a rank-0 constant of the element type of ref.
func (b *builder) scalarLike(ref string, v float64) string {
	typ := b.typeOf(ref)
	key := fmt.Sprintf("s%d_%x", typ, math.Float64bits(v))
	if name, ok := b.consts[key]; ok {
		return name
	}
	name := b.constF(typ, nil, []float64{v})
	b.consts[key] = name
	return name
}

func (b *builder) zeroLike(ref string) string { return b.scalarLike(ref, 0) }

// zerosOf is a tensor of zeros of ref's type and shape (known only when the graph
// runs, for a symbolic batch).
func (b *builder) zerosOf(ref string) string {
	s := b.shapeOf(ref)
	if s.static() {
		return b.constant(newTensor(b.typeOf(ref), s.ints()))
	}
	return b.op("ConstantOfShape", b.op("Shape", ref), atensor("value", newTensor(b.typeOf(ref), []int{1})))
}

func (b *builder) add(x, y string) string { return b.op("Add", x, y) }
func (b *builder) sub(x, y string) string { return b.op("Sub", x, y) }
func (b *builder) mul(x, y string) string { return b.op("Mul", x, y) }
func (b *builder) div(x, y string) string { return b.op("Div", x, y) }
func (b *builder) scale(x string, s float64) string {
	return b.mul(x, b.scalarLike(x, s))
}
func (b *builder) where(cond, x, y string) string { return b.op("Where", cond, x, y) }

// reduceSum sums x over axes, with the axes as an attribute before opset 13 and as
// an input from 13.
func (b *builder) reduceSum(x string, axes []int, keep bool) string {
	ax := make([]int64, len(axes))
	for i, a := range axes {
		ax[i] = int64(a)
	}
	k := int64(0)
	if keep {
		k = 1
	}
	if b.opset >= 13 {
		return b.op("ReduceSum", x, b.ints(ax...), ai("keepdims", k))
	}
	return b.op("ReduceSum", x, aints("axes", ax...), ai("keepdims", k))
}

// reshape reshapes x to a shape known up to the batch symbol.
func (b *builder) reshape(x string, to shape) string {
	if b.err != nil {
		return "grad/error"
	}
	from := b.shapeOf(x)
	if from.equal(to) {
		return x
	}
	enc, ok := encodeShape(to, from, false)
	if !ok {
		b.fail(fmt.Errorf("writing the gradient of %s: cannot express the reshape of %v to %v with constants", b.nodeName, from, to))
		return "grad/error"
	}
	return b.op("Reshape", x, b.ints(enc...))
}

// unbroadcast sums a gradient g over the axes along which a tensor of shape to was
// broadcast, and gives it that shape.
func (b *builder) unbroadcast(g string, to shape) string {
	if b.err != nil {
		return "grad/error"
	}
	from := b.shapeOf(g)
	if from.equal(to) {
		return g
	}
	off := len(from) - len(to)
	var axes []int
	for i, d := range from {
		if i < off || (to[i-off] == fixed(1) && d != fixed(1)) {
			axes = append(axes, i)
		}
	}
	if len(axes) > 0 {
		g = b.reduceSum(g, axes, true)
	}
	return b.reshape(g, to)
}

// wants reports whether input i of the node needs a gradient.
func (b *builder) wants(c *ctx, i int) bool {
	v := c.input(i)
	return v != nil && b.active[v.name] && isFloat(v.typ)
}

// unbroadcastIf is unbroadcast of dy to input i's shape when input i wants a
// gradient, else "".
func (b *builder) unbroadcastIf(c *ctx, i int, dy string) string {
	if !b.wants(c, i) {
		return ""
	}
	return b.unbroadcast(dy, c.in[i].shape)
}

// pad pads x with zeros by pads (begins then ends; negative values crop), as a Slice
// for the crops and a Pad for the rest, so no negative pads reach the runtime.
func (b *builder) pad(x string, pads []int64) string { return b.padFill(x, pads, 0) }

// padFill is pad with the value fill.
func (b *builder) padFill(x string, pads []int64, fill float64) string {
	s := b.shapeOf(x)
	r := len(s)
	var starts, ends, axes []int64
	grow := make([]int64, 2*r)
	anyGrow := false
	for a := range r {
		pb, pe := pads[a], pads[r+a]
		if pb < 0 || pe < 0 {
			if !s[a].static() {
				b.fail(fmt.Errorf("writing the gradient of %s: cropping the symbolic axis %d", b.nodeName, a))
				return "grad/error"
			}
			starts = append(starts, max(0, -pb))
			ends = append(ends, s[a].n-max(0, -pe))
			axes = append(axes, int64(a))
		}
		grow[a], grow[r+a] = max(0, pb), max(0, pe)
		anyGrow = anyGrow || pb > 0 || pe > 0
	}
	if len(axes) > 0 {
		x = b.op("Slice", x, b.ints(starts...), b.ints(ends...), b.ints(axes...))
	}
	if anyGrow {
		if fill == 0 {
			x = b.op("Pad", x, b.ints(grow...))
		} else {
			x = b.op("Pad", x, b.ints(grow...), b.scalarLike(x, fill))
		}
	}
	return x
}

// valueInfo describes a value of the output graph, with symbolic dimensions named
// by their symbol.
func valueInfo(name string, typ int32, s shape) *onnxpb.ValueInfoProto {
	ts := &onnxpb.TensorShapeProto{}
	for _, d := range s {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch {
		case d.static():
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.n}
		case d.n == 1:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.sym}
		}
		ts.Dim = append(ts.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{
		Name: name,
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: typ, Shape: ts},
		}},
	}
}

func aflt(name string, v float64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: float32(v)}
}
