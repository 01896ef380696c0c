package onnxgo

import (
	"fmt"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
)

// Classifier runs a CNN baseline's whole graph (Conv, BatchNormalization, LeakyRelu,
// Flatten, MatMul, Add in the onnx-go forms) in onnx-go: logits only, no gradients
// (onnx-go runs forward graphs). It is the third engine of eabs crosscheck for the
// zoo's classifiers, beside the reference graph and ONNX Runtime. Calls are
// serialised, as for Model.
type Classifier struct{ m *Model }

// NewClassifier returns the onnx-go runtime of the CNN with weights w, compiled for
// at once so that a graph onnx-go cannot run is reported here.
func NewClassifier(w *models.Weights) (*Classifier, error) {
	s := w.Spec
	if s.Kind != models.CNN {
		return nil, fmt.Errorf("onnxgo: %s is not a CNN (New runs generative models)", s.Name())
	}
	m := &Model{spec: s, progs: map[string]*program{}}
	var err error
	if m.cnn, err = build(w, onnx.RoleCNN); err != nil {
		return nil, err
	}
	m.mu.Lock()
	_, err = m.program(onnx.RoleCNN)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &Classifier{m}, nil
}

// Spec returns the model's spec.
func (c *Classifier) Spec() models.Spec { return c.m.spec }

// Classes is the number of classes (the logits per image).
func (c *Classifier) Classes() int { return c.m.spec.Arch.Classes }

// Logits returns (batch, K) logits for images x (batch, C, H, W).
func (c *Classifier) Logits(x []float32, batch int) ([]float32, error) {
	if err := runtime.CheckBatch("x", x, batch, c.m.spec.Arch.Pixels()); err != nil {
		return nil, err
	}
	out, err := c.m.run(onnx.RoleCNN, x, batch, c.m.spec.Arch.Pixels())
	if err != nil {
		return nil, err
	}
	if len(out) != 1 || len(out[0]) != batch*c.Classes() {
		return nil, fmt.Errorf("onnxgo: the CNN graph returned %d outputs, want one of %d logits", len(out), batch*c.Classes())
	}
	return out[0], nil
}

// Close drops the compiled graphs; later calls fail.
func (c *Classifier) Close() error { return c.m.Close() }
