package data

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOwnNames(t *testing.T) {
	ok := []struct {
		name, stem string
	}{
		{"folder:digits", "folder-digits"},
		{"folder:/data/my digits/#channels=1", "folder-my_digits"},
		{"npz:mnist.npz", "npz-mnist"},
		{"npz:a/b.npz#x=images,y=labels,layout=NHWC,classes=10,names=n", "npz-b"},
		{"npy:x.npy#y=y.npy,layout=nchw", "npy-x"},
		{"cifar10:cifar-10-batches-bin", "cifar10-cifar-10-batches-bin"},
		{"folder:.", "folder"},
		{"folder:../", "folder"},
	}
	for _, c := range ok {
		if _, err := ProfileOf(c.name); err != nil {
			t.Errorf("ProfileOf(%q) = %v", c.name, err)
		}
		if !IsOwn(c.name) || FileStem(c.name) != c.stem {
			t.Errorf("IsOwn(%q) = %v, FileStem = %q; want true, %q", c.name, IsOwn(c.name), FileStem(c.name), c.stem)
		}
	}
	bad := []struct{ name, want string }{
		{"folder:", "no path after folder:"},
		{"folder:d#layout=nchw", "folder takes no option \"layout\" (its options: channels)"},
		{"cifar10:d#x=1", "cifar10 takes no option \"x\" (its options: none)"},
		{"folder:d#channels=2", "channels=2: want 1 or 3"},
		{"npz:f.npz#layout=chw", "layout=chw: want nchw or nhwc"},
		{"npz:f.npz#classes=0", "classes=0: want a positive number"},
		{"npz:f.npz#x", "option \"x\" is not KEY=VALUE"},
		{"npz:f.npz#x=a,x=b", "option x given twice"},
		{"npy:x.npy", "npy needs the labels file"},
		{"mnist:foo", "unknown dataset \"mnist:foo\""},
		{"nope", "own data: folder:DIR, npz:FILE"},
	}
	for _, c := range bad {
		_, err := ProfileOf(c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ProfileOf(%q) error = %v, want one containing %q", c.name, err, c.want)
		}
	}
	if IsOwn("mnist") || FileStem("mnist") != "mnist" {
		t.Errorf("IsOwn(mnist) = true or FileStem(mnist) = %q", FileStem("mnist"))
	}
}

// wantPixels compares a set's NCHW pixels with want(n, c, h, w) on the 0-255 scale.
func wantPixels(t *testing.T, s *Set, want func(n, c, h, w int) float64) {
	t.Helper()
	for n := range s.N {
		img := s.Image(n)
		for c := range s.C {
			for h := range s.H {
				for w := range s.W {
					// byteScale is float32(v)/255: the same rounding as the oracle's.
					if got, wv := img[(c*s.H+h)*s.W+w], float32(want(n, c, h, w)); got != wv {
						t.Fatalf("%s image %d pixel (c %d, y %d, x %d) = %v, want %v", s.Name, n, c, h, w, got, wv)
					}
				}
			}
		}
	}
}

