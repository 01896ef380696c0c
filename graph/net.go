// Package graph is the Go-native reference graph: it builds the encoder, decoders,
// discriminator and the E-ABS losses of a models.Spec as a Gorgonia expression graph,
// with the custom operations Gorgonia lacks (transposed convolution, a BatchNorm that
// keeps its running statistics in the model's weights, LeakyReLU with the exported
// graphs' derivative convention, stable log-sum-exp).
//
// The same builder serves training (float32, batch statistics, dropout masks, weights
// bound to the models.Weights slices so optimiser updates are seen at the next run) and
// the reference runtime (float64 copies of the weights, running statistics, no dropout),
// against which ONNX Runtime is cross-checked and certified radii are computed.
//
// Randomness never comes from Gorgonia: dropout masks and reparameterisation noise are
// graph inputs filled from a seeded source by the caller.
package graph

import (
	"fmt"
	"math/rand/v2"

	"github.com/eabs/eabs/models"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

const (
	bnEpsilon  = models.BNEpsilon
	bnMomentum = models.BNMomentum
)

// Mode selects how a graph treats BatchNorm and dropout.
type Mode int

const (
	// Eval uses BatchNorm running statistics and no dropout.
	Eval Mode = iota
	// Train uses batch statistics (folding them into the running ones) and dropout
	// masks that the caller refills before every run.
	Train
)

// Net builds pieces of one model into one Gorgonia graph.
type Net[T float32 | float64] struct {
	G    *G.ExprGraph
	W    *models.Weights
	Mode Mode
	// Batch is the fixed batch size of the graph (Gorgonia graphs have static shapes).
	Batch int

	gradOf   func(p *models.Param) bool
	params   map[string]*G.Node
	needs    map[*G.Node]bool
	masks    []*G.Node
	maskVals []*tensor.Dense // the masks' tensors, refilled by every FillMasks
	keep     float64
	updateBN bool
}

// NewNet starts a graph over the weights w. gradOf says which trainable parameters get
// gradients (nil: none, as in an inference graph). In Eval mode with T = float64 the
// weights are copied; with T = float32 the graph reads w's slices directly.
func NewNet[T float32 | float64](w *models.Weights, mode Mode, batch int, gradOf func(p *models.Param) bool) *Net[T] {
	if gradOf == nil {
		gradOf = func(*models.Param) bool { return false }
	}
	return &Net[T]{G: G.NewGraph(), W: w, Mode: mode, Batch: batch, gradOf: gradOf,
		params: map[string]*G.Node{}, needs: map[*G.Node]bool{},
		keep: 1 - w.Spec.Arch.Dropout, updateBN: mode == Train}
}

// SetBNUpdate turns the folding of batch statistics into the running ones on or off
// (training graphs only; off for gradient checks that must not change the model).
func (n *Net[T]) SetBNUpdate(on bool) { n.updateBN = on }

// data converts a parameter to the graph's element type, sharing memory when possible.
func data[T float32 | float64](p *models.Param) []T {
	var z T
	if _, ok := any(z).(float32); ok {
		return any(p.Data).([]T)
	}
	out := make([]T, len(p.Data))
	for i, v := range p.Data {
		out[i] = T(v)
	}
	return out
}

// Param returns the graph node of a named parameter, creating it on first use.
func (n *Net[T]) Param(name string) *G.Node {
	if nd, ok := n.params[name]; ok {
		return nd
	}
	p := n.W.MustParam(name)
	shape := append([]int(nil), p.Shape...)
	val := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data[T](p)))
	nd := G.NodeFromAny(n.G, val, G.WithName(name))
	n.params[name] = nd
	n.needs[nd] = p.Role.Trainable() && n.gradOf(p)
	return nd
}

// Params returns the parameter nodes created so far that get gradients, with their
// parameters, in the weights' order.
func (n *Net[T]) Params() ([]*models.Param, G.Nodes) {
	var ps []*models.Param
	var nodes G.Nodes
	for _, p := range n.W.Params {
		if nd, ok := n.params[p.Name]; ok && n.needs[nd] {
			ps = append(ps, p)
			nodes = append(nodes, nd)
		}
	}
	return ps, nodes
}

// Input adds a data input of the given shape (it never gets a gradient).
func (n *Net[T]) Input(name string, shape ...int) *G.Node {
	return G.NewTensor(n.G, dtypeOf[T](), len(shape), G.WithShape(shape...), G.WithName(name))
}

// Var adds an input that does get a gradient (a latent mean, say).
func (n *Net[T]) Var(name string, shape ...int) *G.Node {
	nd := n.Input(name, shape...)
	n.needs[nd] = true
	return nd
}

func (n *Net[T]) need(nodes ...*G.Node) []bool {
	out := make([]bool, len(nodes))
	for i, nd := range nodes {
		out[i] = n.needs[nd]
	}
	return out
}

