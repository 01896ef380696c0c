package models

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Role says what a parameter is, which decides its initialisation and whether the
// optimiser updates it.
type Role string

const (
	RoleWeight  Role = "weight"   // convolution, transposed convolution or dense weight
	RoleBias    Role = "bias"     // additive bias
	RoleBNScale Role = "bn_scale" // BatchNorm gamma
	RoleBNShift Role = "bn_shift" // BatchNorm beta
	RoleBNMean  Role = "bn_mean"  // BatchNorm running mean (not trained by gradient)
	RoleBNVar   Role = "bn_var"   // BatchNorm running variance (not trained by gradient)
)

// Trainable reports whether the optimiser updates parameters of this role.
func (r Role) Trainable() bool { return r != RoleBNMean && r != RoleBNVar }

// Param is one named tensor of a model. Data is the single copy of its values: the
// Gorgonia graph, the optimiser, checkpoints and the ONNX exporter all read and write
// this slice.
type Param struct {
	Name  string
	Shape []int
	Role  Role
	// FanIn is the number of inputs feeding one output unit; it scales the
	// initialisation (zero for BatchNorm parameters).
	FanIn int
	Data  []float32
}

// Size is the number of elements of a shape.
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Weights holds every parameter of a model in a fixed order.
type Weights struct {
	Spec   Spec
	Params []*Param
	byName map[string]*Param
}

// Param returns the named parameter or nil.
func (w *Weights) Param(name string) *Param { return w.byName[name] }

// MustParam returns the named parameter and panics if it does not exist: asking for a
// parameter the spec does not define is a programming error.
func (w *Weights) MustParam(name string) *Param {
	p := w.byName[name]
	if p == nil {
		panic("models: no parameter " + name)
	}
	return p
}

// Trainable returns the parameters the optimiser updates, in order.
func (w *Weights) Trainable() []*Param {
	var out []*Param
	for _, p := range w.Params {
		if p.Role.Trainable() {
			out = append(out, p)
		}
	}
	return out
}

// Count is the total number of scalars.
func (w *Weights) Count() int {
	n := 0
	for _, p := range w.Params {
		n += len(p.Data)
	}
	return n
}

// Clone returns a deep copy.
func (w *Weights) Clone() *Weights {
	c := &Weights{Spec: w.Spec, byName: make(map[string]*Param, len(w.Params))}
	for _, p := range w.Params {
		q := *p
		q.Shape = append([]int(nil), p.Shape...)
		q.Data = append([]float32(nil), p.Data...)
		c.Params = append(c.Params, &q)
		c.byName[q.Name] = &q
	}
	return c
}

