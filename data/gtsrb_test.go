package data

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const gtsrbHeader = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"

func TestReadGTSRBCSV(t *testing.T) {
	in := gtsrbHeader + "00000_00000.ppm;29;30;5;6;24;25;0\r\n00000_00001.ppm; 53;54;6;5;48;49;42\n"
	rows, err := ReadGTSRBCSV(strings.NewReader(in), "GT-00000.csv")
	if err != nil {
		t.Fatalf("ReadGTSRBCSV: %v", err)
	}
	want := []GTSRBRow{
		{"00000_00000.ppm", 29, 30, 5, 6, 24, 25, 0},
		{"00000_00001.ppm", 53, 54, 6, 5, 48, 49, 42},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("ReadGTSRBCSV = %v, want %v", rows, want)
	}
	// Columns are found by name, so another order reads the same.
	reordered := "ClassId;Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2\n42;00000_00001.ppm;53;54;6;5;48;49\n"
	rows, err = ReadGTSRBCSV(strings.NewReader(reordered), "r.csv")
	if err != nil || len(rows) != 1 || rows[0] != want[1] {
		t.Errorf("ReadGTSRBCSV(reordered) = %v, %v; want %v", rows, err, want[1:])
	}
}

func TestReadGTSRBCSVBad(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", []string{"empty GTSRB CSV"}},
		{"comma separated", strings.ReplaceAll(gtsrbHeader, ";", ","), []string{"no Filename column"}},
		{"unlabelled test csv", "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2\n00000.ppm;53;54;6;5;48;49\n",
			[]string{"no ClassId column", "GT-final_test.csv"}},
		{"field count", gtsrbHeader + "a.ppm;1;2;3\n", []string{"line 2", "wrong number of fields"}},
		{"not integer", gtsrbHeader + "a.ppm;1;2;3;4;5;6;0\nb.ppm;wide;2;3;4;5;6;0\n", []string{"line 3", `Width "wide" is not an integer`}},
		{"negative", gtsrbHeader + "a.ppm;40;40;-1;4;5;6;0\n", []string{"line 2", "Roi.X1 -1 is negative"}},
		{"class range", gtsrbHeader + "a.ppm;40;40;1;1;5;5;43\n", []string{"line 2", "ClassId 43 out of range"}},
		{"zero size", gtsrbHeader + "a.ppm;0;40;0;0;0;0;1\n", []string{"line 2", "absurd image size 0x40"}},
		{"path escape", gtsrbHeader + "../../etc/passwd;40;40;1;1;5;5;1\n", []string{"line 2", "bad Filename"}},
		{"empty name", gtsrbHeader + ";40;40;1;1;5;5;1\n", []string{"line 2", "bad Filename"}},
		{"bad quote", gtsrbHeader + "a\"b.ppm;40;40;1;1;5;5;1\n", []string{"line 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := ReadGTSRBCSV(strings.NewReader(tc.in), "GT-00001.csv")
			if err == nil {
				t.Fatalf("ReadGTSRBCSV = %v, want error", rows)
			}
			wantFormatError(t, err, "GT-00001.csv", tc.want...)
		})
	}
}

// gtsrbImg is one synthetic GTSRB image: original size (CSV and PPM alike, as in the
// official download) and class.
type gtsrbImg struct{ w, h, class int }

// gtsrbColour is the constant colour of every synthetic image of a class, so a
// resized image still tells which class it came from.
func gtsrbColour(class int) [3]byte { return [3]byte{byte(5 * class), 100, byte(250 - class)} }

