// Package naive is the numerical oracle of eabs: a plain-loop float64 implementation of
// the E-ABS forward pass (convolution, transposed convolution, eval-mode BatchNorm,
// encoder, decoders, discriminator and the per-class latent loss), operating on
// models.Weights.
//
// It has no BLAS, no Gorgonia and no cleverness: every function is the textbook
// definition written as nested loops over one sample, so that it can be read and
// checked by eye. Tests compare the ONNX export (run by ONNX Runtime) and the Gorgonia
// graph against it. It is slow and meant for tests only.
//
// Conventions, shared with package models and the ONNX export:
//   - images are one sample in CHW order (no batch dimension);
//   - convolution weights are [out, in, k, k]; transposed-convolution weights are
//     [in, out, k, k], as in ONNX and PyTorch;
//   - dense weights are [in, out] and a dense layer computes x·W + b;
//   - dropout is the identity (inference).
package naive

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/models"
)

// Image is one sample of C channels of H×W pixels, stored CHW.
type Image struct {
	C, H, W int
	Data    []float64
}

// NewImage returns a zero image.
func NewImage(c, h, w int) Image {
	return Image{C: c, H: h, W: w, Data: make([]float64, c*h*w)}
}

// ImageFrom32 returns an image holding a float32 CHW slice converted to float64.
func ImageFrom32(c, h, w int, data []float32) Image {
	if len(data) != c*h*w {
		panic(fmt.Sprintf("naive: %d values for a %dx%dx%d image", len(data), c, h, w))
	}
	return Image{C: c, H: h, W: w, Data: To64(data)}
}

// At returns the pixel (c, y, x).
func (im Image) At(c, y, x int) float64 { return im.Data[(c*im.H+y)*im.W+x] }

// To64 converts a float32 slice to a new float64 slice.
func To64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// Conv2d is the 2-D convolution (cross-correlation, as in ONNX Conv) of x with the
// weights w [out, x.C, k, k], with zero padding pad on every side and no bias:
//
//	y[o, i, j] = sum_{c, a, b} x[c, i*stride-pad+a, j*stride-pad+b] * w[o, c, a, b]
//
// The output is out × ((H+2*pad-k)/stride+1) × ((W+2*pad-k)/stride+1).
func Conv2d(x Image, w []float64, out, k, stride, pad int) Image {
	if len(w) != out*x.C*k*k {
		panic(fmt.Sprintf("naive: Conv2d: %d weights, want %d", len(w), out*x.C*k*k))
	}
	y := NewImage(out, (x.H+2*pad-k)/stride+1, (x.W+2*pad-k)/stride+1)
	for o := 0; o < out; o++ {
		for i := 0; i < y.H; i++ {
			for j := 0; j < y.W; j++ {
				var s float64
				for c := 0; c < x.C; c++ {
					for a := 0; a < k; a++ {
						yi := i*stride - pad + a
						if yi < 0 || yi >= x.H {
							continue
						}
						for b := 0; b < k; b++ {
							xj := j*stride - pad + b
							if xj < 0 || xj >= x.W {
								continue
							}
							s += x.At(c, yi, xj) * w[((o*x.C+c)*k+a)*k+b]
						}
					}
				}
				y.Data[(o*y.H+i)*y.W+j] = s
			}
		}
	}
	return y
}

// ConvTranspose2d is the transposed convolution (ONNX ConvTranspose, PyTorch
// ConvTranspose2d) of x with the weights w [x.C, out, k, k], without bias: every input
// pixel scatters its kernel into the output,
//
//	y[o, i*stride-pad+a, j*stride-pad+b] += x[c, i, j] * w[c, o, a, b]
//
// dropping positions outside the output of out × ((H-1)*stride-2*pad+k) ×
// ((W-1)*stride-2*pad+k). It is the adjoint of Conv2d with the same weights, stride
// and padding.
func ConvTranspose2d(x Image, w []float64, out, k, stride, pad int) Image {
	if len(w) != x.C*out*k*k {
		panic(fmt.Sprintf("naive: ConvTranspose2d: %d weights, want %d", len(w), x.C*out*k*k))
	}
	y := NewImage(out, (x.H-1)*stride-2*pad+k, (x.W-1)*stride-2*pad+k)
	for c := 0; c < x.C; c++ {
		for i := 0; i < x.H; i++ {
			for j := 0; j < x.W; j++ {
				v := x.At(c, i, j)
				for o := 0; o < out; o++ {
					for a := 0; a < k; a++ {
						yi := i*stride - pad + a
						if yi < 0 || yi >= y.H {
							continue
						}
						for b := 0; b < k; b++ {
							yj := j*stride - pad + b
							if yj < 0 || yj >= y.W {
								continue
							}
							y.Data[(o*y.H+yi)*y.W+yj] += v * w[((c*out+o)*k+a)*k+b]
						}
					}
				}
			}
		}
	}
	return y
}

