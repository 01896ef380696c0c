package graph

import (
	"fmt"

	"github.com/eabs/eabs/models"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Program is a compiled graph run for its outputs: inference, amortised scoring, or a
// latent step with gradients with respect to graph inputs.
type Program[T float32 | float64] struct {
	Net     *Net[T]
	Inputs  map[string]*G.Node
	Outputs map[string]*G.Node
	grads   map[string]*G.Node
	vm      G.VM
}

func (p *Program[T]) compile() error {
	p.vm = G.NewTapeMachine(p.Net.G)
	return nil
}

// Set binds an input to values (copied).
func (p *Program[T]) Set(name string, v []T) error {
	nd, ok := p.Inputs[name]
	if !ok {
		return fmt.Errorf("graph: program has no input %q", name)
	}
	if len(v) != nd.Shape().TotalSize() {
		return fmt.Errorf("graph: input %q needs %d values (shape %v), got %d", name, nd.Shape().TotalSize(), nd.Shape(), len(v))
	}
	return G.Let(nd, tensor.New(tensor.WithShape(nd.Shape()...), tensor.WithBacking(append([]T(nil), v...))))
}

// Run executes the graph.
func (p *Program[T]) Run() error {
	defer p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		return fmt.Errorf("graph: run: %w", err)
	}
	return nil
}

// Output returns a named output's values after Run (valid until the next Run).
func (p *Program[T]) Output(name string) []T {
	nd, ok := p.Outputs[name]
	if !ok {
		if nd, ok = p.grads[name]; !ok {
			panic("graph: program has no output " + name)
		}
	}
	v := nd.Value()
	if d, ok := v.Data().([]T); ok {
		return d
	}
	return []T{v.Data().(T)}
}

// Close releases the machine.
func (p *Program[T]) Close() { p.vm.Close() }

// NewAmortized builds the encoder-amortised classifier used for validation during
// training and for the encoder start of inference: with z = the mean of encoder e's
// Q(z|x) (e = k for class-specific encoders),
//
//	l_k(x) = ||x - G_k(z)||^2 + prior(z)
//
// where prior is -beta*log D(z) for adversarial models and beta*||z||^2/2 (the KL of a
// unit-variance Q) otherwise. Input x (B,C,H,W); outputs "loss" (B,K), "mu" and
// "logvar" (B,E,M). For a CNN the output is "logits" (B,K).
func NewAmortized[T float32 | float64](w *models.Weights, batch int) (*Program[T], error) {
	s := w.Spec
	a := s.Arch
	n := NewNet[T](w, Eval, batch, nil)
	x := n.Input("x", batch, a.InC, a.InH, a.InW)
	p := &Program[T]{Net: n, Inputs: map[string]*G.Node{"x": x}, Outputs: map[string]*G.Node{}}
	if s.Kind == models.CNN {
		p.Outputs["logits"] = n.Classifier(x)
		return p, p.compile()
	}
	mus := make([]*G.Node, s.Encoders())
	lvs := make([]*G.Node, s.Encoders())
	for e := range mus {
		mus[e], lvs[e] = n.Encoder(x, e)
	}
	ls := make([]*G.Node, a.Classes)
	for k := range ls {
		mu := mus[min(k, len(mus)-1)]
		var prior *G.Node
		if s.HasDiscriminator() {
			prior = n.Scale(n.Softplus(n.Neg(n.DiscLogit(mu))), s.Beta)
		} else {
			prior = n.Scale(n.Sum(n.Square(mu), 1), 0.5*s.Beta)
		}
		ls[k] = n.Add(n.SqDist(x, n.Decoder(mu, k)), prior)
	}
	p.Outputs["loss"] = n.Stack(ls)
	p.Outputs["mu"] = n.Stack3(mus)
	p.Outputs["logvar"] = n.Stack3(lvs)
	return p, p.compile()
}

// Stack3 puts E matrices (B, M) together as (B, E, M).
func (n *Net[T]) Stack3(ms []*G.Node) *G.Node {
	b, m := ms[0].Shape()[0], ms[0].Shape()[1]
	rs := make([]*G.Node, len(ms))
	for i, v := range ms {
		rs[i] = n.from(v)(G.Reshape(v, tensor.Shape{b, 1, m}))
	}
	if len(rs) == 1 {
		return rs[0]
	}
	return n.from(rs...)(G.Concat(1, rs...))
}