// writeGTSRB lays out a synthetic GTSRB tree under root in the official layout; the
// test CSV goes to testCSV (relative to root/gtsrb/GTSRB).
func writeGTSRB(t *testing.T, root string, train, test []gtsrbImg, testCSV string) {
	t.Helper()
	base := filepath.Join(root, "gtsrb", "GTSRB")
	csvs := map[int]*strings.Builder{}
	n := map[int]int{}
	img := func(m gtsrbImg) []byte {
		col := gtsrbColour(m.class)
		pix := bytes.Repeat(col[:], m.w*m.h)
		return ppmBytes(m.w, m.h, pix)
	}
	for _, m := range train {
		if csvs[m.class] == nil {
			csvs[m.class] = &strings.Builder{}
			csvs[m.class].WriteString(gtsrbHeader)
		}
		name := fmt.Sprintf("%05d_%05d.ppm", m.class, n[m.class])
		n[m.class]++
		fmt.Fprintf(csvs[m.class], "%s;%d;%d;0;0;%d;%d;%d\n", name, m.w, m.h, m.w-1, m.h-1, m.class)
		writeFile(t, filepath.Join(base, "Final_Training", "Images", fmt.Sprintf("%05d", m.class), name), img(m))
	}
	for c := range gtsrbClasses { // every class folder, as in the official layout
		b := csvs[c]
		if b == nil {
			b = &strings.Builder{}
			b.WriteString(gtsrbHeader)
		}
		writeFile(t, filepath.Join(base, "Final_Training", "Images", fmt.Sprintf("%05d", c), fmt.Sprintf("GT-%05d.csv", c)), []byte(b.String()))
	}
	var tc strings.Builder
	tc.WriteString(gtsrbHeader)
	for i, m := range test {
		name := fmt.Sprintf("%05d.ppm", i)
		fmt.Fprintf(&tc, "%s;%d;%d;0;0;%d;%d;%d\n", name, m.w, m.h, m.w-1, m.h-1, m.class)
		writeFile(t, filepath.Join(base, "Final_Test", "Images", name), img(m))
	}
	writeFile(t, filepath.Join(base, filepath.FromSlash(testCSV)), []byte(tc.String()))
}

func repeatImg(k int, m gtsrbImg) []gtsrbImg {
	out := make([]gtsrbImg, k)
	for i := range out {
		out[i] = m
	}
	return out
}

// synthGTSRB10 builds classes whose counts of images at least 32x32 decide the
// GTSRB-10 selection, with a four-way tie at the cut:
//
//	big images per class: 4:9 11:6 0:5 2:5 8:4 6:3 7:3 | 3:2 10:2 12:2 42:2 | 1:1 5:1 9:0
//
// The top 10 are 4 11 0 2 8 6 7 and, of the tie at 2, the lower ids 3 10 12; 42 is
// dropped. Class 9 has 20 images of 31x40, which the size filter removes (without it,
// class 9 would lead).
func synthGTSRB10() (train, test []gtsrbImg) {
	big := map[int]int{4: 9, 11: 6, 0: 5, 2: 5, 8: 4, 6: 3, 7: 3, 3: 2, 10: 2, 12: 2, 42: 2, 1: 1, 5: 1}
	for c := range gtsrbClasses {
		train = append(train, repeatImg(big[c], gtsrbImg{40 + c, 33, c})...)
	}
	train = append(train, repeatImg(20, gtsrbImg{31, 40, 9})...)
	train = append(train, repeatImg(3, gtsrbImg{45, 20, 0})...) // small: dropped
	test = []gtsrbImg{
		{32, 32, 0}, {31, 50, 0}, {50, 50, 42}, {64, 64, 12}, {40, 40, 9}, {33, 34, 4}, {20, 20, 4},
	}
	return train, test
}

func TestLoadGTSRBSynthetic(t *testing.T) {
	train, test := synthGTSRB10()
	for _, csvAt := range []string{"Final_Test/GT-final_test.csv", "Final_Test/Images/GT-final_test.csv", "GT-final_test.csv"} {
		t.Run(csvAt, func(t *testing.T) {
			root := t.TempDir()
			writeGTSRB(t, root, train, test, csvAt)

			ds, err := Load("gtsrb", root)
			if err != nil {
				t.Fatalf("Load(gtsrb): %v", err)
			}
			if ds.Train.N != len(train) || ds.Test.N != len(test) || ds.Train.Classes != 43 || ds.Train.C != 3 || ds.Train.H != 32 || ds.Train.W != 32 {
				t.Fatalf("Load(gtsrb) = %d/%d images, %d classes, %dx%dx%d; want %d/%d, 43, 3x32x32",
					ds.Train.N, ds.Test.N, ds.Train.Classes, ds.Train.C, ds.Train.H, ds.Train.W, len(train), len(test))
			}
			checkColours(t, ds.Train, nil)
			checkColours(t, ds.Test, nil)

			ds, err = Load("gtsrb-10", root)
			if err != nil {
				t.Fatalf("Load(gtsrb-10): %v", err)
			}
			wantSrc := []int{0, 2, 3, 4, 6, 7, 8, 10, 11, 12}
			if !slices.Equal(ds.Train.SourceClasses, wantSrc) || ds.Train.Classes != 10 {
				t.Fatalf("gtsrb-10 classes = %v, want %v", ds.Train.SourceClasses, wantSrc)
			}
			wantTrain := []int{5, 5, 2, 9, 3, 3, 4, 2, 6, 2} // per new label
			if got := ds.Train.ClassCounts(); !slices.Equal(got, wantTrain) {
				t.Errorf("gtsrb-10 train counts = %v, want %v", got, wantTrain)
			}
			// Test: {32,32,0} kept, {31,50,0} small, 42 and 9 not selected, {64,64,12}
			// kept, {33,34,4} kept, {20,20,4} small.
			wantTest := []int{1, 0, 0, 1, 0, 0, 0, 0, 0, 1}
			if got := ds.Test.ClassCounts(); !slices.Equal(got, wantTest) {
				t.Errorf("gtsrb-10 test counts = %v, want %v", got, wantTest)
			}
			if ds.Train.ClassNames[0] != gtsrbNames[0] || ds.Train.ClassNames[9] != gtsrbNames[12] {
				t.Errorf("gtsrb-10 names = %q, want GTSRB names of %v", ds.Train.ClassNames, wantSrc)
			}
			checkColours(t, ds.Train, wantSrc)
			checkColours(t, ds.Test, wantSrc)

			fp, err := Fingerprint("gtsrb-10", root)
			if err != nil || fp != ds.Fingerprint {
				t.Errorf("Fingerprint(gtsrb-10) = %s, %v; want Load's %s", fp, err, ds.Fingerprint)
			}
			// Every CSV (43 classes + test) is read, but only the images kept.
			if want := 44 + 41 + 3; len(ds.Files) != want {
				t.Errorf("gtsrb-10 read %d files, want %d", len(ds.Files), want)
			}
		})
	}
}

