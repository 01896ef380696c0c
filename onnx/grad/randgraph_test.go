package grad_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// Element types of the generated graphs.
const (
	tFloat  = int32(onnxpb.TensorProto_FLOAT)
	tDouble = int32(onnxpb.TensorProto_DOUBLE)
	tInt64  = int32(onnxpb.TensorProto_INT64)
	tBool   = int32(onnxpb.TensorProto_BOOL)
)

// noDouble lists the operators ONNX Runtime 1.24's CPU provider has no float64
// kernel for, in the forward graph or in their gradients (MaxPool's overlapping form
// is a ConvTranspose); a graph with none of them is also built and checked in float64.
var noDouble = []string{"Conv", "ConvTranspose", "AveragePool", "GlobalAveragePool", "LeakyRelu", "Elu", "Softplus", "PRelu", "MaxPool",
	"Erf", "HardSigmoid", "HardSwish", "Reciprocal"}

// tensor is a value of a generated graph with its shape (batch first, of size batch).
type tensor struct {
	name  string
	shape []int
}

// gen writes a random ONNX graph in one opset, in the operator forms of that opset.
type gen struct {
	rnd   *rand.Rand
	opset int
	typ   int32
	g     *onnxpb.GraphProto
	n     int
	used  []string // operator types written, in order
}

const batch = 2

func (g *gen) fresh(p string) string {
	g.n++
	return fmt.Sprintf("%s_%d", p, g.n)
}

func attrI(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func attrInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

func attrF(name string, v float64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: float32(v)}
}

func attrS(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}
}

func (g *gen) nodeN(op string, ins []string, nout int, attrs ...*onnxpb.AttributeProto) []string {
	outs := make([]string, nout)
	for i := range outs {
		outs[i] = g.fresh(op)
	}
	g.g.Node = append(g.g.Node, &onnxpb.NodeProto{OpType: op, Name: g.fresh("n_" + op), Input: ins, Output: outs, Attribute: attrs})
	g.used = append(g.used, op)
	return outs
}

func (g *gen) node(op string, ins []string, attrs ...*onnxpb.AttributeProto) string {
	return g.nodeN(op, ins, 1, attrs...)[0]
}

// tensorProto encodes float data in the graph's type, or int64 data.
func tensorProto(name string, typ int32, shape []int, f []float64, i []int64) *onnxpb.TensorProto {
	p := &onnxpb.TensorProto{Name: name, DataType: typ}
	for _, d := range shape {
		p.Dims = append(p.Dims, int64(d))
	}
	switch typ {
	case tFloat:
		p.RawData = make([]byte, 4*len(f))
		for j, v := range f {
			binary.LittleEndian.PutUint32(p.RawData[4*j:], math.Float32bits(float32(v)))
		}
	case tDouble:
		p.RawData = make([]byte, 8*len(f))
		for j, v := range f {
			binary.LittleEndian.PutUint64(p.RawData[8*j:], math.Float64bits(v))
		}
	case tInt64:
		p.RawData = make([]byte, 8*len(i))
		for j, v := range i {
			binary.LittleEndian.PutUint64(p.RawData[8*j:], uint64(v))
		}
	case tBool:
		p.RawData = make([]byte, len(i))
		for j, v := range i {
			p.RawData[j] = byte(v)
		}
	}
	return p
}

// constant adds a constant, as an initializer or (one time in four) a Constant node.
func (g *gen) constant(typ int32, shape []int, f []float64, i []int64) string {
	if g.rnd.IntN(4) == 0 {
		t := tensorProto("", typ, shape, f, i)
		return g.node("Constant", nil, &onnxpb.AttributeProto{Name: "value", Type: onnxpb.AttributeProto_TENSOR, T: t})
	}
	name := g.fresh("c")
	g.g.Initializer = append(g.g.Initializer, tensorProto(name, typ, shape, f, i))
	return name
}

func (g *gen) floats(shape []int, lo, hi float64) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	f := make([]float64, n)
	for j := range f {
		// float32 values, so the float and double graphs are the same function.
		f[j] = float64(float32(lo + (hi-lo)*g.rnd.Float64()))
	}
	return g.constant(g.typ, shape, f, nil)
}

