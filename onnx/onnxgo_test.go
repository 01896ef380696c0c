package onnx_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	onnxgo "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/simple"

	"github.com/eabs/eabs/internal/naive"
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

// exportOnnxGo is export with ExportOptions.OnnxGo.
func exportOnnxGo(t testing.TB, model string, seed uint64) *exported {
	t.Helper()
	s, err := models.NewSpec("tiny", model)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	w, err := models.NewWeights(s, rng)
	if err != nil {
		t.Fatal(err)
	}
	naive.RandomizeBN(w, rng)
	paths, err := onnx.Export(w, t.TempDir(), onnx.ExportOptions{OnnxGo: true})
	if err != nil {
		t.Fatalf("Export(tiny/%s, OnnxGo): %v", model, err)
	}
	e := &exported{spec: s, w: w, ref: naive.New(w), paths: map[string]string{}}
	for _, p := range paths {
		e.paths[strings.TrimSuffix(filepath.Base(p), ".onnx")] = p
	}
	return e
}

// TestExportOnnxGo checks the onnx-go forms (ExportOptions.OnnxGo): the encoder, CNN
// and discriminator use only the operators onnx-go runs correctly and still agree with
// the oracle in ONNX Runtime at batch sizes 1, 3 and 8 (a discriminator width of the
// tiny models); the other files are the default ones, byte for byte. runtime/onnxgo
// runs them in onnx-go itself.
func TestExportOnnxGo(t *testing.T) {
	allowed := map[string]bool{"Conv": true, "BatchNormalization": true, "LeakyRelu": true,
		"Flatten": true, "MatMul": true, "Add": true, "Reshape": true, "Concat": true}
	for i, model := range []string{"eabs", "abs", "dv", "cnn"} {
		t.Run(model, func(t *testing.T) {
			e := exportOnnxGo(t, model, uint64(20+i))
			for _, role := range onnx.Roles(e.spec) {
				info, err := onnx.ReadFile(e.paths[role])
				if err != nil {
					t.Fatal(err)
				}
				if _, err := onnx.CheckCompatible(info, role); err != nil {
					t.Errorf("%s: %v", role, err)
				}
				switch role {
				case onnx.RoleEncoder, onnx.RoleCNN, onnx.RoleDiscriminator:
					for op := range info.OpTypes {
						if !allowed[op] {
							t.Errorf("%s uses %s", role, op)
						}
					}
				default:
					def, err := onnx.BuildModel(e.w, role, onnx.ExportOptions{})
					if err != nil {
						t.Fatal(err)
					}
					want, _ := def.Marshal()
					got, _ := os.ReadFile(e.paths[role])
					if !bytes.Equal(got, want) {
						t.Errorf("%s differs from the default export", role)
					}
				}
			}
			needORT(t)
			rng := rand.New(rand.NewPCG(uint64(i), 8))
			for _, batch := range []int{1, 3, 8} {
				e.checkEncoder(t, batch, rng)
				if e.spec.HasDiscriminator() {
					e.checkDisc(t, batch, rng)
				}
			}
		})
	}
}
