package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzz targets check that no input makes a reader panic, hang or allocate wildly,
// that every failure is a *FormatError, and that every success is self-consistent.
// Seed corpora live in testdata/fuzz/<FuzzName>/ (written by -update-corpus, below);
// run a target with, for example:
//
//	go test ./data -run='^$' -fuzz='^FuzzIDX$' -fuzztime=60s

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz from the real data and fixtures")

func wantOnlyFormatErrors(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FormatError", err, err)
	}
}

func FuzzIDX(f *testing.F) {
	f.Add(idxBytes([]int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add(gz(idxBytes([]int{3}, []byte{1, 2, 9})))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ReadIDX(bytes.NewReader(b), "fuzz.idx")
		if err != nil {
			wantOnlyFormatErrors(t, err)
			return
		}
		n := 1
		for _, d := range x.Dims {
			n *= d
		}
		if len(x.Dims) < 1 || len(x.Data) != n {
			t.Fatalf("ReadIDX = dims %v with %d bytes", x.Dims, len(x.Data))
		}
	})
}

func FuzzMAT(f *testing.F) {
	x, y := svhnVars(1)
	f.Add(matBytes(binary.BigEndian, true, x, y))
	f.Add(matBytes(binary.LittleEndian, false, matVar{"a", MATDouble, []int{1, 2}, miUINT8, []float64{3, 4}, false}))
	f.Fuzz(func(t *testing.T, b []byte) {
		mf, err := ReadMAT(bytes.NewReader(b), "fuzz.mat")
		if err != nil {
			wantOnlyFormatErrors(t, err)
			return
		}
		for _, a := range mf.Arrays {
			v, err := a.Float64()
			if err != nil {
				wantOnlyFormatErrors(t, err)
				continue
			}
			if len(v) != a.Len() {
				t.Fatalf("%s: %d values for dims %v", a.Name, len(v), a.Dims)
			}
			if _, err := a.Uint8(); err != nil {
				wantOnlyFormatErrors(t, err)
			}
		}
		s, err := ReadSVHN(bytes.NewReader(b), "fuzz.mat")
		if err != nil {
			wantOnlyFormatErrors(t, err)
			return
		}
		s.check()
	})
}

func FuzzPPM(f *testing.F) {
	f.Add(ppmBytes(3, 2, nil))
	f.Add([]byte("P6\n# c\n1 1\n255\n\x01\x02\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadPPM(bytes.NewReader(b), "fuzz.ppm")
		if err != nil {
			wantOnlyFormatErrors(t, err)
			return
		}
		if m.W < 1 || m.H < 1 || len(m.Pix) != 3*m.W*m.H {
			t.Fatalf("ReadPPM = %dx%d with %d bytes", m.W, m.H, len(m.Pix))
		}
		if m.W*m.H <= 1<<16 {
			// A small target keeps each run cheap; the taps still cover up- and
			// down-scaling from whatever size the input has.
			r := m.Resize(7, 5)
			dst := make([]float32, 3*7*5)
			r.planar(dst)
			for _, v := range dst {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("pixel %v outside [0,1]", v)
				}
			}
		}
	})
}