func (g *gen) ints(v ...int64) string { return g.constant(tInt64, []int{len(v)}, nil, v) }

func (g *gen) scalar(v float64) string {
	return g.constant(g.typ, nil, []float64{float64(float32(v))}, nil)
}

// axesArg returns the axes of Squeeze, Unsqueeze or ReduceSum in the opset's form:
// inputs to append (opset 13+) or an attribute.
func (g *gen) axesArg(ins []string, axes ...int64) ([]string, []*onnxpb.AttributeProto) {
	if g.opset >= 13 {
		return append(ins, g.ints(axes...)), nil
	}
	return ins, []*onnxpb.AttributeProto{attrInts("axes", axes...)}
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func (g *gen) pick(ops ...string) string { return ops[g.rnd.IntN(len(ops))] }

// unary applies a random elementwise function, keeping values in a range where
// every function is smooth and finite.
func (g *gen) unary(x tensor) tensor {
	switch op := g.pick("Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus", "Neg", "Abs", "Exp", "Log", "Sqrt", "Pow", "Identity",
		"Dropout", "Clip", "PRelu", "Erf", "HardSigmoid", "HardSwish", "Reciprocal"); op {
	case "HardSigmoid":
		if g.rnd.IntN(2) == 0 {
			return tensor{g.node(op, []string{x.name}, attrF("alpha", 1.0/6), attrF("beta", 0.5)), x.shape}
		}
		return tensor{g.node(op, []string{x.name}), x.shape}
	case "HardSwish":
		if g.opset < 14 { // exported as x * HardSigmoid(x) before opset 14
			return tensor{g.node("Mul", []string{x.name, g.node("HardSigmoid", []string{x.name}, attrF("alpha", 1.0/6), attrF("beta", 0.5))}), x.shape}
		}
		return tensor{g.node(op, []string{x.name}), x.shape}
	case "Reciprocal":
		return tensor{g.node(op, []string{g.node("Add", []string{g.node("Abs", []string{x.name}), g.scalar(0.5)})}), x.shape}
	case "LeakyRelu":
		return tensor{g.node(op, []string{x.name}, attrF("alpha", 0.05+0.3*g.rnd.Float64())), x.shape}
	case "Elu":
		return tensor{g.node(op, []string{x.name}, attrF("alpha", 0.5+g.rnd.Float64())), x.shape}
	case "Exp":
		return tensor{g.node("Exp", []string{g.node("Tanh", []string{x.name})}), x.shape}
	case "Log":
		return tensor{g.node("Log", []string{g.node("Add", []string{g.node("Sigmoid", []string{x.name}), g.scalar(0.5)})}), x.shape}
	case "Sqrt":
		sq := g.node("Mul", []string{x.name, x.name})
		return tensor{g.node("Sqrt", []string{g.node("Add", []string{sq, g.scalar(1)})}), x.shape}
	case "Pow":
		base := g.node("Add", []string{g.node("Sigmoid", []string{x.name}), g.scalar(0.5)})
		return tensor{g.node("Pow", []string{base, g.scalar(0.5 + 2*g.rnd.Float64())}), x.shape}
	case "Dropout":
		switch {
		case g.opset >= 12 && g.rnd.IntN(2) == 0:
			return tensor{g.node(op, []string{x.name, g.scalar(0.3), g.constant(tBool, nil, nil, []int64{0})}), x.shape}
		case g.opset < 12:
			return tensor{g.node(op, []string{x.name}, attrF("ratio", 0.3)), x.shape}
		}
		return tensor{g.nodeN(op, []string{x.name}, 2)[0], x.shape}
	case "Clip":
		ins := []string{x.name, "", ""}
		if g.rnd.IntN(3) > 0 {
			ins[1] = g.scalar(-0.5 - g.rnd.Float64())
		}
		if g.rnd.IntN(3) > 0 {
			ins[2] = g.scalar(0.3 + g.rnd.Float64())
		}
		for len(ins) > 1 && ins[len(ins)-1] == "" {
			ins = ins[:len(ins)-1]
		}
		return tensor{g.node(op, ins), x.shape}
	case "PRelu":
		s := make([]int, len(x.shape)-1)
		for i := range s {
			s[i] = 1
		}
		s[0] = x.shape[1]
		return tensor{g.node(op, []string{x.name, g.floats(s, 0.05, 0.5)}), x.shape}
	default:
		return tensor{g.node(op, []string{x.name}), x.shape}
	}
}

// broadcastConst returns a constant that broadcasts to shape s.
func (g *gen) broadcastConst(s []int, lo, hi float64) string {
	r := len(s)
	var cs []int
	switch g.rnd.IntN(4) {
	case 0: // scalar
	case 1: // per channel, without the batch axis: [C, 1, ...]
		cs = make([]int, r-1)
		for i := range cs {
			cs[i] = 1
		}
		cs[0] = s[1]
	case 2: // the trailing axes
		cs = slices.Clone(s[1:])
	default: // leading 1
		cs = append([]int{1}, s[1:]...)
		for i := 2; i < r; i++ {
			if g.rnd.IntN(2) == 0 {
				cs[i] = 1
			}
		}
	}
	return g.floats(cs, lo, hi)
}

// binary combines x with a constant or with a function of itself.
func (g *gen) binary(x tensor) tensor {
	switch op := g.pick("Add", "Sub", "Mul", "Div", "AddSelf", "MulSelf", "DivSelf", "Sum", "Where"); op {
	case "Div":
		return tensor{g.node(op, []string{x.name, g.broadcastConst(x.shape, 0.5, 2)}), x.shape}
	case "AddSelf":
		y := g.unary(x)
		return tensor{g.node(g.pick("Add", "Sub"), []string{y.name, x.name}), x.shape}
	case "MulSelf":
		return tensor{g.node("Mul", []string{x.name, g.node("Sigmoid", []string{x.name})}), x.shape}
	case "DivSelf":
		d := g.node("Add", []string{g.node("Abs", []string{g.unary(x).name}), g.scalar(1)})
		return tensor{g.node("Div", []string{x.name, d}), x.shape}
	case "Sum":
		return tensor{g.node("Sum", []string{x.name, g.unary(x).name, g.broadcastConst(x.shape, -1, 1)}), x.shape}
	case "Where":
		n := prod(x.shape[1:])
		cond := make([]int64, n)
		for i := range cond {
			cond[i] = int64(g.rnd.IntN(2))
		}
		c := g.constant(tBool, x.shape[1:], nil, cond)
		return tensor{g.node("Where", []string{c, x.name, g.unary(x).name}), x.shape}
	default:
		c := g.broadcastConst(x.shape, -1, 1)
		if g.rnd.IntN(2) == 0 && op != "Mul" {
			return tensor{g.node(op, []string{c, x.name}), x.shape}
		}
		return tensor{g.node(op, []string{x.name, c}), x.shape}
	}
}

func convOut(in, k, s, d, pb, pe int) int {
	num := in + pb + pe - (k-1)*d - 1
	if num < 0 {
		return 0
	}
	return num/s + 1
}

// image applies a random operator to a [B, C, H, W] tensor; it returns a 4-D or 2-D
// tensor.
func (g *gen) image(x tensor) tensor {
	c, h, w := x.shape[1], x.shape[2], x.shape[3]
	rnd := g.rnd
	for {
		switch op := g.pick("Conv", "Conv", "ConvTranspose", "MaxPool", "MaxPool", "AveragePool", "GlobalAveragePool",
			"BatchNormalization", "Pad", "Slice", "Transpose", "Concat", "Split", "Softmax", "LogSoftmax", "ReduceMean",
			"ReduceSum", "Unsqueeze", "Expand", "Flatten", "Reshape", "unary", "unary", "unary", "unary", "unary", "binary"); op {
		case "Conv":
			groups := []int{1}
			for d := 2; d <= c; d++ {
				if c%d == 0 {
					groups = append(groups, d)
				}
			}
			gr := groups[rnd.IntN(len(groups))]
			m := gr * (1 + rnd.IntN(max(1, 4/gr)))
			k, s, d := 1+rnd.IntN(3), 1+rnd.IntN(2), 1+rnd.IntN(2)
			auto := rnd.IntN(5) == 0
			if auto {
				d = 1 // ONNX Runtime has no dilated SAME convolution
			}
			attrs := []*onnxpb.AttributeProto{attrInts("kernel_shape", int64(k), int64(k)), attrInts("strides", int64(s), int64(s)),
				attrInts("dilations", int64(d), int64(d)), attrI("group", int64(gr))}
			var pads [4]int
			switch {
			case auto:
				ap := g.pick("SAME_UPPER", "SAME_LOWER", "VALID")
				attrs = append(attrs, attrS("auto_pad", ap))
				if ap != "VALID" {
					for a, in := range []int{h, w} {
						out := (in + s - 1) / s
						total := max(0, (out-1)*s+(k-1)*d+1-in)
						pads[a], pads[a+2] = total/2, total-total/2
						if ap == "SAME_LOWER" {
							pads[a], pads[a+2] = total-total/2, total/2
						}
					}
				}
			default:
				for i := range pads {
					pads[i] = rnd.IntN(k)
				}
				attrs = append(attrs, attrInts("pads", int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3])))
			}
			oh, ow := convOut(h, k, s, d, pads[0], pads[2]), convOut(w, k, s, d, pads[1], pads[3])
			if oh < 1 || ow < 1 {
				continue
			}
			ins := []string{x.name, g.floats([]int{m, c / gr, k, k}, -0.6, 0.6)}
			if rnd.IntN(2) == 0 {
				ins = append(ins, g.floats([]int{m}, -0.3, 0.3))
			}
			return tensor{g.node(op, ins, attrs...), []int{batch, m, oh, ow}}
		case "ConvTranspose":
			gr := 1
			if c%2 == 0 && rnd.IntN(2) == 0 {
				gr = 2
			}
			mg := 1 + rnd.IntN(2)
			k, s, d := 1+rnd.IntN(3), 1+rnd.IntN(2), 1+rnd.IntN(2)
			var pads [4]int
			for i := range pads {
				pads[i] = rnd.IntN((k-1)*d + 1)
			}
			op2 := [2]int{rnd.IntN(s), rnd.IntN(s)}
			oh := s*(h-1) + op2[0] + (k-1)*d + 1 - pads[0] - pads[2]
			ow := s*(w-1) + op2[1] + (k-1)*d + 1 - pads[1] - pads[3]
			if oh < 1 || ow < 1 || oh > 12 || ow > 12 {
				continue
			}
			attrs := []*onnxpb.AttributeProto{attrInts("kernel_shape", int64(k), int64(k)), attrInts("strides", int64(s), int64(s)),
				attrInts("dilations", int64(d), int64(d)), attrI("group", int64(gr)),
				attrInts("pads", int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3])),
				attrInts("output_padding", int64(op2[0]), int64(op2[1]))}
			ins := []string{x.name, g.floats([]int{c, mg, k, k}, -0.6, 0.6)}
			if rnd.IntN(2) == 0 {
				ins = append(ins, g.floats([]int{mg * gr}, -0.3, 0.3))
			}
			return tensor{g.node(op, ins, attrs...), []int{batch, mg * gr, oh, ow}}
		case "MaxPool", "AveragePool":
			k, s, d := 1+rnd.IntN(3), 1+rnd.IntN(3), 1
			if op == "MaxPool" && rnd.IntN(3) == 0 {
				d = 2
			}
			var pads [4]int
			for i := range pads {
				pads[i] = rnd.IntN(k) // ONNX Runtime wants pads smaller than the kernel
			}
			ceil := rnd.IntN(3) == 0
			outs := [2]int{}
			for a, in := range []int{h, w} {
				num := in + pads[a] + pads[a+2] - (k-1)*d - 1
				if num < 0 {
					outs[a] = 0
					continue
				}
				outs[a] = num/s + 1
				if ceil {
					outs[a] = (num+s-1)/s + 1
					if (outs[a]-1)*s >= in+pads[a] {
						outs[a] = 0 // refused by Build (see TestRefused)
					}
				}
			}
			if outs[0] < 1 || outs[1] < 1 {
				continue
			}
			attrs := []*onnxpb.AttributeProto{attrInts("kernel_shape", int64(k), int64(k)), attrInts("strides", int64(s), int64(s)),
				attrInts("pads", int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3]))}
			if ceil {
				attrs = append(attrs, attrI("ceil_mode", 1))
			}
			if d > 1 {
				attrs = append(attrs, attrInts("dilations", int64(d), int64(d)))
			}
			if op == "AveragePool" && rnd.IntN(2) == 0 {
				attrs = append(attrs, attrI("count_include_pad", 1))
			}
			in := x.name
			if op == "MaxPool" && rnd.IntN(3) == 0 {
				// All negative, so a window's padding must never win.
				in = g.node("Sub", []string{g.node("Neg", []string{g.node("Abs", []string{in})}), g.scalar(0.1)})
			}
			return tensor{g.node(op, []string{in}, attrs...), []int{batch, c, outs[0], outs[1]}}
		case "GlobalAveragePool":
			return tensor{g.node(op, []string{x.name}), []int{batch, c, 1, 1}}
		case "BatchNormalization":
			var attrs []*onnxpb.AttributeProto
			if g.opset >= 14 && rnd.IntN(2) == 0 {
				attrs = append(attrs, attrI("training_mode", 0))
			}
			attrs = append(attrs, attrF("epsilon", 1e-3))
			ins := []string{x.name, g.floats([]int{c}, 0.5, 1.5), g.floats([]int{c}, -0.5, 0.5), g.floats([]int{c}, -0.5, 0.5), g.floats([]int{c}, 0.5, 2)}
			return tensor{g.node(op, ins, attrs...), x.shape}
		case "Pad":
			p := make([]int64, 8)
			for _, i := range []int{2, 3, 6, 7} {
				p[i] = int64(rnd.IntN(3))
				if rnd.IntN(5) == 0 && x.shape[i%4] > 2 {
					p[i] = -1
				}
			}
			if rnd.IntN(4) == 0 {
				p[1] = 1 // pad the channels too
			}
			ins := []string{x.name, g.ints(p...)}
			if rnd.IntN(2) == 0 {
				ins = append(ins, g.scalar(rnd.Float64()-0.5))
			}
			s := slices.Clone(x.shape)
			for a := range 4 {
				s[a] += int(p[a] + p[a+4])
			}
			return tensor{g.node(op, ins, attrS("mode", "constant")), s}
		case "Slice":
			if h < 3 || w < 3 {
				continue
			}
			st, en := int64(rnd.IntN(2)), int64(h-rnd.IntN(2))
			st2, en2 := int64(rnd.IntN(2)), int64(-1-rnd.IntN(2))
			if int(en-st) < 1 || w+int(en2)-int(st2) < 1 {
				continue
			}
			ins := []string{x.name, g.ints(st, st2), g.ints(en, en2), g.ints(2, -1)}
			if rnd.IntN(2) == 0 {
				ins = append(ins, g.ints(1, 1))
			}
			return tensor{g.node(op, ins), []int{batch, c, int(en - st), w + int(en2) - int(st2)}}
		case "Transpose":
			perms := [][]int64{{0, 1, 3, 2}, {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 2, 1, 3}}
			p := perms[rnd.IntN(len(perms))]
			s := make([]int, 4)
			for i, a := range p {
				s[i] = x.shape[a]
			}
			return tensor{g.node(op, []string{x.name}, attrInts("perm", p...)), s}
		case "Concat":
			y := g.unary(x)
			axis := 1 + rnd.IntN(3)
			s := slices.Clone(x.shape)
			s[axis] *= 2
			return tensor{g.node(op, []string{x.name, y.name}, attrI("axis", int64(axis-4*rnd.IntN(2)))), s}
		case "Split":
			if c < 2 {
				continue
			}
			a := 1 + rnd.IntN(c-1)
			var ins []string
			var attrs []*onnxpb.AttributeProto
			ins = []string{x.name}
			if g.opset >= 13 {
				ins = append(ins, g.ints(int64(a), int64(c-a)))
			} else {
				attrs = append(attrs, attrInts("split", int64(a), int64(c-a)))
			}
			parts := g.nodeN(op, ins, 2, append(attrs, attrI("axis", 1))...)
			if rnd.IntN(2) == 0 { // only one part reaches the output
				return tensor{parts[0], []int{batch, a, h, w}}
			}
			return tensor{g.node("Concat", []string{parts[1], parts[0]}, attrI("axis", 1)), x.shape}
		case "Softmax", "LogSoftmax":
			return tensor{g.node(op, []string{x.name}, attrI("axis", int64(1+rnd.IntN(3)))), x.shape}
		case "ReduceMean", "ReduceSum":
			axes := [][]int64{{2, 3}, {1}, {-1}, {1, 2, 3}}[rnd.IntN(4)]
			keep := rnd.IntN(3) > 0
			s := slices.Clone(x.shape)
			for _, a := range axes {
				s[(a+4)%4] = 1
			}
			ins := []string{x.name}
			var attrs []*onnxpb.AttributeProto
			if op == "ReduceSum" && g.opset >= 13 {
				ins = append(ins, g.ints(axes...))
			} else {
				attrs = append(attrs, attrInts("axes", axes...))
			}
			if !keep {
				attrs = append(attrs, attrI("keepdims", 0))
			}
			y := g.node(op, ins, attrs...)
			if !keep { // back to rank 4
				ins, attrs := g.axesArg([]string{y}, axes...)
				y = g.node("Unsqueeze", ins, attrs...)
			}
			return tensor{y, s}
		case "Unsqueeze":
			ins, attrs := g.axesArg([]string{x.name}, 2)
			u := g.node(op, ins, attrs...)
			ins, attrs = g.axesArg([]string{u}, 2)
			return tensor{g.node("Squeeze", ins, attrs...), x.shape}
		case "Expand":
			// Reduce to one value per channel and expand back, the target shape
			// computed from the input's shape at run time.
			r := g.node("ReduceMean", []string{x.name}, attrInts("axes", 2, 3))
			return tensor{g.node(op, []string{r, g.shapeOf(x.name)}), x.shape}
		case "Flatten":
			axis := int64(1)
			if g.rnd.IntN(2) == 0 {
				axis = -3
			}
			return tensor{g.node(op, []string{x.name}, attrI("axis", axis)), []int{batch, c * h * w}}
		case "Reshape":
			// The exporters' dynamic flatten: Shape, Gather, Unsqueeze, Concat.
			b := g.node("Gather", []string{g.shapeOf(x.name), g.constant(tInt64, nil, nil, []int64{0})}, attrI("axis", 0))
			ins, attrs := g.axesArg([]string{b}, 0)
			u := g.node("Unsqueeze", ins, attrs...)
			target := g.node("Concat", []string{u, g.ints(-1)}, attrI("axis", 0))
			var ra []*onnxpb.AttributeProto
			if g.opset >= 14 && rnd.IntN(2) == 0 {
				ra = append(ra, attrI("allowzero", 0))
			}
			return tensor{g.node(op, []string{x.name, g.node("Cast", []string{target}, attrI("to", int64(tInt64)))}, ra...), []int{batch, c * h * w}}
		case "unary":
			return g.unary(x)
		default:
			return g.binary(x)
		}
	}
}

