package data

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedData is the data directory of the development machines; tests that need the
// real datasets skip when it is absent (a fresh clone elsewhere, CI without shared/).
func sharedData(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("EABS_DATA_DIR")
	if dir == "" {
		dir = "../../shared/data"
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Skipf("no data directory %s (set EABS_DATA_DIR): skipping test on real data", dir)
	}
	return dir
}

// wantFormatError fails unless err is a *FormatError whose message contains every
// one of wants (case-sensitive) and names file.
func wantFormatError(t *testing.T, err error, file string, wants ...string) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want *FormatError", err, err)
	}
	if !strings.Contains(fe.File, file) {
		t.Errorf("FormatError.File = %q, want it to name %q", fe.File, file)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

// idxBytes builds a raw IDX file of unsigned bytes.
func idxBytes(dims []int, body []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(body)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeIDXSplit writes images (n of h x w, pixel value f(i, p)) and labels into dir
// under the official gzipped names of split "train" or "t10k".
func writeIDXSplit(t *testing.T, dir, split string, n, h, w int, labels []byte) {
	t.Helper()
	pix := make([]byte, n*h*w)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	writeFile(t, filepath.Join(dir, split+"-images-idx3-ubyte.gz"), gz(idxBytes([]int{n, h, w}, pix)))
	writeFile(t, filepath.Join(dir, split+"-labels-idx1-ubyte.gz"), gz(idxBytes([]int{len(labels)}, labels)))
}

// ppmBytes builds a P6 image whose pixel (x, y) is (x, y, x+y) mod 256 unless pix is given.
func ppmBytes(w, h int, pix []byte) []byte {
	if pix == nil {
		pix = make([]byte, 3*w*h)
		for y := range h {
			for x := range w {
				copy(pix[3*(y*w+x):], []byte{byte(x), byte(y), byte(x + y)})
			}
		}
	}
	return append([]byte(fmt.Sprintf("P6\n%d %d\n255\n", w, h)), pix...)
}

// matVar is one variable for matBytes. data is encoded as typ in the file's order.
type matVar struct {
	name    string
	class   MATClass
	dims    []int
	typ     uint32
	data    []float64
	complex bool
}

// matBytes writes a level 5 MAT-file by the format document, independently of scipy:
// it lets the tests reach corners scipy does not write (big-endian files, narrowed
// storage types, complex arrays).
func matBytes(order binary.ByteOrder, compress bool, vars ...matVar) []byte {
	var out bytes.Buffer
	hdr := make([]byte, 128)
	copy(hdr, bytes.Repeat([]byte(" "), 116))
	copy(hdr, "MATLAB 5.0 MAT-file, written by the eabs tests")
	order.PutUint16(hdr[124:], 0x0100)
	order.PutUint16(hdr[126:], 'M'<<8|'I')
	out.Write(hdr)
	for _, v := range vars {
		var body bytes.Buffer
		flags := uint32(v.class)
		if v.complex {
			flags |= 0x800
		}
		element(&body, order, miUINT32, u32s(order, flags, 0))
		dims := make([]uint32, len(v.dims))
		for i, d := range v.dims {
			dims[i] = uint32(d)
		}
		element(&body, order, miINT32, u32s(order, dims...))
		element(&body, order, miINT8, []byte(v.name))
		if v.typ != 0 {
			element(&body, order, v.typ, encodeMI(order, v.typ, v.data))
			if v.complex {
				element(&body, order, v.typ, encodeMI(order, v.typ, v.data))
			}
		}
		var m bytes.Buffer
		element(&m, order, miMATRIX, body.Bytes())
		if compress {
			var z bytes.Buffer
			zw := zlib.NewWriter(&z)
			zw.Write(m.Bytes())
			zw.Close()
			tag := make([]byte, 8)
			order.PutUint32(tag, miCOMPRESSED)
			order.PutUint32(tag[4:], uint32(z.Len()))
			out.Write(tag)
			out.Write(z.Bytes())
		} else {
			out.Write(m.Bytes())
		}
	}
	return out.Bytes()
}

// element writes a data element, in the small format when it fits in 4 bytes.
func element(w *bytes.Buffer, order binary.ByteOrder, typ uint32, data []byte) {
	tag := make([]byte, 8)
	if len(data) <= 4 && typ != miMATRIX && len(data) > 0 {
		order.PutUint32(tag, uint32(len(data))<<16|typ)
		copy(tag[4:], data)
		w.Write(tag)
		return
	}
	order.PutUint32(tag, typ)
	order.PutUint32(tag[4:], uint32(len(data)))
	w.Write(tag)
	w.Write(data)
	w.Write(make([]byte, (8-len(data)%8)%8))
}

func u32s(order binary.ByteOrder, v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		order.PutUint32(b[4*i:], x)
	}
	return b
}

func encodeMI(order binary.ByteOrder, typ uint32, vals []float64) []byte {
	b := make([]byte, miSize[typ]*len(vals))
	for i, v := range vals {
		p := b[i*miSize[typ]:]
		switch typ {
		case miINT8, miUINT8:
			p[0] = byte(int64(v))
		case miINT16, miUINT16:
			order.PutUint16(p, uint16(int64(v)))
		case miINT32, miUINT32:
			order.PutUint32(p, uint32(int64(v)))
		case miSINGLE:
			order.PutUint32(p, math.Float32bits(float32(v)))
		case miDOUBLE:
			order.PutUint64(p, math.Float64bits(v))
		case miINT64, miUINT64:
			order.PutUint64(p, uint64(int64(v)))
		}
	}
	return b
}

// svhnPixel is the formula of testdata/gen_svhn_fixtures.py: X[i, j, c, n].
func svhnPixel(i, j, c, n int) byte { return byte((7*i + 13*j + 29*c + 31*n + 5) % 256) }

// svhnVars returns X and y for n images by the fixture formula.
func svhnVars(n int) (x, y matVar) {
	xs := make([]float64, 32*32*3*n)
	for k := range n {
		for c := range 3 {
			for j := range 32 {
				for i := range 32 {
					xs[i+32*j+1024*c+3072*k] = float64(svhnPixel(i, j, c, k))
				}
			}
		}
	}
	ys := make([]float64, n)
	for k := range ys {
		ys[k] = float64(k%10 + 1)
	}
	return matVar{"X", MATUint8, []int{32, 32, 3, n}, miUINT8, xs, false},
		matVar{"y", MATDouble, []int{n, 1}, miDOUBLE, ys, false}
}

func TestSampleIndices(t *testing.T) {
	a := SampleIndices(100, 30, 7)
	b := SampleIndices(100, 10, 7)
	if len(a) != 30 || len(b) != 10 {
		t.Fatalf("Sample lengths %d, %d; want 30, 10", len(a), len(b))
	}
	seen := map[int]bool{}
	for i, v := range a {
		if v < 0 || v >= 100 || seen[v] {
			t.Fatalf("SampleIndices(100, 30, 7)[%d] = %d: out of range or repeated", i, v)
		}
		seen[v] = true
		if i < len(b) && b[i] != v {
			t.Errorf("SampleIndices(100, 10, 7) is not a prefix of SampleIndices(100, 30, 7) at %d: %d vs %d", i, b[i], v)
		}
	}
	if c := SampleIndices(100, 30, 8); fmt.Sprint(c) == fmt.Sprint(a) {
		t.Errorf("seeds 7 and 8 drew the same sample %v", a)
	}
	if got := SampleIndices(5, 9, 1); len(got) != 5 {
		t.Errorf("SampleIndices(5, 9, 1) has %d indices, want 5 (capped)", len(got))
	}
	if got := SampleIndices(5, 0, 1); got != nil {
		t.Errorf("SampleIndices(5, 0, 1) = %v, want nil", got)
	}
}
