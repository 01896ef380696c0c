// Package adapt turns a plain ONNX image classifier, exported by PyTorch, TensorFlow or
// any other tool, into the one form every eabs engine, attack and certificate takes:
// one float32 input of images (N, C, H, W) with pixels in [0,1], and one output (N, K)
// of scores whose argmax is the prediction and whose differences attacks use as logits.
//
// What a user says about the model (Options, named like Foolbox's PyTorchModel
// arguments where those have names) is written into the graph rather than applied
// around it, so that ONNX Runtime, onnx-go, the float64 evaluator of onnx/grad and the
// gradient graphs onnx/grad builds all run the same model, and input gradients are
// with respect to the [0,1] pixels an attack moves:
//
//   - the model's input range (Bounds, Foolbox's bounds) and its preprocessing
//     (x - Mean)/Std per channel (Foolbox's preprocessing), as one Mul and one Add on
//     [1,C,1,1] constants;
//   - a Transpose to the model's layout for an NHWC model (TensorFlow's
//     channels_last);
//   - for an output of probabilities, their logarithm: a LogSoftmax in place of the
//     Softmax that computed them (exact where a probability underflows to 0 in
//     float32, and differentiable from the logits), else a Log. Log-probabilities are
//     logits up to a per-image constant, which no prediction or logit difference sees,
//     so the attacks that need logits (PGD's and CW's margins, DLR) get log p.
//
// Other outputs are dropped. A model the options do not change is returned byte for
// byte.
package adapt

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// Layout is the axis order of a model's image input.
type Layout string

const (
	NCHW Layout = "NCHW" // channels first (PyTorch)
	NHWC Layout = "NHWC" // channels last (TensorFlow, Keras)
)

// ParseLayout reads a layout name in any case.
func ParseLayout(s string) (Layout, error) {
	switch l := Layout(strings.ToUpper(strings.TrimSpace(s))); l {
	case NCHW, NHWC:
		return l, nil
	case "":
		return "", nil
	}
	return "", fmt.Errorf("layout %q: want NCHW or NHWC", s)
}

// Options say how a model takes images and what its output holds.
type Options struct {
	// Layout is the input's axis order; "" reads it from the input's shape (the one
	// axis of size 1, 3 or 4 beside two larger ones, first or last).
	Layout Layout
	// Bounds is the model's input range {lo, hi}: pixels in [0,1] become
	// lo + (hi-lo)*x before the preprocessing. nil means [0,1].
	Bounds []float64
	// Mean and Std are the model's preprocessing, (x - Mean)/Std on the bounded pixels,
	// one value per channel or one for every channel; nil means none (0 and 1).
	Mean, Std []float64
	// Output names the output holding the scores; "" means the model's only output.
	Output string
	// Kind is what the output holds: grad.Logits ("" too), grad.Probabilities or
	// grad.LogProbabilities.
	Kind grad.OutputKind
}

