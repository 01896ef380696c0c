package models

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLoadModelRefusesImpossibleValues: a model file whose weights hold a value no
// trained model holds is refused with the parameter, index and value named.
func TestLoadModelRefusesImpossibleValues(t *testing.T) {
	spec, err := NewSpec("tiny", "cnn")
	if err != nil {
		t.Fatal(err)
	}
	var bnVar string
	for _, p := range Layout(spec) {
		if p.Role == RoleBNVar {
			bnVar = p.Name
			break
		}
	}
	if bnVar == "" {
		t.Fatal("the tiny CNN has no BatchNorm variance to damage")
	}
	cases := []struct {
		param string
		v     float32
		want  string
	}{
		{"", float32(math.NaN()), "NaN"},
		{"", float32(math.Inf(-1)), "-Inf"},
		{"", 3e7, "3e+07"},
		{bnVar, -0.5, "variance"},
	}
	for _, c := range cases {
		w, err := NewWeights(spec, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		p := w.Params[0]
		if c.param != "" {
			p = w.Param(c.param)
		}
		p.Data[len(p.Data)-1] = c.v
		path := filepath.Join(t.TempDir(), "m.eabs")
		if err := SaveModel(path, w, nil); err != nil {
			t.Fatal(err)
		}
		_, _, err = LoadModel(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p.Name) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s = %v: LoadModel error %v, want one naming the file, %s and %q", p.Name, c.v, err, p.Name, c.want)
		}
	}
	// The boundary itself is accepted.
	w, _ := NewWeights(spec, rand.New(rand.NewPCG(1, 2)))
	w.Params[0].Data[0] = -MaxWeight
	if err := CheckValues(w); err != nil {
		t.Errorf("a weight of -MaxWeight: %v", err)
	}
}

// FuzzDecodeFile: no input makes the container reader panic or allocate wildly,
// every failure is a *FormatError, and whatever it accepts encodes and decodes back
// to the same File.
func FuzzDecodeFile(f *testing.F) {
	spec, _ := NewSpec("tiny", "cnn")
	w, _ := NewWeights(spec, rand.New(rand.NewPCG(1, 2)))
	var good bytes.Buffer
	(&File{Kind: ModelKind, Spec: spec, Meta: map[string]string{"dataset": "tiny"}, Tensors: ParamTensors(w),
		Blobs: []Blob{{Name: "state", Data: []byte(`{"epoch":1}`)}}}).Encode(&good)
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:40])
	var small bytes.Buffer
	(&File{Kind: "x", Tensors: []Tensor{{Name: "t", Shape: []int{2}, Data: []float32{1, 2}}}}).Encode(&small)
	f.Add(small.Bytes())
	f.Add([]byte("EABSFILE\x01\x00\x00\x00\x02\x00\x00\x00{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := DecodeFile(bytes.NewReader(b))
		if err != nil {
			if _, ok := err.(*FormatError); !ok {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			return
		}
		for _, tn := range file.Tensors {
			if Size(tn.Shape) != len(tn.Data) {
				t.Fatalf("tensor %s: shape %v with %d values", tn.Name, tn.Shape, len(tn.Data))
			}
		}
		var again bytes.Buffer
		if err := file.Encode(&again); err != nil {
			t.Fatalf("re-encoding an accepted file: %v", err)
		}
		back, err := DecodeFile(&again)
		if err != nil {
			t.Fatalf("decoding a re-encoded file: %v", err)
		}
		if !sameFile(file, back) {
			t.Fatalf("re-encoded file differs:\n%+v\n%+v", file, back)
		}
	})
}

// sameFile compares two Files, NaN payloads bit for bit.
func sameFile(a, b *File) bool {
	if a.Kind != b.Kind || !reflect.DeepEqual(a.Blobs, b.Blobs) || len(a.Tensors) != len(b.Tensors) || len(a.Meta) != len(b.Meta) {
		return false
	}
	for k, v := range a.Meta {
		if b.Meta[k] != v {
			return false
		}
	}
	for i, ta := range a.Tensors {
		tb := b.Tensors[i]
		if ta.Name != tb.Name || !reflect.DeepEqual(ta.Shape, tb.Shape) || len(ta.Data) != len(tb.Data) {
			return false
		}
		for j := range ta.Data {
			if math.Float32bits(ta.Data[j]) != math.Float32bits(tb.Data[j]) {
				return false
			}
		}
	}
	return true
}
