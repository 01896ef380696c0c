// Package models defines the E-ABS family of models as data: the per-dataset
// architectures of the paper's Table 9, the model kinds (E-ABS, ABS, CNN and the
// ablation variants of Table 5), the names and shapes of every parameter, their seeded
// initialisation, and the versioned file format that training, checkpoints and ONNX
// export all read.
//
// Nothing here computes a forward pass; package graph builds the Gorgonia graph from a
// Spec and a Weights value, and package onnx writes the same weights as initializers.
package models

import (
	"github.com/eabs/eabs/data"

	"fmt"
	"sort"
	"strings"
)

// Layer is one convolution (encoder) or transposed convolution (decoder) with a square
// kernel: output channels, kernel size, stride and padding, as in Table 9.
type Layer struct {
	Out    int `json:"out"`
	Kernel int `json:"kernel"`
	Stride int `json:"stride"`
	Pad    int `json:"pad"`
}

// Arch is the architecture of one dataset: the shared modules every model kind is built
// from (Table 9 and Section 4.3).
type Arch struct {
	Name    string `json:"name"`
	InC     int    `json:"in_c"`
	InH     int    `json:"in_h"`
	InW     int    `json:"in_w"`
	Classes int    `json:"classes"`
	// Latent is M, the size of z.
	Latent int `json:"latent"`
	// Encoder convolutions, each followed by BatchNorm and LeakyReLU; dropout follows
	// the last one, then two fully connected heads give the mean and log-variance.
	Encoder []Layer `json:"encoder"`
	// Decoder transposed convolutions. A fully connected layer M -> Decoder[0].Out and
	// dropout come first; every transposed convolution but the last has BatchNorm and
	// ReLU, the last ends in a sigmoid.
	Decoder []Layer `json:"decoder"`
	// DiscHidden are the hidden widths of the discriminator MLP (LeakyReLU), whose
	// output is one logit; D(z) = sigmoid(logit).
	DiscHidden []int `json:"disc_hidden"`
	// LeakySlope is the negative slope of every LeakyReLU. The paper does not give it;
	// 0.2 is the common choice for adversarial autoencoders and the PyTorch yardstick's.
	LeakySlope float64 `json:"leaky_slope"`
	// Dropout is the drop probability of the encoder and decoder dropout layers. The
	// paper does not give it; 0.2, as in the PyTorch yardstick.
	Dropout float64 `json:"dropout"`
}

// Architectures of Table 9. The traffic-sign architecture is the SuperTraffic-10 column,
// used for GTSRB-10. "tiny" is a small model for tests: MNIST-sized input (so it can
// see real images) but few channels and 3 classes, so a training step takes
// milliseconds.
var archs = map[string]Arch{
	"mnist": {
		Name: "mnist", InC: 1, InH: 28, InW: 28, Classes: 10, Latent: 10,
		Encoder:    []Layer{{16, 5, 2, 2}, {32, 5, 2, 2}, {64, 5, 2, 2}, {64, 4, 1, 1}},
		Decoder:    []Layer{{32, 4, 1, 0}, {32, 5, 2, 0}, {16, 5, 2, 0}, {8, 4, 1, 0}, {1, 1, 1, 0}},
		DiscHidden: []int{256, 128}, LeakySlope: 0.2, Dropout: 0.2,
	},
	"traffic": {
		Name: "traffic", InC: 3, InH: 32, InW: 32, Classes: 10, Latent: 16,
		Encoder:    []Layer{{16, 5, 2, 2}, {32, 5, 2, 2}, {64, 5, 2, 2}, {128, 4, 1, 0}},
		Decoder:    []Layer{{64, 4, 1, 0}, {64, 4, 2, 1}, {32, 4, 2, 1}, {16, 4, 2, 1}, {3, 1, 1, 0}},
		DiscHidden: []int{256, 128}, LeakySlope: 0.2, Dropout: 0.2,
	},
	"svhn": {
		Name: "svhn", InC: 3, InH: 32, InW: 32, Classes: 10, Latent: 40,
		Encoder:    []Layer{{32, 5, 2, 2}, {64, 5, 2, 2}, {128, 5, 2, 2}, {128, 4, 1, 0}},
		Decoder:    []Layer{{64, 4, 1, 0}, {64, 4, 2, 1}, {32, 4, 2, 1}, {16, 4, 2, 1}, {3, 1, 1, 0}},
		DiscHidden: []int{512, 256}, LeakySlope: 0.2, Dropout: 0.2,
	},
	"tiny": {
		Name: "tiny", InC: 1, InH: 28, InW: 28, Classes: 3, Latent: 4,
		Encoder:    []Layer{{4, 5, 2, 2}, {6, 5, 2, 2}, {6, 4, 2, 1}},
		Decoder:    []Layer{{6, 7, 1, 0}, {4, 4, 2, 1}, {3, 4, 2, 1}, {1, 1, 1, 0}},
		DiscHidden: []int{8, 6}, LeakySlope: 0.2, Dropout: 0.2,
	},
}