// Check validates the options alone (Adapt also checks them against the model): a
// known layout and kind, increasing finite bounds, finite means and positive finite
// standard deviations.
func (o Options) Check() error {
	if _, err := ParseLayout(string(o.Layout)); err != nil {
		return fmt.Errorf("adapt: %w", err)
	}
	switch o.Kind {
	case "", grad.Logits, grad.Probabilities, grad.LogProbabilities:
	default:
		return fmt.Errorf("adapt: output kind %q: want %s, %s or %s", o.Kind, grad.Logits, grad.Probabilities, grad.LogProbabilities)
	}
	if o.Bounds != nil {
		if len(o.Bounds) != 2 {
			return fmt.Errorf("adapt: bounds %v: want two numbers, lo and hi", o.Bounds)
		}
		lo, hi := o.Bounds[0], o.Bounds[1]
		if !finite(lo) || !finite(hi) || !(lo < hi) {
			return fmt.Errorf("adapt: bounds [%g, %g]: want finite numbers lo < hi", lo, hi)
		}
	}
	for _, v := range o.Mean {
		if !finite(v) {
			return fmt.Errorf("adapt: mean %v: every value must be a finite number", o.Mean)
		}
	}
	for _, v := range o.Std {
		if !finite(v) || !(v > 0) {
			return fmt.Errorf("adapt: std %v: every value must be a finite number > 0", o.Std)
		}
	}
	if o.Mean != nil && len(o.Mean) == 0 || o.Std != nil && len(o.Std) == 0 {
		return fmt.Errorf("adapt: an empty mean or std")
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// IsZero says whether the options are all defaults: nothing to say about the model.
func (o Options) IsZero() bool {
	return o.Layout == "" && o.Bounds == nil && o.Mean == nil && o.Std == nil && o.Output == "" && (o.Kind == "" || o.Kind == grad.Logits)
}

// String describes the options that are set, for the configuration a result records:
// "layout NHWC, bounds [0,255], mean [0.5], std [0.25], output "prob" (probabilities:
// log taken)"; "" for defaults.
func (o Options) String() string {
	var parts []string
	if o.Layout != "" {
		parts = append(parts, "layout "+string(o.Layout))
	}
	for _, f := range []struct {
		name string
		v    []float64
	}{{"bounds", o.Bounds}, {"mean", o.Mean}, {"std", o.Std}} {
		if f.v != nil {
			parts = append(parts, f.name+" "+list(f.v))
		}
	}
	if o.Output != "" {
		parts = append(parts, "output "+strconv.Quote(o.Output))
	}
	switch o.Kind {
	case grad.Probabilities:
		parts = append(parts, "probabilities (log taken)")
	case grad.LogProbabilities:
		parts = append(parts, "log-probabilities")
	}
	return strings.Join(parts, ", ")
}

func list(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// Model is an adapted classifier.
type Model struct {
	// ONNX is the adapted model (the bytes given, when Changed is false).
	ONNX    []byte
	Changed bool
	// Input and Output name the image input and the scores output of ONNX.
	Input, Output string
	// C, H, W is the image shape the adapted model takes (in NCHW order).
	C, H, W int
	// Batch is the model's fixed batch size, 0 when the batch is symbolic.
	Batch int
	// Classes is the number of scores, 0 when the output leaves it symbolic.
	Classes int
	// Layout is the original input's layout, as given or read from its shape.
	Layout Layout
	// Kind is what the original output holds; the adapted output holds logits or
	// log-probabilities.
	Kind grad.OutputKind
	// InputShape is the original input's shape, as ONNX declares it ("?" for a
	// symbolic dimension).
	InputShape string
}

// Pixels is C*H*W.
func (m *Model) Pixels() int { return m.C * m.H * m.W }

// File is Adapt on the model stored at path.
func File(path string, o Options) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("adapt: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("adapt: %s: is empty, not an ONNX model", path)
	}
	m, err := Adapt(b, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Adapt checks that model is an image classifier the options describe and returns it
// in eabs's form (see the package documentation). Errors name what does not fit: an
// input that is not one float32 image batch, a layout the input's shape contradicts,
// a mean or std of another channel count, an output that is missing or not 2-D.
func Adapt(model []byte, o Options) (*Model, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if _, err := onnx.Decode(model); err != nil {
		return nil, fmt.Errorf("adapt: %w", err)
	}
	var p onnxpb.ModelProto
	if err := proto.Unmarshal(model, &p); err != nil {
		return nil, fmt.Errorf("adapt: %w", err)
	}
	g := p.Graph
	m := &Model{Kind: o.Kind}
	if m.Kind == "" {
		m.Kind = grad.Logits
	}
	in, err := imageInput(g, o, m)
	if err != nil {
		return nil, err
	}
	out, err := scoresOutput(g, o, m)
	if err != nil {
		return nil, err
	}
	a := &adapter{p: &p, used: usedNames(g)}
	a.input(in, o, m)
	a.output(out, m)
	if !a.changed {
		m.ONNX = model
		return m, nil
	}
	m.Changed = true
	p.MetadataProps = append(slices.DeleteFunc(p.MetadataProps, func(e *onnxpb.StringStringEntryProto) bool { return e.Key == MetaOptions }),
		&onnxpb.StringStringEntryProto{Key: MetaOptions, Value: describe(o, m)})
	if m.ONNX, err = (proto.MarshalOptions{Deterministic: true}).Marshal(&p); err != nil {
		return nil, fmt.Errorf("adapt: marshal: %w", err)
	}
	return m, nil
}

// MetaOptions is the metadata key under which an adapted model records what was
// added to it.
const MetaOptions = "eabs.adapt"

func describe(o Options, m *Model) string {
	s := fmt.Sprintf("input %s %s (layout %s), output %q (%s)", m.Input, m.InputShape, m.Layout, m.Output, m.Kind)
	if t := o.String(); t != "" {
		s += "; options: " + t
	}
	return s
}

// dims returns a value's declared shape: sizes, -1 for a symbolic or unknown one; nil
// when no shape is declared.
func dims(v *onnxpb.ValueInfoProto) []int64 {
	tt := v.GetType().GetTensorType()
	if tt == nil || tt.Shape == nil {
		return nil
	}
	d := make([]int64, len(tt.Shape.Dim))
	for i, x := range tt.Shape.Dim {
		d[i] = -1
		if v, ok := x.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue > 0 {
			d[i] = v.DimValue
		}
	}
	return d
}

func shapeString(d []int64) string {
	s := make([]string, len(d))
	for i, x := range d {
		s[i] = "?"
		if x > 0 {
			s[i] = strconv.FormatInt(x, 10)
		}
	}
	return "[" + strings.Join(s, ",") + "]"
}

func elemType(v *onnxpb.ValueInfoProto) string {
	t := v.GetType().GetTensorType().GetElemType()
	return strings.ToLower(onnxpb.TensorProto_DataType(t).String())
}

// imageInput finds the one input that is not an initializer, checks that it is a
// float32 batch of images with a fixed image shape, and resolves the layout.
func imageInput(g *onnxpb.GraphProto, o Options, m *Model) (*onnxpb.ValueInfoProto, error) {
	inits := map[string]bool{}
	for _, t := range g.Initializer {
		inits[t.Name] = true
	}
	var ins []*onnxpb.ValueInfoProto
	var names []string
	for _, v := range g.Input {
		if !inits[v.Name] {
			ins = append(ins, v)
			names = append(names, fmt.Sprintf("%s %s %s", v.Name, elemType(v), shapeString(dims(v))))
		}
	}
	if len(ins) != 1 {
		return nil, fmt.Errorf("adapt: the model has %d inputs (%s); an image classifier has one", len(ins), strings.Join(names, ", "))
	}
	in := ins[0]
	m.Input = in.Name
	d := dims(in)
	m.InputShape = shapeString(d)
	if t := in.GetType().GetTensorType().GetElemType(); t != int32(onnxpb.TensorProto_FLOAT) {
		return nil, fmt.Errorf("adapt: input %q has element type %s; eabs feeds float32 images", in.Name, elemType(in))
	}
	if len(d) != 4 {
		return nil, fmt.Errorf("adapt: input %q has shape %s; an image input has 4 axes, (N,C,H,W) or (N,H,W,C)", in.Name, m.InputShape)
	}
	if slices.Contains(d[1:], -1) {
		return nil, fmt.Errorf("adapt: input %q has shape %s; the image size must be fixed in the model (re-export it with a fixed height, width and channel count)", in.Name, m.InputShape)
	}
	m.Batch = max(int(d[0]), 0)
	// The channel axis is the one of at most 4 (gray, RGB, RGBA) beside two larger
	// ones; a shape where both or neither end axis is so small does not say.
	small := func(n int64) bool { return n <= 4 }
	var says Layout
	switch {
	case small(d[1]) && !small(d[3]):
		says = NCHW
	case small(d[3]) && !small(d[1]):
		says = NHWC
	}
	switch {
	case o.Layout == "" && says == "":
		return nil, fmt.Errorf("adapt: input %q has shape %s, which does not say its layout: give it (NCHW or NHWC)", in.Name, m.InputShape)
	case o.Layout != "" && says != "" && o.Layout != says:
		return nil, fmt.Errorf("adapt: layout %s contradicts input %q of shape %s, which is %s", o.Layout, in.Name, m.InputShape, says)
	case o.Layout != "":
		m.Layout = o.Layout
	default:
		m.Layout = says
	}
	if m.Layout == NCHW {
		m.C, m.H, m.W = int(d[1]), int(d[2]), int(d[3])
	} else {
		m.H, m.W, m.C = int(d[1]), int(d[2]), int(d[3])
	}
	for _, f := range []struct {
		name string
		v    []float64
	}{{"mean", o.Mean}, {"std", o.Std}} {
		if len(f.v) > 1 && len(f.v) != m.C {
			return nil, fmt.Errorf("adapt: %s has %d values; the model's images have %d channels (give one value or one per channel)", f.name, len(f.v), m.C)
		}
	}
	return in, nil
}

// scoresOutput finds the output holding the scores and checks that it is a float32
// (batch, classes) tensor.
func scoresOutput(g *onnxpb.GraphProto, o Options, m *Model) (*onnxpb.ValueInfoProto, error) {
	var names []string
	var out *onnxpb.ValueInfoProto
	for _, v := range g.Output {
		names = append(names, fmt.Sprintf("%s %s %s", v.Name, elemType(v), shapeString(dims(v))))
		if v.Name == o.Output {
			out = v
		}
	}
	switch {
	case o.Output == "" && len(g.Output) == 1:
		out = g.Output[0]
	case o.Output == "":
		return nil, fmt.Errorf("adapt: the model has %d outputs (%s): name the one holding the scores", len(g.Output), strings.Join(names, ", "))
	case out == nil:
		return nil, fmt.Errorf("adapt: the model has no output %q (its outputs: %s)", o.Output, strings.Join(names, ", "))
	}
	m.Output = out.Name
	if t := out.GetType().GetTensorType().GetElemType(); t != int32(onnxpb.TensorProto_FLOAT) {
		return nil, fmt.Errorf("adapt: output %q has element type %s; eabs reads float32 scores", out.Name, elemType(out))
	}
	d := dims(out)
	if d != nil && len(d) != 2 {
		return nil, fmt.Errorf("adapt: output %q has shape %s; a classifier's scores are 2-D (batch, classes)", out.Name, shapeString(d))
	}
	if d != nil {
		m.Classes = max(int(d[1]), 0)
		if d[1] == 1 {
			return nil, fmt.Errorf("adapt: output %q has shape %s: one score per image; a classifier has at least 2 classes", out.Name, shapeString(d))
		}
		if d[0] > 0 && m.Batch > 0 && int(d[0]) != m.Batch {
			return nil, fmt.Errorf("adapt: input %q has batch %d and output %q %d", m.Input, m.Batch, out.Name, d[0])
		}
	}
	return out, nil
}

// usedNames lists every value name of the graph, so that added ones are fresh.
func usedNames(g *onnxpb.GraphProto) map[string]bool {
	used := map[string]bool{}
	for _, v := range slices.Concat(g.Input, g.Output, g.ValueInfo) {
		used[v.Name] = true
	}
	for _, t := range g.Initializer {
		used[t.Name] = true
	}
	for _, n := range g.Node {
		used[n.Name] = true
		for _, s := range slices.Concat(n.Input, n.Output) {
			used[s] = true
		}
	}
	return used
}

// adapter edits a model in place.
type adapter struct {
	p       *onnxpb.ModelProto
	used    map[string]bool
	changed bool
}

func (a *adapter) fresh(base string) string {
	name := base
	for i := 1; a.used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	a.used[name] = true
	return name
}

func (a *adapter) constant(name string, shape []int64, v []float32) string {
	name = a.fresh(name)
	g := a.p.Graph
	g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: name, Dims: shape, DataType: int32(onnxpb.TensorProto_FLOAT), FloatData: v})
	if a.p.IrVersion < 4 {
		// Before IR version 4 every initializer is also a graph input.
		g.Input = append(g.Input, &onnxpb.ValueInfoProto{Name: name, Type: tensorType(shape)})
	}
	return name
}

func tensorType(shape []int64) *onnxpb.TypeProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range shape {
		s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(onnxpb.TensorProto_FLOAT), Shape: s}}}
}

