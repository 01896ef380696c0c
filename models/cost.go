package models

import "fmt"

// This file counts the arithmetic and the memory traffic of a model from its
// architecture alone, so that a measured speed can be put against what the machine
// could do (issue 30): FLOP per image divided by seconds per image is the achieved
// rate, and the SGEMM rate measured on the same machine is the peak it is compared
// with. The counts are exact integers under the conventions below; the stage totals
// (a training step, a full inference, an attack gradient) are composed in the packages
// whose code they count (train, infer, adversary).
//
// Conventions:
//   - A multiply-add is 2 FLOP. Convolutions, transposed convolutions and fully
//     connected layers count the dense GEMM their im2col form runs (zero padding
//     included): a convolution O*Ho*Wo*C*K*K multiply-adds, a transposed convolution
//     C*H*W*O*K*K (C, H, W its input, O its output channels), a dense layer In*Out.
//     These are the GEMM FLOP, the part the SGEMM peak applies to.
//   - The input gradient and the weight gradient of a linear layer each cost what its
//     forward pass does (they are the same GEMM with the operands swapped), so a layer
//     that gets both costs 3x its forward: the "backward = 2x forward" rule.
//   - Everything else is element-wise, one FLOP per arithmetic operation and per
//     element, a transcendental (exp, sqrt) counting one (elementwise below). These
//     FLOP are a few percent of the total but cost memory traffic, not multiplies.
//   - Bytes are float32. A pass over a layer reads its input-side tensor and writes
//     its output-side tensor once per image (ActBytes: the traffic of an unfused
//     implementation whose tensors do not stay in cache) and reads its weights once
//     per batch (WeightBytes); a weight-gradient pass writes the weights' gradient.

// Cost is the arithmetic and memory traffic of some computation.
type Cost struct {
	// GEMM is the FLOP of dense products: the linear layers and the start search's
	// distances.
	GEMM int64 `json:"gemm_flop"`
	// Elementwise is the FLOP of the rest (BatchNorm, activations, dropout, biases,
	// losses, optimiser updates).
	Elementwise int64 `json:"elementwise_flop"`
	// ActBytes are the bytes of activations (and other per-image data) read and
	// written.
	ActBytes int64 `json:"activation_bytes"`
	// WeightBytes are the bytes of weights (and other data shared by a batch, such as
	// the start bank) read or written.
	WeightBytes int64 `json:"weight_bytes"`
}

// FLOP is the total arithmetic.
func (c Cost) FLOP() int64 { return c.GEMM + c.Elementwise }

// Bytes is the total memory traffic.
func (c Cost) Bytes() int64 { return c.ActBytes + c.WeightBytes }

// Plus returns c + d.
func (c Cost) Plus(d Cost) Cost {
	return Cost{c.GEMM + d.GEMM, c.Elementwise + d.Elementwise, c.ActBytes + d.ActBytes, c.WeightBytes + d.WeightBytes}
}

// Times returns n copies of c.
func (c Cost) Times(n int) Cost {
	m := int64(n)
	return Cost{c.GEMM * m, c.Elementwise * m, c.ActBytes * m, c.WeightBytes * m}
}

// LayerKind is the kind of one counted layer.
type LayerKind string

const (
	KindConv      LayerKind = "conv"
	KindConvT     LayerKind = "convT"
	KindFC        LayerKind = "fc"
	KindBatchNorm LayerKind = "batchnorm"
	KindReLU      LayerKind = "relu"
	KindLeakyReLU LayerKind = "leaky_relu"
	KindSigmoid   LayerKind = "sigmoid"
	KindDropout   LayerKind = "dropout"
)

// elementwise gives the FLOP per element of the element-wise layers, for a forward
// pass with batch statistics and dropout (training) and without (evaluation), the input
// gradient in each mode, and the gradient of the layer's own parameters:
//
//	BatchNorm, training: moments from the shifted values (subtract, add, multiply,
//	  add: 4) and y = x*scale + shift with per-channel scale and shift (2); input
//	  gradient scale*(g - sum(g)/N - xhat*sum(g*xhat)/N) with xhat = (x-mean)*invstd
//	  (subtract, multiply; multiply, two subtractions, multiply: 6); the parameters'
//	  gradients sum(g) and sum(g*(x-mean)) (4: subtract, multiply, two adds).
//	BatchNorm, evaluation: y = x*scale + shift (2); input gradient g*scale (1).
//	ReLU, LeakyReLU: one multiply by the factor of the sign (1), the same backward.
//	Sigmoid 1/(1+exp(-x)): negate, exp, add, divide (4); input gradient g*y*(1-y) (3).
//	Dropout: a multiply by the mask (1), the same backward; nothing in evaluation.
var elementwise = map[LayerKind]struct{ fwdTrain, fwdEval, dxTrain, dxEval, dw int64 }{
	KindBatchNorm: {6, 2, 6, 1, 4},
	KindReLU:      {1, 1, 1, 1, 0},
	KindLeakyReLU: {1, 1, 1, 1, 0},
	KindSigmoid:   {4, 4, 3, 3, 0},
	KindDropout:   {1, 0, 1, 0, 0},
}

