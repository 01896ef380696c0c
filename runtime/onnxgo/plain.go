package onnxgo

import (
	"fmt"
	"slices"
	"sync"

	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/runtime"
)

// PlainClassifier runs a plain ONNX classifier, as its Source adapts it, in onnx-go:
// a second engine, independent of ONNX Runtime, for eabs crosscheck on the graphs
// onnx-go runs (it has no Shape, ConstantOfShape or broadcasting Sub, for one: the
// error of NewPlainClassifier says what failed). Logits only; calls are serialised.
//
// A model with a symbolic batch is compiled for two images and run on pairs (an odd
// image is paired with a blank one): onnx-go's Gemm at batch 1 adds its product into
// the bias every run. NewPlainClassifier runs the same pair twice and refuses a graph
// whose outputs change, so no other kernel that keeps state goes unnoticed.
type PlainClassifier struct {
	m  *adapt.Model
	k  int
	n  int // images per run
	mu sync.Mutex
	p  *program
}

var _ runtime.Classifier = (*PlainClassifier)(nil)

// NewPlainClassifier compiles src's adapted model, or says why onnx-go cannot run it.
func NewPlainClassifier(src *runtime.Source) (c *PlainClassifier, err error) {
	m, err := src.Adapted()
	if err != nil {
		return nil, err
	}
	c = &PlainClassifier{m: m, n: 2}
	if m.Batch > 0 {
		c.n = m.Batch
	}
	defer func() {
		// onnx-go panics on some graphs it does not support (an attribute of an
		// unexpected type, a shape it cannot broadcast); that is a graph it cannot
		// run, not a failure of the caller.
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("onnxgo: %s: onnx-go failed on the graph: %v", src.ONNX, r)
		}
	}()
	if c.p, err = compile(m.ONNX, []int{c.n, m.C, m.H, m.W}); err != nil {
		return nil, fmt.Errorf("onnxgo: %s: %w", src.ONNX, err)
	}
	// A fixed input pattern, run twice: the same bits, or a kernel keeps state.
	x := make([]float32, c.n*m.Pixels())
	for i := range x {
		x[i] = float32(i%17) / 16
	}
	a, err := c.p.run(x)
	if err != nil {
		return nil, fmt.Errorf("onnxgo: %s: %w", src.ONNX, err)
	}
	b, err := c.p.run(x)
	if err != nil {
		return nil, fmt.Errorf("onnxgo: %s: %w", src.ONNX, err)
	}
	if len(a) != 1 || len(b) != 1 || len(a[0]) == 0 || len(a[0])%c.n != 0 {
		return nil, fmt.Errorf("onnxgo: %s: the graph returned %d outputs, want one of (%d, K) scores", src.ONNX, len(a), c.n)
	}
	if !slices.Equal(a[0], b[0]) {
		return nil, fmt.Errorf("onnxgo: %s: onnx-go returns other scores for the same images on a second run (a kernel that keeps state)", src.ONNX)
	}
	c.k = len(a[0]) / c.n
	return c, nil
}

// Classes is the number of scores per image.
func (c *PlainClassifier) Classes() int { return c.k }

// Logits returns the scores (batch, K) of images x (batch, C, H, W).
func (c *PlainClassifier) Logits(x []float32, batch int) (out []float32, err error) {
	p := c.m.Pixels()
	if err := runtime.CheckBatch("x", x, batch, p); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p == nil {
		return nil, fmt.Errorf("onnxgo: classifier is closed")
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("onnxgo: onnx-go failed: %v", r)
		}
	}()
	out = make([]float32, 0, batch*c.k)
	for lo := 0; lo < batch; lo += c.n {
		hi := min(lo+c.n, batch)
		in := x[lo*p : hi*p]
		if hi-lo < c.n {
			in = append(slices.Clone(in), make([]float32, (c.n-(hi-lo))*p)...)
		}
		o, err := c.p.run(in)
		if err != nil {
			return nil, fmt.Errorf("onnxgo: images %d to %d: %w", lo, hi, fixErr(err))
		}
		if len(o) != 1 || len(o[0]) != c.n*c.k {
			return nil, fmt.Errorf("onnxgo: %d outputs of %d values for %d images of %d scores", len(o), len(o[0]), c.n, c.k)
		}
		out = append(out, o[0][:(hi-lo)*c.k]...)
	}
	return out, nil
}

// Close drops the compiled graph; later calls fail.
func (c *PlainClassifier) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.p = nil
	return nil
}
