package grad

import (
	"fmt"
)

// Evaluate runs the model on inputs in Go and returns its outputs by name. It computes
// in float64 whatever the model's float types (a Cast to float32 still rounds), with
// the operator semantics the differentiator assumes, so tests can take central
// differences of a model to check the gradient graphs ONNX Runtime runs. It is slow
// (plain loops) and meant for small models.
func Evaluate(model []byte, inputs map[string]*Tensor) (map[string]*Tensor, error) {
	p, opset, err := parse(model)
	if err != nil {
		return nil, err
	}
	b := newBuilder(opset, map[string]bool{})
	promote := func(t *Tensor) *Tensor {
		if t.Type == tFloat {
			t = &Tensor{Type: tDouble, Shape: t.Shape, F: t.F}
		}
		return t
	}
	defined := map[string]bool{}
	for _, t := range p.Graph.Initializer {
		k, err := decodeTensor(t)
		if err != nil {
			return nil, fmt.Errorf("grad: %w", err)
		}
		b.vals[t.Name] = constValue(t.Name, promote(k))
		defined[t.Name] = true
	}
	declared, err := graphInputs(p.Graph)
	if err != nil {
		return nil, err
	}
	for _, in := range declared {
		t, ok := inputs[in.name]
		if !ok {
			return nil, fmt.Errorf("grad: no value for input %q", in.name)
		}
		if len(t.Shape) != len(in.shape) || t.len() != numel(t.Shape) {
			return nil, fmt.Errorf("grad: input %q has shape %v (%d values); the model wants %v", in.name, t.Shape, t.len(), in.shape)
		}
		for i, d := range in.shape {
			if d.static() && int(d.n) != t.Shape[i] {
				return nil, fmt.Errorf("grad: input %q has shape %v; the model wants %v", in.name, t.Shape, in.shape)
			}
		}
		if isFloat(t.Type) != isFloat(in.typ) {
			return nil, fmt.Errorf("grad: input %q has element type %s; the model wants %s", in.name, typeName(t.Type), typeName(in.typ))
		}
		b.vals[in.name] = constValue(in.name, promote(t))
		defined[in.name] = true
	}
	nodes, err := sortNodes(p.Graph, defined)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		outs, err := b.apply(n)
		if err != nil {
			return nil, fmt.Errorf("grad: %w", err)
		}
		for i, v := range outs {
			if n.out[i] == "" {
				continue
			}
			if v.k == nil {
				return nil, fmt.Errorf("grad: %v cannot be evaluated", n)
			}
			if v.k.Type == tFloat {
				v.k = promote(v.k)
				v.typ = tDouble
			}
		}
	}
	out := map[string]*Tensor{}
	for _, o := range p.Graph.Output {
		out[o.Name] = b.vals[o.Name].k
	}
	return out, nil
}
