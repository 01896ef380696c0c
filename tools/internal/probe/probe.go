// Package probe holds what the diagnostic scripts share: a zoo model exported to ONNX
// in a temporary directory, with ONNX Runtime initialised to run it.
package probe

import (
	"os"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/zoo"
)

// Exported is a model and the directory its ONNX export was written to.
type Exported struct {
	W   *models.Weights
	Dir string
}

// Export loads the zoo model name, exports it into a new temporary directory and
// initialises ONNX Runtime (the library from $EABS_ORT_LIB or third_party/). Close
// removes the directory.
func Export(name string) (*Exported, error) {
	w, _, err := zoo.Load(name)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "eabs-probe")
	if err != nil {
		return nil, err
	}
	if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := ort.Init(""); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Exported{W: w, Dir: dir}, nil
}

// Close removes the export.
func (e *Exported) Close() error { return os.RemoveAll(e.Dir) }
