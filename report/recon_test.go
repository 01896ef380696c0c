package report

import (
	"image/color"
	"testing"
)

func TestReconstructionsFramesPredictions(t *testing.T) {
	const k, c, h, w, scale = 3, 1, 4, 4, 2
	x := make([]float32, 2*h*w)
	rec := make([]float32, 2*k*h*w)
	for i := range rec {
		rec[i] = 1
	}
	img, err := Reconstructions(x, rec, []int{1, 2}, []int{1, 0}, k, c, h, w, scale)
	if err != nil {
		t.Fatal(err)
	}
	cw, ch, gap := w*scale+6, h*scale+6, 6
	if b := img.Bounds(); b.Dx() != (k+1)*cw+gap || b.Dy() != 2*ch {
		t.Fatalf("size %v, want %dx%d", b, (k+1)*cw+gap, 2*ch)
	}
	at := func(row, class int) color.RGBA { return img.RGBAAt(cw+gap+class*cw, row*ch) }
	if got := at(0, 1); got != correct {
		t.Errorf("row 0 (label 1, predicted 1): frame %v, want green", got)
	}
	if got := at(1, 2); got != wrong {
		t.Errorf("row 1 (label 0, predicted 2): predicted frame %v, want red", got)
	}
	if got := at(1, 0); got != label {
		t.Errorf("row 1: label frame %v, want blue", got)
	}
	if got := img.RGBAAt(cw+gap+3+1, 3+1); got.R != 255 {
		t.Errorf("reconstruction pixel %v, want white", got)
	}
	if _, err := Reconstructions(x, rec[:5], []int{1, 2}, nil, k, c, h, w, scale); err == nil {
		t.Error("mismatched sizes accepted")
	}
}
