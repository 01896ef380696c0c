package data

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fixtures in testdata/npy were written by numpy (gen_npy_fixtures.py); these
// formulas are the script's, recomputed here.
func fixtureU8(n, h, w, c int) float64 { return float64((37*n + 11*h + 5*w + 3*c) % 256) }
func fixtureF(n, c, h, w int) float64  { return float64((7*n+5*c+3*h+w)%17) / 16 }
func fixtureLabel(n int) int           { return (3*n + 1) % 4 }
func npyFixture(name string) string    { return filepath.Join("testdata", "npy", name) }
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(npyFixture(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// npyBytes writes a version 1.0 .npy file of the header dict literal dict and body.
func npyBytes(dict string, body []byte) []byte {
	h := dict
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.Write([]byte{1, 0, byte(len(h)), byte(len(h) >> 8)})
	b.WriteString(h)
	b.Write(body)
	return b.Bytes()
}

func TestReadNPYFixtures(t *testing.T) {
	cases := []struct {
		file  string
		dtype string
		shape []int
		// at returns element i of the array in C order from the formulas.
		at func(i int) float64
	}{
		{"u8_nhwc.npy", "u1", []int{4, 5, 6, 3}, func(i int) float64 {
			return fixtureU8(i/90, i/18%5, i/3%6, i%3)
		}},
		{"v2.npy", "u1", []int{4, 5, 6, 3}, func(i int) float64 { return fixtureU8(i/90, i/18%5, i/3%6, i%3) }},
		{"v3.npy", "u1", []int{4, 5, 6, 3}, func(i int) float64 { return fixtureU8(i/90, i/18%5, i/3%6, i%3) }},
		{"f4_nchw.npy", "f4", []int{3, 1, 4, 5}, func(i int) float64 { return fixtureF(i/20, 0, i/5%4, i%5) }},
		{"f8_nhw.npy", "f8", []int{2, 3, 4}, func(i int) float64 { return fixtureF(i/12, 0, i/4%3, i%4) }},
		{"labels_i8.npy", "i8", []int{4}, func(i int) float64 { return float64(fixtureLabel(i)) }},
		{"labels_u1_col.npy", "u1", []int{3, 1}, func(i int) float64 { return float64(fixtureLabel(i)) }},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			a, err := ReadNPY(bytes.NewReader(readFixture(t, c.file)), c.file)
			if err != nil {
				t.Fatal(err)
			}
			if a.Dtype != c.dtype || !slices.Equal(a.Shape, c.shape) {
				t.Fatalf("ReadNPY(%s) = %s %v, want %s %v", c.file, a.Dtype, a.Shape, c.dtype, c.shape)
			}
			get, _ := a.getter()
			for i := range a.Len() {
				if got, want := get(i), c.at(i); got != want { // exact: small integers and sixteenths
					t.Fatalf("ReadNPY(%s) element %s = %v, want %v", c.file, npyIndex(a.Shape, i), got, want)
				}
			}
		})
	}
}

func TestReadNPYRefuses(t *testing.T) {
	cases := []struct{ file, want string }{
		{"fortran.npy", "fortran_order True"},
		{"bigendian.npy", "big-endian dtype \">f4\""},
		{"float16.npy", "dtype \"<f2\" unsupported"},
		{"structured.npy", "structured dtype"},
	}
	for _, c := range cases {
		_, err := ReadNPY(bytes.NewReader(readFixture(t, c.file)), c.file)
		wantFormatError(t, err, c.file, c.want)
	}
}

func TestReadNPYBadBytes(t *testing.T) {
	good := readFixture(t, "u8_nhwc.npy")
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated: the file ends before the 8-byte magic"},
		{"magic", append([]byte("\x93NUMPZ"), good[6:]...), "bad magic"},
		{"version", append(append([]byte(npyMagic), 9, 0), good[8:]...), "version 9.0 unsupported"},
		{"cut-in-header", good[:40], "truncated: the file ends before the 118-byte header"},
		{"cut-in-body", good[:len(good)-1], "truncated: array data (shape [4 5 6 3], u1) should be 360 bytes, file ends after 359"},
		{"lying-shape", npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (1000000000, 28, 28), }", make([]byte, 10)), "truncated"},
		{"absurd-shape", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", nil), "absurd shape"},
		{"non-ascii", npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), 'é': 1}", []byte{1}), "not ASCII"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadNPY(bytes.NewReader(c.b), "x.npy")
			wantFormatError(t, err, "x.npy", c.want)
		})
	}
}

