package ort

import (
	"fmt"
	"strings"
)

// ClassifierOptions configures OpenClassifier.
type ClassifierOptions struct {
	// Options are the session's (IntraOpThreads 0: one per core).
	Options
	// Workers is how many calls an attack's query oracle may run at once on the shared
	// session (it is safe for concurrent use); 0 means 1, which is right with the
	// default of one intra-op thread per core: one call already uses every core. Use
	// IntraOpThreads 1 and Workers = cores to parallelise over sub-batches instead.
	Workers int
	// MaxBatch is the largest batch one call passes to ONNX Runtime (larger ones are
	// split, bounding memory); 0 means 1024. A model with a fixed batch dimension is
	// always called with exactly that batch (the last chunk padded).
	MaxBatch int
}

// Classifier runs any ONNX image classifier with one float32 image input (N, C, H, W)
// and one float32 scores output (N, K): the CNN baselines that eabs exports (cnn.onnx)
// or a model exported from elsewhere. It implements attack.Classifier and
// attack.Parallel, and may be used by several goroutines at once.
type Classifier struct {
	s                 *Session
	c, h, w, k        int
	fixedBatch        int // > 0 if the model's batch dimension is fixed
	workers, maxBatch int
}

// OpenClassifier opens the ONNX classifier at path, reading the image shape and the
// class count from the model (a symbolic class count is read from one evaluation of a
// blank image). A model with other inputs or outputs than one image and one scores
// tensor gives an *Error naming what it has. Init must have succeeded.
func OpenClassifier(path string, opts ClassifierOptions) (*Classifier, error) {
	if opts.Workers < 0 || opts.MaxBatch < 0 {
		return nil, &Error{Op: "open", Path: path, Msg: fmt.Sprintf("Workers %d, MaxBatch %d: want >= 0", opts.Workers, opts.MaxBatch)}
	}
	o := opts.Options
	o.InputNames, o.OutputNames = nil, nil
	s, err := Open(path, o)
	if err != nil {
		return nil, err
	}
	return classifierOf(s, opts)
}

// OpenClassifierData is OpenClassifier on a model held in memory (an adapted plain
// classifier, say); name stands for its path in errors.
func OpenClassifierData(name string, model []byte, opts ClassifierOptions) (*Classifier, error) {
	if opts.Workers < 0 || opts.MaxBatch < 0 {
		return nil, &Error{Op: "open", Path: name, Msg: fmt.Sprintf("Workers %d, MaxBatch %d: want >= 0", opts.Workers, opts.MaxBatch)}
	}
	o := opts.Options
	o.InputNames, o.OutputNames = nil, nil
	s, err := OpenData(name, model, o)
	if err != nil {
		return nil, err
	}
	return classifierOf(s, opts)
}

// classifierOf makes a session a classifier, or closes it.
func classifierOf(s *Session, opts ClassifierOptions) (*Classifier, error) {
	c, err := newClassifier(s, opts)
	if err != nil {
		s.Close()
		return nil, err
	}
	return c, nil
}

func describePorts(ports []port) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%s %s %s", p.name, p.typ, dimString(p.dims))
	}
	return strings.Join(parts, ", ")
}