// shapeOf is a Shape node, with the opset 15 start attribute one time in three.
func (g *gen) shapeOf(x string) string {
	if g.opset >= 15 && g.rnd.IntN(3) == 0 {
		return g.node("Shape", []string{x}, attrI("start", 0))
	}
	return g.node("Shape", []string{x})
}

// flat applies a random operator to a [B, F] tensor.
func (g *gen) flat(x tensor) tensor {
	f := x.shape[1]
	rnd := g.rnd
	switch op := g.pick("Gemm", "Gemm", "MatMul", "Softmax", "LogSoftmax", "Concat", "Split", "ReduceSum", "Image", "unary", "unary", "unary", "binary"); op {
	case "Gemm":
		n := 2 + rnd.IntN(10)
		tb := rnd.IntN(2)
		ws := []int{f, n}
		if tb == 1 {
			ws = []int{n, f}
		}
		ins := []string{x.name, g.floats(ws, -0.5, 0.5)}
		switch rnd.IntN(3) {
		case 0:
			ins = append(ins, g.floats([]int{n}, -0.5, 0.5))
		case 1:
			ins = append(ins, g.floats([]int{1, n}, -0.5, 0.5))
		}
		attrs := []*onnxpb.AttributeProto{attrI("transB", int64(tb))}
		if rnd.IntN(2) == 0 {
			attrs = append(attrs, attrF("alpha", 0.5+rnd.Float64()), attrF("beta", 0.5+rnd.Float64()))
		}
		return tensor{g.node(op, ins, attrs...), []int{batch, n}}
	case "MatMul":
		n := 2 + rnd.IntN(10)
		return tensor{g.node(op, []string{x.name, g.floats([]int{f, n}, -0.5, 0.5)}), []int{batch, n}}
	case "Softmax", "LogSoftmax":
		axis := int64(1)
		if rnd.IntN(2) == 0 {
			axis = -1
		}
		return tensor{g.node(op, []string{x.name}, attrI("axis", axis)), x.shape}
	case "Concat":
		return tensor{g.node(op, []string{g.unary(x).name, x.name}, attrI("axis", 1)), []int{batch, 2 * f}}
	case "Split":
		if f < 2 {
			return g.unary(x)
		}
		ins := []string{x.name}
		var attrs []*onnxpb.AttributeProto
		if f%2 == 0 && rnd.IntN(2) == 0 { // equal parts, no sizes given
			parts := g.nodeN(op, ins, 2, attrI("axis", 1))
			return tensor{parts[rnd.IntN(2)], []int{batch, f / 2}}
		}
		a := 1 + rnd.IntN(f-1)
		if g.opset >= 13 {
			ins = append(ins, g.ints(int64(a), int64(f-a)))
		} else {
			attrs = append(attrs, attrInts("split", int64(a), int64(f-a)))
		}
		parts := g.nodeN(op, ins, 2, append(attrs, attrI("axis", -1))...)
		return tensor{g.node("Concat", []string{parts[1], parts[0]}, attrI("axis", 1)), x.shape}
	case "ReduceSum":
		ins, attrs := g.axesArg([]string{x.name}, 1)
		r := g.node(op, ins, attrs...) // [B, 1]
		return tensor{g.node("Mul", []string{r, g.floats([]int{1, 3}, -1, 1)}), []int{batch, 3}}
	case "Image":
		// Back to an image, for a 1x1 convolution, by a Reshape whose batch entry
		// is 0 (copy).
		r := g.node("Reshape", []string{x.name, g.ints(0, int64(f), 1, 1)})
		return tensor{r, []int{batch, f, 1, 1}}
	case "unary":
		return g.unary(x)
	default:
		return g.binary(x)
	}
}

