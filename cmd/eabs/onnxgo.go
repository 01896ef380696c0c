package main

import (
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/onnxgo"
)

// openOnnxGo opens the onnx-go runtime of the model with weights w: its encoder and
// (adversarial models) discriminator; Decode and LatentStep return
// runtime.ErrNotImplemented, which crosscheck reports as skipped. The runtime builds
// its ONNX graphs from the weights in memory (the files of an export directory are
// written for ONNX Runtime, in forms onnx-go cannot run), so arg, the MODEL
// argument, is not used. CNN models are refused.
func openOnnxGo(arg string, w *models.Weights) (runtime.Model, error) {
	m, err := onnxgo.New(w)
	if err != nil {
		return nil, err
	}
	return m, nil
}
