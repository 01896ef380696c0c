package zoo_test

import (
	"testing"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/zoo"
)

// TestEveryModelExportsCheckedONNX exports every zoo model, each with its own
// architecture (the 28x28 and 32x32 ones, E-ABS, ABS and CNNs), and runs the ONNX
// checker on every file: the unit tests export only the tiny architecture.
func TestEveryModelExportsCheckedONNX(t *testing.T) {
	var files []string
	for _, name := range zoo.Names() {
		w, meta, err := zoo.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		paths, err := onnx.Export(w, t.TempDir(), onnx.ExportOptions{Dataset: meta["dataset"]})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(paths) == 0 {
			t.Fatalf("%s: exported no file", name)
		}
		files = append(files, paths...)
	}
	t.Logf("%d files from %d models", len(files), len(zoo.Names()))
	testenv.OnnxCheck(t, files)
}
