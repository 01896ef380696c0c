package grad

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// The operator sets Build accepts. Pad, Clip, ReduceSum, Squeeze, Unsqueeze and Split
// moved attributes to inputs within this range and Softmax changed its meaning at 13;
// all of those forms are handled. Opset 18 moves ReduceMean's axes and Pad's axes and
// adds Split's num_outputs, which are not.
const (
	MinOpset = 11
	MaxOpset = 17
)

// Loss names the per-sample scalar whose input gradient the graph returns.
type Loss string

const (
	// CrossEntropy is -log softmax(z)[label] for logits, -log p[label] for
	// probabilities, -lp[label] for log-probabilities (see OutputKind).
	CrossEntropy Loss = "cross-entropy"
	// Margin is z[label] - max over j != label of z[j]: positive exactly when the
	// label wins (the margin of Carlini-Wagner, DeepFool and FAB).
	Margin Loss = "margin"
	// LogitDiff is z[label] - z[target], for targeted attacks.
	LogitDiff Loss = "logit-diff"
	// Cotangent is sum(cotangent * z) over each sample's elements: the gradient is
	// the vector-Jacobian product with a cotangent the caller feeds.
	Cotangent Loss = "cotangent"
)

// OutputKind says what the output the loss reads holds; only CrossEntropy uses it.
type OutputKind string

const (
	Logits           OutputKind = "logits"
	Probabilities    OutputKind = "probabilities"
	LogProbabilities OutputKind = "log-probabilities"
)

// Options selects what Build differentiates.
type Options struct {
	// Input is the graph input to differentiate; empty means the model's only float
	// input.
	Input string
	// Output is the graph output the loss reads; empty means the first.
	Output string
	// Loss is the scalar; empty means CrossEntropy.
	Loss Loss
	// Kind is what Output holds; empty means Logits.
	Kind OutputKind
}

// Result is a gradient graph: the model's inputs and outputs, plus the inputs the loss
// needs and two outputs, the per-sample loss [batch] and its gradient with respect to
// Input (the input's shape). Samples are independent in an inference graph, so the
// gradient of the summed loss is each sample's own gradient.
type Result struct {
	// Model is the graph as an ONNX file, in the model's opset.
	Model []byte
	// Input and Output are the differentiated input and the output the loss reads.
	Input, Output string
	// Label, Target and Cotangent name the inputs the loss adds ("" when unused):
	// int64 [batch] class indices for Label and Target, the output's shape and type
	// for Cotangent. A graph cannot fail at run time, so the caller checks that
	// indices are in [0, classes): one outside picks no class, and its loss and
	// gradient mean nothing.
	Label, Target, Cotangent string
	// Loss and Grad name the added outputs.
	Loss, Grad string
	// Inputs and Outputs list the graph's inputs and outputs in order.
	Inputs, Outputs []string
	// Nodes counts the nodes of the model and of the gradient graph; Folded the
	// model's nodes computed at build time (constants and shape arithmetic).
	ModelNodes, Nodes, Folded int
}

// WriteFile writes the gradient graph to path atomically.
func (r *Result) WriteFile(path string) error {
	return atomicfile.WriteBytes(path, r.Model)
}

// UnsupportedOp is one node whose operator Build does not know.
type UnsupportedOp struct {
	Op, Domain, Node string
}

// UnsupportedError lists every node of a model whose operator is not supported.
type UnsupportedError struct {
	Ops []UnsupportedOp
}

func (e *UnsupportedError) Error() string {
	var parts []string
	for _, o := range e.Ops {
		op := o.Op
		if o.Domain != "" && o.Domain != "ai.onnx" {
			op = o.Domain + "." + op
		}
		parts = append(parts, fmt.Sprintf("%s (node %q)", op, o.Node))
	}
	return fmt.Sprintf("grad: unsupported operator%s: %s; supported: %s", plural(len(parts)),
		strings.Join(parts, ", "), strings.Join(Supported(), ", "))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// parse decodes and checks a model: a well-formed ONNX file (onnx.Decode's checks), an
// opset in [MinOpset, MaxOpset], and only supported operators, all reported at once.
func parse(model []byte) (*onnxpb.ModelProto, int, error) {
	if _, err := onnx.Decode(model); err != nil {
		return nil, 0, fmt.Errorf("grad: %w", err)
	}
	var p onnxpb.ModelProto
	if err := proto.Unmarshal(model, &p); err != nil {
		return nil, 0, fmt.Errorf("grad: %w", err)
	}
	opset := 0
	for _, o := range p.OpsetImport {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			opset = int(o.Version)
		}
	}
	if opset < MinOpset || opset > MaxOpset {
		return nil, 0, fmt.Errorf("grad: the model uses opset %d; opsets %d to %d are supported (re-export with opset_version in that range)", opset, MinOpset, MaxOpset)
	}
	var bad []UnsupportedOp
	for _, n := range p.Graph.Node {
		if _, ok := ops[n.OpType]; !ok || (n.Domain != "" && n.Domain != "ai.onnx") {
			bad = append(bad, UnsupportedOp{Op: n.OpType, Domain: n.Domain, Node: n.Name})
		}
	}
	if len(bad) > 0 {
		return nil, 0, &UnsupportedError{Ops: bad}
	}
	return &p, opset, nil
}

