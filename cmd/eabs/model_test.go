package main

import (
	"io"
	"math"
	"testing"
)

// TestLoadSetVal checks that --split val is the training run's held-out 10%: of the
// right size, and made of training images.
func TestLoadSetVal(t *testing.T) {
	tr, err := loadSet(io.Discard, "mnist-sample", "", "train")
	if err != nil {
		t.Fatal(err)
	}
	val, err := loadSet(io.Discard, "mnist-sample", "", "val")
	if err != nil {
		t.Fatal(err)
	}
	if want := int(math.Round(0.1 * float64(tr.N))); val.N != want || val.N == 0 {
		t.Fatalf("val has %d images, want %d of %d", val.N, want, tr.N)
	}
	P := tr.ImageSize()
	seen := map[string]bool{}
	for i := 0; i < tr.N; i++ {
		seen[string(f32bytes(tr.Images[i*P:(i+1)*P]))] = true
	}
	for i := 0; i < val.N; i++ {
		if !seen[string(f32bytes(val.Images[i*P:(i+1)*P]))] {
			t.Errorf("val image %d is not a training image", i)
		}
	}
	if _, err := loadSet(io.Discard, "mnist-sample", "", "validation"); err == nil {
		t.Error("an unknown split was accepted")
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		u := math.Float32bits(x)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}