// Layout returns the parameters a spec defines, with shapes and roles and nil Data.
// The order is stable and is the order of every file format.
func Layout(s Spec) []*Param {
	var ps []*Param
	add := func(name string, role Role, fanIn int, shape ...int) {
		ps = append(ps, &Param{Name: name, Shape: shape, Role: role, FanIn: fanIn})
	}
	bn := func(prefix string, c int) {
		add(prefix+".gamma", RoleBNScale, 0, c)
		add(prefix+".beta", RoleBNShift, 0, c)
		add(prefix+".mean", RoleBNMean, 0, c)
		add(prefix+".var", RoleBNVar, 0, c)
	}
	a := s.Arch
	for e := 0; e < s.Encoders(); e++ {
		p := EncoderPrefix(s, e)
		in := a.InC
		for i, l := range a.Encoder {
			// No conv bias: BatchNorm follows and would cancel it (its gradient is 0).
			add(fmt.Sprintf("%s.conv%d.w", p, i), RoleWeight, in*l.Kernel*l.Kernel, l.Out, in, l.Kernel, l.Kernel)
			bn(fmt.Sprintf("%s.bn%d", p, i), l.Out)
			in = l.Out
		}
		f := a.Features()
		if s.Kind == CNN {
			add(p+".cls.w", RoleWeight, f, f, a.Classes)
			add(p+".cls.b", RoleBias, f, a.Classes)
			continue
		}
		add(p+".mu.w", RoleWeight, f, f, a.Latent)
		add(p+".mu.b", RoleBias, f, a.Latent)
		add(p+".logvar.w", RoleWeight, f, f, a.Latent)
		add(p+".logvar.b", RoleBias, f, a.Latent)
	}
	if s.Kind == CNN {
		return ps
	}
	for k := 0; k < a.Classes; k++ {
		p := DecoderPrefix(k)
		c0 := a.Decoder[0].Out
		add(p+".fc.w", RoleWeight, a.Latent, a.Latent, c0)
		add(p+".fc.b", RoleBias, a.Latent, c0)
		in := c0
		for i, l := range a.Decoder {
			// Transposed-convolution weights are (in, out, k, k) as in ONNX; fan-in
			// counts the inputs that reach one output pixel.
			fan := in * ceilDiv(l.Kernel, l.Stride) * ceilDiv(l.Kernel, l.Stride)
			add(fmt.Sprintf("%s.convt%d.w", p, i), RoleWeight, fan, in, l.Out, l.Kernel, l.Kernel)
			if i == len(a.Decoder)-1 {
				add(fmt.Sprintf("%s.convt%d.b", p, i), RoleBias, fan, l.Out)
			} else {
				bn(fmt.Sprintf("%s.bn%d", p, i), l.Out)
			}
			in = l.Out
		}
	}
	if s.HasDiscriminator() {
		in := a.Latent
		for i, h := range append(append([]int(nil), a.DiscHidden...), 1) {
			add(fmt.Sprintf("disc.fc%d.w", i), RoleWeight, in, in, h)
			add(fmt.Sprintf("disc.fc%d.b", i), RoleBias, in, h)
			in = h
		}
	}
	return ps
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// EncoderPrefix names encoder e: "enc" when shared, "enc<e>" for class-specific ones.
func EncoderPrefix(s Spec, e int) string {
	if s.Encoders() == 1 {
		return "enc"
	}
	return fmt.Sprintf("enc%d", e)
}

// DecoderPrefix names the decoder of class k.
func DecoderPrefix(k int) string { return fmt.Sprintf("dec%d", k) }

// NewWeights allocates the parameters of a spec and initialises them from rng:
// weights and biases uniform in +-1/sqrt(fan-in) (PyTorch's default for these layers),
// BatchNorm scale 1, shift 0, running mean 0 and running variance 1.
func NewWeights(s Spec, rng *rand.Rand) (*Weights, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	w := &Weights{Spec: s, byName: map[string]*Param{}}
	for _, p := range Layout(s) {
		p.Data = make([]float32, Size(p.Shape))
		switch p.Role {
		case RoleWeight, RoleBias:
			bound := 1 / math.Sqrt(float64(p.FanIn))
			for i := range p.Data {
				p.Data[i] = float32((2*rng.Float64() - 1) * bound)
			}
		case RoleBNScale, RoleBNVar:
			for i := range p.Data {
				p.Data[i] = 1
			}
		}
		w.Params = append(w.Params, p)
		w.byName[p.Name] = p
	}
	return w, nil
}

// newWeightsFromLayout builds a Weights value around already-filled parameters after
// checking them against the spec's layout (names, order, shapes).
func newWeightsFromLayout(s Spec, params []*Param) (*Weights, error) {
	want := Layout(s)
	if len(params) != len(want) {
		return nil, fmt.Errorf("models: %d parameters, spec %q on %q needs %d", len(params), s.Name(), s.Arch.Name, len(want))
	}
	w := &Weights{Spec: s, byName: map[string]*Param{}}
	for i, p := range params {
		q := want[i]
		if p.Name != q.Name || !equalInts(p.Shape, q.Shape) {
			return nil, fmt.Errorf("models: parameter %d is %s%v, spec %q on %q needs %s%v", i, p.Name, p.Shape, s.Name(), s.Arch.Name, q.Name, q.Shape)
		}
		if len(p.Data) != Size(q.Shape) {
			return nil, fmt.Errorf("models: parameter %s has %d values, want %d", p.Name, len(p.Data), Size(q.Shape))
		}
		q.Data = p.Data
		w.Params = append(w.Params, q)
		w.byName[q.Name] = q
	}
	return w, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
