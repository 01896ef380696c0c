// Package ref is the reference runtime: the model's Gorgonia graph (package graph) in
// float64, with gradients by automatic differentiation. It is the slow, exact engine
// the others are cross-checked against and certified radii are computed with.
package ref

import (
	"fmt"
	"sync"

	"github.com/eabs/eabs/graph"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
)

// Model runs a models.Weights value on the reference graph. Gorgonia graphs have
// static shapes, so one compiled program is kept per (kind, batch size). Calls are
// serialised: a program's machine is not safe for concurrent runs.
type Model struct {
	w        *models.Weights
	mu       sync.Mutex
	programs map[progKey]*graph.Program[float64]
}

type progKey struct {
	kind  string
	batch int
}

var (
	_ runtime.Model         = (*Model)(nil)
	_ runtime.Discriminator = (*Model)(nil)
	_ runtime.Classifier    = (*Classifier)(nil)
)

// New returns the reference runtime of a generative model.
func New(w *models.Weights) (*Model, error) {
	if w.Spec.Kind != models.Generative {
		return nil, fmt.Errorf("ref: %s is not a generative model (use NewClassifier)", w.Spec.Name())
	}
	return &Model{w: w, programs: map[progKey]*graph.Program[float64]{}}, nil
}

// Spec implements runtime.Model.
func (m *Model) Spec() models.Spec { return m.w.Spec }

// Weights returns the weights the model runs.
func (m *Model) Weights() *models.Weights { return m.w }

func (m *Model) program(kind string, batch int) (*graph.Program[float64], error) {
	key := progKey{kind, batch}
	if p, ok := m.programs[key]; ok {
		return p, nil
	}
	var p *graph.Program[float64]
	var err error
	switch kind {
	case "encode":
		p, err = graph.NewEncode[float64](m.w, batch)
	case "decode":
		p, err = graph.NewDecode[float64](m.w, batch)
	case "disc":
		p, err = graph.NewDiscLogit[float64](m.w, batch)
	case "step":
		p, err = graph.NewLatentStep[float64](m.w, batch)
	}
	if err != nil {
		return nil, err
	}
	m.programs[key] = p
	return p, nil
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// classSlice copies column k of a (B, K, M) tensor as (B, M).
func classSlice(v []float32, batch, classes, m, k int) []float64 {
	out := make([]float64, batch*m)
	for b := 0; b < batch; b++ {
		for j := 0; j < m; j++ {
			out[b*m+j] = float64(v[(b*classes+k)*m+j])
		}
	}
	return out
}

// Encode implements runtime.Model.
func (m *Model) Encode(x []float32, batch int) (mu, logvar []float32, err error) {
	a := m.w.Spec.Arch
	if err := runtime.CheckBatch("x", x, batch, a.Pixels()); err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.program("encode", batch)
	if err != nil {
		return nil, nil, err
	}
	if err := p.Set("x", to64(x)); err != nil {
		return nil, nil, err
	}
	if err := p.Run(); err != nil {
		return nil, nil, err
	}
	return to32(p.Output("mu")), to32(p.Output("logvar")), nil
}

// Decode implements runtime.Model.
func (m *Model) Decode(z []float32, batch int) ([]float32, error) {
	a := m.w.Spec.Arch
	if err := runtime.CheckBatch("z", z, batch, a.Classes*a.Latent); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.program("decode", batch)
	if err != nil {
		return nil, err
	}
	for k := 0; k < a.Classes; k++ {
		if err := p.Set(graph.ClassInput("z", k), classSlice(z, batch, a.Classes, a.Latent, k)); err != nil {
			return nil, err
		}
	}
	if err := p.Run(); err != nil {
		return nil, err
	}
	return to32(p.Output("rec")), nil
}

// DiscLogit implements runtime.Discriminator.
func (m *Model) DiscLogit(z []float32, n int) ([]float32, error) {
	if err := runtime.CheckBatch("z", z, n, m.w.Spec.Arch.Latent); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.program("disc", n)
	if err != nil {
		return nil, err
	}
	if err := p.Set("z", to64(z)); err != nil {
		return nil, err
	}
	if err := p.Run(); err != nil {
		return nil, err
	}
	return to32(p.Output("logit")), nil
}

// LatentStep implements runtime.Model.
func (m *Model) LatentStep(x, mu, logvar, eps []float32, batch int) (*runtime.Step, error) {
	a := m.w.Spec.Arch
	K, M := a.Classes, a.Latent
	if err := runtime.CheckLatentStep(m.w.Spec, x, mu, logvar, eps, batch); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.program("step", batch)
	if err != nil {
		return nil, err
	}
	if err := p.Set("x", to64(x)); err != nil {
		return nil, err
	}
	for k := 0; k < K; k++ {
		for name, v := range map[string][]float32{"mu": mu, "logvar": logvar, "eps": eps} {
			if err := p.Set(graph.ClassInput(name, k), classSlice(v, batch, K, M, k)); err != nil {
				return nil, err
			}
		}
	}
	if err := p.Run(); err != nil {
		return nil, err
	}
	st := &runtime.Step{Loss: to32(p.Output("loss")), Rec: to32(p.Output("rec")),
		GradMu: make([]float32, batch*K*M), GradLogvar: make([]float32, batch*K*M)}
	for k := 0; k < K; k++ {
		gm, gl := p.Output(graph.ClassInput("grad_mu", k)), p.Output(graph.ClassInput("grad_logvar", k))
		for b := 0; b < batch; b++ {
			for j := 0; j < M; j++ {
				st.GradMu[(b*K+k)*M+j] = float32(gm[b*M+j])
				st.GradLogvar[(b*K+k)*M+j] = float32(gl[b*M+j])
			}
		}
	}
	return st, nil
}

// Close implements runtime.Model.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, p := range m.programs {
		p.Close()
		delete(m.programs, k)
	}
	return nil
}