// Check reports whether Build accepts the model's file format, opset and operators,
// without building anything: an *UnsupportedError names every unsupported node.
// Build may still refuse a model that passes, for an operator used in a form it does
// not differentiate (such as a Pad in reflect mode on the input's path).
func Check(model []byte) error {
	_, _, err := parse(model)
	return err
}

// BuildFile is Build on the model stored at path.
func BuildFile(path string, opts Options) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("grad: %w", err)
	}
	r, err := Build(b, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// graphInputs returns the graph inputs that are not initializers, as values.
func graphInputs(g *onnxpb.GraphProto) ([]*value, error) {
	inits := map[string]bool{}
	for _, t := range g.Initializer {
		inits[t.Name] = true
	}
	var out []*value
	for _, in := range g.Input {
		if inits[in.Name] {
			continue
		}
		tt := in.GetType().GetTensorType()
		if tt == nil || tt.Shape == nil {
			return nil, fmt.Errorf("grad: input %q has no tensor type with a shape", in.Name)
		}
		v := &value{name: in.Name, typ: tt.ElemType}
		for i, d := range tt.Shape.Dim {
			switch x := d.Value.(type) {
			case *onnxpb.TensorShapeProto_Dimension_DimValue:
				v.shape = append(v.shape, fixed(x.DimValue))
			case *onnxpb.TensorShapeProto_Dimension_DimParam:
				v.shape = append(v.shape, dim{n: 1, sym: strings.ReplaceAll(x.DimParam, "*", "_")})
			default:
				v.shape = append(v.shape, dim{n: 1, sym: fmt.Sprintf("%s_dim%d", in.Name, i)})
			}
		}
		if !isFloat(v.typ) && !isInt(v.typ) {
			return nil, fmt.Errorf("grad: input %q has element type %s; floats and integers are supported", in.Name, typeName(v.typ))
		}
		out = append(out, v)
	}
	return out, nil
}

// sortNodes orders the nodes so each reads only values defined before it.
func sortNodes(g *onnxpb.GraphProto, defined map[string]bool) ([]*node, error) {
	pending := make([]*node, len(g.Node))
	for i, p := range g.Node {
		pending[i] = newNode(p)
	}
	var out []*node
	for len(pending) > 0 {
		var rest []*node
		for _, n := range pending {
			ready := true
			for _, in := range n.in {
				ready = ready && (in == "" || defined[in])
			}
			if !ready {
				rest = append(rest, n)
				continue
			}
			out = append(out, n)
			for _, o := range n.out {
				defined[o] = true
			}
		}
		if len(rest) == len(pending) {
			n := rest[0]
			for _, in := range n.in {
				if in != "" && !defined[in] {
					return nil, fmt.Errorf("grad: %v reads %q, which nothing defines (or the graph has a cycle)", n, in)
				}
			}
		}
		pending = rest
	}
	return out, nil
}

// Build differentiates an ONNX inference graph: it returns a graph computing the
// model's outputs, the per-sample loss opts.Loss of opts.Output, and the loss's
// gradient with respect to opts.Input, by reverse-mode differentiation written as
// ONNX operators (see the package documentation).
//
// Everything is checked before the graph is written: the file, the opset, that every
// operator is supported (an *UnsupportedError naming each offending node), that the
// shape arithmetic exporters emit folds, and that every node between the input and
// the loss has a gradient.
func Build(model []byte, opts Options) (*Result, error) {
	p, opset, err := parse(model)
	if err != nil {
		return nil, err
	}
	switch opts.Loss {
	case "":
		opts.Loss = CrossEntropy
	case CrossEntropy, Margin, LogitDiff, Cotangent:
	default:
		return nil, fmt.Errorf("grad: unknown loss %q (want %s, %s, %s or %s)", opts.Loss, CrossEntropy, Margin, LogitDiff, Cotangent)
	}
	switch opts.Kind {
	case "":
		opts.Kind = Logits
	case Logits, Probabilities, LogProbabilities:
	default:
		return nil, fmt.Errorf("grad: unknown output kind %q (want %s, %s or %s)", opts.Kind, Logits, Probabilities, LogProbabilities)
	}
	g := p.Graph
	used := map[string]bool{}
	for _, v := range g.Input {
		used[v.Name] = true
	}
	for _, v := range g.Output {
		used[v.Name] = true
	}
	for _, t := range g.Initializer {
		used[t.Name] = true
	}
	for _, n := range g.Node {
		for _, o := range n.Output {
			used[o] = true
		}
	}
	b := newBuilder(opset, used)

	inputs, err := graphInputs(g)
	if err != nil {
		return nil, err
	}
	defined := map[string]bool{}
	for _, t := range g.Initializer {
		k, err := decodeTensor(t)
		if err != nil {
			return nil, fmt.Errorf("grad: %w", err)
		}
		b.vals[t.Name] = constValue(t.Name, k)
		defined[t.Name] = true
	}
	var x *value
	var floatInputs []string
	for _, in := range inputs {
		b.vals[in.name] = in
		b.emitted[in.name] = true
		defined[in.name] = true
		if isFloat(in.typ) {
			floatInputs = append(floatInputs, in.name)
		}
		if in.name == opts.Input || (opts.Input == "" && isFloat(in.typ)) {
			x = in
		}
	}
	switch {
	case opts.Input == "" && len(floatInputs) != 1:
		return nil, fmt.Errorf("grad: the model has %d float inputs (%s); say which to differentiate", len(floatInputs), strings.Join(floatInputs, ", "))
	case x == nil:
		return nil, fmt.Errorf("grad: the model has no input %q (its inputs: %s)", opts.Input, strings.Join(valueNames(inputs), ", "))
	case !isFloat(x.typ):
		return nil, fmt.Errorf("grad: input %q has element type %s; only float inputs have gradients", x.name, typeName(x.typ))
	}
	if len(g.Output) == 0 {
		return nil, fmt.Errorf("grad: the model has no outputs")
	}
	outName := opts.Output
	if outName == "" {
		outName = g.Output[0].Name
	} else if !slices.ContainsFunc(g.Output, func(v *onnxpb.ValueInfoProto) bool { return v.Name == outName }) {
		var names []string
		for _, v := range g.Output {
			names = append(names, v.Name)
		}
		return nil, fmt.Errorf("grad: the model has no output %q (its outputs: %s)", outName, strings.Join(names, ", "))
	}
	nodes, err := sortNodes(g, defined)
	if err != nil {
		return nil, err
	}

	// Forward: fold what is known, emit the rest, track what depends on x.
	b.active[x.name] = true
	prod := map[string]*node{}
	folded := 0
	for _, n := range nodes {
		b.nodeName = n.String()
		act := slices.ContainsFunc(n.in, func(s string) bool { return b.active[s] })
		if n.op == "MaxPool" && act && (len(n.out) < 2 || n.out[1] == "") {
			c := &ctx{n: n, opset: opset, in: []*value{b.vals[n.in[0]]}}
			if maxPoolIndices(c) {
				n.out = []string{n.out[0], b.fresh("maxpool_indices")}
			}
		}
		before := len(b.nodes)
		outs, err := b.apply(n)
		if err != nil {
			return nil, fmt.Errorf("grad: %w", err)
		}
		if len(b.nodes) == before {
			folded++
		}
		for i, v := range outs {
			if n.out[i] == "" {
				continue
			}
			prod[n.out[i]] = n
			if act && isFloat(v.typ) && v.k == nil && v.sym == nil {
				b.active[n.out[i]] = true
			}
		}
	}
	z := b.vals[outName]

	// The loss and the cotangent it seeds.
	names := resultNames(used, opts.Loss)
	seed, dz, loss, extra, err := b.lossHead(opts, z, prod, names)
	if err != nil {
		return nil, fmt.Errorf("grad: %w", err)
	}

	// Backward: the nodes between x and the seed, in reverse.
	grads := map[string][]string{seed: {dz}}
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		b.nodeName, b.tag = n.String(), n.name
		if b.tag == "" {
			b.tag = n.op
		}
		hasGrad := false
		for _, o := range n.out {
			hasGrad = hasGrad || (o != "" && len(grads[o]) > 0)
		}
		if !hasGrad || !slices.ContainsFunc(n.in, func(s string) bool { return b.active[s] }) {
			continue
		}
		def := ops[n.op]
		if def.vjp == nil {
			return nil, fmt.Errorf("grad: %v lies between input %q and output %q, and has no gradient here", n, x.name, outName)
		}
		c := &ctx{n: n, opset: opset}
		for _, in := range n.in {
			c.in = append(c.in, b.vals[in])
		}
		dy := make([]string, len(n.out))
		for j, o := range n.out {
			dy[j] = b.sum(grads[o])
		}
		gs, err := def.vjp(b, c, dy)
		if err == nil {
			err = b.err
		}
		if err != nil {
			return nil, fmt.Errorf("grad: %w", err)
		}
		for j, gj := range gs {
			if gj != "" && j < len(n.in) && b.wants(c, j) {
				grads[n.in[j]] = append(grads[n.in[j]], gj)
			}
		}
	}
	b.nodeName, b.tag = "the input", "input"
	gx := b.sum(grads[x.name])
	if gx == "" {
		// The output does not depend on the input.
		gx = b.zerosOf(x.name)
	}
	if b.err != nil {
		return nil, fmt.Errorf("grad: %w", b.err)
	}

	// The graph.
	out := &onnxpb.GraphProto{Name: g.Name + "_grad", Initializer: nil}
	res := &Result{Input: x.name, Output: outName, Loss: names.loss, Grad: names.grad, ModelNodes: len(nodes), Folded: folded}
	for _, in := range inputs {
		out.Input = append(out.Input, valueInfo(in.name, in.typ, in.shape))
		res.Inputs = append(res.Inputs, in.name)
	}
	for _, v := range extra {
		out.Input = append(out.Input, valueInfo(v.name, v.typ, v.shape))
		res.Inputs = append(res.Inputs, v.name)
		switch v.name {
		case names.label:
			res.Label = v.name
		case names.target:
			res.Target = v.name
		case names.cotangent:
			res.Cotangent = v.name
		}
	}
	for _, o := range g.Output {
		v := b.vals[o.Name]
		if b.materialize(o.Name) != o.Name || b.err != nil {
			return nil, fmt.Errorf("grad: output %q: %v", o.Name, b.err)
		}
		out.Output = append(out.Output, valueInfo(o.Name, v.typ, v.shape))
		res.Outputs = append(res.Outputs, o.Name)
	}
	for _, o := range []struct{ name, from string }{{names.loss, loss}, {names.grad, gx}} {
		v := b.vals[o.from]
		b.emit(&node{op: "Identity", name: o.name, in: []string{o.from}, out: []string{o.name}}, &ctx{in: []*value{v}})
		b.vals[o.name] = &value{name: o.name, typ: v.typ, shape: v.shape}
		out.Output = append(out.Output, valueInfo(o.name, v.typ, v.shape))
		res.Outputs = append(res.Outputs, o.name)
	}
	if b.err != nil {
		return nil, fmt.Errorf("grad: %w", b.err)
	}
	out.Node, out.Initializer = b.nodes, b.inits
	res.Nodes = len(b.nodes)
	out.DocString = fmt.Sprintf("Gradient graph written by eabs onnx/grad: the outputs of %q, the per-sample %s loss %q of output %q, and its gradient %q with respect to input %q.",
		g.Name, opts.Loss, names.loss, outName, names.grad, x.name)
	mp := &onnxpb.ModelProto{
		IrVersion:       p.IrVersion,
		OpsetImport:     p.OpsetImport,
		ProducerName:    "eabs onnx/grad",
		ProducerVersion: p.ProducerName + " " + p.ProducerVersion,
		Graph:           out,
	}
	res.Model, err = proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("grad: marshal: %w", err)
	}
	return res, nil
}

func valueNames(vs []*value) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.name)
	}
	return out
}

// sum adds gradient contributions; "" when there are none.
func (b *builder) sum(gs []string) string {
	switch len(gs) {
	case 0:
		return ""
	case 1:
		return gs[0]
	}
	args := make([]any, len(gs))
	for i, g := range gs {
		args[i] = g
	}
	return b.op("Sum", args...)
}

// names of the inputs and outputs the gradient graph adds.
type addedNames struct{ label, target, cotangent, loss, grad string }

// resultNames picks the added names: "label", "target", "cotangent", "loss" and
// "grad", each suffixed with a number when the model already uses it.
func resultNames(used map[string]bool, loss Loss) addedNames {
	pick := func(base string) string {
		name := base
		for i := 1; used[name]; i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		used[name] = true
		return name
	}
	var n addedNames
	switch loss {
	case Cotangent:
		n.cotangent = pick("cotangent")
	case LogitDiff:
		n.label, n.target = pick("label"), pick("target")
	default:
		n.label = pick("label")
	}
	n.loss, n.grad = pick("loss"), pick("grad")
	return n
}
