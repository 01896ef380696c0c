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

// Model runs a models.Weights value on the reference graph, one sample at a time
// (graph.Samples): a sample's outputs are the same bits whatever batch it is passed in.
// Gorgonia graphs have static shapes, so each kind of computation keeps a pool of
// batch-1 programs. Safe for concurrent use.
type Model struct {
	w     *models.Weights
	mu    sync.Mutex
	pools map[string]*graph.Samples[float64]
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
	return &Model{w: w, pools: map[string]*graph.Samples[float64]{}}, nil
}

// Spec implements runtime.Model.
func (m *Model) Spec() models.Spec { return m.w.Spec }

// Weights returns the weights the model runs.
func (m *Model) Weights() *models.Weights { return m.w }

// each runs f once per sample on a batch-1 program of the given kind.
func (m *Model) each(kind string, n int, f func(p *graph.Program[float64], i int) error) error {
	m.mu.Lock()
	pool, ok := m.pools[kind]
	if !ok {
		build := map[string]func(*models.Weights, int) (*graph.Program[float64], error){
			"encode": graph.NewEncode[float64],
			"decode": graph.NewDecode[float64],
			"disc":   graph.NewDiscLogit[float64],
			"step":   graph.NewLatentStep[float64],
		}[kind]
		pool = graph.NewSamples(func() (*graph.Program[float64], error) { return build(m.w, 1) })
		m.pools[kind] = pool
	}
	m.mu.Unlock()
	return pool.Each(n, f)
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// put rounds v into dst.
func put(dst []float32, v []float64) {
	for i, x := range v {
		dst[i] = float32(x)
	}
}

// run sets the named inputs of a batch-1 program and runs it.
func run(p *graph.Program[float64], in map[string][]float32) error {
	for name, v := range in {
		if err := p.Set(name, to64(v)); err != nil {
			return err
		}
	}
	return p.Run()
}

// Encode implements runtime.Model.
func (m *Model) Encode(x []float32, batch int) (mu, logvar []float32, err error) {
	a := m.w.Spec.Arch
	if err := runtime.CheckBatch("x", x, batch, a.Pixels()); err != nil {
		return nil, nil, err
	}
	P, EM := a.Pixels(), m.w.Spec.Encoders()*a.Latent
	mu, logvar = make([]float32, batch*EM), make([]float32, batch*EM)
	err = m.each("encode", batch, func(p *graph.Program[float64], i int) error {
		if err := run(p, map[string][]float32{"x": x[i*P : (i+1)*P]}); err != nil {
			return err
		}
		put(mu[i*EM:(i+1)*EM], p.Output("mu"))
		put(logvar[i*EM:(i+1)*EM], p.Output("logvar"))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return mu, logvar, nil
}

// classInputs names sample i's per-class rows of (B, K, M) tensors as the inputs
// name{k} of a batch-1 program.
func classInputs(in map[string][]float32, classes, m, i int, vs map[string][]float32) map[string][]float32 {
	for name, v := range vs {
		for k := 0; k < classes; k++ {
			in[graph.ClassInput(name, k)] = v[(i*classes+k)*m : (i*classes+k+1)*m]
		}
	}
	return in
}

// Decode implements runtime.Model.
func (m *Model) Decode(z []float32, batch int) ([]float32, error) {
	a := m.w.Spec.Arch
	if err := runtime.CheckBatch("z", z, batch, a.Classes*a.Latent); err != nil {
		return nil, err
	}
	KP := a.Classes * a.Pixels()
	rec := make([]float32, batch*KP)
	err := m.each("decode", batch, func(p *graph.Program[float64], i int) error {
		in := classInputs(map[string][]float32{}, a.Classes, a.Latent, i, map[string][]float32{"z": z})
		if err := run(p, in); err != nil {
			return err
		}
		put(rec[i*KP:(i+1)*KP], p.Output("rec"))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// DiscLogit implements runtime.Discriminator.
func (m *Model) DiscLogit(z []float32, n int) ([]float32, error) {
	M := m.w.Spec.Arch.Latent
	if err := runtime.CheckBatch("z", z, n, M); err != nil {
		return nil, err
	}
	out := make([]float32, n)
	err := m.each("disc", n, func(p *graph.Program[float64], i int) error {
		if err := run(p, map[string][]float32{"z": z[i*M : (i+1)*M]}); err != nil {
			return err
		}
		put(out[i:i+1], p.Output("logit"))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LatentStep implements runtime.Model.
func (m *Model) LatentStep(x, mu, logvar, eps []float32, batch int) (*runtime.Step, error) {
	a := m.w.Spec.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	if err := runtime.CheckLatentStep(m.w.Spec, x, mu, logvar, eps, batch); err != nil {
		return nil, err
	}
	st := &runtime.Step{Loss: make([]float32, batch*K), Rec: make([]float32, batch*K*P),
		GradMu: make([]float32, batch*K*M), GradLogvar: make([]float32, batch*K*M)}
	err := m.each("step", batch, func(p *graph.Program[float64], i int) error {
		in := classInputs(map[string][]float32{"x": x[i*P : (i+1)*P]}, K, M, i,
			map[string][]float32{"mu": mu, "logvar": logvar, "eps": eps})
		if err := run(p, in); err != nil {
			return err
		}
		put(st.Loss[i*K:(i+1)*K], p.Output("loss"))
		put(st.Rec[i*K*P:(i+1)*K*P], p.Output("rec"))
		for k := 0; k < K; k++ {
			put(st.GradMu[(i*K+k)*M:(i*K+k+1)*M], p.Output(graph.ClassInput("grad_mu", k)))
			put(st.GradLogvar[(i*K+k)*M:(i*K+k+1)*M], p.Output(graph.ClassInput("grad_logvar", k)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Close implements runtime.Model.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, p := range m.pools {
		p.Close()
		delete(m.pools, k)
	}
	return nil
}

// Classifier runs a CNN on the reference graph, one sample at a time (as Model): the
// forward pass (fwd), the logits' vector-Jacobian product (vjp) and the cross-entropy
// gradient (xent). Safe for concurrent use.
type Classifier struct {
	w              *models.Weights
	fwd, vjp, xent *graph.Samples[float64]
}

// NewClassifier returns the reference runtime of a CNN.
func NewClassifier(w *models.Weights) (*Classifier, error) {
	if w.Spec.Kind != models.CNN {
		return nil, fmt.Errorf("ref: %s is not a CNN", w.Spec.Name())
	}
	pool := func(build func(*models.Weights, int) (*graph.Program[float64], error)) *graph.Samples[float64] {
		return graph.NewSamples(func() (*graph.Program[float64], error) { return build(w, 1) })
	}
	return &Classifier{w: w, fwd: pool(graph.NewAmortized[float64]), vjp: pool(graph.NewCNNLogitsVJP[float64]),
		xent: pool(graph.NewCNNLossGrad[float64])}, nil
}

// Classes implements attack.Classifier.
func (c *Classifier) Classes() int { return c.w.Spec.Arch.Classes }

// Spec returns the CNN's spec.
func (c *Classifier) Spec() models.Spec { return c.w.Spec }

// Logits implements runtime.Classifier and attack.Classifier.
func (c *Classifier) Logits(x []float32, batch int) ([]float32, error) {
	a := c.w.Spec.Arch
	if err := runtime.CheckBatch("x", x, batch, a.Pixels()); err != nil {
		return nil, err
	}
	P, K := a.Pixels(), a.Classes
	logits := make([]float32, batch*K)
	err := c.fwd.Each(batch, func(p *graph.Program[float64], i int) error {
		if err := run(p, map[string][]float32{"x": x[i*P : (i+1)*P]}); err != nil {
			return err
		}
		put(logits[i*K:(i+1)*K], p.Output("logits"))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return logits, nil
}

// LogitsVJP implements attack.Differentiable: the logits of x, the cotangent cot
// computed from them, and d/dx sum_b <v_b, logits_b>, all in float64 before the
// results are rounded to float32. The CNN is deterministic, so the forward pass that
// feeds cot and the one inside the product give the same logits.
func (c *Classifier) LogitsVJP(x []float32, batch int, cot func(logits []float32) []float32) (logits, grad []float32, err error) {
	if logits, err = c.Logits(x, batch); err != nil {
		return nil, nil, err
	}
	v := cot(append([]float32(nil), logits...))
	if len(v) != len(logits) {
		return nil, nil, fmt.Errorf("ref: cotangent has %d values, want %d (batch %d x %d classes)", len(v), len(logits), batch, c.Classes())
	}
	P, K := c.w.Spec.Arch.Pixels(), c.Classes()
	grad = make([]float32, batch*P)
	err = c.vjp.Each(batch, func(p *graph.Program[float64], i int) error {
		if err := run(p, map[string][]float32{"x": x[i*P : (i+1)*P], "v": v[i*K : (i+1)*K]}); err != nil {
			return err
		}
		put(grad[i*P:(i+1)*P], p.Output("grad_x"))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return logits, grad, nil
}

// LossGrad returns the logits and the gradient of sum_b CE(logits_b, y_b) with respect
// to x (attack.Model, for adversarial training).
func (c *Classifier) LossGrad(x []float32, y []int, batch int) (logits, grad []float32, err error) {
	a := c.w.Spec.Arch
	if err := runtime.CheckBatch("x", x, batch, a.Pixels()); err != nil {
		return nil, nil, err
	}
	if len(y) != batch {
		return nil, nil, fmt.Errorf("ref: %d labels for %d images", len(y), batch)
	}
	P, K := a.Pixels(), a.Classes
	for _, k := range y {
		if k < 0 || k >= K {
			return nil, nil, fmt.Errorf("ref: label %d outside [0,%d)", k, K)
		}
	}
	logits, grad = make([]float32, batch*K), make([]float32, batch*P)
	err = c.xent.Each(batch, func(p *graph.Program[float64], i int) error {
		oh := make([]float32, K)
		oh[y[i]] = 1
		if err := run(p, map[string][]float32{"x": x[i*P : (i+1)*P], "onehot": oh}); err != nil {
			return err
		}
		put(logits[i*K:(i+1)*K], p.Output("logits"))
		put(grad[i*P:(i+1)*P], p.Output("grad_x"))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return logits, grad, nil
}

// Close implements runtime.Classifier.
func (c *Classifier) Close() error {
	for _, p := range []*graph.Samples[float64]{c.fwd, c.vjp, c.xent} {
		p.Close()
	}
	return nil
}
