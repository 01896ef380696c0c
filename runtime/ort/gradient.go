package ort

import (
	"slices"

	"github.com/eabs/eabs/onnx/grad"
)

// GradClassifier is a Classifier with input gradients: beside the model's session it
// runs the model's gradient graph (package onnx/grad: the model's nodes, then their
// vector-Jacobian products written as ONNX operators), so gradient attacks run on any
// ONNX classifier with ONNX Runtime alone. It implements attack.Differentiable.
//
// A gradient is two runs: the model for the scores, from which the caller computes
// the cotangent, then the gradient graph with that cotangent (a graph cannot call
// back into Go between its forward and backward halves). The scores returned are the
// first run's, those the cotangent was computed from.
type GradClassifier struct {
	*Classifier
	g *Session // inputs: the images and the cotangent; output: the gradient
}

// NewGradClassifier adds gradients to c from r, the gradient graph of c's model with
// the Cotangent loss (grad.Build with Loss grad.Cotangent, its input and output the
// ones c runs). It opens the graph with c's thread count; Close closes both.
func NewGradClassifier(c *Classifier, r *grad.Result, opts Options) (*GradClassifier, error) {
	if r.Cotangent == "" {
		return nil, &Error{Op: "open", Path: c.Path(), Msg: "the gradient graph takes no cotangent (build it with grad.Cotangent)"}
	}
	o := opts
	o.InputNames, o.OutputNames = []string{r.Input, r.Cotangent}, []string{r.Grad}
	g, err := OpenData(c.Path()+" (gradient graph)", r.Model, o)
	if err != nil {
		return nil, err
	}
	in, cot := g.inputs[0].dims, g.inputs[1].dims
	if len(in) != 4 || len(cot) != 2 || in[0] != cot[0] || (c.fixedBatch > 0) != (in[0] > 0) {
		g.Close()
		return nil, g.errorf("open", "gradient graph takes %s and a cotangent %s; the classifier takes %s images and gives %d scores",
			dimString(in), dimString(cot), dimString([]int64{int64(c.fixedBatch), int64(c.c), int64(c.h), int64(c.w)}), c.k)
	}
	return &GradClassifier{Classifier: c, g: g}, nil
}

// LogitsVJP implements attack.Differentiable: the scores (batch, K) of images x, and
// d/dx sum_b <v_b, scores_b> for the cotangent v = cot(scores), in chunks of at most
// MaxBatch images per run (a model with a fixed batch runs that batch, the last
// chunk padded).
func (g *GradClassifier) LogitsVJP(x []float32, batch int, cot func(logits []float32) []float32) (logits, grad []float32, err error) {
	if logits, err = g.Logits(x, batch); err != nil {
		return nil, nil, err
	}
	v := cot(slices.Clone(logits))
	k, p := g.k, g.Pixels()
	if len(v) != batch*k {
		return nil, nil, g.g.errorf("run", "cotangent has %d values, want %d (batch %d x %d classes)", len(v), batch*k, batch, k)
	}
	grad = make([]float32, 0, len(x))
	for lo := 0; lo < batch; lo += g.maxBatch {
		hi := min(lo+g.maxBatch, batch)
		n, xs, vs := hi-lo, x[lo*p:hi*p], v[lo*k:hi*k]
		run := g.g.RunRows
		if g.fixedBatch > 0 {
			run = func(_ int, in []Tensor) ([]Tensor, error) { return g.g.Run(in) }
			if n < g.fixedBatch {
				xs = append(slices.Clone(xs), make([]float32, (g.fixedBatch-n)*p)...)
				vs = append(slices.Clone(vs), make([]float32, (g.fixedBatch-n)*k)...)
				n = g.fixedBatch
			}
		}
		res, err := run(n, []Tensor{
			{Shape: []int64{int64(n), int64(g.c), int64(g.h), int64(g.w)}, Data: xs},
			{Shape: []int64{int64(n), int64(k)}, Data: vs},
		})
		if err != nil {
			return nil, nil, err
		}
		if got := res[0].Shape; len(got) != 4 || got[0] != int64(n) || len(res[0].Data) != n*p {
			return nil, nil, g.g.errorf("run", "gradient has shape %v for %d images of %d values", got, n, p)
		}
		grad = append(grad, res[0].Data[:(hi-lo)*p]...)
	}
	return logits, grad, nil
}

// Close releases both sessions.
func (g *GradClassifier) Close() error {
	err := g.g.Close()
	if e := g.Classifier.Close(); e != nil {
		err = e
	}
	return err
}
