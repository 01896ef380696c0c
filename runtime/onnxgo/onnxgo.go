// Package onnxgo runs the parts of an E-ABS model that onnx-go
// (github.com/owulveryck/onnx-go v0.5.0) with its Gorgonia backend (backend/x/gorgonnx)
// supports: the encoder and the discriminator. It is a second, independent ONNX engine
// for cross-checks, not a fast one.
//
// # What runs
//
// New builds the ONNX graphs in memory from the weights (package onnx, with
// ExportOptions.OnnxGo) and runs them in onnx-go in float32:
//
//   - Encode: the encoder graph (Conv, BatchNormalization, LeakyRelu, Flatten, MatMul,
//     Add, Reshape, and Concat when there are several encoders);
//   - DiscLogit (runtime.Discriminator), for adversarial models: MatMul, Add,
//     LeakyRelu, Reshape.
//
// Decode and LatentStep return a *runtime.NotImplementedError: the decoders are
// transposed convolutions, and onnx-go's Gorgonia backend has no ConvTranspose; the
// latent step also needs Greater, Where and ReduceSum, which it lacks too. CNN models
// are refused (New): they are not runtime.Models; NewClassifier runs them whole (the
// same operators as the encoder), as a third engine for the classifier cross-check.
//
// # Why the onnx-go forms
//
// The files Export writes for ONNX Runtime do not run in onnx-go v0.5.0, which ignores
// the opset: it reads Unsqueeze's axes as an attribute (opset 11) rather than an input
// (opset 13), has no Tile, ignores Conv's group and runs only 2-D MatMul. Some of its
// kernels are also wrong on shapes the models hit: Gemm at batch 1 accumulates its
// result into the bias initializer (every run adds x·W again), and Add reshapes a bias
// [n] to have n on every axis of that size, which fails when the batch is n too (with a
// typed-nil error that hides the message). Reshape resolves -1 wrongly when the rank
// grows. ExportOptions.OnnxGo writes forms that avoid all of these. The batch dimension
// may stay symbolic: onnx-go drops symbolic dimensions and takes every shape from the
// input tensor it is given.
//
// # Batches
//
// A Gorgonia graph has fixed shapes; each role's graph is compiled for one image and
// run once per image of a batch, so an image's outputs are the same bits whatever batch
// it comes in (graph.Samples says why batched products are not). Calls are serialised
// by a mutex: a graph cannot run twice at once.
package onnxgo

import (
	"errors"
	"fmt"
	"sync"

	onnxgo "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	"gorgonia.org/tensor"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
)

// Engine is the engine name in this package's errors.
const Engine = "onnx-go"

// Model runs the encoder and discriminator of a generative model in onnx-go.
type Model struct {
	spec      models.Spec
	enc, disc []byte // ONNX models in the onnx-go forms; disc is nil without a discriminator
	cnn       []byte // a CNN's whole graph (NewClassifier); enc and disc are then nil

	mu     sync.Mutex
	progs  map[string]*program // per role, compiled for one image
	closed bool
}

var (
	_ runtime.Model         = (*Model)(nil)
	_ runtime.Discriminator = (*Model)(nil)
)

