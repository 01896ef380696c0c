package onnx_test

import (
	"math/rand/v2"
	"testing"

	onnxgo "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/simple"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
)

// TestOnnxGoCoexists links onnx-go, which registers its own copy of the ONNX protobuf
// schema under the names onnx.*, into the same binary as this package (the reason
// onnxpb is regenerated under eabs.onnxpb: a second registration would panic at
// init), and has it decode an exported file: the wire format is plain ONNX.
func TestOnnxGoCoexists(t *testing.T) {
	s, err := models.NewSpec("tiny", "eabs")
	if err != nil {
		t.Fatal(err)
	}
	w, err := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.BuildModel(w, onnx.RoleEncoder, onnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g := simple.NewSimpleGraph()
	if err := onnxgo.NewModel(g).UnmarshalBinary(b); err != nil {
		t.Fatalf("onnx-go cannot decode the exported encoder: %v", err)
	}
	info, err := onnx.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	nodes := 0
	for _, n := range info.OpTypes {
		nodes += n
	}
	// onnx-go makes one graph node per graph input, initializer and operator (whose
	// node is also its output value).
	want := nodes + len(info.Inputs) + len(info.Initializers)
	if got := g.Nodes().Len(); got != want {
		t.Errorf("onnx-go decoded %d nodes, want %d", got, want)
	}
}
