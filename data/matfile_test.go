package data

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"testing"
)

func TestReadMATVariants(t *testing.T) {
	vals := []float64{1, 2, 3, 250, 0, 7}
	for _, tc := range []struct {
		name     string
		order    binary.ByteOrder
		compress bool
		class    MATClass
		typ      uint32
	}{
		{"little endian double", binary.LittleEndian, false, MATDouble, miDOUBLE},
		{"big endian double", binary.BigEndian, false, MATDouble, miDOUBLE},
		{"compressed big endian", binary.BigEndian, true, MATDouble, miDOUBLE},
		// MATLAB stores integer-valued doubles in the smallest type that holds them.
		{"double stored as uint8", binary.LittleEndian, true, MATDouble, miUINT8},
		{"double stored as int16", binary.BigEndian, false, MATDouble, miINT16},
		{"single", binary.LittleEndian, false, MATSingle, miSINGLE},
		{"uint8 stored as uint16", binary.LittleEndian, false, MATUint8, miUINT16},
		{"int64", binary.LittleEndian, true, MATInt64, miINT64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := matBytes(tc.order, tc.compress,
				matVar{name: "ab", class: MATChar, dims: []int{1, 2}}, // skipped, kept by name
				matVar{name: "value", class: tc.class, dims: []int{2, 3}, typ: tc.typ, data: vals})
			f, err := ReadMAT(bytes.NewReader(in), "v.mat")
			if err != nil {
				t.Fatalf("ReadMAT: %v", err)
			}
			if len(f.Arrays) != 2 || f.Array("ab").Class != MATChar {
				t.Fatalf("ReadMAT arrays = %v, want ab (char) and value", f.Arrays)
			}
			a := f.Array("value")
			if a == nil || a.Class != tc.class || !slices.Equal(a.Dims, []int{2, 3}) || a.Len() != 6 {
				t.Fatalf("value = %+v, want class %v dims [2 3]", a, tc.class)
			}
			got, err := a.Float64()
			if err != nil || !slices.Equal(got, vals) {
				t.Errorf("Float64() = %v, %v; want %v", got, err, vals)
			}
			if tc.class == MATUint8 {
				b, err := a.Uint8()
				if err != nil || !slices.Equal(b, []byte{1, 2, 3, 250, 0, 7}) {
					t.Errorf("Uint8() = %v, %v", b, err)
				}
			}
			if _, err := f.Array("ab").Float64(); err == nil {
				t.Errorf("Float64() of a char array succeeded, want error")
			}
		})
	}
}

func TestReadMATBad(t *testing.T) {
	x, y := svhnVars(2)
	good := matBytes(binary.LittleEndian, false, x, y)
	goodZ := matBytes(binary.LittleEndian, true, x, y)
	withHeader := func(b []byte, at int, v string) []byte {
		c := slices.Clone(b)
		copy(c[at:], v)
		return c
	}
	zlibCorrupt := slices.Clone(goodZ)
	zlibCorrupt[128+8+20] ^= 0x55
	for _, tc := range []struct {
		name string
		in   []byte
		want []string
	}{
		{"empty", nil, []string{"truncated", "128 bytes"}},
		{"v4 or other", bytes.Repeat([]byte{0}, 200), []string{"endian indicator", "not a level 5"}},
		{"v7.3", withHeader(withHeader(good, 0, "MATLAB 7.3 MAT-file"), 124, "\x00\x02"), []string{"v7.3 (HDF5) unsupported"}},
		{"bad version", withHeader(good, 124, "\x05\x00"), []string{"bad MAT-file version 0x0005"}},
		{"tag cut", good[:128+5], []string{"truncated", "tag"}},
		{"body cut", good[:len(good)-100], []string{"truncated", "miMATRIX"}},
		{"compressed cut", goodZ[:len(goodZ)-10], []string{"truncated"}},
		{"zlib corrupt", zlibCorrupt, []string{"corrupt compressed data"}},
		{"unknown element", withHeader(good, 128, "\x63\x00\x00\x00"), []string{"bad top-level data element type 99"}},
		{"lying size", withHeader(good, 132, "\xff\xff\xff\x7f"), []string{"truncated", "miMATRIX element should be 2147483647 bytes"}},
		{"dims lie", matBytes(binary.LittleEndian, false, matVar{"X", MATUint8, []int{1 << 20, 1 << 20}, miUINT8, []float64{1}, false}),
			[]string{"dimensions [1048576] need more data"}},
		{"data short", matBytes(binary.LittleEndian, false, matVar{"X", MATUint8, []int{2, 2}, miUINT8, []float64{1, 2, 3}, false}),
			[]string{"variable X", "need 4 bytes", "has 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ReadMAT(bytes.NewReader(tc.in), "bad.mat")
			if err == nil {
				t.Fatalf("ReadMAT = %v, want error", f.Arrays)
			}
			wantFormatError(t, err, "bad.mat", tc.want...)
		})
	}
}

