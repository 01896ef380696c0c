package onnx_test

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
)

// TestReadRefusesNonFiniteWeights: an exported file whose initializers hold a NaN or
// an infinity (a damaged or tampered export; every runtime would turn it into NaN
// losses without a word) is refused, naming the initializer.
func TestReadRefusesNonFiniteWeights(t *testing.T) {
	s, err := models.NewSpec("tiny", "cnn")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		w, err := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		w.Params[0].Data[3] = v
		paths, err := onnx.Export(w, t.TempDir(), onnx.ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = onnx.ReadFile(paths[0])
		if err == nil || !strings.Contains(err.Error(), "value 3 is") || !strings.Contains(err.Error(), paths[0]) {
			t.Errorf("initializer value %v: ReadFile error %v, want one naming the file and the value", v, err)
		}
	}
}

// FuzzDecode: no input makes the ONNX reader panic or allocate wildly, every failure
// is a *FormatError, and every model it accepts is self-consistent (initializer data
// matching its shape, all float values finite).
func FuzzDecode(f *testing.F) {
	s, _ := models.NewSpec("tiny", "eabs")
	w, _ := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	paths, err := onnx.Export(w, f.TempDir(), onnx.ExportOptions{Roles: []string{onnx.RoleEncoder}})
	if err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(paths[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/3])
	small, _ := smallModel().Marshal()
	f.Add(small)
	f.Add([]byte{0x08, 0x07})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := onnx.Decode(b)
		if err != nil {
			if _, ok := err.(*onnx.FormatError); !ok {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			return
		}
		for _, in := range info.Initializers {
			n := 1
			for _, d := range in.Shape {
				n *= d
			}
			switch {
			case in.External:
			case in.DataType == onnx.Float && len(in.Float32) != n:
				t.Fatalf("initializer %s: shape %v with %d floats", in.Name, in.Shape, len(in.Float32))
			case in.DataType == onnx.Int64 && len(in.Int64) != n:
				t.Fatalf("initializer %s: shape %v with %d int64s", in.Name, in.Shape, len(in.Int64))
			}
			for _, v := range in.Float32 {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("initializer %s accepted with %v", in.Name, v)
				}
			}
		}
	})
}
