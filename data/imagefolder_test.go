package data

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// greyPNG encodes a w x h greyscale image with pixel (x, y) = v(x, y).
func greyPNG(t *testing.T, w, h int, v func(x, y int) uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray(x, y, color.Gray{v(x, y)})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rgbPNG encodes a w x h colour image with pixel (x, y) = v(x, y).
func rgbPNG(t *testing.T, w, h int, v func(x, y int) color.NRGBA) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, v(x, y))
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func folderPix(id, x, y int) uint8 { return uint8((31*id + 7*x + 13*y) % 256) }

func TestImageFolder(t *testing.T) {
	dir := t.TempDir()
	// Classes named out of order; torchvision's order is sorted: apple 0, bus 1, cat 2.
	// Images in nested folders: sorted by folder path, then name, as
	// sorted(os.walk(...)) orders them: "apple/b-c" before "apple/b/d" ('-' < '/'),
	// the order Python printed for these paths. Hidden entries and other files are
	// skipped.
	files := []struct {
		rel string
		id  int // pixel formula id; -1: not an image of the set
	}{
		{"cat/2.png", 6}, {"cat/10.png", 5},
		{"apple/b/d/z.png", 3}, {"apple/b/x.png", 1}, {"apple/b-c/y.png", 2}, {"apple/a.png", 0},
		{"bus/IMG.PNG", 4},
		{"bus/notes.txt", -1}, {"bus/.hidden.png", -1}, {".ipynb_checkpoints/z.png", -1},
	}
	for _, f := range files {
		b := []byte("not an image")
		if f.id >= 0 || strings.HasSuffix(f.rel, ".png") {
			id := f.id
			b = greyPNG(t, 4, 3, func(x, y int) uint8 { return folderPix(id, x, y) })
		}
		writeFile(t, filepath.Join(dir, f.rel), b)
	}
	ds, err := Load("folder:"+dir, "")
	if err != nil {
		t.Fatal(err)
	}
	s := ds.Test
	wantFiles := []string{"apple/a.png", "apple/b/x.png", "apple/b-c/y.png", "apple/b/d/z.png", "bus/IMG.PNG", "cat/10.png", "cat/2.png"}
	if !slices.Equal(s.Files, wantFiles) || !slices.Equal(s.Labels, []int{0, 0, 0, 0, 1, 2, 2}) ||
		!slices.Equal(s.ClassNames, []string{"apple", "bus", "cat"}) || s.C != 1 || s.H != 3 || s.W != 4 || ds.Train.N != 0 {
		t.Fatalf("folder = files %v labels %v classes %v, %dx%dx%d, train %d; want %v, [0 0 0 0 1 2 2], [apple bus cat], 1x3x4, 0",
			s.Files, s.Labels, s.ClassNames, s.C, s.H, s.W, ds.Train.N, wantFiles)
	}
	wantPixels(t, s, func(n, c, h, w int) float64 { return float64(float32(folderPix(n, w, h)) / 255) })
	if len(ds.Files) != 7 {
		t.Errorf("fingerprint over %d files, want the 7 images", len(ds.Files))
	}
	if fp, err := Fingerprint("folder:"+dir, ""); err != nil || fp != ds.Fingerprint {
		t.Errorf("Fingerprint = %s, %v; want Load's %s", fp, err, ds.Fingerprint)
	}
}

func TestImageFolderColour(t *testing.T) {
	dir := t.TempDir()
	col := func(x, y int) color.NRGBA { return color.NRGBA{uint8(10 * x), uint8(20 * y), 200, uint8(40 + x)} } // alpha ignored
	writeFile(t, filepath.Join(dir, "a", "rgb.png"), rgbPNG(t, 3, 2, col))
	writeFile(t, filepath.Join(dir, "b", "grey.png"), greyPNG(t, 3, 2, func(x, y int) uint8 { return 77 }))
	var jb bytes.Buffer
	flat := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := 0; i < len(flat.Pix); i += 4 {
		copy(flat.Pix[i:], []byte{200, 40, 90, 255})
	}
	if err := jpeg.Encode(&jb, flat, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "b", "flat.jpg"), jb.Bytes())

	ds, err := Load("folder:"+dir, "")
	if err != nil {
		t.Fatal(err)
	}
	s := ds.Test
	if s.C != 3 || s.N != 3 || !slices.Equal(s.Files, []string{"a/rgb.png", "b/flat.jpg", "b/grey.png"}) {
		t.Fatalf("folder = %d images of %d channels %v; want 3 of 3", s.N, s.C, s.Files)
	}
	px := func(n, c, y, x int) float32 { return s.Image(n)[(c*2+y)*3+x] }
	for y := range 2 {
		for x := range 3 {
			want := col(x, y)
			for c, v := range []uint8{want.R, want.G, want.B} {
				if got := px(0, c, y, x); got != float32(v)/255 {
					t.Errorf("rgb.png (c %d, y %d, x %d) = %v, want %d/255", c, y, x, got, v)
				}
				if got := px(2, c, y, x); got != float32(77)/255 {
					t.Errorf("grey.png as RGB (c %d) = %v, want 77/255", c, got)
				}
			}
			// JPEG is lossy: a flat colour comes back within a few levels.
			for c, v := range []float64{200, 40, 90} {
				if got := float64(px(1, c, y, x)) * 255; math.Abs(got-v) > 3 {
					t.Errorf("flat.jpg (c %d, y %d, x %d) = %.1f/255, want %v within 3", c, y, x, got, v)
				}
			}
		}
	}

	// channels=1: the luma 0.299 R + 0.587 G + 0.114 B of every pixel.
	ds, err = Load("folder:"+dir+"#channels=1", "")
	if err != nil {
		t.Fatal(err)
	}
	s = ds.Test
	if s.C != 1 {
		t.Fatalf("channels=1 gave %d channels", s.C)
	}
	for y := range 2 {
		for x := range 3 {
			c := col(x, y)
			want := (0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)) / 255
			if got := float64(s.Image(0)[y*3+x]); math.Abs(got-want) > 1e-6 {
				t.Errorf("luma (y %d, x %d) = %v, want %v", y, x, got, want)
			}
		}
	}
}