// BatchNorm applies eval-mode batch normalisation per channel,
// gamma*(x-mean)/sqrt(variance+eps) + beta, and returns a new image.
func BatchNorm(x Image, gamma, beta, mean, variance []float64, eps float64) Image {
	y := NewImage(x.C, x.H, x.W)
	n := x.H * x.W
	for c := 0; c < x.C; c++ {
		scale := gamma[c] / math.Sqrt(variance[c]+eps)
		for i := c * n; i < (c+1)*n; i++ {
			y.Data[i] = scale*(x.Data[i]-mean[c]) + beta[c]
		}
	}
	return y
}

// LeakyReLU returns max(v, 0) + slope*min(v, 0) elementwise, in a new slice.
func LeakyReLU(v []float64, slope float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		if x > 0 {
			out[i] = x
		} else {
			out[i] = slope * x
		}
	}
	return out
}

// ReLU returns max(v, 0) elementwise, in a new slice.
func ReLU(v []float64) []float64 { return LeakyReLU(v, 0) }

// Sigmoid is 1/(1+exp(-v)).
func Sigmoid(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// Softplus is log(1+exp(v)), computed without overflow.
func Softplus(v float64) float64 {
	if v > 0 {
		return v + math.Log1p(math.Exp(-v))
	}
	return math.Log1p(math.Exp(v))
}

// Dense returns x·W + b for W stored [len(x), len(b)] row-major.
func Dense(x, w, b []float64) []float64 {
	n := len(b)
	if len(w) != len(x)*n {
		panic(fmt.Sprintf("naive: Dense: %d weights for %d inputs and %d outputs", len(w), len(x), n))
	}
	y := make([]float64, n)
	for j := 0; j < n; j++ {
		s := b[j]
		for i, v := range x {
			s += v * w[i*n+j]
		}
		y[j] = s
	}
	return y
}

// Model evaluates one model's modules from a copy of its weights in float64.
type Model struct {
	Spec models.Spec
	p    map[string][]float64
}

// New copies the weights of w into a Model.
func New(w *models.Weights) *Model {
	m := &Model{Spec: w.Spec, p: make(map[string][]float64, len(w.Params))}
	for _, p := range w.Params {
		m.p[p.Name] = To64(p.Data)
	}
	return m
}

func (m *Model) param(name string) []float64 {
	p, ok := m.p[name]
	if !ok {
		panic("naive: no parameter " + name)
	}
	return p
}

func (m *Model) bn(x Image, prefix string) Image {
	return BatchNorm(x, m.param(prefix+".gamma"), m.param(prefix+".beta"),
		m.param(prefix+".mean"), m.param(prefix+".var"), models.BNEpsilon)
}

// features runs the convolution stack of encoder e on x and returns the flattened
// (CHW) output.
func (m *Model) features(e int, x Image) []float64 {
	a := m.Spec.Arch
	if x.C != a.InC || x.H != a.InH || x.W != a.InW {
		panic(fmt.Sprintf("naive: image is %dx%dx%d, arch %s wants %dx%dx%d", x.C, x.H, x.W, a.Name, a.InC, a.InH, a.InW))
	}
	p := models.EncoderPrefix(m.Spec, e)
	h := x
	for i, l := range a.Encoder {
		h = Conv2d(h, m.param(fmt.Sprintf("%s.conv%d.w", p, i)), l.Out, l.Kernel, l.Stride, l.Pad)
		h = m.bn(h, fmt.Sprintf("%s.bn%d", p, i))
		h.Data = LeakyReLU(h.Data, a.LeakySlope)
	}
	return h.Data
}

// Encode runs encoder e (0 when the encoder is shared) on one image and returns the
// mean and log-variance of Q(z|x).
func (m *Model) Encode(e int, x Image) (mu, logvar []float64) {
	f := m.features(e, x)
	p := models.EncoderPrefix(m.Spec, e)
	return Dense(f, m.param(p+".mu.w"), m.param(p+".mu.b")),
		Dense(f, m.param(p+".logvar.w"), m.param(p+".logvar.b"))
}

// Logits runs a CNN-kind model on one image.
func (m *Model) Logits(x Image) []float64 {
	p := models.EncoderPrefix(m.Spec, 0)
	return Dense(m.features(0, x), m.param(p+".cls.w"), m.param(p+".cls.b"))
}

// Decode runs decoder k on the latent z and returns the reconstruction G_k(z).
func (m *Model) Decode(k int, z []float64) Image {
	a := m.Spec.Arch
	p := models.DecoderPrefix(k)
	h0 := Dense(z, m.param(p+".fc.w"), m.param(p+".fc.b"))
	h := Image{C: len(h0), H: 1, W: 1, Data: h0}
	last := len(a.Decoder) - 1
	for i, l := range a.Decoder {
		h = ConvTranspose2d(h, m.param(fmt.Sprintf("%s.convt%d.w", p, i)), l.Out, l.Kernel, l.Stride, l.Pad)
		if i < last {
			h = m.bn(h, fmt.Sprintf("%s.bn%d", p, i))
			h.Data = ReLU(h.Data)
			continue
		}
		b := m.param(fmt.Sprintf("%s.convt%d.b", p, i))
		n := h.H * h.W
		for j := range h.Data {
			h.Data[j] = Sigmoid(h.Data[j] + b[j/n])
		}
	}
	return h
}

// DiscLogit returns the discriminator's logit for z; D(z) = Sigmoid(logit).
func (m *Model) DiscLogit(z []float64) float64 {
	h := z
	hidden := len(m.Spec.Arch.DiscHidden)
	for i := 0; i <= hidden; i++ {
		h = Dense(h, m.param(fmt.Sprintf("disc.fc%d.w", i)), m.param(fmt.Sprintf("disc.fc%d.b", i)))
		if i < hidden {
			h = LeakyReLU(h, m.Spec.Arch.LeakySlope)
		}
	}
	return h[0]
}

// Loss is the per-class latent loss of the latent step for one image x and class k,
// at the reparameterised sample z = mu + exp(logvar/2)*eps:
//
//	||x - G_k(z)||^2 + beta*softplus(-logit(z))                      (adversarial prior)
//	||x - G_k(z)||^2 + beta/2 * sum_m (mu^2 + exp(logvar) - logvar - 1)   (KL prior)
//
// It also returns the reconstruction G_k(z).
func (m *Model) Loss(x Image, k int, mu, logvar, eps []float64) (float64, Image) {
	z := make([]float64, len(mu))
	for i := range z {
		z[i] = mu[i] + math.Exp(0.5*logvar[i])*eps[i]
	}
	rec := m.Decode(k, z)
	var loss float64
	for i, v := range x.Data {
		d := v - rec.Data[i]
		loss += d * d
	}
	beta := m.Spec.Beta
	if m.Spec.Adversarial {
		return loss + beta*Softplus(-m.DiscLogit(z)), rec
	}
	var kl float64
	for i := range mu {
		kl += mu[i]*mu[i] + math.Exp(logvar[i]) - logvar[i] - 1
	}
	return loss + 0.5*beta*kl, rec
}

// RandomizeBN overwrites every BatchNorm parameter of w with random values (gamma in
// [0.5, 1.5], beta and mean in [-0.5, 0.5], variance in [0.5, 1.5]), so that tests of
// eval-mode BatchNorm do not run on the identity that fresh weights give.
func RandomizeBN(w *models.Weights, rng *rand.Rand) {
	for _, p := range w.Params {
		var lo float64
		switch p.Role {
		case models.RoleBNScale, models.RoleBNVar:
			lo = 0.5
		case models.RoleBNShift, models.RoleBNMean:
			lo = -0.5
		default:
			continue
		}
		for i := range p.Data {
			p.Data[i] = float32(lo + rng.Float64())
		}
	}
}