// Classifier runs a CNN on the reference graph. Programs are compiled per batch size:
// the cross-entropy gradient (programs), the forward pass alone (fwd) and the logits'
// vector-Jacobian product (vjp), the last two per power-of-two bucket of batch sizes.
type Classifier struct {
	w        *models.Weights
	mu       sync.Mutex
	programs map[int]*graph.Program[float64]
	fwd, vjp map[int]*graph.Program[float64]
}

// NewClassifier returns the reference runtime of a CNN.
func NewClassifier(w *models.Weights) (*Classifier, error) {
	if w.Spec.Kind != models.CNN {
		return nil, fmt.Errorf("ref: %s is not a CNN", w.Spec.Name())
	}
	return &Classifier{w: w, programs: map[int]*graph.Program[float64]{},
		fwd: map[int]*graph.Program[float64]{}, vjp: map[int]*graph.Program[float64]{}}, nil
}

// Classes implements attack.Classifier.
func (c *Classifier) Classes() int { return c.w.Spec.Arch.Classes }

// Spec implements runtime.Classifier.
func (c *Classifier) Spec() models.Spec { return c.w.Spec }

func (c *Classifier) run(x []float32, y []int, batch int) (*graph.Program[float64], error) {
	a := c.w.Spec.Arch
	if err := runtime.CheckBatch("x", x, batch, a.Pixels()); err != nil {
		return nil, err
	}
	oh := make([]float64, batch*a.Classes)
	if y != nil {
		if len(y) != batch {
			return nil, fmt.Errorf("ref: %d labels for %d images", len(y), batch)
		}
		for b, k := range y {
			if k < 0 || k >= a.Classes {
				return nil, fmt.Errorf("ref: label %d outside [0,%d)", k, a.Classes)
			}
			oh[b*a.Classes+k] = 1
		}
	}
	p, ok := c.programs[batch]
	if !ok {
		var err error
		if p, err = graph.NewCNNLossGrad[float64](c.w, batch); err != nil {
			return nil, err
		}
		c.programs[batch] = p
	}
	if err := p.Set("x", to64(x)); err != nil {
		return nil, err
	}
	if err := p.Set("onehot", oh); err != nil {
		return nil, err
	}
	return p, p.Run()
}