func TestParseNPYHeader(t *testing.T) {
	ok := []struct {
		h     string
		dtype string
		shape []int
	}{
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (10, 28, 28), }          \n", "f4", []int{10, 28, 28}},
		{`{"descr":"|u1","fortran_order":False,"shape":(3,)}`, "u1", []int{3}},
		{"{'shape': (), 'fortran_order': False, 'descr': '<i8'}", "i8", []int{}},
		{"{'descr': '<i4', 'fortran_order': False, 'shape': (60000L, 1L), }", "i4", []int{60000, 1}}, // Python 2's numpy
		{"{'descr': '<U5', 'fortran_order': False, 'shape': (4,), }", "U5", []int{4}},
		{"{'descr': '|S12', 'fortran_order': False, 'shape': (0,), }", "S12", []int{0}},
		{"{'descr': 'u1', 'fortran_order': False, 'shape': (2, 2)}", "u1", []int{2, 2}},
	}
	for _, c := range ok {
		dtype, shape, err := ParseNPYHeader(c.h)
		if err != nil || dtype != c.dtype || !slices.Equal(shape, c.shape) {
			t.Errorf("ParseNPYHeader(%q) = %q, %v, %v; want %q, %v", c.h, dtype, shape, err, c.dtype, c.shape)
		}
	}
	bad := []struct{ h, want string }{
		{"", "ends where a value"},
		{"{'descr': '<f4', 'fortran_order': False}", "shape is not a tuple"},
		{"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "fortran_order is not True or False"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "not a size"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unknown key"},
		{"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "twice"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "text after the dict"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "no closing"},
		{"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "unexpected 'f' at byte 17"},
		{"{'descr' '<f4'}", "no ':' after key"},
		{"['descr']", "not a dict"},
		{"{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", "unsupported"},
		{"{'descr': '>i2', 'fortran_order': False, 'shape': (1,)}", "big-endian"},
		{"{'descr': '|f4', 'fortran_order': False, 'shape': (1,)}", "byte order"},
		{"{'descr': '<f', 'fortran_order': False, 'shape': (1,)}", "too short"},
		{"{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,)}", "structured dtype"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6, 7, 8, 9)}", "9 dimensions"},
		{strings.Repeat("(", 100), "nested more than"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "bad integer"},
	}
	for _, c := range bad {
		_, _, err := ParseNPYHeader(c.h)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseNPYHeader(%q) error = %v, want one containing %q", c.h, err, c.want)
		}
	}
}

func TestReadNPZ(t *testing.T) {
	b := readFixture(t, "keras.npz")
	z, err := ReadNPZ(bytes.NewReader(b), int64(len(b)), "keras.npz")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"class_names", "x_test", "x_train", "y_test", "y_train"}; !slices.Equal(z.Names(), want) {
		t.Errorf("Names() = %v, want %v", z.Names(), want)
	}
	names, err := z.Array("class_names")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := names.Strings(); err != nil || !slices.Equal(s, []string{"zero", "one", "two", "three"}) || names.Dtype != "U5" {
		t.Errorf("class_names = %v (%s), %v; want zero one two three as U5", s, names.Dtype, err)
	}
	if _, err := z.Array("nope"); err == nil || !strings.Contains(err.Error(), "no array \"nope\" (it holds class_names, x_test") {
		t.Errorf("Array(nope) error = %v", err)
	}

	// A corrupted deflate stream (savez_compressed) fails naming the member.
	c := readFixture(t, "compressed.npz")
	bad := slices.Clone(c)
	for i := 60; i < 120; i++ { // inside x.npy's compressed data
		bad[i] ^= 0x5A
	}
	z, err = ReadNPZ(bytes.NewReader(bad), int64(len(bad)), "compressed.npz")
	if err == nil {
		_, err = z.Array("x")
	}
	wantFormatError(t, err, "compressed.npz")

	_, err = ReadNPZ(bytes.NewReader(c[:len(c)-30]), int64(len(c)-30), "cut.npz")
	wantFormatError(t, err, "cut.npz", "not a .npz file")
}

// writeNPY writes a version 1.0 .npy file of descr and shape holding body.
func writeNPY(t *testing.T, path, descr string, shape []int, body []byte) {
	t.Helper()
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	writeFile(t, path, npyBytes(fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple), body))
}