// checkColours verifies that every image of s is the constant colour of its original
// class (after resizing from the synthetic non-32x32 size), with channels in RGB order.
func checkColours(t *testing.T, s *Set, src []int) {
	t.Helper()
	const tol = 0.5 / 255
	for i := range s.N {
		orig := s.Labels[i]
		if src != nil {
			orig = src[orig]
		}
		want := gtsrbColour(orig)
		im := s.Image(i)
		for c := range 3 {
			for p := range 32 * 32 {
				if d := im[c*1024+p] - float32(want[c])/255; d > tol || d < -tol {
					t.Fatalf("%s image %d (class %d) channel %d pixel %d = %v, want %v", s.Name, i, orig, c, p, im[c*1024+p]*255, want[c])
				}
			}
		}
	}
}

func TestLoadGTSRBBad(t *testing.T) {
	train := []gtsrbImg{{40, 40, 0}, {40, 40, 1}}
	test := []gtsrbImg{{40, 40, 1}}
	base := func(root string) string { return filepath.Join(root, "gtsrb", "GTSRB") }
	for _, tc := range []struct {
		name     string
		mutate   func(t *testing.T, root string)
		notExist bool
		file     string
		want     []string
	}{
		{"no folder", func(t *testing.T, root string) { os.RemoveAll(base(root)) }, true,
			"", []string{"Final_Training/Images", "not found"}},
		{"no test csv", func(t *testing.T, root string) {
			os.Remove(filepath.Join(base(root), "Final_Test", "GT-final_test.csv"))
		}, true, "", []string{"GT-final_test.csv", "not found"}},
		{"missing class csv", func(t *testing.T, root string) {
			os.Remove(filepath.Join(base(root), "Final_Training", "Images", "00001", "GT-00001.csv"))
		}, true, "", []string{"GT-00001.csv", "not found"}},
		{"missing image", func(t *testing.T, root string) {
			os.Remove(filepath.Join(base(root), "Final_Test", "Images", "00000.ppm"))
		}, true, "", []string{"00000.ppm", "not found"}},
		{"class mismatch", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(base(root), "Final_Training", "Images", "00001", "GT-00001.csv"),
				[]byte(gtsrbHeader+"00001_00000.ppm;40;40;0;0;39;39;7\n"))
		}, false, "GT-00001.csv", []string{"ClassId 7 in the folder of class 1"}},
		{"bad ppm", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(base(root), "Final_Training", "Images", "00000", "00000_00000.ppm"), []byte("P3\n1 1\n255\n1 2 3\n"))
		}, false, "00000_00000.ppm", []string{"P3"}},
		{"truncated ppm", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(base(root), "Final_Test", "Images", "00000.ppm"), ppmBytes(40, 40, nil)[:100])
		}, false, "00000.ppm", []string{"truncated"}},
		{"bad csv row", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(base(root), "Final_Test", "GT-final_test.csv"), []byte(gtsrbHeader+"00000.ppm;40;40;0;0;39;39;x\n"))
		}, false, "GT-final_test.csv", []string{"line 2", "ClassId"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeGTSRB(t, root, train, test, "Final_Test/GT-final_test.csv")
			tc.mutate(t, root)
			ds, err := Load("gtsrb", root)
			if err == nil {
				t.Fatalf("Load = %d images, want error", ds.Train.N)
			}
			if tc.notExist != errors.Is(err, fs.ErrNotExist) {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, !tc.notExist, tc.notExist)
			}
			if tc.file != "" {
				wantFormatError(t, err, tc.file, tc.want...)
			}
			for _, w := range tc.want {
				if !strings.Contains(filepath.ToSlash(err.Error()), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadGTSRB10TooFewClasses(t *testing.T) {
	root := t.TempDir()
	var train []gtsrbImg
	for c := range 9 {
		train = append(train, gtsrbImg{40, 40, c})
	}
	train = append(train, gtsrbImg{20, 40, 9}) // a tenth class, but too small
	writeGTSRB(t, root, train, []gtsrbImg{{40, 40, 0}}, "Final_Test/GT-final_test.csv")
	if _, err := Load("gtsrb", root); err != nil {
		t.Fatalf("Load(gtsrb): %v", err)
	}
	_, err := Load("gtsrb-10", root)
	wantFormatError(t, err, "Final_Training", "GTSRB-10 needs 10 classes", "only 9 have any")
}

// The counts of the official split and of the paper's size filter, as
// shared/data/README.md states them.
func TestLoadGTSRBReal(t *testing.T) {
	root := sharedData(t)
	if testing.Short() {
		t.Log("-short: not decoding all 51,839 GTSRB images")
	} else {
		ds, err := Load("gtsrb", root)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Train.N != 39209 || ds.Test.N != 12630 {
			t.Errorf("gtsrb = %d/%d images, want 39209/12630", ds.Train.N, ds.Test.N)
		}
		// Official per-class counts of three classes (GTSRB's published table).
		for _, c := range []struct{ class, train, test int }{{0, 210, 60}, {2, 2250, 750}, {42, 240, 90}} {
			if got := ds.Train.ClassCounts()[c.class]; got != c.train {
				t.Errorf("gtsrb train class %d: %d images, want %d", c.class, got, c.train)
			}
			if got := ds.Test.ClassCounts()[c.class]; got != c.test {
				t.Errorf("gtsrb test class %d: %d images, want %d", c.class, got, c.test)
			}
		}
		if len(ds.Files) != 39209+12630+43+1 {
			t.Errorf("gtsrb read %d files, want %d images and 44 CSVs", len(ds.Files), 39209+12630)
		}
	}

	plan, err := planGTSRB(&source{fsys: os.DirFS(root), root: root}, false)
	if err != nil {
		t.Fatal(err)
	}
	big := 0
	for _, rel := range plan.csvs {
		b, _ := os.ReadFile(filepath.Join(root, rel))
		rows, err := ReadGTSRBCSV(bytes.NewReader(b), rel)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Width >= 32 && r.Height >= 32 {
				big++
			}
		}
	}
	if big != 32704+10338 {
		t.Errorf("images at least 32x32: %d, want 32704 + 10338", big)
	}

	ds, err := Load("gtsrb-10", root)
	if err != nil {
		t.Fatal(err)
	}
	// Counted independently with Python's csv module over the same CSVs.
	if want := []int{1, 2, 4, 5, 9, 10, 12, 13, 25, 38}; !slices.Equal(ds.Train.SourceClasses, want) {
		t.Errorf("gtsrb-10 classes = %v, want %v", ds.Train.SourceClasses, want)
	}
	if ds.Train.N != 16404 || ds.Test.N != 5345 {
		t.Errorf("gtsrb-10 = %d/%d images, want 16404/5345", ds.Train.N, ds.Test.N)
	}
	if want := []int{1977, 1747, 1599, 1404, 1196, 1579, 1900, 1968, 1396, 1638}; !slices.Equal(ds.Train.ClassCounts(), want) {
		t.Errorf("gtsrb-10 train counts = %v, want %v", ds.Train.ClassCounts(), want)
	}
}

// TestGTSRBMissingClassFolder: without one class folder GTSRB-10 would choose another
// set of classes (its labels meaning other signs); the load is refused, naming it.
func TestGTSRBMissingClassFolder(t *testing.T) {
	train, test := synthGTSRB10()
	root := t.TempDir()
	writeGTSRB(t, root, train, test, "Final_Test/GT-final_test.csv")
	if err := os.RemoveAll(filepath.Join(root, "gtsrb", "GTSRB", "Final_Training", "Images", "00011")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gtsrb-10", "gtsrb"} {
		if _, err := Load(name, root); err == nil || !strings.Contains(err.Error(), "00011") {
			t.Errorf("Load(%s) without class folder 00011: %v, want an error naming it", name, err)
		}
	}
}