func TestLoadOwnArrays(t *testing.T) {
	u8 := func(n, c, h, w int) float64 { return float64(float32(fixtureU8(n, h, w, c)) / 255) }
	f := func(n, c, h, w int) float64 { return fixtureF(n, c, h, w) }
	labels := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = fixtureLabel(i)
		}
		return out
	}
	dir := npyFixture("")
	y2 := filepath.Join(t.TempDir(), "labels.npy")
	writeNPY(t, y2, "<i8", []int{2}, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // labels 1, 0
	cases := []struct {
		name        string
		train, test int
		c, h, w     int
		classes     []string
		pix         func(n, c, h, w int) float64
		trainPix    func(n, c, h, w int) float64
		fileCount   int
	}{
		{name: "npz:" + filepath.Join(dir, "keras.npz"), train: 4, test: 2, c: 1, h: 5, w: 6, classes: []string{"zero", "one", "two", "three"}, pix: u8, trainPix: u8, fileCount: 1},
		{name: "npz:" + filepath.Join(dir, "compressed.npz"), test: 3, c: 1, h: 4, w: 5, classes: []string{"0", "1", "2", "3"}, pix: f, fileCount: 1},
		{name: "npz:" + filepath.Join(dir, "compressed.npz") + "#classes=6", test: 3, c: 1, h: 4, w: 5, classes: []string{"0", "1", "2", "3", "4", "5"}, pix: f, fileCount: 1},
		{name: "npy:" + filepath.Join(dir, "u8_nhwc.npy") + "#y=" + filepath.Join(dir, "labels_i8.npy"), test: 4, c: 3, h: 5, w: 6, classes: []string{"0", "1", "2", "3"}, pix: u8, fileCount: 2},
		{name: "npy:" + filepath.Join(dir, "f4_nchw.npy") + "#y=" + filepath.Join(dir, "labels_u1_col.npy"), test: 3, c: 1, h: 4, w: 5, classes: []string{"0", "1", "2", "3"}, pix: f, fileCount: 2},
		// Images and labels in different folders: read from their common ancestor.
		{name: "npy:" + filepath.Join(dir, "f8_nhw.npy") + "#y=" + y2 + ",classes=4", test: 2, c: 1, h: 3, w: 4, classes: []string{"0", "1", "2", "3"}, pix: f, fileCount: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds, err := Load(c.name, "ignored")
			if err != nil {
				t.Fatal(err)
			}
			if ds.Test.N != c.test || ds.Train.N != c.train || ds.Test.C != c.c || ds.Test.H != c.h || ds.Test.W != c.w ||
				!slices.Equal(ds.Test.ClassNames, c.classes) || ds.Test.Classes != len(c.classes) || ds.Train.Classes != len(c.classes) {
				t.Fatalf("Load = train %d, test %d of %dx%dx%d, classes %v; want %d, %d of %dx%dx%d, %v",
					ds.Train.N, ds.Test.N, ds.Test.C, ds.Test.H, ds.Test.W, ds.Test.ClassNames, c.train, c.test, c.c, c.h, c.w, c.classes)
			}
			wantPixels(t, ds.Test, c.pix)
			if c.trainPix != nil {
				wantPixels(t, ds.Train, c.trainPix)
			}
			if !slices.Equal(ds.Test.Labels, labels(c.test)) || !slices.Equal(ds.Train.Labels, labels(c.train)) {
				t.Errorf("labels = %v / %v, want %v / %v", ds.Test.Labels, ds.Train.Labels, labels(c.test), labels(c.train))
			}
			fp, err := Fingerprint(c.name, "")
			if err != nil || fp != ds.Fingerprint || len(ds.Files) != c.fileCount {
				t.Errorf("Fingerprint = %s, %v; Load's %s over %d files, want equal over %d", fp, err, ds.Fingerprint, len(ds.Files), c.fileCount)
			}
		})
	}
}