// ArchFor returns the architecture of models trained on a dataset (its data.Profile
// names it), or the architecture of that name ("tiny", the test architecture).
func ArchFor(name string) (Arch, error) {
	arch := name
	if p, err := data.ProfileOf(name); err == nil {
		if p.Arch == "" {
			return Arch{}, fmt.Errorf("models: dataset %q has no model architecture", name)
		}
		arch = p.Arch
	}
	a, ok := archs[arch]
	if !ok {
		return Arch{}, fmt.Errorf("models: no architecture for dataset %q (datasets: %s; architectures: %s)",
			name, strings.Join(data.Names(), ", "), strings.Join(archNames(), ", "))
	}
	return a.clone(), nil
}

func archNames() []string {
	var out []string
	for k := range archs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (a Arch) clone() Arch {
	a.Encoder = append([]Layer(nil), a.Encoder...)
	a.Decoder = append([]Layer(nil), a.Decoder...)
	a.DiscHidden = append([]int(nil), a.DiscHidden...)
	return a
}

// ConvOut is the output size of a convolution along one axis.
func ConvOut(in int, l Layer) int { return (in+2*l.Pad-l.Kernel)/l.Stride + 1 }

// ConvTOut is the output size of a transposed convolution along one axis.
func ConvTOut(in int, l Layer) int { return (in-1)*l.Stride - 2*l.Pad + l.Kernel }

// EncoderShapes returns the (C, H, W) after each encoder convolution.
func (a Arch) EncoderShapes() [][3]int {
	h, w := a.InH, a.InW
	out := make([][3]int, len(a.Encoder))
	for i, l := range a.Encoder {
		h, w = ConvOut(h, l), ConvOut(w, l)
		out[i] = [3]int{l.Out, h, w}
	}
	return out
}

// Features is the length of the flattened encoder output that the heads read.
func (a Arch) Features() int {
	s := a.EncoderShapes()
	last := s[len(s)-1]
	return last[0] * last[1] * last[2]
}

// DecoderShapes returns the (C, H, W) after each transposed convolution, starting from
// the fully connected layer's output reshaped to (Decoder[0].Out, 1, 1).
func (a Arch) DecoderShapes() [][3]int {
	h, w := 1, 1
	out := make([][3]int, len(a.Decoder))
	for i, l := range a.Decoder {
		h, w = ConvTOut(h, l), ConvTOut(w, l)
		out[i] = [3]int{l.Out, h, w}
	}
	return out
}

// Pixels is C*H*W of one input image.
func (a Arch) Pixels() int { return a.InC * a.InH * a.InW }

// Validate checks that the layers are well formed and that the decoder reproduces the
// input shape.
func (a Arch) Validate() error {
	if a.InC <= 0 || a.InH <= 0 || a.InW <= 0 || a.Classes < 2 || a.Latent <= 0 {
		return fmt.Errorf("models: arch %q: bad sizes (in %dx%dx%d, %d classes, latent %d)", a.Name, a.InC, a.InH, a.InW, a.Classes, a.Latent)
	}
	if len(a.Encoder) == 0 || len(a.Decoder) == 0 {
		return fmt.Errorf("models: arch %q: empty encoder or decoder", a.Name)
	}
	for i, l := range append(append([]Layer(nil), a.Encoder...), a.Decoder...) {
		if l.Out <= 0 || l.Kernel <= 0 || l.Stride <= 0 || l.Pad < 0 {
			return fmt.Errorf("models: arch %q: layer %d: bad layer %+v", a.Name, i, l)
		}
	}
	for i, s := range a.EncoderShapes() {
		if s[1] <= 0 || s[2] <= 0 {
			return fmt.Errorf("models: arch %q: encoder layer %d produces %dx%d", a.Name, i, s[1], s[2])
		}
	}
	ds := a.DecoderShapes()
	last := ds[len(ds)-1]
	if last != [3]int{a.InC, a.InH, a.InW} {
		return fmt.Errorf("models: arch %q: decoder produces %v, input is %v", a.Name, last, [3]int{a.InC, a.InH, a.InW})
	}
	return nil
}

// BNEpsilon is added to the variance in every BatchNorm (PyTorch's default).
const BNEpsilon = 1e-5

// BNMomentum is the weight of the current batch in the running statistics update
// running = (1-m)*running + m*batch (PyTorch's default 0.1).
const BNMomentum = 0.1
