package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// Dim is one dimension of a graph input or output: a fixed size, or a symbolic name
// (such as "batch") that the runtime binds when the model runs.
type Dim struct {
	Size  int64  // the size when Param is empty; -1 when unknown
	Param string // symbolic name, or empty
}

// Fixed is a dimension of fixed size n.
func Fixed(n int) Dim { return Dim{Size: int64(n)} }

// Sym is a symbolic dimension.
func Sym(name string) Dim { return Dim{Param: name} }

// Shape returns a shape made of a leading symbolic dimension (when sym is not empty)
// followed by fixed sizes: Shape("batch", 1, 28, 28).
func Shape(sym string, sizes ...int) []Dim {
	var s []Dim
	if sym != "" {
		s = append(s, Sym(sym))
	}
	for _, n := range sizes {
		s = append(s, Fixed(n))
	}
	return s
}

func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Size < 0:
		return "?"
	}
	return fmt.Sprint(d.Size)
}

// DataType is the element type of a tensor (the values of TensorProto.DataType).
type DataType int32

// The element types eabs writes.
const (
	Float DataType = DataType(onnxpb.TensorProto_FLOAT)
	Int64 DataType = DataType(onnxpb.TensorProto_INT64)
)

func (t DataType) String() string {
	if name, ok := onnxpb.TensorProto_DataType_name[int32(t)]; ok {
		return strings.ToLower(name)
	}
	return fmt.Sprintf("type(%d)", int32(t))
}

// Attr is a node attribute. Make one with IntAttr, IntsAttr, FloatAttr or StringAttr.
type Attr struct{ p *onnxpb.AttributeProto }

// IntAttr is an integer attribute.
func IntAttr(name string, v int) Attr {
	return Attr{&onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: int64(v)}}
}

// IntsAttr is an integer-list attribute.
func IntsAttr(name string, v ...int) Attr {
	a := &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: make([]int64, len(v))}
	for i, x := range v {
		a.Ints[i] = int64(x)
	}
	return Attr{a}
}

// FloatAttr is a float attribute (stored as float32, as ONNX does).
func FloatAttr(name string, v float64) Attr {
	return Attr{&onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: float32(v)}}
}

// StringAttr is a string attribute.
func StringAttr(name, v string) Attr {
	return Attr{&onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}}
}

// Graph builds an ONNX graph. Values are named by strings: graph inputs, initializers
// and node outputs. Node output names are generated ("conv_3") and unique; a node may
// only read values defined before it, so the node list is always topologically sorted.
//
// Misuse (a duplicate name, an undefined input, a shape that does not match its data)
// does not panic: the first such error is recorded and returned by Err and by
// Model.Marshal, and later calls still return usable names.
type Graph struct {
	name    string
	doc     string
	nodes   []*onnxpb.NodeProto
	inits   []*onnxpb.TensorProto
	inputs  []*onnxpb.ValueInfoProto
	outputs []*onnxpb.ValueInfoProto
	defined map[string]bool   // every value name
	produce map[string]int    // node index producing each node output
	alias   map[string]string // renamed node outputs: old name -> output name
	consts  map[string]string // scalar constant key -> initializer name
	counter map[string]int    // per-prefix counters for generated names
	err     error
}

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{
		name:    name,
		defined: map[string]bool{},
		produce: map[string]int{},
		alias:   map[string]string{},
		consts:  map[string]string{},
		counter: map[string]int{},
	}
}

// Name is the graph's name.
func (g *Graph) Name() string { return g.name }

// SetDoc sets the graph's documentation string.
func (g *Graph) SetDoc(doc string) { g.doc = doc }

// Err returns the first misuse recorded, or nil.
func (g *Graph) Err() error { return g.err }

func (g *Graph) fail(format string, args ...any) {
	if g.err == nil {
		g.err = fmt.Errorf("onnx: graph %q: "+format, append([]any{g.name}, args...)...)
	}
}

// define records a new value name.
func (g *Graph) define(name string) {
	switch {
	case name == "":
		g.fail("empty value name")
	case g.defined[name]:
		g.fail("value %q defined twice", name)
	}
	g.defined[name] = true
}

// fresh returns an unused name starting with prefix.
func (g *Graph) fresh(prefix string) string {
	for {
		g.counter[prefix]++
		name := fmt.Sprintf("%s_%d", prefix, g.counter[prefix])
		if !g.defined[name] {
			return name
		}
	}
}

func (g *Graph) resolve(name string) string {
	if n, ok := g.alias[name]; ok {
		return n
	}
	return name
}

func valueInfo(name string, t DataType, shape []Dim) *onnxpb.ValueInfoProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range shape {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch {
		case d.Param != "":
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
		case d.Size >= 0:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Size}
		}
		s.Dim = append(s.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{
		Name: name,
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(t), Shape: s},
		}},
	}
}

