package data

import (
	"encoding/json"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestStats(t *testing.T) {
	// Two 3-channel 1x2 images; channel values chosen so mean and std are exact:
	// R = {0, 1, 0, 1} (mean 0.5, std 0.5), G = {0.25} x4 (std 0), B = {0, 0, 0, 1}.
	s := &Set{Name: "train", N: 2, C: 3, H: 1, W: 2, Labels: []int{1, 1}, Classes: 2, ClassNames: []string{"a", "b"},
		Images: []float32{0, 1, 0.25, 0.25, 0, 0, 0, 1, 0.25, 0.25, 0, 1}}
	st := s.Stats()
	want := []ChannelStats{
		{Mean: 0.5, Std: 0.5, Min: 0, Max: 1},
		{Mean: 0.25, Std: 0, Min: 0.25, Max: 0.25},
		{Mean: 0.25, Std: math.Sqrt(3) / 4, Min: 0, Max: 1},
	}
	const tol = 1e-12
	for c, w := range want {
		g := st.Channels[c]
		for _, p := range [][2]float64{{g.Mean, w.Mean}, {g.Std, w.Std}, {g.Min, w.Min}, {g.Max, w.Max}} {
			if math.Abs(p[0]-p[1]) > tol {
				t.Errorf("channel %d stats = %+v, want %+v ± %g", c, g, w, tol)
				break
			}
		}
	}
	if !slices.Equal(st.ClassCounts, []int{0, 2}) || st.N != 2 {
		t.Errorf("ClassCounts = %v, N = %d; want [0 2], 2", st.ClassCounts, st.N)
	}
}

func TestInspectText(t *testing.T) {
	ds, err := Load("mnist-sample", "")
	if err != nil {
		t.Fatal(err)
	}
	st := Inspect(ds)
	var b strings.Builder
	if err := st.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{"dataset mnist-sample: 10 classes", "total    200   100", "grey", "1x28x28", ds.Fingerprint} {
		if !strings.Contains(out, w) {
			t.Errorf("WriteText output lacks %q:\n%s", w, out)
		}
	}
	j, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back Stats
	if err := json.Unmarshal(j, &back); err != nil || back.Splits[1].N != 100 || back.Splits[0].ClassCounts[3] != 20 {
		t.Errorf("Stats JSON round trip = %+v, %v", back, err)
	}
	if !strings.Contains(string(j), `"class_counts":[20,20,`) {
		t.Errorf("Stats JSON lacks snake_case keys: %s", j)
	}
}

// The grid has one row per class, perClass columns, scale x scale pixels per source
// pixel, 1-pixel separators, and RGB in the right order.
func TestGrid(t *testing.T) {
	// Class 0: two pure red images; class 1: one image, left pixel green, right blue.
	s := &Set{Name: "train", N: 3, C: 3, H: 1, W: 2, Labels: []int{0, 1, 0}, Classes: 3, ClassNames: []string{"r", "gb", "none"},
		Images: []float32{
			1, 1, 0, 0, 0, 0, // red
			0, 0, 1, 0, 0, 1, // green | blue
			1, 1, 0, 0, 0, 0, // red
		}}
	const per, scale = 2, 3
	img := Grid(s, per, scale)
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != per*(2*scale+1)+1 || h != 3*(1*scale+1)+1 {
		t.Fatalf("Grid size = %dx%d, want %dx%d", w, h, per*(2*scale+1)+1, 3*(scale+1)+1)
	}
	red, green, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}
	for _, tc := range []struct {
		x, y int
		want color.RGBA
	}{
		{0, 0, gridSeparator}, {1, 1, red}, {6, 3, red}, {7, 1, gridSeparator}, {8, 2, red}, {13, 3, red}, {14, 3, gridSeparator},
		{1, 5, green}, {3, 7, green}, {4, 5, blue}, {6, 7, blue}, {8, 6, gridEmpty}, // class 1 has one image
		{1, 9, gridEmpty}, {8, 10, gridEmpty}, // class 2 has none
		{5, 4, gridSeparator}, {5, 12, gridSeparator},
	} {
		if got := img.RGBAAt(tc.x, tc.y); got != tc.want {
			t.Errorf("Grid pixel (%d,%d) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}

	path := filepath.Join(t.TempDir(), "out", "grid.png")
	if err := WriteGrid(path, s, per, scale); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := back.At(4, 5).RGBA(); r != 0 || g != 0 || b != 0xffff {
		t.Errorf("PNG pixel (4,5) = %x %x %x, want blue", r, g, b)
	}
}

func TestGridGrey(t *testing.T) {
	s := &Set{N: 1, C: 1, H: 1, W: 1, Images: []float32{0.5}, Labels: []int{0}, Classes: 1, ClassNames: []string{"a"}}
	if got := Grid(s, 1, 1).RGBAAt(1, 1); got != (color.RGBA{128, 128, 128, 255}) {
		t.Errorf("grey 0.5 drawn as %v, want 128,128,128", got)
	}
}