func newClassifier(s *Session, opts ClassifierOptions) (*Classifier, error) {
	fail := func(format string, args ...any) error {
		return s.errorf("open", "not an image classifier: "+format, args...)
	}
	if len(s.inputs) != 1 || len(s.outputs) != 1 {
		return nil, fail("it has %d inputs (%s) and %d outputs (%s); a classifier has one image input (N,C,H,W) and one scores output (N,K)",
			len(s.inputs), describePorts(s.inputs), len(s.outputs), describePorts(s.outputs))
	}
	in, out := s.inputs[0], s.outputs[0]
	if in.typ != typeFloat32 || len(in.dims) != 4 || in.dims[1] <= 0 || in.dims[2] <= 0 || in.dims[3] <= 0 {
		return nil, fail("its input is %s, want float32 (N,C,H,W) with fixed C, H, W", describePorts(s.inputs))
	}
	if out.typ != typeFloat32 || len(out.dims) != 2 {
		return nil, fail("its output is %s, want float32 (N,K)", describePorts(s.outputs))
	}
	cl := &Classifier{s: s, c: int(in.dims[1]), h: int(in.dims[2]), w: int(in.dims[3]), k: int(out.dims[1]),
		workers: max(opts.Workers, 1), maxBatch: opts.MaxBatch}
	if cl.maxBatch == 0 {
		cl.maxBatch = 1024
	}
	if in.dims[0] > 0 {
		cl.fixedBatch = int(in.dims[0])
		cl.maxBatch = cl.fixedBatch
	}
	if out.dims[0] > 0 && in.dims[0] > 0 && out.dims[0] != in.dims[0] {
		return nil, fail("its input has batch %d and its output %d", in.dims[0], out.dims[0])
	}
	if cl.k <= 0 {
		// A symbolic class count: one evaluation tells.
		n := max(cl.fixedBatch, 1)
		res, err := s.Run([]Tensor{{Shape: []int64{int64(n), int64(cl.c), int64(cl.h), int64(cl.w)}, Data: make([]float32, n*cl.Pixels())}})
		if err != nil {
			return nil, err
		}
		if len(res[0].Shape) != 2 || res[0].Shape[0] != int64(n) || res[0].Shape[1] < 1 {
			return nil, fail("its output has shape %v for %d images, want (%d,K)", res[0].Shape, n, n)
		}
		cl.k = int(res[0].Shape[1])
	}
	if cl.k < 2 {
		return nil, fail("its output has %d classes, want at least 2", cl.k)
	}
	return cl, nil
}

// Classes implements attack.Classifier.
func (c *Classifier) Classes() int { return c.k }

// Shape returns the image shape (C, H, W) the model takes.
func (c *Classifier) Shape() (ch, h, w int) { return c.c, c.h, c.w }

// Pixels is C*H*W.
func (c *Classifier) Pixels() int { return c.c * c.h * c.w }

// Path returns the model file.
func (c *Classifier) Path() string { return c.s.Path() }

// Parallelism implements attack.Parallel: the oracle may run Workers calls at once, each
// of at most MaxBatch images.
func (c *Classifier) Parallelism() (workers, maxBatch int) { return c.workers, c.maxBatch }

// Logits implements attack.Classifier: the scores (batch, K) of images x (batch, C, H, W),
// in chunks of at most MaxBatch images per ONNX Runtime call.
func (c *Classifier) Logits(x []float32, batch int) ([]float32, error) {
	p := c.Pixels()
	if batch < 0 || len(x) != batch*p {
		return nil, c.s.errorf("run", "%d values for %d images of %dx%dx%d", len(x), batch, c.c, c.h, c.w)
	}
	out := make([]float32, 0, batch*c.k)
	for lo := 0; lo < batch; lo += c.maxBatch {
		hi := min(lo+c.maxBatch, batch)
		n, in := hi-lo, x[lo*p:hi*p]
		if c.fixedBatch > 0 && n < c.fixedBatch {
			in = append(append(make([]float32, 0, c.fixedBatch*p), in...), make([]float32, (c.fixedBatch-n)*p)...)
			n = c.fixedBatch
		}
		run := c.s.RunRows // a fixed batch has one shape for every call already
		if c.fixedBatch > 0 {
			run = func(_ int, in []Tensor) ([]Tensor, error) { return c.s.Run(in) }
		}
		res, err := run(n, []Tensor{{Shape: []int64{int64(n), int64(c.c), int64(c.h), int64(c.w)}, Data: in}})
		if err != nil {
			return nil, err
		}
		if got := res[0].Shape; len(got) != 2 || got[0] != int64(n) || got[1] != int64(c.k) {
			return nil, c.s.errorf("run", "output has shape %v for %d images, want (%d,%d)", got, n, n, c.k)
		}
		out = append(out, res[0].Data[:(hi-lo)*c.k]...)
	}
	return out, nil
}

// Close releases the session.
func (c *Classifier) Close() error { return c.s.Close() }
