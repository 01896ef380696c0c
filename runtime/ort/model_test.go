package ort

import (
	"testing"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func TestModelConformance(t *testing.T) {
	initORT(t)
	runtimetest.Run(t, func(t *testing.T, w *models.Weights) runtime.Model {
		dir := t.TempDir()
		if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		m, err := OpenModel(dir, Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}, runtimetest.Tolerances{Value: 1e-5, Grad: 1e-4})
}