// input makes the graph take (N,C,H,W) pixels in [0,1]: the nodes that map them to
// what the model takes are put first, and the model's own nodes read their result
// instead of the input.
func (a *adapter) input(in *onnxpb.ValueInfoProto, o Options, m *Model) {
	lo, hi := 0.0, 1.0
	if o.Bounds != nil {
		lo, hi = o.Bounds[0], o.Bounds[1]
	}
	scale, shift := make([]float32, m.C), make([]float32, m.C)
	affine := false
	for c := range m.C {
		mean, std := at(o.Mean, c, 0), at(o.Std, c, 1)
		// ((lo + (hi-lo)x) - mean)/std = x*(hi-lo)/std + (lo-mean)/std
		scale[c], shift[c] = float32((hi-lo)/std), float32((lo-mean)/std)
		affine = affine || scale[c] != 1 || shift[c] != 0
	}
	if !affine && m.Layout == NCHW {
		return
	}
	a.changed = true
	g := a.p.Graph
	type step struct {
		op   string
		arg  string
		attr []*onnxpb.AttributeProto
	}
	var steps []step
	cshape := []int64{1, int64(m.C), 1, 1}
	if slices.ContainsFunc(scale, func(v float32) bool { return v != 1 }) {
		steps = append(steps, step{op: "Mul", arg: a.constant("eabs_adapt_scale", cshape, scale)})
	}
	if slices.ContainsFunc(shift, func(v float32) bool { return v != 0 }) {
		steps = append(steps, step{op: "Add", arg: a.constant("eabs_adapt_shift", cshape, shift)})
	}
	if m.Layout == NHWC {
		steps = append(steps, step{op: "Transpose", attr: []*onnxpb.AttributeProto{{Name: "perm", Type: onnxpb.AttributeProto_INTS, Ints: []int64{0, 2, 3, 1}}}})
	}
	// The model's nodes read the last step's result instead of the input.
	inner := a.fresh(in.Name + "_model")
	for _, n := range g.Node {
		for i, s := range n.Input {
			if s == in.Name {
				n.Input[i] = inner
			}
		}
	}
	nodes := make([]*onnxpb.NodeProto, len(steps))
	cur := in.Name
	for i, st := range steps {
		op := strings.ToLower(st.op)
		out := inner
		if i < len(steps)-1 {
			out = a.fresh(in.Name + "_" + op)
		}
		n := &onnxpb.NodeProto{OpType: st.op, Name: a.fresh("eabs_adapt_" + op), Input: []string{cur}, Output: []string{out}, Attribute: st.attr}
		if st.arg != "" {
			n.Input = append(n.Input, st.arg)
		}
		nodes[i], cur = n, out
	}
	g.Node = append(nodes, g.Node...)
	// The graph input now holds NCHW pixels; its batch dimension is the model's.
	tt := in.GetType().GetTensorType()
	tt.Shape.Dim = []*onnxpb.TensorShapeProto_Dimension{tt.Shape.Dim[0], dimValue(m.C), dimValue(m.H), dimValue(m.W)}
}