func FuzzGTSRBCSV(f *testing.F) {
	f.Add(gtsrbHeader + "00000_00000.ppm;29;30;5;6;24;25;0\n")
	f.Add("Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2\n00000.ppm;53;54;6;5;48;49\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := ReadGTSRBCSV(strings.NewReader(in), "fuzz.csv")
		if err != nil {
			wantOnlyFormatErrors(t, err)
			return
		}
		for _, r := range rows {
			if r.ClassID < 0 || r.ClassID >= gtsrbClasses || r.Width < 1 || r.Height < 1 ||
				r.Filename == "" || strings.ContainsAny(r.Filename, `/\`) {
				t.Fatalf("ReadGTSRBCSV accepted row %+v", r)
			}
		}
	})
}

func FuzzNPY(f *testing.F) {
	f.Add(npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", []byte{1, 2, 3, 4}))
	f.Add(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1), }", []byte{0, 0, 0x80, 0x3f}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ReadNPY(bytes.NewReader(b), "fuzz.npy")
		if err != nil {
			wantOnlyFormatErrors(t, err)
			return
		}
		if len(a.Data) != a.Len()*a.ElemSize() {
			t.Fatalf("ReadNPY = %s %v with %d bytes", a.Dtype, a.Shape, len(a.Data))
		}
		if a.Len() > 1<<16 {
			return // the conversions below are linear in the size: keep each run cheap
		}
		if _, ok := a.getter(); !ok {
			if _, err := a.Strings(); err != nil && a.Dtype[0] != 'U' {
				t.Fatalf("Strings of %s: %v", a.Dtype, err)
			}
			return
		}
		// As images and labels of own data: an error or a consistent split.
		y := &NPY{Dtype: "u1", Shape: []int{0}}
		if len(a.Shape) > 0 {
			y = &NPY{Dtype: "u1", Shape: []int{a.Shape[0]}, Data: make([]byte, a.Shape[0])}
		}
		sp, err := arraysToSplit("test", a, y, "x", "y", "")
		if err != nil {
			wantOnlyFormatErrors(t, err)
			return
		}
		if err := assignClasses([]*arraySplit{sp}, nil, ""); err != nil {
			t.Fatal(err)
		}
		sp.set.check()
		for _, v := range sp.set.Images {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("pixel %v outside [0,1]", v)
			}
		}
	})
}

func FuzzNPYHeader(f *testing.F) {
	f.Add("{'descr': '<f4', 'fortran_order': False, 'shape': (10, 28, 28), }")
	f.Add("{'descr': [('a', '<i4')], 'fortran_order': True, 'shape': (60000L,)}")
	f.Fuzz(func(t *testing.T, h string) {
		dtype, shape, err := ParseNPYHeader(h)
		if err != nil {
			return
		}
		if _, err := parseDescr("<" + dtype); err != nil || len(shape) > npyMaxDims {
			t.Fatalf("ParseNPYHeader(%q) = %q %v: not a valid dtype and shape (%v)", h, dtype, shape, err)
		}
		for _, d := range shape {
			if d < 0 {
				t.Fatalf("ParseNPYHeader(%q) = shape %v", h, shape)
			}
		}
	})
}

func FuzzCIFAR10(f *testing.F) {
	f.Add(cifarBatch([]byte{3}, 0))
	f.Add(cifarBatch([]byte{1, 12}, 5)[:4000])
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ReadCIFAR10(bytes.NewReader(b), "fuzz.bin", "test")
		if err != nil {
			wantOnlyFormatErrors(t, err)
			return
		}
		s.check()
		if len(b) != s.N*cifarRecord {
			t.Fatalf("ReadCIFAR10 read %d records from %d bytes", s.N, len(b))
		}
		for i, l := range s.Labels {
			if l < 0 || l >= cifarClasses || l != int(b[i*cifarRecord]) {
				t.Fatalf("record %d: label %d, byte %d", i, l, b[i*cifarRecord])
			}
		}
	})
}

// TestUpdateFuzzCorpus rewrites testdata/fuzz from real files: go test ./data
// -run=TestUpdateFuzzCorpus -update-corpus (needs the shared data directory).
func TestUpdateFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	root := sharedData(t)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	head := func(b []byte, lines int) []byte {
		parts := bytes.SplitAfterN(b, []byte("\n"), lines+1)
		return bytes.Join(parts[:min(lines, len(parts))], nil)
	}
	gtsrb := filepath.Join(root, "gtsrb", "GTSRB")
	x, y := svhnVars(1)
	corpus := map[string]map[string][]byte{
		"FuzzIDX": {
			"sample-t10k-labels-gz": read("sample/mnist/t10k-labels-idx1-ubyte.gz"),
			"images-raw":            idxBytes([]int{2, 3, 3}, bytes.Repeat([]byte{0, 128, 255}, 6)),
			"images-gz":             gz(idxBytes([]int{2, 3, 3}, bytes.Repeat([]byte{0, 128, 255}, 6))),
			"lying-count":           idxBytes([]int{1_000_000_000, 28, 28}, make([]byte, 64)),
			"float-type":            {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0},
		},
		"FuzzMAT": {
			"scipy-uncompressed": read("testdata/svhn/test_32x32.mat"),
			"scipy-compressed":   read("testdata/svhn/train_32x32.mat"),
			"big-endian":         matBytes(binary.BigEndian, false, x, y),
			"narrowed-double":    matBytes(binary.LittleEndian, true, matVar{"y", MATDouble, []int{3, 1}, miUINT8, []float64{1, 10, 3}, false}),
			"char-and-complex": matBytes(binary.LittleEndian, false, matVar{name: "s", class: MATChar, dims: []int{1, 3}},
				matVar{"z", MATDouble, []int{1, 1}, miDOUBLE, []float64{2}, true}),
		},
		"FuzzPPM": {
			"gtsrb-train":  read(filepath.Join(gtsrb, "Final_Training", "Images", "00014", "00014_00000.ppm")),
			"gtsrb-test":   read(filepath.Join(gtsrb, "Final_Test", "Images", "00000.ppm")),
			"comments":     []byte("P6\n# GIMP\n2 # w\n1\n255\n\x01\x02\x03\x04\x05\x06"),
			"odd-size":     ppmBytes(45, 37, nil),
			"ascii-p3":     []byte("P3\n1 1\n255\n1 2 3\n"),
			"maxval-65535": []byte("P6\n1 1\n65535\n\x00\x01\x00\x02\x00\x03"),
		},
		"FuzzNPY": {
			"numpy-u8-nhwc":    read("testdata/npy/u8_nhwc.npy"),
			"numpy-f4-nchw":    read("testdata/npy/f4_nchw.npy"),
			"numpy-v3":         read("testdata/npy/v3.npy"),
			"numpy-labels":     read("testdata/npy/labels_u1_col.npy"),
			"numpy-fortran":    read("testdata/npy/fortran.npy"),
			"numpy-big-endian": read("testdata/npy/bigendian.npy"),
			"lying-shape":      npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (1000000000, 28, 28), }", make([]byte, 64)),
			"nan":              npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }", []byte{0, 0, 0xc0, 0x7f}),
		},
		"FuzzNPYHeader": {
			"numpy":      []byte("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }"),
			"structured": []byte("{'descr': [('a', '<i4'), ('b', '<f8')], 'fortran_order': False, 'shape': (2,), }"),
			"unicode":    []byte("{'descr': '<U5', 'fortran_order': False, 'shape': (4,), }"),
			"python2":    []byte("{'descr': '<i8', 'fortran_order': False, 'shape': (60000L, 1L), }"),
		},
		"FuzzCIFAR10": {
			"two-records": cifarBatch([]byte{3, 9}, 0),
			"truncated":   cifarBatch([]byte{1, 2}, 7)[:4000],
			"cifar-100":   append([]byte{15}, cifarBatch([]byte{55}, 0)...),
		},
		"FuzzGTSRBCSV": {
			"train":      head(read(filepath.Join(gtsrb, "Final_Training", "Images", "00000", "GT-00000.csv")), 6),
			"test":       head(read(filepath.Join(gtsrb, "Final_Test", "GT-final_test.csv")), 6),
			"unlabelled": []byte("Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2\n00000.ppm;53;54;6;5;48;49\n"),
			"bad-row":    []byte(gtsrbHeader + "x.ppm;a;1;1;1;1;1;1\n"),
		},
	}
	for target, seeds := range corpus {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			typ := "[]byte"
			if target == "FuzzGTSRBCSV" || target == "FuzzNPYHeader" {
				typ = "string"
			}
			body := fmt.Sprintf("go test fuzz v1\n%s(%q)\n", typ, b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
