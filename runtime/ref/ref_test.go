package ref

import (
	"testing"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	// The reference computes in float64 but returns float32: 2e-7 relative is float32
	// rounding; the gradient tolerance covers the oracle's finite-difference error.
	runtimetest.Run(t, func(t *testing.T, w *models.Weights) runtime.Model {
		m, err := New(w)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}, runtimetest.Tolerances{Value: 2e-7, Grad: 1e-6})
}
