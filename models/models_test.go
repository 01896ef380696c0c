package models

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestArchShapes(t *testing.T) {
	tests := []struct {
		dataset  string
		features int
		decoder  [][3]int
	}{
		{"mnist", 64 * 3 * 3, [][3]int{{32, 4, 4}, {32, 11, 11}, {16, 25, 25}, {8, 28, 28}, {1, 28, 28}}},
		{"gtsrb-10", 128, [][3]int{{64, 4, 4}, {64, 8, 8}, {32, 16, 16}, {16, 32, 32}, {3, 32, 32}}},
		{"svhn", 128, [][3]int{{64, 4, 4}, {64, 8, 8}, {32, 16, 16}, {16, 32, 32}, {3, 32, 32}}},
	}
	for _, test := range tests {
		a, err := ArchFor(test.dataset)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Validate(); err != nil {
			t.Errorf("%s: %v", test.dataset, err)
		}
		if got := a.Features(); got != test.features {
			t.Errorf("%s: Features() = %d, want %d", test.dataset, got, test.features)
		}
		got := a.DecoderShapes()
		for i := range test.decoder {
			if got[i] != test.decoder[i] {
				t.Errorf("%s: DecoderShapes()[%d] = %v, want %v", test.dataset, i, got[i], test.decoder[i])
			}
		}
	}
	if _, err := ArchFor("cifar"); err == nil || !strings.Contains(err.Error(), "cifar") {
		t.Errorf("ArchFor(cifar) error = %v, want one naming the dataset", err)
	}
}

func TestSpecNames(t *testing.T) {
	for _, name := range ModelNames {
		s, err := NewSpec("mnist", name)
		if err != nil {
			t.Fatalf("NewSpec(mnist, %q): %v", name, err)
		}
		want := name
		if name == "adv" {
			want = "eabs"
		}
		if s.Name() != want {
			t.Errorf("NewSpec(mnist, %q).Name() = %q", name, s.Name())
		}
	}
	s, _ := NewSpec("mnist", "abs")
	if s.Encoders() != 10 || s.HasDiscriminator() {
		t.Errorf("abs: %d encoders, discriminator %v; want 10, false", s.Encoders(), s.HasDiscriminator())
	}
	if _, err := NewSpec("mnist", "xyz"); err == nil {
		t.Error("NewSpec(mnist, xyz) succeeded")
	}
}

// The MNIST E-ABS parameter count, by hand from Table 9 (no conv bias before BatchNorm):
// encoder convs 400+12800+51200+65536, BN 4*(16+32+64+64), heads 2*(576*10+10);
// decoder fc 320+32, convt 16384+25600+12800+2048+8+1, BN 4*(32+32+16+8), times 10;
// discriminator 10*256+256+256*128+128+128+1.
func TestLayoutCount(t *testing.T) {
	s, _ := NewSpec("mnist", "eabs")
	w, err := NewWeights(s, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	enc := 400 + 12800 + 51200 + 65536 + 4*(16+32+64+64) + 2*(576*10+10)
	dec := 320 + 32 + 16384 + 25600 + 12800 + 2048 + 8 + 1 + 4*(32+32+16+8)
	disc := 10*256 + 256 + 256*128 + 128 + 128 + 1
	if got, want := w.Count(), enc+10*dec+disc; got != want {
		t.Errorf("Count() = %d, want %d", got, want)
	}
}

func TestFileRoundTripAndCorruption(t *testing.T) {
	s, _ := NewSpec("tiny", "eabs")
	w, _ := NewWeights(s, rand.New(rand.NewPCG(3, 4)))
	f := &File{Kind: ModelKind, Spec: s, Meta: map[string]string{"k": "v"}, Tensors: ParamTensors(w), Blobs: []Blob{{"rng", []byte{1, 2, 3}}}}
	var buf bytes.Buffer
	if err := f.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := DecodeFile(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	w2, n, err := WeightsFromTensors(g.Spec, g.Tensors)
	if err != nil || n != len(w.Params) {
		t.Fatalf("WeightsFromTensors: n=%d err=%v", n, err)
	}
	for i, p := range w.Params {
		q := w2.Params[i]
		for j := range p.Data {
			if p.Data[j] != q.Data[j] {
				t.Fatalf("%s[%d] = %v, want %v", p.Name, j, q.Data[j], p.Data[j])
			}
		}
	}
	if string(g.Blob("rng")) != "\x01\x02\x03" || g.Meta["k"] != "v" {
		t.Errorf("blob/meta lost: %v %v", g.Blob("rng"), g.Meta)
	}

	b := buf.Bytes()
	flip := append([]byte(nil), b...)
	flip[len(flip)/2] ^= 0xff
	badVersion := append([]byte(nil), b...)
	badVersion[8] = 9
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"magic", append([]byte("NOTEABS!"), b[8:]...), "bad magic"},
		{"version", badVersion, "version 9"},
		{"truncated", b[:len(b)-100], "truncated"},
		{"bitflip", flip, ""},
	}
	for _, c := range cases {
		_, err := DecodeFile(bytes.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: DecodeFile error = %v, want one containing %q", c.name, err, c.want)
		}
	}

	// A file from another architecture is refused when checked against a spec.
	other, _ := NewSpec("tiny", "cnn")
	if _, _, err := WeightsFromTensors(other, g.Tensors); err == nil {
		t.Error("WeightsFromTensors accepted E-ABS tensors for a CNN spec")
	}
}
