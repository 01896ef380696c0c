package onnx_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
)

// smallModel is y = relu(x·W + b) with a symbolic batch, and metadata.
func smallModel() *onnx.Model {
	g := onnx.NewGraph("small")
	x := g.Input("x", onnx.Shape("batch", 3)...)
	w := g.Initializer("w", []int{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	b := g.Initializer("b", []int{2}, []float32{-1, 1})
	y := g.Op("Relu", []string{g.Op("Gemm", []string{x, w, b})})
	g.Output("y", y, onnx.Shape("batch", 2)...)
	return &onnx.Model{Graph: g, Metadata: map[string]string{"k": "v", "a": "b"}}
}

func TestGraphRoundTrip(t *testing.T) {
	m := smallModel()
	m.Graph.InitializerInt64("shape", []int{2}, []int64{0, -1})
	path := filepath.Join(t.TempDir(), "small.onnx")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	info, err := onnx.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		what      string
		got, want any
	}{
		{"IRVersion", info.IRVersion, int64(7)},
		{"Opset", info.Opset, int64(13)},
		{"ProducerName", info.ProducerName, "eabs"},
		{"GraphName", info.GraphName, "small"},
		{"Metadata", info.Metadata, map[string]string{"k": "v", "a": "b"}},
		{"Inputs", info.Inputs, []onnx.ValueInfo{{Name: "x", ElemType: onnx.Float, Shape: []onnx.Dim{{Param: "batch"}, {Size: 3}}}}},
		{"Outputs", info.Outputs, []onnx.ValueInfo{{Name: "y", ElemType: onnx.Float, Shape: []onnx.Dim{{Param: "batch"}, {Size: 2}}}}},
		{"Initializers", info.Initializers, []onnx.Tensor{
			{Name: "w", Shape: []int{3, 2}, DataType: onnx.Float, Float32: []float32{1, 2, 3, 4, 5, 6}},
			{Name: "b", Shape: []int{2}, DataType: onnx.Float, Float32: []float32{-1, 1}},
			{Name: "shape", Shape: []int{2}, DataType: onnx.Int64, Int64: []int64{0, -1}},
		}},
		{"OpTypes", info.OpTypes, map[string]int{"Gemm": 1, "Relu": 1}},
	}
	for _, test := range tests {
		if !reflect.DeepEqual(test.got, test.want) {
			t.Errorf("ReadFile: %s = %v, want %v", test.what, test.got, test.want)
		}
	}
	// Marshal is deterministic (metadata in key order).
	b1, _ := smallModel().Marshal()
	b2, _ := smallModel().Marshal()
	if string(b1) != string(b2) {
		t.Error("Marshal of equal models gave different bytes")
	}
}

func TestGraphOutputRename(t *testing.T) {
	g := onnx.NewGraph("rename")
	x := g.Input("x", onnx.Shape("n", 2)...)
	y := g.Op("Neg", []string{x})
	g.Output("y", y, onnx.Shape("n", 2)...)
	z := g.Op("Exp", []string{y}) // the old name follows the rename
	g.Output("z", z, onnx.Shape("n", 2)...)
	g.Output("x_copy", x, onnx.Shape("n", 2)...) // an input needs an Identity
	g.Output("y2", y, onnx.Shape("n", 2)...)     // so does a second output name
	b, err := (&onnx.Model{Graph: g}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	info, err := onnx.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.OpTypes, map[string]int{"Neg": 1, "Exp": 1, "Identity": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("OpTypes = %v, want %v", got, want)
	}
	var names []string
	for _, o := range info.Outputs {
		names = append(names, o.Name)
	}
	if got, want := strings.Join(names, ","), "y,z,x_copy,y2"; got != want {
		t.Errorf("outputs = %s, want %s", got, want)
	}
}

func TestGraphMisuse(t *testing.T) {
	tests := []struct {
		name  string
		build func(g *onnx.Graph)
		want  string
	}{
		{"duplicate", func(g *onnx.Graph) {
			g.Input("x", onnx.Fixed(1))
			g.Initializer("x", []int{1}, []float32{1})
		}, `value "x" defined twice`},
		{"undefined input", func(g *onnx.Graph) {
			g.Output("y", g.Op("Relu", []string{"nope"}))
		}, `undefined input "nope"`},
		{"shape mismatch", func(g *onnx.Graph) {
			g.Initializer("w", []int{2, 2}, []float32{1, 2, 3})
		}, `shape [2 2] holds 4 values, have 3`},
		{"undefined output", func(g *onnx.Graph) {
			g.Output("y", "nope")
		}, `undefined value "nope"`},
		{"no outputs", func(g *onnx.Graph) {
			g.Input("x", onnx.Fixed(1))
		}, `has no outputs`},
	}
	for _, test := range tests {
		g := onnx.NewGraph(test.name)
		test.build(g)
		_, err := (&onnx.Model{Graph: g}).Marshal()
		if err == nil || !strings.Contains(err.Error(), test.want) || !strings.HasPrefix(err.Error(), "onnx: ") {
			t.Errorf("%s: Marshal error = %v, want one containing %q", test.name, err, test.want)
		}
	}
}

// TestReadErrors feeds the reader and CheckCompatible broken and foreign files.
func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	s, err := models.NewSpec("tiny", "eabs")
	if err != nil {
		t.Fatal(err)
	}
	w, err := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	paths, err := onnx.Export(w, dir, onnx.ExportOptions{Roles: []string{onnx.RoleEncoder}})
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupt := append([]byte(nil), good...)
	for i := 40; i < len(corrupt); i += 97 {
		corrupt[i] ^= 0xA5
	}
	foreign, _ := smallModel().Marshal()
	oldFormat := smallModel()
	oldFormat.Metadata = map[string]string{onnx.MetaFormat: "0"}
	old, _ := oldFormat.Marshal()

	tests := []struct {
		name string
		path string
		role string
		read string // substring of the ReadFile error, or "" if reading succeeds
		use  string // substring of the CheckCompatible error, or "" if compatible
	}{
		{"good", paths[0], onnx.RoleEncoder, "", ""},
		{"missing", filepath.Join(dir, "nope.onnx"), onnx.RoleEncoder, "no such file", ""},
		{"empty", write("empty.onnx", nil), onnx.RoleEncoder, "empty file", ""},
		{"corrupt", write("corrupt.onnx", corrupt), onnx.RoleEncoder, "corrupt", ""},
		{"truncated half", write("half.onnx", good[:len(good)/2]), onnx.RoleEncoder, "truncated", ""},
		{"truncated end", write("end.onnx", good[:len(good)-1]), onnx.RoleEncoder, "truncated", ""},
		{"text", write("text.onnx", []byte("hello, this is not a model\n")), onnx.RoleEncoder, "not an ONNX model", ""},
		{"png", write("png.onnx", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")), onnx.RoleEncoder, "not an ONNX model", ""},
		{"foreign", write("foreign.onnx", foreign), onnx.RoleEncoder, "", "no eabs metadata"},
		{"old format", write("old.onnx", old), onnx.RoleEncoder, "", `export format "0"`},
		{"role mismatch", paths[0], onnx.RoleDecoders, "", `holds the "encoder" part of a model, want "decoders"`},
		{"no such role", paths[0], onnx.RoleCNN, "", `holds the "encoder" part`},
	}
	for _, test := range tests {
		info, err := onnx.ReadFile(test.path)
		if test.read != "" {
			if err == nil || !strings.Contains(err.Error(), test.read) || !strings.HasPrefix(err.Error(), "onnx: ") {
				t.Errorf("%s: ReadFile error = %v, want one containing %q", test.name, err, test.read)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: ReadFile: %v", test.name, err)
			continue
		}
		spec, err := onnx.CheckCompatible(info, test.role)
		switch {
		case test.use == "" && err != nil:
			t.Errorf("%s: CheckCompatible: %v", test.name, err)
		case test.use == "" && !reflect.DeepEqual(spec, s):
			t.Errorf("%s: CheckCompatible spec = %+v, want %+v", test.name, spec, s)
		case test.use != "":
			var ce *onnx.CompatError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), test.use) || !strings.Contains(err.Error(), test.path) {
				t.Errorf("%s: CheckCompatible error = %v, want a CompatError naming the file and containing %q", test.name, err, test.use)
			}
		}
	}
}

// TestTruncationNeverPasses cuts an exported file at many points: every cut is either
// a read error or refused by CheckCompatible, never a silently smaller model.
func TestTruncationNeverPasses(t *testing.T) {
	s, _ := models.NewSpec("tiny", "eabs")
	w, _ := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	m, err := onnx.BuildModel(w, onnx.RoleDiscriminator, onnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(good); n += 1 + n/50 {
		info, err := onnx.Decode(good[:n])
		if err != nil {
			continue
		}
		if _, err := onnx.CheckCompatible(info, onnx.RoleDiscriminator); err == nil {
			t.Errorf("file cut to %d of %d bytes passes CheckCompatible", n, len(good))
		}
	}
}

func TestExportMetadata(t *testing.T) {
	s, _ := models.NewSpec("tiny", "eabs")
	w, _ := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	dir := t.TempDir()
	paths, err := onnx.Export(w, dir, onnx.ExportOptions{Dataset: "tiny-set", Meta: map[string]string{onnx.MetaEval: `{"steps":50}`}})
	if err != nil {
		t.Fatal(err)
	}
	var infos []*onnx.ModelInfo
	for i, p := range paths {
		role := onnx.Roles(s)[i]
		if filepath.Base(p) != role+".onnx" {
			t.Errorf("path %d = %s, want %s.onnx", i, p, role)
		}
		info, err := onnx.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, info)
		want := map[string]string{
			onnx.MetaFormat:        "1",
			onnx.MetaRole:          role,
			onnx.MetaDataset:       "tiny-set",
			onnx.MetaModel:         "eabs",
			onnx.MetaClasses:       fmt.Sprint(s.Arch.Classes),
			onnx.MetaInputShape:    fmt.Sprintf("%dx%dx%d", s.Arch.InC, s.Arch.InH, s.Arch.InW),
			onnx.MetaLatent:        fmt.Sprint(s.Arch.Latent),
			onnx.MetaBeta:          "1",
			onnx.MetaWeightsSHA256: onnx.WeightsSHA256(w),
			onnx.MetaEval:          `{"steps":50}`,
		}
		for k, v := range want {
			if got := info.Metadata[k]; got != v {
				t.Errorf("%s: metadata %s = %q, want %q", role, k, got, v)
			}
		}
		if _, err := onnx.CheckCompatible(info, role); err != nil {
			t.Errorf("CheckCompatible(%s): %v", role, err)
		}
		if info.Opset != 13 || info.IRVersion != 7 {
			t.Errorf("%s: opset %d, IR %d; want 13, 7", role, info.Opset, info.IRVersion)
		}
	}
	if err := onnx.SameWeights(infos...); err != nil {
		t.Errorf("SameWeights: %v", err)
	}
	// Other weights give another fingerprint.
	w2 := w.Clone()
	w2.Params[0].Data[0] += 1
	p2, err := onnx.Export(w2, t.TempDir(), onnx.ExportOptions{Roles: []string{onnx.RoleEncoder}})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := onnx.ReadFile(p2[0])
	if err := onnx.SameWeights(infos[0], other); err == nil {
		t.Error("SameWeights accepted files from different weights")
	}
	// Export refuses to let Meta override its own keys, and unknown roles.
	for _, opts := range []onnx.ExportOptions{
		{Meta: map[string]string{onnx.MetaRole: "x"}},
		{Roles: []string{onnx.RoleCNN}},
		{DecoderLayout: "diagonal"},
	} {
		if _, err := onnx.Export(w, t.TempDir(), opts); err == nil || !strings.HasPrefix(err.Error(), "onnx: ") {
			t.Errorf("Export(%+v) error = %v, want an onnx: error", opts, err)
		}
	}
}

// TestExportInitializers checks that the exported parameters hold the weights: the
// shared encoder's convolution is stored under its own name, the K decoders' first
// transposed convolution as one stacked tensor.
func TestExportInitializers(t *testing.T) {
	s, _ := models.NewSpec("tiny", "eabs")
	w, _ := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	dir := t.TempDir()
	paths, err := onnx.Export(w, dir, onnx.ExportOptions{Roles: []string{onnx.RoleEncoder, onnx.RoleDecoders}})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := onnx.ReadFile(paths[0])
	p := w.MustParam("enc.conv0.w")
	if got := enc.Initializer("enc.conv0.w"); got == nil || !reflect.DeepEqual(got.Float32, p.Data) || !reflect.DeepEqual(got.Shape, p.Shape) {
		t.Errorf("encoder initializer enc.conv0.w = %+v, want %v %v", got, p.Shape, p.Data)
	}
	dec, _ := onnx.ReadFile(paths[1])
	k := s.Arch.Classes
	name := fmt.Sprintf("dec0-%d.convt0.w", k-1)
	got := dec.Initializer(name)
	if got == nil {
		t.Fatalf("decoders file has no %s", name)
	}
	var want []float32
	for c := 0; c < k; c++ {
		want = append(want, w.MustParam(models.DecoderPrefix(c)+".convt0.w").Data...)
	}
	l := s.Arch.Decoder[0]
	if wantShape := []int{k * l.Out, l.Out, l.Kernel, l.Kernel}; !reflect.DeepEqual(got.Shape, wantShape) || !reflect.DeepEqual(got.Float32, want) {
		t.Errorf("%s: shape %v, want %v; data equal %v", name, got.Shape, wantShape, reflect.DeepEqual(got.Float32, want))
	}
}
