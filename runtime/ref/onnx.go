package ref

import (
	"fmt"
	"slices"

	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/runtime"
)

// ONNXClassifier runs a plain ONNX classifier, as its Source adapts it, on onnx/grad's
// Go evaluator in float64, and its gradients by evaluating the gradient graph that
// ONNX Runtime runs: the float64 reference a cross-check compares ONNX Runtime with
// on graphs onnx-go cannot run. It is slow (plain loops) and safe for concurrent use.
type ONNXClassifier struct {
	m *adapt.Model
	g *grad.Result // nil without gradients
	k int
}

var _ runtime.Classifier = (*ONNXClassifier)(nil)

// evalChunk bounds the images of one evaluation (the evaluator holds every
// intermediate tensor of the batch in float64).
const evalChunk = 16

// NewONNXClassifier returns the evaluator of src's plain ONNX classifier, with its
// gradient graph when gradients is set (an error naming the node the differentiator
// cannot take, otherwise).
func NewONNXClassifier(src *runtime.Source, gradients bool) (*ONNXClassifier, error) {
	m, err := src.Adapted()
	if err != nil {
		return nil, err
	}
	c := &ONNXClassifier{m: m, k: m.Classes}
	if gradients {
		if c.g, err = src.GradientGraph(); err != nil {
			return nil, err
		}
	}
	if c.k == 0 {
		// A symbolic class count: one evaluation tells.
		z, err := c.eval(m.ONNX, m.Output, make([]float32, max(m.Batch, 1)*m.Pixels()), nil)
		if err != nil {
			return nil, err
		}
		c.k = len(z) / max(m.Batch, 1)
	}
	if c.k < 2 {
		return nil, fmt.Errorf("ref: %s has %d classes, want at least 2", src.ONNX, c.k)
	}
	return c, nil
}

// Classes implements attack.Classifier.
func (c *ONNXClassifier) Classes() int { return c.k }

// Logits implements attack.Classifier: the adapted model's scores, computed in float64
// and rounded to float32.
func (c *ONNXClassifier) Logits(x []float32, batch int) ([]float32, error) {
	if err := runtime.CheckBatch("x", x, batch, c.m.Pixels()); err != nil {
		return nil, err
	}
	return c.chunks(c.m.ONNX, c.m.Output, x, batch, nil, c.k)
}

// LogitsVJP implements attack.Differentiable: the scores, the cotangent cot computed
// from them, and d/dx sum_b <v_b, scores_b>, evaluated in float64.
func (c *ONNXClassifier) LogitsVJP(x []float32, batch int, cot func(logits []float32) []float32) (logits, grad []float32, err error) {
	if c.g == nil {
		return nil, nil, fmt.Errorf("ref: the classifier was opened without gradients (runtime.Options.Gradients)")
	}
	if logits, err = c.Logits(x, batch); err != nil {
		return nil, nil, err
	}
	v := cot(slices.Clone(logits))
	if len(v) != len(logits) {
		return nil, nil, fmt.Errorf("ref: cotangent has %d values, want %d (batch %d x %d classes)", len(v), len(logits), batch, c.k)
	}
	grad, err = c.chunks(c.g.Model, c.g.Grad, x, batch, v, c.m.Pixels())
	if err != nil {
		return nil, nil, err
	}
	return logits, grad, nil
}

// chunks evaluates model on x (and the cotangent v, when not nil) in chunks of at most
// evalChunk images (of the fixed batch, the last one padded), returning per image out
// values of the output named name.
func (c *ONNXClassifier) chunks(model []byte, name string, x []float32, batch int, v []float32, per int) ([]float32, error) {
	p, step := c.m.Pixels(), evalChunk
	if c.m.Batch > 0 {
		step = c.m.Batch
	}
	res := make([]float32, 0, batch*per)
	for lo := 0; lo < batch; lo += step {
		hi := min(lo+step, batch)
		n, xs := hi-lo, x[lo*p:hi*p]
		var vs []float32
		if v != nil {
			vs = v[lo*c.k : hi*c.k]
		}
		if c.m.Batch > 0 && n < c.m.Batch {
			xs = append(slices.Clone(xs), make([]float32, (c.m.Batch-n)*p)...)
			if v != nil {
				vs = append(slices.Clone(vs), make([]float32, (c.m.Batch-n)*c.k)...)
			}
		}
		out, err := c.eval(model, name, xs, vs)
		if err != nil {
			return nil, err
		}
		if len(out) < (hi-lo)*per {
			return nil, fmt.Errorf("ref: %s has %d values for %d images, want %d each", name, len(out), hi-lo, per)
		}
		res = append(res, out[:(hi-lo)*per]...)
	}
	return res, nil
}

// eval runs model on images x (and a cotangent v) and returns the named output.
func (c *ONNXClassifier) eval(model []byte, name string, x []float32, v []float32) ([]float32, error) {
	n := len(x) / c.m.Pixels()
	in := map[string]*grad.Tensor{c.m.Input: {Type: grad.Float64, Shape: []int{n, c.m.C, c.m.H, c.m.W}, F: to64(x)}}
	if v != nil {
		in[c.g.Cotangent] = &grad.Tensor{Type: grad.Float64, Shape: []int{n, c.k}, F: to64(v)}
	}
	out, err := grad.Evaluate(model, in)
	if err != nil {
		return nil, fmt.Errorf("ref: %w", err)
	}
	t := out[name]
	if t == nil {
		return nil, fmt.Errorf("ref: no output %q", name)
	}
	r := make([]float32, len(t.F))
	put(r, t.F)
	return r, nil
}

// Close implements runtime.Classifier.
func (c *ONNXClassifier) Close() error { return nil }