// Input declares a float32 graph input and returns its name.
func (g *Graph) Input(name string, shape ...Dim) string {
	g.define(name)
	g.inputs = append(g.inputs, valueInfo(name, Float, shape))
	return name
}

// Output declares the value as a float32 graph output called name. When value is a
// node output it is renamed (later references to the old name follow the rename);
// otherwise an Identity node copies it.
func (g *Graph) Output(name, value string, shape ...Dim) {
	value = g.resolve(value)
	switch i, ok := g.produce[value]; {
	case !g.defined[value]:
		g.fail("output %q: undefined value %q", name, value)
	case name == value:
	case ok && !g.isOutput(value):
		g.define(name)
		delete(g.defined, value)
		delete(g.produce, value)
		g.produce[name] = i
		for _, n := range g.nodes {
			for j := range n.Output {
				if n.Output[j] == value {
					n.Output[j] = name
				}
			}
			for j := range n.Input {
				if n.Input[j] == value {
					n.Input[j] = name
				}
			}
		}
		for old, v := range g.alias {
			if v == value {
				g.alias[old] = name
			}
		}
		g.alias[value] = name
	default:
		g.define(name)
		g.produce[name] = len(g.nodes)
		g.nodes = append(g.nodes, &onnxpb.NodeProto{
			OpType: "Identity", Name: g.fresh("node"), Input: []string{value}, Output: []string{name},
		})
	}
	g.outputs = append(g.outputs, valueInfo(name, Float, shape))
}

func (g *Graph) isOutput(name string) bool {
	for _, o := range g.outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

func (g *Graph) addInit(name string, shape []int, t DataType, raw []byte, n int) string {
	size := 1
	for _, d := range shape {
		if d < 0 {
			g.fail("initializer %q: negative dimension in %v", name, shape)
		}
		size *= d
	}
	if size != n {
		g.fail("initializer %q: shape %v holds %d values, have %d", name, shape, size, n)
	}
	g.define(name)
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	g.inits = append(g.inits, &onnxpb.TensorProto{Name: name, Dims: dims, DataType: int32(t), RawData: raw})
	return name
}

// Initializer adds a float32 constant tensor and returns its name. The data is copied.
func (g *Graph) Initializer(name string, shape []int, data []float32) string {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return g.addInit(name, shape, Float, raw, len(data))
}

// InitializerInt64 adds an int64 constant tensor (shapes, axes) and returns its name.
func (g *Graph) InitializerInt64(name string, shape []int, data []int64) string {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return g.addInit(name, shape, Int64, raw, len(data))
}

// Scalar returns the name of a float32 scalar constant with value v, adding it the
// first time a value is asked for.
func (g *Graph) Scalar(v float64) string {
	key := fmt.Sprintf("f%x", math.Float32bits(float32(v)))
	if name, ok := g.consts[key]; ok {
		return name
	}
	name := g.Initializer(g.fresh("const"), nil, []float32{float32(v)})
	g.consts[key] = name
	return name
}

// Ints returns the name of a 1-D int64 constant holding v (for Reshape shapes, axes,
// Slice bounds), shared between uses of the same list.
func (g *Graph) Ints(v ...int64) string {
	key := fmt.Sprint("i", v)
	if name, ok := g.consts[key]; ok {
		return name
	}
	name := g.InitializerInt64(g.fresh("ints"), []int{len(v)}, v)
	g.consts[key] = name
	return name
}

// Node appends a node of type op reading inputs (an empty string is an omitted
// optional input) and returns the generated names of its nOut outputs.
func (g *Graph) Node(op string, inputs []string, nOut int, attrs ...Attr) []string {
	n := &onnxpb.NodeProto{OpType: op, Name: g.fresh("node")}
	for _, in := range inputs {
		in = g.resolve(in)
		if in != "" && !g.defined[in] {
			g.fail("%s node: undefined input %q", op, in)
		}
		n.Input = append(n.Input, in)
	}
	for _, a := range attrs {
		n.Attribute = append(n.Attribute, a.p)
	}
	prefix := strings.ToLower(op)
	for i := 0; i < nOut; i++ {
		name := g.fresh(prefix)
		g.define(name)
		g.produce[name] = len(g.nodes)
		n.Output = append(n.Output, name)
	}
	g.nodes = append(g.nodes, n)
	return append([]string(nil), n.Output...)
}

// Op is Node for the common single-output case.
func (g *Graph) Op(op string, inputs []string, attrs ...Attr) string {
	return g.Node(op, inputs, 1, attrs...)[0]
}

func (g *Graph) proto() (*onnxpb.GraphProto, error) {
	if g.err != nil {
		return nil, g.err
	}
	if len(g.outputs) == 0 {
		return nil, fmt.Errorf("onnx: graph %q has no outputs", g.name)
	}
	return &onnxpb.GraphProto{
		Name:        g.name,
		DocString:   g.doc,
		Node:        g.nodes,
		Initializer: g.inits,
		Input:       g.inputs,
		Output:      g.outputs,
	}, nil
}
