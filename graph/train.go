package graph

import (
	"fmt"
	"math/rand/v2"

	"github.com/eabs/eabs/models"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Objective is a compiled training graph: a scalar loss, the gradients of the
// parameters it trains, and named outputs the trainer reads after each run.
type Objective[T float32 | float64] struct {
	Net    *Net[T]
	Loss   *G.Node
	Params []*models.Param
	Grads  G.Nodes
	// Inputs are the data inputs by name ("x", "target", "onehot", "eps", "zq", "zp").
	Inputs map[string]*G.Node
	// Outputs are values worth reading after a run by name ("c", "z", "logits").
	Outputs map[string]*G.Node
	vm      G.VM
	reads   outputReads
	// bound holds each data input's tensor, refilled by every Set: a fresh one per
	// training step was garbage, and fresh memory costs page faults.
	bound map[string]*tensor.Dense
}

func (o *Objective[T]) compile() error {
	ps, nodes := o.Net.Params()
	if len(nodes) == 0 {
		return fmt.Errorf("graph: objective trains no parameter")
	}
	grads, err := G.Grad(o.Loss, nodes...)
	if err != nil {
		return fmt.Errorf("graph: gradients: %w", err)
	}
	o.Params, o.Grads = ps, grads
	o.reads = readOutputs(o.Outputs)
	o.vm = G.NewTapeMachine(o.Net.G)
	return nil
}

// Set binds a data input to values (copied into a tensor of the input's shape).
func (o *Objective[T]) Set(name string, v []T) error {
	nd, ok := o.Inputs[name]
	if !ok {
		return fmt.Errorf("graph: objective has no input %q", name)
	}
	if len(v) != nd.Shape().TotalSize() {
		return fmt.Errorf("graph: input %q needs %d values (shape %v), got %d", name, nd.Shape().TotalSize(), nd.Shape(), len(v))
	}
	t := o.bound[name]
	if t == nil {
		t = tensor.New(tensor.Of(dtypeOf[T]()), tensor.WithShape(nd.Shape()...))
		if o.bound == nil {
			o.bound = map[string]*tensor.Dense{}
		}
		o.bound[name] = t
	}
	copy(t.Data().([]T), v)
	return G.Let(nd, t)
}

// Run draws dropout masks from rng, runs the graph forward and backward, and returns
// the loss. Gradients are then available from Grad until the next Run.
func (o *Objective[T]) Run(rng *rand.Rand) (float64, error) {
	if err := o.Net.FillMasks(rng); err != nil {
		return 0, err
	}
	defer o.vm.Reset()
	if err := o.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("graph: run: %w", err)
	}
	return float64(o.Loss.Value().Data().(T)), nil
}

// Grad returns the gradient of parameter i of Params after a Run.
func (o *Objective[T]) Grad(i int) []T { return o.Grads[i].Value().Data().([]T) }

// Output returns the values of a named output after a Run (valid until the next Run).
func (o *Objective[T]) Output(name string) []T {
	return outputData[T](o.reads, name)
}

// Close releases the machine.
func (o *Objective[T]) Close() { o.vm.Close() }

// trainAll selects every trainable parameter but the discriminator's.
func trainAll(p *models.Param) bool { return !isDisc(p) }

func isDisc(p *models.Param) bool { return len(p.Name) > 5 && p.Name[:5] == "disc." }

// NewDiscriminative builds eq. 5 for a model with one shared encoder (E-ABS and the D
// variants): per sample, with z ~ Q(z|x) reparameterised by the eps input,
//
//	c(x, G_y(z)) + prior(z) - gamma*log softmax_k(-c(x, G_k(z)))[y]
//
// averaged over the batch, where c is the squared L2 error and prior is
// -beta*log D(z) (adversarial) or beta*KL(Q(z|x) || N(0, I)); with a Spec.Temperature
// T != 1 the last term is -gamma*T*log softmax_k(-c/T)[y]. The gradients cover the
// encoder and decoders; the discriminator is trained by NewDiscriminator.
// Inputs: x (B,C,H,W) the encoder's input, target (B,C,H,W) what c compares the
// reconstructions with (x itself, or the clean image when x is noise-augmented),
// onehot (B,K), eps (B,M). Outputs: c (B,K), z (B,M).
func NewDiscriminative[T float32 | float64](w *models.Weights, batch int) (*Objective[T], error) {
	s := w.Spec
	if s.Kind != models.Generative || !s.Discriminative {
		return nil, fmt.Errorf("graph: %s is not a discriminative generative model", s.Name())
	}
	a := s.Arch
	n := NewNet[T](w, Train, batch, trainAll)
	x := n.Input("x", batch, a.InC, a.InH, a.InW)
	target := n.Input("target", batch, a.InC, a.InH, a.InW)
	onehot := n.Input("onehot", batch, a.Classes)
	eps := n.Input("eps", batch, a.Latent)
	mu, lv := n.Encoder(x, 0)
	z := n.Reparam(mu, lv, eps)
	cs := make([]*G.Node, a.Classes)
	for k := range cs {
		cs[k] = n.SqDist(target, n.Decoder(z, k))
	}
	c := n.Stack(cs)
	cy := n.Sum(n.Mul(c, onehot), 1)
	// T * (LSE(-c/T) + c_y/T) (models.Spec.Temperature); at the paper's T = 1 the two
	// scalings multiply by exactly 1, so its values and gradients are eq. 5's bit for bit.
	t := s.CETemperature()
	ce := n.Add(n.Scale(n.LogSumExp(n.Scale(n.Neg(c), 1/t)), t), cy)
	per := n.Add(n.Add(cy, n.prior(z, mu, lv)), n.Scale(ce, s.Gamma))
	o := &Objective[T]{Net: n, Loss: n.Mean(per),
		Inputs:  map[string]*G.Node{"x": x, "target": target, "onehot": onehot, "eps": eps},
		Outputs: map[string]*G.Node{"c": c, "z": z}}
	return o, o.compile()
}