// New returns the onnx-go runtime of the generative model with weights w. It builds
// the ONNX graphs in memory and compiles them, so a graph onnx-go cannot run is
// reported here rather than at the first call.
func New(w *models.Weights) (*Model, error) {
	s := w.Spec
	if s.Kind != models.Generative {
		return nil, fmt.Errorf("onnxgo: %s is not a generative model: New runs the encoders and discriminators of E-ABS-family models (NewClassifier runs CNNs)", s.Name())
	}
	m := &Model{spec: s, progs: map[string]*program{}}
	var err error
	if m.enc, err = build(w, onnx.RoleEncoder); err != nil {
		return nil, err
	}
	if s.HasDiscriminator() {
		if m.disc, err = build(w, onnx.RoleDiscriminator); err != nil {
			return nil, err
		}
	}
	for _, role := range []string{onnx.RoleEncoder, onnx.RoleDiscriminator} {
		if role == onnx.RoleDiscriminator && m.disc == nil {
			continue
		}
		if _, err := m.program(role); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func build(w *models.Weights, role string) ([]byte, error) {
	om, err := onnx.BuildModel(w, role, onnx.ExportOptions{OnnxGo: true})
	if err != nil {
		return nil, fmt.Errorf("onnxgo: %w", err)
	}
	return om.Marshal()
}

// Spec implements runtime.Model.
func (m *Model) Spec() models.Spec { return m.spec }

// program returns the compiled one-image graph of a role, compiling it the first
// time. m.mu must be held.
func (m *Model) program(role string) (*program, error) {
	if p, ok := m.progs[role]; ok {
		return p, nil
	}
	a := m.spec.Arch
	var p *program
	var err error
	switch role {
	case onnx.RoleEncoder:
		p, err = compile(m.enc, []int{1, a.InC, a.InH, a.InW})
	case onnx.RoleDiscriminator:
		p, err = compile(m.disc, []int{1, a.Latent})
	case onnx.RoleCNN:
		p, err = compile(m.cnn, []int{1, a.InC, a.InH, a.InW})
	}
	if err != nil {
		return nil, fmt.Errorf("onnxgo: %s graph: %w", role, err)
	}
	m.progs[role] = p
	return p, nil
}

// run runs a role's graph on x, which holds batch inputs of per values each, one at a
// time, and returns the outputs concatenated along the batch.
func (m *Model) run(role string, x []float32, batch, per int) ([][]float32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("onnxgo: model is closed")
	}
	p, err := m.program(role)
	if err != nil {
		return nil, err
	}
	var outs [][]float32
	for i := 0; i < batch; i++ {
		o, err := p.run(x[i*per : (i+1)*per])
		if err != nil {
			return nil, fmt.Errorf("onnxgo: %s graph, image %d of %d: %w", role, i, batch, err)
		}
		if outs == nil {
			outs = make([][]float32, len(o))
		}
		for i := range o {
			outs[i] = append(outs[i], o[i]...)
		}
	}
	return outs, nil
}

// Encode implements runtime.Model.
func (m *Model) Encode(x []float32, batch int) (mu, logvar []float32, err error) {
	if err := runtime.CheckBatch("x", x, batch, m.spec.Arch.Pixels()); err != nil {
		return nil, nil, err
	}
	out, err := m.run(onnx.RoleEncoder, x, batch, m.spec.Arch.Pixels())
	if err != nil {
		return nil, nil, err
	}
	return out[0], out[1], nil
}

// DiscLogit implements runtime.Discriminator.
func (m *Model) DiscLogit(z []float32, n int) ([]float32, error) {
	if m.disc == nil {
		return nil, fmt.Errorf("onnxgo: %s model has no discriminator", m.spec.Name())
	}
	if err := runtime.CheckBatch("z", z, n, m.spec.Arch.Latent); err != nil {
		return nil, err
	}
	out, err := m.run(onnx.RoleDiscriminator, z, n, m.spec.Arch.Latent)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Decode implements runtime.Model: it validates its arguments, then returns a
// *runtime.NotImplementedError.
func (m *Model) Decode(z []float32, batch int) ([]float32, error) {
	a := m.spec.Arch
	if err := runtime.CheckBatch("z", z, batch, a.Classes*a.Latent); err != nil {
		return nil, err
	}
	return nil, &runtime.NotImplementedError{Engine: Engine,
		What: "Decode: the decoders are transposed convolutions and onnx-go's Gorgonia backend has no ConvTranspose"}
}

// LatentStep implements runtime.Model: it validates its arguments, then returns a
// *runtime.NotImplementedError.
func (m *Model) LatentStep(x, mu, logvar, eps []float32, batch int) (*runtime.Step, error) {
	if err := runtime.CheckLatentStep(m.spec, x, mu, logvar, eps, batch); err != nil {
		return nil, err
	}
	return nil, &runtime.NotImplementedError{Engine: Engine,
		What: "LatentStep: onnx-go's Gorgonia backend has no ConvTranspose (the decoders), Greater, Where or ReduceSum (the loss and its gradients)"}
}

// Close implements runtime.Model. It drops the compiled graphs; later calls fail.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.progs, m.closed = nil, true
	return nil
}

// program is one ONNX model decoded into an onnx-go Gorgonia graph, compiled for a
// fixed input shape.
type program struct {
	g     *gorgonnx.Graph
	m     *onnxgo.Model
	shape []int // input shape
}

// compile decodes the ONNX model b and builds its Gorgonia graph for the input shape.
func compile(b []byte, shape []int) (*program, error) {
	p := &program{g: gorgonnx.NewGraph(), shape: shape}
	p.m = onnxgo.NewModel(p.g)
	if err := p.m.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(p.m.Input) != 1 {
		return nil, fmt.Errorf("graph has %d inputs, want 1", len(p.m.Input))
	}
	// The Gorgonia graph takes its shapes from the input tensor set before it is
	// built; onnx-go drops symbolic dimensions from the declared input.
	if err := p.m.SetInput(0, p.tensor(make([]float32, p.size()))); err != nil {
		return nil, err
	}
	if err := p.g.PopulateExprgraph(); err != nil {
		return nil, fixErr(err)
	}
	return p, nil
}

func (p *program) size() int {
	n := 1
	for _, d := range p.shape {
		n *= d
	}
	return n
}

func (p *program) tensor(data []float32) tensor.Tensor {
	return tensor.New(tensor.WithShape(p.shape...), tensor.WithBacking(data))
}

// run runs the graph on x and returns copies of its outputs.
func (p *program) run(x []float32) ([][]float32, error) {
	// Copied: some Gorgonia kernels (LeakyRelu, onnx-go's batch-1 BatchNorm) work in
	// place, and the caller's slice must not be the graph's memory.
	if err := p.m.SetInput(0, p.tensor(append([]float32(nil), x...))); err != nil {
		return nil, err
	}
	if err := p.g.Run(); err != nil {
		return nil, fixErr(err)
	}
	ts, err := p.m.GetOutputTensors()
	if err != nil {
		return nil, err
	}
	outs := make([][]float32, len(ts))
	for i, t := range ts {
		d, ok := t.Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("output %d holds %T, want []float32", i, t.Data())
		}
		outs[i] = append([]float32(nil), d...)
	}
	return outs, nil
}

// fixErr replaces the typed-nil *onnx.ErrNotImplemented that onnx-go's elementwise
// operators return when a broadcast fails (they shadow the real error) by an error
// that says so. Other errors, including onnx-go's own *onnx.ErrNotImplemented, are
// returned as they are: the graphs are built to run, so they are failures, not parts
// to skip.
func fixErr(err error) error {
	if ni, ok := err.(*onnxgo.ErrNotImplemented); ok && ni == nil {
		return errors.New("an onnx-go operator failed and lost its error (typed-nil *onnx.ErrNotImplemented, as after a failed broadcast)")
	}
	return err
}