func any2(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

// k applies a kernel, tracking whether its output depends on something with a gradient.
func (n *Net[T]) k(kn kernel[T], inputs ...*G.Node) *G.Node {
	need := n.need(inputs...)
	out, err := apply[T](kn, need, inputs...)
	if err != nil {
		panic(fmt.Sprintf("graph: building %v: %v", kn, err))
	}
	n.needs[out] = any2(need)
	return out
}

// from wraps a Gorgonia builder call on inputs, which can only fail on a programming
// error here, and records whether its result needs a gradient:
// n.from(a, b)(G.Add(a, b)).
func (n *Net[T]) from(inputs ...*G.Node) func(*G.Node, error) *G.Node {
	return func(out *G.Node, err error) *G.Node {
		if err != nil {
			panic(fmt.Sprintf("graph: %v", err))
		}
		n.needs[out] = any2(n.need(inputs...))
		return out
	}
}

func (n *Net[T]) scalar(v float64) *G.Node { return G.NewConstant(T(v)) }

// Dropout multiplies x by a mask input the caller refills before each run (Train mode
// only; identity in Eval).
func (n *Net[T]) Dropout(x *G.Node) *G.Node {
	if n.Mode != Train || n.keep >= 1 {
		return x
	}
	m := n.Input(fmt.Sprintf("dropout%d", len(n.masks)), x.Shape()...)
	n.masks = append(n.masks, m)
	return n.from(x)(G.HadamardProd(x, m))
}

// FillMasks draws fresh dropout masks: each element is 1/keep with probability keep,
// else 0 (inverted dropout, so Eval needs no rescaling).
// Each mask keeps its tensor from draw to draw: a fresh one per training step was
// garbage, and fresh memory costs page faults.
func (n *Net[T]) FillMasks(rng *rand.Rand) error {
	for i, m := range n.masks {
		if i == len(n.maskVals) {
			n.maskVals = append(n.maskVals, tensor.New(tensor.Of(dtypeOf[T]()), tensor.WithShape(m.Shape()...)))
		}
		v := n.maskVals[i]
		d := v.Data().([]T)
		for j := range d {
			d[j] = 0
			if rng.Float64() < n.keep {
				d[j] = T(1 / n.keep)
			}
		}
		if err := G.Let(m, v); err != nil {
			return err
		}
	}
	return nil
}

// bnAct is BatchNorm followed by LeakyReLU with the given slope (ReLU when 0), as one
// fused kernel.
func (n *Net[T]) bnAct(x *G.Node, prefix string, slope float64) *G.Node {
	mean := data[T](n.W.MustParam(prefix + ".mean"))
	vr := data[T](n.W.MustParam(prefix + ".var"))
	return n.k(newBN(n.Mode == Train, &n.updateBN, mean, vr, slope), x, n.Param(prefix+".gamma"), n.Param(prefix+".beta"))
}

func (n *Net[T]) act(x *G.Node, slope float64) *G.Node {
	return n.k(actKernel[T]{slope, x.Dims()}, x)
}

// Dense is x·W + b with W stored (in, out).
func (n *Net[T]) Dense(x *G.Node, prefix string) *G.Node {
	w := n.Param(prefix + ".w")
	y := n.from(x, w)(G.Mul(x, w))
	return n.k(biasKernel[T]{2}, y, n.Param(prefix+".b"))
}

// Features runs encoder e's convolution stack and flattens it to (B, F).
func (n *Net[T]) Features(x *G.Node, e int) *G.Node {
	a := n.W.Spec.Arch
	p := models.EncoderPrefix(n.W.Spec, e)
	c, h, w := a.InC, a.InH, a.InW
	for i, l := range a.Encoder {
		g := newGeometry(c, h, w, l.Kernel, l.Stride, l.Pad)
		x = n.k(newConvKernel[T](convFwd, g, l.Out), x, n.Param(fmt.Sprintf("%s.conv%d.w", p, i)))
		x = n.bnAct(x, fmt.Sprintf("%s.bn%d", p, i), a.LeakySlope)
		c, h, w = l.Out, g.Ho, g.Wo
	}
	x = n.Dropout(x)
	return n.from(x)(G.Reshape(x, tensor.Shape{n.Batch, c * h * w}))
}

// Encoder returns the mean and log-variance (B, M) of encoder e's Q(z|x).
func (n *Net[T]) Encoder(x *G.Node, e int) (mu, logvar *G.Node) {
	f := n.Features(x, e)
	p := models.EncoderPrefix(n.W.Spec, e)
	return n.Dense(f, p+".mu"), n.Dense(f, p+".logvar")
}

// Classifier returns the CNN's logits (B, K).
func (n *Net[T]) Classifier(x *G.Node) *G.Node {
	return n.Dense(n.Features(x, 0), models.EncoderPrefix(n.W.Spec, 0)+".cls")
}

// Decoder returns G_k(z), (B, C, H, W).
func (n *Net[T]) Decoder(z *G.Node, k int) *G.Node {
	a := n.W.Spec.Arch
	p := models.DecoderPrefix(k)
	h := n.Dense(z, p+".fc")
	h = n.Dropout(h)
	c0 := a.Decoder[0].Out
	x := n.from(h)(G.Reshape(h, tensor.Shape{n.Batch, c0, 1, 1}))
	c, hh, ww := c0, 1, 1
	for i, l := range a.Decoder {
		ho, wo := models.ConvTOut(hh, l), models.ConvTOut(ww, l)
		// A transposed convolution is the adjoint of the convolution that maps the
		// (l.Out, ho, wo) output back to the (c, hh, ww) input.
		g := newGeometry(l.Out, ho, wo, l.Kernel, l.Stride, l.Pad)
		if g.Ho != hh || g.Wo != ww {
			panic(fmt.Sprintf("graph: decoder layer %d geometry %dx%d does not invert to %dx%d", i, ho, wo, hh, ww))
		}
		x = n.k(newConvKernel[T](convAdj, g, c), x, n.Param(fmt.Sprintf("%s.convt%d.w", p, i)))
		if i < len(a.Decoder)-1 {
			x = n.bnAct(x, fmt.Sprintf("%s.bn%d", p, i), 0)
		} else {
			x = n.k(biasSigmoidKernel[T]{}, x, n.Param(fmt.Sprintf("%s.convt%d.b", p, i)))
		}
		c, hh, ww = l.Out, ho, wo
	}
	return x
}

// DiscLogit returns the discriminator's logit (B) for latents z (B, M); D = sigmoid.
func (n *Net[T]) DiscLogit(z *G.Node) *G.Node {
	a := n.W.Spec.Arch
	h := z
	for i := range a.DiscHidden {
		h = n.Dense(h, fmt.Sprintf("disc.fc%d", i))
		h = n.act(h, a.LeakySlope)
	}
	out := n.Dense(h, fmt.Sprintf("disc.fc%d", len(a.DiscHidden)))
	return n.from(out)(G.Reshape(out, tensor.Shape{n.Batch}))
}

// SqDist is the per-sample squared L2 distance (B) between x and r.
func (n *Net[T]) SqDist(x, r *G.Node) *G.Node {
	return n.k(sqDistKernel[T]{x.Dims()}, x, r)
}

// LogSumExp is the row-wise log-sum-exp (B) of a (B, K) matrix.
func (n *Net[T]) LogSumExp(a *G.Node) *G.Node { return n.k(lseKernel[T]{}, a) }

// Stack puts K vectors of length B side by side as a (B, K) matrix.
func (n *Net[T]) Stack(vs []*G.Node) *G.Node {
	cols := make([]*G.Node, len(vs))
	for i, v := range vs {
		cols[i] = n.from(v)(G.Reshape(v, tensor.Shape{n.Batch, 1}))
	}
	if len(cols) == 1 {
		return cols[0]
	}
	return n.from(cols...)(G.Concat(1, cols...))
}

// Op helpers that track gradient needs.

func (n *Net[T]) Add(a, b *G.Node) *G.Node { return n.from(a, b)(G.Add(a, b)) }
func (n *Net[T]) Sub(a, b *G.Node) *G.Node { return n.from(a, b)(G.Sub(a, b)) }
func (n *Net[T]) Mul(a, b *G.Node) *G.Node { return n.from(a, b)(G.HadamardProd(a, b)) }
func (n *Net[T]) Scale(a *G.Node, s float64) *G.Node {
	return n.from(a)(G.HadamardProd(a, n.scalar(s)))
}
func (n *Net[T]) Exp(a *G.Node) *G.Node      { return n.from(a)(G.Exp(a)) }
func (n *Net[T]) Neg(a *G.Node) *G.Node      { return n.from(a)(G.Neg(a)) }
func (n *Net[T]) Square(a *G.Node) *G.Node   { return n.from(a)(G.Square(a)) }
func (n *Net[T]) Softplus(a *G.Node) *G.Node { return n.from(a)(G.Softplus(a)) }
func (n *Net[T]) Sum(a *G.Node, axis ...int) *G.Node {
	return n.from(a)(G.Sum(a, axis...))
}
func (n *Net[T]) Mean(a *G.Node) *G.Node { return n.from(a)(G.Mean(a)) }
func (n *Net[T]) AddScalar(a *G.Node, s float64) *G.Node {
	return n.from(a)(G.Add(a, n.scalar(s)))
}

// Reparam is z = mu + exp(0.5*logvar)*eps.
func (n *Net[T]) Reparam(mu, logvar, eps *G.Node) *G.Node {
	return n.Add(mu, n.Mul(n.Exp(n.Scale(logvar, 0.5)), eps))
}

// KL is KL(N(mu, exp(logvar)) || N(0, I)) per sample (B): 0.5*sum(mu^2 + exp(lv) - lv - 1).
func (n *Net[T]) KL(mu, logvar *G.Node) *G.Node {
	t := n.Sub(n.Add(n.Square(mu), n.Exp(logvar)), logvar)
	return n.Scale(n.AddScalar(n.Sum(t, 1), -float64(mu.Shape()[1])), 0.5)
}