// Logits implements runtime.Classifier and attack.Classifier.
func (c *Classifier) Logits(x []float32, batch int) ([]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	z, err := c.forward(x, batch)
	if err != nil {
		return nil, err
	}
	return to32(z), nil
}

// bucket is the batch size a program is compiled for: the next power of two. Attacks
// shrink their batches as samples are fooled, and a program per exact size would cost
// memory for every size seen (about 2.5 MB per image of batch for the MNIST CNN);
// padding with blank images (evaluation mode treats images independently) bounds the
// programs to log2 of the largest batch.
func bucket(b int) int {
	p := 1
	for p < b {
		p <<= 1
	}
	return p
}

// pad extends x (batch images of n values) with zeros to size images.
func pad(x []float32, batch, size, n int) []float64 {
	out := make([]float64, size*n)
	for i, v := range x[:batch*n] {
		out[i] = float64(v)
	}
	return out
}

// forward runs the forward pass alone on the batch padded to its bucket; it returns
// the logits of the real images.
func (c *Classifier) forward(x []float32, batch int) ([]float64, error) {
	a := c.w.Spec.Arch
	if err := runtime.CheckBatch("x", x, batch, a.Pixels()); err != nil {
		return nil, err
	}
	size := bucket(batch)
	p, ok := c.fwd[size]
	if !ok {
		var err error
		if p, err = graph.NewAmortized[float64](c.w, size); err != nil {
			return nil, err
		}
		c.fwd[size] = p
	}
	if err := p.Set("x", pad(x, batch, size, a.Pixels())); err != nil {
		return nil, err
	}
	if err := p.Run(); err != nil {
		return nil, err
	}
	return p.Output("logits")[:batch*a.Classes], nil
}

// LogitsVJP implements attack.Differentiable: the logits of x, the cotangent cot
// computed from them, and d/dx sum_b <v_b, logits_b>, all in float64 before the
// results are rounded to float32. The CNN is deterministic, so the forward pass that
// feeds cot and the one inside the product give the same logits.
func (c *Classifier) LogitsVJP(x []float32, batch int, cot func(logits []float32) []float32) (logits, grad []float32, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	z, err := c.forward(x, batch)
	if err != nil {
		return nil, nil, err
	}
	logits = to32(z)
	v := cot(append([]float32(nil), logits...))
	if len(v) != len(logits) {
		return nil, nil, fmt.Errorf("ref: cotangent has %d values, want %d (batch %d x %d classes)", len(v), len(logits), batch, c.Classes())
	}
	size := bucket(batch)
	p, ok := c.vjp[size]
	if !ok {
		if p, err = graph.NewCNNLogitsVJP[float64](c.w, size); err != nil {
			return nil, nil, err
		}
		c.vjp[size] = p
	}
	a := c.w.Spec.Arch
	if err := p.Set("x", pad(x, batch, size, a.Pixels())); err != nil {
		return nil, nil, err
	}
	if err := p.Set("v", pad(v, batch, size, a.Classes)); err != nil {
		return nil, nil, err
	}
	if err := p.Run(); err != nil {
		return nil, nil, err
	}
	return logits, to32(p.Output("grad_x")[:batch*a.Pixels()]), nil
}

// LossGrad implements runtime.Classifier.
func (c *Classifier) LossGrad(x []float32, y []int, batch int) (logits, grad []float32, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.run(x, y, batch)
	if err != nil {
		return nil, nil, err
	}
	return to32(p.Output("logits")), to32(p.Output("grad_x")), nil
}

// Close implements runtime.Classifier.
func (c *Classifier) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ps := range []map[int]*graph.Program[float64]{c.programs, c.fwd, c.vjp} {
		for k, p := range ps {
			p.Close()
			delete(ps, k)
		}
	}
	return nil
}