func TestImageFolderSplits(t *testing.T) {
	dir := t.TempDir()
	img := greyPNG(t, 2, 2, func(x, y int) uint8 { return 9 })
	for _, f := range []string{"train/a/1.png", "train/a/2.png", "train/b/1.png", "test/a/1.png", "test/b/1.png", "test/b/2.png", "test/b/3.png"} {
		writeFile(t, filepath.Join(dir, f), img)
	}
	ds, err := Load("folder:"+dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.N != 3 || ds.Test.N != 4 || !slices.Equal(ds.Test.Labels, []int{0, 1, 1, 1}) || ds.Test.Files[0] != "test/a/1.png" {
		t.Errorf("splits: train %d, test %d labels %v files %v; want 3, 4 [0 1 1 1] test/a/1.png...", ds.Train.N, ds.Test.N, ds.Test.Labels, ds.Test.Files)
	}
	if st := Inspect(ds); !slices.Equal(st.Splits[0].ClassCounts, []int{2, 1}) || !slices.Equal(st.Splits[1].ClassCounts, []int{1, 3}) {
		t.Errorf("Inspect counts %v, %v; want [2 1], [1 3]", st.Splits[0].ClassCounts, st.Splits[1].ClassCounts)
	}
}

func TestImageFolderRefuses(t *testing.T) {
	good := greyPNG(t, 4, 4, func(x, y int) uint8 { return uint8(x * y) })
	flipped := slices.Clone(good)
	flipped[len(flipped)-20] ^= 0xff // inside the IDAT chunk: its CRC no longer matches
	cases := []struct {
		name  string
		files map[string][]byte
		dirs  []string
		file  string
		want  string
	}{
		{"mixed sizes", map[string][]byte{"a/1.png": good, "b/2.png": greyPNG(t, 5, 4, func(x, y int) uint8 { return 0 })},
			nil, "b/2.png", "is 5x4 pixels, but a/1.png is 4x4"},
		{"empty class", map[string][]byte{"a/1.png": good, "b/readme.txt": []byte("x")}, nil, "b", "empty class folder"},
		{"empty class, no files", map[string][]byte{"a/1.png": good}, []string{"b"}, "b", "empty class folder"},
		{"corrupt png", map[string][]byte{"a/1.png": good, "b/2.png": flipped}, nil, "b/2.png", "corrupt or truncated image: png: invalid format"},
		{"truncated png", map[string][]byte{"a/1.png": good, "b/2.png": good[:len(good)/2]}, nil, "b/2.png", "truncated"},
		{"not an image", map[string][]byte{"a/1.png": good, "b/2.jpg": []byte("hello")}, nil, "b/2.jpg", "not a PNG or JPEG image"},
		{"no classes", map[string][]byte{"1.png": good}, nil, "", "no class folders"},
		{"split and class", map[string][]byte{"train/a/1.png": good, "val/a/1.png": good}, nil, "", "holds train/ or test/ beside other folders (train, val)"},
		{"split classes differ", map[string][]byte{"train/a/1.png": good, "test/b/1.png": good}, nil, "", "test/ has the classes b, train/ a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for f, b := range c.files {
				writeFile(t, filepath.Join(dir, f), b)
			}
			for _, d := range c.dirs {
				os.MkdirAll(filepath.Join(dir, d), 0o755)
			}
			_, err := Load("folder:"+dir, "")
			wantFormatError(t, err, filepath.Join(dir, c.file), c.want)
		})
	}
	_, err := Load("folder:"+filepath.Join(t.TempDir(), "nope"), "")
	if err == nil || !strings.Contains(err.Error(), "nope does not exist") {
		t.Errorf("missing folder: %v", err)
	}
}