// prior is the per-sample prior term: beta*softplus(-logit D(z)) = -beta*log D(z) for
// adversarial models, beta*KL(N(mu, exp(lv)) || N(0, I)) otherwise.
func (n *Net[T]) prior(z, mu, lv *G.Node) *G.Node {
	s := n.W.Spec
	if s.HasDiscriminator() {
		return n.Scale(n.Softplus(n.Neg(n.DiscLogit(z))), s.Beta)
	}
	return n.Scale(n.KL(mu, lv), s.Beta)
}

// NewClassVAE builds the loss of class k's own autoencoder for models without a shared
// encoder (ABS and the A/V variants), trained on class-k images only:
// c(x, G_k(z)) + prior(z), z ~ Q_k(z|x). Inputs: x, eps. Outputs: z.
func NewClassVAE[T float32 | float64](w *models.Weights, batch, k int) (*Objective[T], error) {
	s := w.Spec
	if s.Kind != models.Generative || s.Discriminative {
		return nil, fmt.Errorf("graph: %s has a shared encoder; use NewDiscriminative", s.Name())
	}
	a := s.Arch
	ep, dp := models.EncoderPrefix(s, k)+".", models.DecoderPrefix(k)+"."
	n := NewNet[T](w, Train, batch, func(p *models.Param) bool {
		return len(p.Name) > len(ep) && p.Name[:len(ep)] == ep || len(p.Name) > len(dp) && p.Name[:len(dp)] == dp
	})
	x := n.Input("x", batch, a.InC, a.InH, a.InW)
	target := n.Input("target", batch, a.InC, a.InH, a.InW)
	eps := n.Input("eps", batch, a.Latent)
	mu, lv := n.Encoder(x, k)
	z := n.Reparam(mu, lv, eps)
	per := n.Add(n.SqDist(target, n.Decoder(z, k)), n.prior(z, mu, lv))
	o := &Objective[T]{Net: n, Loss: n.Mean(per),
		Inputs:  map[string]*G.Node{"x": x, "target": target, "eps": eps},
		Outputs: map[string]*G.Node{"z": z}}
	return o, o.compile()
}

// NewDiscriminator builds the discriminator's loss
// -beta*(log D(zp) + log(1 - D(zq))) = beta*(softplus(-logit(zp)) + softplus(logit(zq)))
// averaged over the batch, for prior samples zp and encoded latents zq (B, M).
func NewDiscriminator[T float32 | float64](w *models.Weights, batch int) (*Objective[T], error) {
	s := w.Spec
	if !s.HasDiscriminator() {
		return nil, fmt.Errorf("graph: %s has no discriminator", s.Name())
	}
	n := NewNet[T](w, Train, batch, isDisc)
	zq := n.Input("zq", batch, s.Arch.Latent)
	zp := n.Input("zp", batch, s.Arch.Latent)
	lp, lq := n.DiscLogit(zp), n.DiscLogit(zq)
	per := n.Add(n.Softplus(n.Neg(lp)), n.Softplus(lq))
	o := &Objective[T]{Net: n, Loss: n.Scale(n.Mean(per), s.Beta),
		Inputs: map[string]*G.Node{"zq": zq, "zp": zp}, Outputs: map[string]*G.Node{}}
	return o, o.compile()
}

// NewCNN builds the cross-entropy of the CNN baseline. Inputs: x, onehot.
// Outputs: logits (B,K).
func NewCNN[T float32 | float64](w *models.Weights, batch int) (*Objective[T], error) {
	s := w.Spec
	if s.Kind != models.CNN {
		return nil, fmt.Errorf("graph: %s is not a CNN", s.Name())
	}
	a := s.Arch
	n := NewNet[T](w, Train, batch, trainAll)
	x := n.Input("x", batch, a.InC, a.InH, a.InW)
	onehot := n.Input("onehot", batch, a.Classes)
	logits := n.Classifier(x)
	per := n.Sub(n.LogSumExp(logits), n.Sum(n.Mul(logits, onehot), 1))
	o := &Objective[T]{Net: n, Loss: n.Mean(per),
		Inputs:  map[string]*G.Node{"x": x, "onehot": onehot},
		Outputs: map[string]*G.Node{"logits": logits}}
	return o, o.compile()
}
