package grad

import (
	"fmt"
	"math"
	"slices"
)

// lossHead writes the loss of output z and the cotangent that starts the backward
// pass. It returns the value the cotangent belongs to (z, or the logits feeding z's
// Softmax), the cotangent, the per-sample loss [batch], and the inputs it adds.
func (b *builder) lossHead(opts Options, z *value, prod map[string]*node, names addedNames) (seed, dz, loss string, extra []*value, err error) {
	b.nodeName, b.tag = "the "+string(opts.Loss)+" loss", "loss"
	fail := func(format string, args ...any) (string, string, string, []*value, error) {
		return "", "", "", nil, fmt.Errorf("output %q: "+format, append([]any{z.name}, args...)...)
	}
	if !isFloat(z.typ) {
		return fail("element type %s; a loss needs floats", typeName(z.typ))
	}
	if z.k != nil {
		// A constant output: make it a node output so the loss can read it.
		b.materialize(z.name)
	}
	input := func(name string, typ int32, s shape) string {
		v := &value{name: name, typ: typ, shape: s}
		b.vals[name] = v
		b.emitted[name] = true
		extra = append(extra, v)
		return name
	}
	if opts.Loss == Cotangent {
		if len(z.shape) == 0 {
			return fail("is a scalar; the cotangent loss needs a batch axis")
		}
		cot := input(names.cotangent, z.typ, z.shape)
		loss = b.mul(cot, z.name)
		if r := len(z.shape); r > 1 {
			axes := make([]int, r-1)
			for i := range axes {
				axes[i] = i + 1
			}
			loss = b.reduceSum(loss, axes, false)
		}
		return z.name, cot, loss, extra, b.err
	}
	if len(z.shape) != 2 || !z.shape[1].static() || z.shape[1].n < 1 {
		return fail("has shape %v; the %s loss needs [batch, classes]", z.shape, opts.Loss)
	}
	n, k := z.shape[0], z.shape[1].n
	if opts.Loss == Margin && k < 2 {
		return fail("has %d class; the margin needs two", k)
	}
	iota := make([]int64, k)
	for i := range iota {
		iota[i] = int64(i)
	}
	classes := b.constant(intTensor([]int{1, int(k)}, iota))
	oneHot := func(label string) string {
		return b.op("Equal", b.reshape(label, shape{n, fixed(1)}), classes)
	}
	oh := oneHot(input(names.label, tInt64, shape{n}))
	zero, one := b.zeroLike(z.name), b.scalarLike(z.name, 1)
	// pick is z[label] per sample, [batch].
	pick := func(oh, v string, keep bool) string {
		return b.reduceSum(b.where(oh, v, zero), []int{1}, keep)
	}
	seed = z.name
	switch opts.Loss {
	case CrossEntropy:
		logits := ""
		switch opts.Kind {
		case Logits:
			logits = z.name
		case Probabilities, LogProbabilities:
			logits = b.normalisedFrom(z, prod, opts.Kind)
		}
		switch {
		case logits != "":
			// softmax(z) - onehot, with the label's entry written as minus the sum of
			// the others: 1 - p[label] loses all its digits when p[label] rounds to 1,
			// which is the gradient of every confidently classified sample.
			ls := b.op("LogSoftmax", logits, ai("axis", 1))
			loss = b.op("Neg", pick(oh, ls, false))
			p := b.op("Exp", ls)
			others := b.reduceSum(b.where(oh, zero, p), []int{1}, true)
			dz = b.where(oh, b.op("Neg", others), p)
			seed = logits
		case opts.Kind == Probabilities:
			py := pick(oh, z.name, true)
			loss = b.op("Neg", b.op("Log", b.reshape(py, shape{n})))
			dz = b.where(oh, b.div(b.scalarLike(z.name, -1), py), zero)
		default: // log-probabilities
			loss = b.op("Neg", pick(oh, z.name, false))
			dz = b.where(oh, b.scalarLike(z.name, -1), zero)
		}
	case Margin:
		// The largest other class: the label's entry pushed below every logit.
		other := b.where(oh, b.scalarLike(z.name, -math.MaxFloat32), z.name)
		loss = b.sub(pick(oh, z.name, false), b.op("ReduceMax", other, aints("axes", 1), ai("keepdims", 0)))
		ohj := b.op("Equal", b.op("ArgMax", other, ai("axis", 1), ai("keepdims", 1)), classes)
		dz = b.sub(b.where(oh, one, zero), b.where(ohj, one, zero))
	case LogitDiff:
		oht := oneHot(input(names.target, tInt64, shape{n}))
		loss = b.sub(pick(oh, z.name, false), pick(oht, z.name, false))
		dz = b.sub(b.where(oh, one, zero), b.where(oht, one, zero))
	}
	return seed, dz, loss, extra, b.err
}

// normalisedFrom returns the logits a probabilities (Softmax) or log-probabilities
// (LogSoftmax) output was computed from over its class axis, or "" when the output
// is not such a node's. The cross-entropy is then differentiated with respect to
// the logits directly, which is exact where -1/p[label] would overflow.
func (b *builder) normalisedFrom(z *value, prod map[string]*node, kind OutputKind) string {
	n := prod[z.name]
	want := "Softmax"
	if kind == LogProbabilities {
		want = "LogSoftmax"
	}
	if n == nil || n.op != want || !b.active[n.in[0]] {
		return ""
	}
	c := &ctx{n: n, opset: b.opset, in: []*value{b.vals[n.in[0]]}}
	axes, err := softmaxAxes(c, len(z.shape))
	if err != nil || !slices.Equal(axes, []int{1}) {
		return ""
	}
	return n.in[0]
}