// LayerCost is one layer of a module as the counts see it, per image.
type LayerCost struct {
	// Name is the layer's parameter prefix ("enc.conv0", "dec.bn1") or, for a layer
	// without parameters, its position ("dec.relu1").
	Name string    `json:"name"`
	Kind LayerKind `json:"kind"`
	// In and Out are the (C, H, W) of one image's input and output; a dense layer's
	// are (n, 1, 1).
	In  [3]int `json:"in"`
	Out [3]int `json:"out"`
	// Kernel, Stride and Pad of a convolution or transposed convolution.
	Kernel int `json:"kernel,omitempty"`
	Stride int `json:"stride,omitempty"`
	Pad    int `json:"pad,omitempty"`
	// Bias: a linear layer that adds a bias (one FLOP per output element forward and
	// one in its gradient's sum).
	Bias bool `json:"bias,omitempty"`
	// MACs are the multiply-adds of a linear layer's forward pass per image.
	MACs int64 `json:"macs"`
	// Params is the number of stored parameters (BatchNorm's include the running
	// statistics); Trainable those that get gradients.
	Params    int64 `json:"params"`
	Trainable int64 `json:"trainable"`
}

func volume(s [3]int) int64 { return int64(s[0]) * int64(s[1]) * int64(s[2]) }

func (l LayerCost) linear() bool {
	return l.Kind == KindConv || l.Kind == KindConvT || l.Kind == KindFC
}

// Pass selects the computations a module's layers run.
type Pass struct {
	// Train: BatchNorm with batch statistics, dropout active.
	Train bool
	// Forward runs the forward pass.
	Forward bool
	// InputGrad runs every layer's input gradient, except the first layer's when
	// SkipFirstInput (the module's input is data that needs no gradient).
	InputGrad      bool
	SkipFirstInput bool
	// WeightGrad runs the gradients of the layers' trainable parameters.
	WeightGrad bool
}

// Cost is the cost of one pass for a batch of images.
func (l LayerCost) Cost(p Pass, batch int) Cost {
	b := int64(batch)
	in, out := volume(l.In), volume(l.Out)
	act := 4 * (in + out) * b
	var c Cost
	if l.linear() {
		bias := int64(0)
		if l.Bias {
			bias = out
		}
		if p.Forward {
			c = c.Plus(Cost{GEMM: 2 * l.MACs * b, Elementwise: bias * b, ActBytes: act, WeightBytes: 4 * l.Params})
		}
		if p.InputGrad {
			c = c.Plus(Cost{GEMM: 2 * l.MACs * b, ActBytes: act, WeightBytes: 4 * l.Params})
		}
		if p.WeightGrad {
			c = c.Plus(Cost{GEMM: 2 * l.MACs * b, Elementwise: bias * b, ActBytes: act, WeightBytes: 4 * l.Trainable})
		}
		return c
	}
	e := elementwise[l.Kind]
	fwd, dx := e.fwdEval, e.dxEval
	if p.Train {
		fwd, dx = e.fwdTrain, e.dxTrain
	}
	if p.Forward && fwd > 0 {
		c = c.Plus(Cost{Elementwise: fwd * out * b, ActBytes: act, WeightBytes: 4 * l.Params})
	}
	if p.InputGrad && dx > 0 {
		c = c.Plus(Cost{Elementwise: dx * out * b, ActBytes: act, WeightBytes: 4 * l.Params})
	}
	if p.WeightGrad && l.Trainable > 0 {
		// Batch statistics are what the gradients of scale and shift are taken
		// around; evaluation-mode ones need the same sums.
		c = c.Plus(Cost{Elementwise: e.dw * out * b, ActBytes: act, WeightBytes: 4 * l.Trainable})
	}
	return c
}

// ModuleCost is the cost of a pass over a module's layers for a batch of images.
func ModuleCost(layers []LayerCost, p Pass, batch int) Cost {
	var c Cost
	for i, l := range layers {
		q := p
		if i == 0 && p.SkipFirstInput {
			q.InputGrad = false
		}
		c = c.Plus(l.Cost(q, batch))
	}
	return c
}

// Module names a part of a model whose layers Layers lists.
type Module string

const (
	// ModuleEncoder is one encoder: the convolution stack and its heads (the mean and
	// log-variance heads of a generative model, the classifier head of a CNN).
	ModuleEncoder Module = "encoder"
	// ModuleDecoder is one class's decoder (all K have the same layers).
	ModuleDecoder Module = "decoder"
	// ModuleDiscriminator is the latent discriminator, up to its logit.
	ModuleDiscriminator Module = "discriminator"
)

