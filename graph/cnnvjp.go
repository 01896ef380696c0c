package graph

import (
	"fmt"

	"github.com/eabs/eabs/models"
	G "gorgonia.org/gorgonia"
)

// NewCNNLogitsVJP builds a CNN's vector-Jacobian product with respect to the input,
// what attacks with losses other than the cross-entropy need (DLR, margins, DeepFool's
// logit differences, Carlini-Wagner): inputs "x" (B,C,H,W) and the cotangent "v" (B,K);
// outputs "logits" (B,K) and "grad_x" = d/dx sum_b <v_b, logits_b> (B,C,H,W).
//
// The cotangent is an input, so a caller that computes it from the logits (the usual
// case) evaluates the logits first with NewAmortized; the CNN is deterministic in
// evaluation mode, so both runs see the same logits.
func NewCNNLogitsVJP[T float32 | float64](w *models.Weights, batch int) (*Program[T], error) {
	s := w.Spec
	if s.Kind != models.CNN {
		return nil, fmt.Errorf("graph: %s is not a CNN", s.Name())
	}
	a := s.Arch
	n := NewNet[T](w, Eval, batch, nil)
	x := n.Var("x", batch, a.InC, a.InH, a.InW)
	v := n.Input("v", batch, a.Classes)
	logits := n.Classifier(x)
	grads, err := G.Grad(n.Sum(n.Sum(n.Mul(logits, v), 1), 0), x)
	if err != nil {
		return nil, fmt.Errorf("graph: logits vector-Jacobian product: %w", err)
	}
	p := &Program[T]{Net: n, Inputs: map[string]*G.Node{"x": x, "v": v},
		Outputs: map[string]*G.Node{"logits": logits}, grads: map[string]*G.Node{"grad_x": grads[0]}}
	return p, p.compile()
}