// randomGraph writes a random model of depth steps in the given opset and element
// type, from seed; the same seed and opset give the same graph in either type.
func randomGraph(seed uint64, opset int, typ int32, steps int) (model []byte, used []string, inShape []int) {
	g := &gen{rnd: rand.New(rand.NewPCG(seed, 7)), opset: opset, typ: typ, g: &onnxpb.GraphProto{Name: "random"}}
	var x tensor
	if g.rnd.IntN(5) == 0 {
		x = tensor{"x", []int{batch, 2 + g.rnd.IntN(8)}}
	} else {
		x = tensor{"x", []int{batch, 1 + g.rnd.IntN(3), 4 + g.rnd.IntN(4), 4 + g.rnd.IntN(4)}}
	}
	inShape = x.shape
	cur := x
	for range steps {
		if len(cur.shape) == 4 {
			cur = g.image(cur)
		} else {
			cur = g.flat(cur)
		}
		if prod(cur.shape) > 2000 { // keep the graphs small
			break
		}
	}
	dims := func(s []int) *onnxpb.TensorShapeProto {
		ts := &onnxpb.TensorShapeProto{}
		for i, d := range s {
			dim := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}}
			if i == 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}
			}
			ts.Dim = append(ts.Dim, dim)
		}
		return ts
	}
	vi := func(name string, s []int) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: typ, Shape: dims(s)}}}}
	}
	g.g.Input = []*onnxpb.ValueInfoProto{vi("x", x.shape)}
	g.g.Output = []*onnxpb.ValueInfoProto{vi(cur.name, cur.shape)}
	ir := int64(7)
	if opset >= 15 {
		ir = 8
	}
	m := &onnxpb.ModelProto{IrVersion: ir, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: int64(opset)}}, Graph: g.g}
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b, g.used, inShape
}