// Layers lists the counted layers of one module of a spec, in the order they run. Each
// encoder and decoder has the same layers whatever its index, so one is listed.
func Layers(s Spec, m Module) ([]LayerCost, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	a := s.Arch
	var ls []LayerCost
	elem := func(name string, kind LayerKind, shape [3]int) {
		ls = append(ls, LayerCost{Name: name, Kind: kind, In: shape, Out: shape})
	}
	bn := func(name string, shape [3]int) {
		c := int64(shape[0])
		ls = append(ls, LayerCost{Name: name, Kind: KindBatchNorm, In: shape, Out: shape, Params: 4 * c, Trainable: 2 * c})
	}
	fc := func(name string, in, out int) {
		n := int64(in)*int64(out) + int64(out)
		ls = append(ls, LayerCost{Name: name, Kind: KindFC, In: [3]int{in, 1, 1}, Out: [3]int{out, 1, 1}, Bias: true,
			MACs: int64(in) * int64(out), Params: n, Trainable: n})
	}
	switch m {
	case ModuleEncoder:
		shape := [3]int{a.InC, a.InH, a.InW}
		for i, l := range a.Encoder {
			out := [3]int{l.Out, ConvOut(shape[1], l), ConvOut(shape[2], l)}
			w := int64(l.Out) * int64(shape[0]) * int64(l.Kernel) * int64(l.Kernel)
			ls = append(ls, LayerCost{Name: fmt.Sprintf("enc.conv%d", i), Kind: KindConv, In: shape, Out: out,
				Kernel: l.Kernel, Stride: l.Stride, Pad: l.Pad,
				MACs: volume(out) * int64(shape[0]) * int64(l.Kernel) * int64(l.Kernel), Params: w, Trainable: w})
			bn(fmt.Sprintf("enc.bn%d", i), out)
			elem(fmt.Sprintf("enc.leaky%d", i), KindLeakyReLU, out)
			shape = out
		}
		elem("enc.dropout", KindDropout, shape)
		f := int(volume(shape))
		if s.Kind == CNN {
			fc("enc.cls", f, a.Classes)
		} else {
			fc("enc.mu", f, a.Latent)
			fc("enc.logvar", f, a.Latent)
		}
	case ModuleDecoder:
		if s.Kind == CNN {
			return nil, fmt.Errorf("models: a CNN has no decoder")
		}
		c0 := a.Decoder[0].Out
		fc("dec.fc", a.Latent, c0)
		elem("dec.dropout", KindDropout, [3]int{c0, 1, 1})
		shape := [3]int{c0, 1, 1}
		for i, l := range a.Decoder {
			out := [3]int{l.Out, ConvTOut(shape[1], l), ConvTOut(shape[2], l)}
			w := int64(shape[0]) * int64(l.Out) * int64(l.Kernel) * int64(l.Kernel)
			last := i == len(a.Decoder)-1
			if last {
				w += int64(l.Out)
			}
			ls = append(ls, LayerCost{Name: fmt.Sprintf("dec.convt%d", i), Kind: KindConvT, In: shape, Out: out,
				Kernel: l.Kernel, Stride: l.Stride, Pad: l.Pad, Bias: last,
				MACs: volume(shape) * int64(l.Out) * int64(l.Kernel) * int64(l.Kernel), Params: w, Trainable: w})
			if last {
				elem("dec.sigmoid", KindSigmoid, out)
			} else {
				bn(fmt.Sprintf("dec.bn%d", i), out)
				elem(fmt.Sprintf("dec.relu%d", i), KindReLU, out)
			}
			shape = out
		}
	case ModuleDiscriminator:
		if !s.HasDiscriminator() {
			return nil, fmt.Errorf("models: %s has no discriminator", s.Name())
		}
		in := a.Latent
		for i, h := range a.DiscHidden {
			fc(fmt.Sprintf("disc.fc%d", i), in, h)
			elem(fmt.Sprintf("disc.leaky%d", i), KindLeakyReLU, [3]int{h, 1, 1})
			in = h
		}
		fc(fmt.Sprintf("disc.fc%d", len(a.DiscHidden)), in, 1)
	default:
		return nil, fmt.Errorf("models: unknown module %q (want %q, %q or %q)", m, ModuleEncoder, ModuleDecoder, ModuleDiscriminator)
	}
	return ls, nil
}

// MustLayers is Layers for a spec known to be valid and a module it has: the stage
// counts call it with modules their own code has just run.
func MustLayers(s Spec, m Module) []LayerCost {
	ls, err := Layers(s, m)
	if err != nil {
		panic(err)
	}
	return ls
}

// AdamFLOP and AdamBytes are the cost of one Adam update per parameter: the moments
// m = b1*m + (1-b1)*g (3 FLOP) and v = b2*v + (1-b2)*g*g (4), and
// p -= lr*m/(sqrt(v)+eps) (5); reading p, g, m, v and writing p, m, v.
const (
	AdamFLOP  = 12
	AdamBytes = 7 * 4
)

// SqDistFLOP is the per-element cost of a squared distance sum((x-r)^2) (subtract,
// multiply, add) and of its gradient 2*g*(r-x) (subtract, two multiplies).
const SqDistFLOP = 3