func dimValue(n int) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(n)}}
}

// at is v's value for channel c: its only value, its c-th, or def when v is nil.
func at(v []float64, c int, def float64) float64 {
	switch len(v) {
	case 0:
		return def
	case 1:
		return v[0]
	}
	return v[c]
}

// output keeps only the scores output and takes the log of probabilities.
func (a *adapter) output(out *onnxpb.ValueInfoProto, m *Model) {
	g := a.p.Graph
	if len(g.Output) != 1 {
		g.Output = []*onnxpb.ValueInfoProto{out}
		a.changed = true
	}
	if m.Kind != grad.Probabilities {
		return
	}
	a.changed = true
	var producer *onnxpb.NodeProto
	consumers := 0
	for _, n := range g.Node {
		if slices.Contains(n.Output, out.Name) {
			producer = n
		}
		if slices.Contains(n.Input, out.Name) {
			consumers++
		}
	}
	if producer != nil && producer.OpType == "Softmax" && (producer.Domain == "" || producer.Domain == "ai.onnx") && classAxis(producer) {
		if consumers == 0 {
			// The same attributes mean the same axis in every opset.
			producer.OpType = "LogSoftmax"
			return
		}
		logp := a.fresh(out.Name + "_log")
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: "LogSoftmax", Name: a.fresh("eabs_adapt_logsoftmax"),
			Input: []string{producer.Input[0]}, Output: []string{logp}, Attribute: producer.Attribute})
		a.replaceOutput(out, logp, m)
		return
	}
	logp := a.fresh(out.Name + "_log")
	g.Node = append(g.Node, &onnxpb.NodeProto{OpType: "Log", Name: a.fresh("eabs_adapt_log"), Input: []string{out.Name}, Output: []string{logp}})
	a.replaceOutput(out, logp, m)
}

// classAxis says whether a Softmax of a 2-D (batch, classes) output normalises over
// the classes: axis 1 or -1, which is also the default in every opset.
func classAxis(n *onnxpb.NodeProto) bool {
	for _, at := range n.Attribute {
		if at.Name == "axis" {
			return at.I == 1 || at.I == -1
		}
	}
	return true
}

func (a *adapter) replaceOutput(out *onnxpb.ValueInfoProto, name string, m *Model) {
	v := proto.Clone(out).(*onnxpb.ValueInfoProto)
	v.Name = name
	a.p.Graph.Output = []*onnxpb.ValueInfoProto{v}
	m.Output = name
}
