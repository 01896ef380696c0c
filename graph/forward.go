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
	reads   outputReads
}

func (p *Program[T]) compile() error {
	p.reads = readOutputs(p.Outputs, p.grads)
	p.vm = G.NewTapeMachine(p.Net.G)
	return nil
}

// outputReads holds, per output name, the copy G.Read makes of the node's value when
// the tape machine computes it. A node's own Value after RunAll is not reliable: the
// machine reuses a register once its last reader has run, and ops that work in place
// overwrite it (eq. 5's c came back from a training run multiplied by (1+gamma)/B,
// which kept its argmin, so only a test reading c saw it).
type outputReads map[string]*G.Value

// readOutputs adds a read to the graph for every named node; call it before the tape
// machine is made.
func readOutputs(sets ...map[string]*G.Node) outputReads {
	r := outputReads{}
	for _, set := range sets {
		for name, nd := range set {
			v := new(G.Value)
			G.Read(nd, v)
			r[name] = v
		}
	}
	return r
}

// outputData is a read output's values (a scalar as one value).
func outputData[T float32 | float64](r outputReads, name string) []T {
	v, ok := r[name]
	if !ok || *v == nil {
		panic("graph: no output " + name + " (or read before the first run)")
	}
	if d, ok := (*v).Data().([]T); ok {
		return d
	}
	return []T{(*v).Data().(T)}
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
	return outputData[T](p.reads, name)
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

// NewEncode builds every encoder: input x (B,C,H,W); outputs "mu" and "logvar"
// (B,E,M).
func NewEncode[T float32 | float64](w *models.Weights, batch int) (*Program[T], error) {
	s := w.Spec
	if s.Kind != models.Generative {
		return nil, fmt.Errorf("graph: %s has no latent encoder", s.Name())
	}
	a := s.Arch
	n := NewNet[T](w, Eval, batch, nil)
	x := n.Input("x", batch, a.InC, a.InH, a.InW)
	mus := make([]*G.Node, s.Encoders())
	lvs := make([]*G.Node, s.Encoders())
	for e := range mus {
		mus[e], lvs[e] = n.Encoder(x, e)
	}
	p := &Program[T]{Net: n, Inputs: map[string]*G.Node{"x": x},
		Outputs: map[string]*G.Node{"mu": n.Stack3(mus), "logvar": n.Stack3(lvs)}}
	return p, p.compile()
}

// ClassInput names the per-class input or output k of a program (z3, mu3, grad_mu3).
func ClassInput(name string, k int) string { return fmt.Sprintf("%s%d", name, k) }

// NewDecode builds every decoder: inputs "z0".."z{K-1}" (B,M), decoder k reading zk;
// output "rec" (B,K,C*H*W).
func NewDecode[T float32 | float64](w *models.Weights, batch int) (*Program[T], error) {
	s := w.Spec
	if s.Kind != models.Generative {
		return nil, fmt.Errorf("graph: %s has no decoders", s.Name())
	}
	a := s.Arch
	n := NewNet[T](w, Eval, batch, nil)
	p := &Program[T]{Net: n, Inputs: map[string]*G.Node{}, Outputs: map[string]*G.Node{}}
	recs := make([]*G.Node, a.Classes)
	for k := range recs {
		z := n.Input(ClassInput("z", k), batch, a.Latent)
		p.Inputs[ClassInput("z", k)] = z
		recs[k] = n.flat(n.Decoder(z, k))
	}
	p.Outputs["rec"] = n.Stack3(recs)
	return p, p.compile()
}

// flat reshapes (B, ...) to (B, rest).
func (n *Net[T]) flat(x *G.Node) *G.Node {
	s := x.Shape()
	return n.from(x)(G.Reshape(x, tensor.Shape{s[0], s.TotalSize() / s[0]}))
}

// NewDiscLogit builds the discriminator: input "z" (N,M); output "logit" (N).
func NewDiscLogit[T float32 | float64](w *models.Weights, n int) (*Program[T], error) {
	if !w.Spec.HasDiscriminator() {
		return nil, fmt.Errorf("graph: %s has no discriminator", w.Spec.Name())
	}
	net := NewNet[T](w, Eval, n, nil)
	z := net.Input("z", n, w.Spec.Arch.Latent)
	p := &Program[T]{Net: net, Inputs: map[string]*G.Node{"z": z}, Outputs: map[string]*G.Node{"logit": net.DiscLogit(z)}}
	return p, p.compile()
}

// NewLatentStep builds eq. 6 with one reparameterised sample per class and its
// gradients by Gorgonia's automatic differentiation (an independent check of the
// hand-written vector-Jacobian products of the ONNX export). Inputs: "x" (B,C,H,W) and
// per class k "mu{k}", "logvar{k}", "eps{k}" (B,M). Outputs: "loss" (B,K), "rec"
// (B,K,C*H*W), "grad_mu{k}", "grad_logvar{k}" (B,M).
func NewLatentStep[T float32 | float64](w *models.Weights, batch int) (*Program[T], error) {
	s := w.Spec
	if s.Kind != models.Generative {
		return nil, fmt.Errorf("graph: %s has no latent space", s.Name())
	}
	a := s.Arch
	n := NewNet[T](w, Eval, batch, nil)
	x := n.Input("x", batch, a.InC, a.InH, a.InW)
	p := &Program[T]{Net: n, Inputs: map[string]*G.Node{"x": x}, Outputs: map[string]*G.Node{}, grads: map[string]*G.Node{}}
	var wrt G.Nodes
	var names []string
	losses := make([]*G.Node, a.Classes)
	recs := make([]*G.Node, a.Classes)
	for k := 0; k < a.Classes; k++ {
		mu := n.Var(ClassInput("mu", k), batch, a.Latent)
		lv := n.Var(ClassInput("logvar", k), batch, a.Latent)
		eps := n.Input(ClassInput("eps", k), batch, a.Latent)
		p.Inputs[ClassInput("mu", k)], p.Inputs[ClassInput("logvar", k)], p.Inputs[ClassInput("eps", k)] = mu, lv, eps
		z := n.Reparam(mu, lv, eps)
		rec := n.Decoder(z, k)
		recs[k] = n.flat(rec)
		losses[k] = n.Add(n.SqDist(x, rec), n.prior(z, mu, lv))
		wrt = append(wrt, mu, lv)
		names = append(names, ClassInput("grad_mu", k), ClassInput("grad_logvar", k))
	}
	loss := n.Stack(losses)
	p.Outputs["loss"] = loss
	p.Outputs["rec"] = n.Stack3(recs)
	grads, err := G.Grad(n.Sum(n.Sum(loss, 1), 0), wrt...)
	if err != nil {
		return nil, fmt.Errorf("graph: latent step gradients: %w", err)
	}
	for i, g := range grads {
		p.grads[names[i]] = g
	}
	return p, p.compile()
}

// NewCNNLossGrad builds a CNN's per-sample cross-entropy and its gradient with respect
// to the input, what gradient attacks (and adversarial training) need: inputs "x"
// (B,C,H,W) and "onehot" (B,K); outputs "logits" (B,K), "loss" (B) and "grad_x".
func NewCNNLossGrad[T float32 | float64](w *models.Weights, batch int) (*Program[T], error) {
	s := w.Spec
	if s.Kind != models.CNN {
		return nil, fmt.Errorf("graph: %s is not a CNN", s.Name())
	}
	a := s.Arch
	n := NewNet[T](w, Eval, batch, nil)
	x := n.Var("x", batch, a.InC, a.InH, a.InW)
	onehot := n.Input("onehot", batch, a.Classes)
	logits := n.Classifier(x)
	loss := n.Sub(n.LogSumExp(logits), n.Sum(n.Mul(logits, onehot), 1))
	grads, err := G.Grad(n.Sum(loss, 0), x)
	if err != nil {
		return nil, fmt.Errorf("graph: cross-entropy input gradient: %w", err)
	}
	p := &Program[T]{Net: n, Inputs: map[string]*G.Node{"x": x, "onehot": onehot},
		Outputs: map[string]*G.Node{"logits": logits, "loss": loss}, grads: map[string]*G.Node{"grad_x": grads[0]}}
	return p, p.compile()
}