func TestLoadOwnArraysLayout(t *testing.T) {
	dir := t.TempDir()
	// 2 images of shape (3, 4, 3): axis 1 and axis 3 are both 3.
	body := make([]byte, 2*3*4*3)
	for i := range body {
		body[i] = byte(i)
	}
	writeNPY(t, filepath.Join(dir, "x.npy"), "|u1", []int{2, 3, 4, 3}, body)
	writeNPY(t, filepath.Join(dir, "y.npy"), "<i4", []int{2}, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	base := "npy:" + filepath.Join(dir, "x.npy") + "#y=" + filepath.Join(dir, "y.npy")
	_, err := Load(base, "")
	wantFormatError(t, err, "x.npy", "axis 1 and axis 3 could both be the channels", "#layout=nchw")
	for _, c := range []struct {
		layout string
		// src is the flat source index of NCHW pixel (n, c, h, w).
		src func(n, c, h, w int) int
	}{
		{"nchw", func(n, c, h, w int) int { return ((n*3+c)*4+h)*3 + w }},
		{"NHWC", func(n, c, h, w int) int { return ((n*3+h)*4+w)*3 + c }},
	} {
		ds, err := Load(base+",layout="+c.layout, "")
		if err != nil {
			t.Fatalf("layout=%s: %v", c.layout, err)
		}
		s := ds.Test
		if s.C != 3 {
			t.Fatalf("layout=%s: %d channels", c.layout, s.C)
		}
		wantPixels(t, s, func(n, ch, h, w int) float64 { return float64(float32(c.src(n, ch, h, w)) / 255) })
		if !slices.Equal(s.Labels, []int{1, 0}) {
			t.Errorf("labels %v", s.Labels)
		}
	}
}

func TestLoadOwnArraysRefuses(t *testing.T) {
	dir := t.TempDir()
	fx := npyFixture("")
	npy := func(name, descr string, shape []int, body []byte) string {
		p := filepath.Join(dir, name)
		writeNPY(t, p, descr, shape, body)
		return p
	}
	x := npy("x.npy", "|u1", []int{2, 1, 2, 2}, make([]byte, 8))
	yOut := npy("y_out.npy", "|u1", []int{2}, []byte{0, 5})
	yNeg := npy("y_neg.npy", "<i2", []int{2}, []byte{1, 0, 0xff, 0xff})
	yFloat := npy("y_f.npy", "<f4", []int{2}, make([]byte, 8))
	yHot := npy("y_hot.npy", "|u1", []int{2, 3}, make([]byte, 6))
	over := npy("over.npy", "<f8", []int{1, 1, 1, 2}, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40}) // 1.0, 2.0
	y1 := npy("y1.npy", "|u1", []int{1}, []byte{0})
	wide := npy("wide.npy", "|u1", []int{1, 2, 2, 4}, make([]byte, 16))
	i16 := npy("i16.npy", "<i2", []int{1, 1, 1, 1}, make([]byte, 2))
	cases := []struct{ name, file, want string }{
		{"npy:" + filepath.Join(fx, "f8_nhw.npy") + "#y=" + filepath.Join(fx, "labels_i8.npy"), "labels_i8.npy", "4 labels for 2 images"},
		{"npy:" + x + "#y=" + yOut + ",classes=3", "y_out.npy", "label [1] is 5, outside 0..2 (3 classes)"},
		{"npy:" + x + "#y=" + yNeg, "y_neg.npy", "label [1] is -1"},
		{"npy:" + x + "#y=" + yFloat, "y_f.npy", "labels of dtype f4 unsupported"},
		{"npy:" + x + "#y=" + yHot, "y_hot.npy", "one-hot labels?"},
		{"npy:" + over + "#y=" + y1, "over.npy", "pixel [0, 0, 0, 1] is 2, outside [0,1]"},
		{"npy:" + wide + "#y=" + y1, "wide.npy", "no channel axis of size 1 or 3"},
		{"npy:" + wide + "#y=" + y1 + ",layout=nhwc", "wide.npy", "has 4 channels: want 1 or 3"},
		{"npy:" + i16 + "#y=" + y1, "i16.npy", "images of dtype i2 unsupported"},
		{"npy:" + filepath.Join(fx, "float16.npy") + "#y=" + y1, "float16.npy", "dtype \"<f2\" unsupported"},
		{"npy:" + filepath.Join(fx, "f8_nhw.npy") + "#y=" + y1 + ",layout=nhwc", "f8_nhw.npy", "layout=nhwc given"},
		{"npz:" + filepath.Join(fx, "nan.npz"), "nan.npz[x]", "pixel [1, 0, 2, 3] is NaN"},
		{"npz:" + filepath.Join(fx, "keras.npz") + "#classes=3", "keras.npz", "classes=3 but 4 class names"},
		{"npz:" + filepath.Join(fx, "compressed.npz") + "#x=images", "compressed.npz", "no images array \"images\" (it holds x, y)"},
		{"npz:" + filepath.Join(fx, "keras.npz") + "#x_train=x_test", "keras.npz[y_train]", "4 labels for 2 images"},
	}
	for _, c := range cases {
		_, err := Load(c.name, "")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
			t.Errorf("Load(%q) error = %v, want one naming %s and containing %q", c.name, err, c.file, c.want)
		}
	}
	_, err := Load("npz:"+filepath.Join(dir, "missing.npz"), "")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.npz") {
		t.Errorf("missing npz: %v, want a not-found error naming it", err)
	}
}
