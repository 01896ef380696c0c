package data

import (
	"math"
	"testing"
)

// TestSplitVal checks that the "val" split is the training run's held-out 10%: of the
// right size, made of training images, the same images a run with the default seed and
// fraction holds out; an unknown split is refused.
func TestSplitVal(t *testing.T) {
	ds, err := Load("mnist-sample", EmbeddedRoot)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ds.Split("train")
	if err != nil {
		t.Fatal(err)
	}
	val, err := ds.Split("val")
	if err != nil {
		t.Fatal(err)
	}
	if want := int(math.Round(DefaultValFrac * float64(tr.N))); val.N != want || val.N == 0 {
		t.Fatalf("val has %d images, want %d of %d", val.N, want, tr.N)
	}
	_, runVal := ValidationSplit(ds.Train, DefaultValFrac, DefaultValSeed)
	P := tr.ImageSize()
	seen := map[string]bool{}
	for i := 0; i < tr.N; i++ {
		seen[string(f32bytes(tr.Images[i*P:(i+1)*P]))] = true
	}
	for i := 0; i < val.N; i++ {
		img := f32bytes(val.Images[i*P : (i+1)*P])
		if !seen[string(img)] {
			t.Errorf("val image %d is not a training image", i)
		}
		if string(img) != string(f32bytes(runVal.Images[i*P:(i+1)*P])) {
			t.Errorf("val image %d is not the one a training run holds out", i)
		}
	}
	if _, err := ds.Split("validation"); err == nil {
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