// The scipy fixtures decode to exactly the values the generator's formula gives.
func TestReadSVHNFixtures(t *testing.T) {
	for _, tc := range []struct {
		file string
		n    int
	}{
		{"testdata/svhn/train_32x32.mat", 12}, // miCOMPRESSED
		{"testdata/svhn/test_32x32.mat", 3},   // plain miMATRIX
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := ReadSVHN(f, tc.file)
			if err != nil {
				t.Fatalf("ReadSVHN: %v", err)
			}
			checkSVHN(t, s, tc.n)
		})
	}
}

// checkSVHN compares s with the fixture formula: pixels exactly (v/255 as float32)
// and labels n%10+1 mapped so that 10 becomes 0.
func checkSVHN(t *testing.T, s *Set, n int) {
	t.Helper()
	if s.N != n || s.C != 3 || s.H != 32 || s.W != 32 || s.Classes != 10 {
		t.Fatalf("set = %d images %dx%dx%d, %d classes; want %d 3x32x32, 10", s.N, s.C, s.H, s.W, s.Classes, n)
	}
	for k := range n {
		if want := (k%10 + 1) % 10; s.Labels[k] != want {
			t.Errorf("label %d = %d, want %d (file label %d)", k, s.Labels[k], want, k%10+1)
		}
		im := s.Image(k)
		for c := range 3 {
			for i := range 32 {
				for j := range 32 {
					if got, want := im[c*1024+i*32+j], float32(svhnPixel(i, j, c, k))/255; got != want {
						t.Fatalf("image %d channel %d row %d col %d = %v, want %v", k, c, i, j, got, want)
					}
				}
			}
		}
	}
}

func TestReadSVHNBad(t *testing.T) {
	x, y := svhnVars(3)
	xDouble := x
	xDouble.class, xDouble.typ = MATDouble, miDOUBLE
	xDims := x
	xDims.dims = []int{32, 32, 1, 9}
	yShort := y
	yShort.dims, yShort.data = []int{2, 1}, y.data[:2]
	yRange := y
	yRange.data = []float64{1, 11, 3}
	yZero := y
	yZero.data = []float64{1, 0, 3}
	yFrac := y
	yFrac.data = []float64{1, 2.5, 3}
	yChar := matVar{name: "y", class: MATChar, dims: []int{1, 3}}
	yCell := matVar{name: "y", class: MATCell, dims: []int{3, 1}}
	for _, tc := range []struct {
		name string
		vars []matVar
		want []string
	}{
		{"no X", []matVar{y}, []string{"no variable X"}},
		{"no y", []matVar{x}, []string{"no variable y"}},
		{"X double", []matVar{xDouble, y}, []string{"variable X has class double, want uint8"}},
		{"X dims", []matVar{xDims, y}, []string{"variable X has dimensions [32 32 1 9]"}},
		{"y count", []matVar{x, yShort}, []string{"variable y has dimensions [2 1], want 3x1"}},
		{"y 11", []matVar{x, yRange}, []string{"label 11 of image 1 out of range"}},
		{"y 0", []matVar{x, yZero}, []string{"label 0 of image 1 out of range"}},
		{"y fraction", []matVar{x, yFrac}, []string{"label 2.5 of image 1"}},
		{"y char", []matVar{x, yChar}, []string{"variable y has class char"}},
		{"y cell", []matVar{x, yCell}, []string{"variable y has class cell, want a numeric array"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReadSVHN(bytes.NewReader(matBytes(binary.LittleEndian, true, tc.vars...)), "svhn/train_32x32.mat")
			if err == nil {
				t.Fatalf("ReadSVHN = %d images, want error", s.N)
			}
			wantFormatError(t, err, "svhn/train_32x32.mat", tc.want...)
		})
	}
}

func TestLoadSVHN(t *testing.T) {
	ds, err := Load("svhn", "testdata")
	if err != nil {
		t.Fatal(err)
	}
	checkSVHN(t, ds.Train, 12)
	checkSVHN(t, ds.Test, 3)
	if ds.Train.Name != "train" || ds.Test.Name != "test" {
		t.Errorf("split names %q, %q", ds.Train.Name, ds.Test.Name)
	}
	fp, err := Fingerprint("svhn", "testdata")
	if err != nil || fp != ds.Fingerprint {
		t.Errorf("Fingerprint(svhn) = %s, %v; want %s", fp, err, ds.Fingerprint)
	}
	// A big-endian, uncompressed file written by the format document reads the same.
	x, y := svhnVars(4)
	s, err := ReadSVHN(bytes.NewReader(matBytes(binary.BigEndian, false, x, y)), "be.mat")
	if err != nil {
		t.Fatal(err)
	}
	checkSVHN(t, s, 4)
}
