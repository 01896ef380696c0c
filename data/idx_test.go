package data

import (
	"bytes"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestReadIDX(t *testing.T) {
	body := []byte{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}
	raw := idxBytes([]int{2, 3, 2}, body)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"raw", raw},
		{"gzip", gz(raw)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := ReadIDX(bytes.NewReader(tc.in), "x.idx")
			if err != nil {
				t.Fatalf("ReadIDX: %v", err)
			}
			if !slices.Equal(x.Dims, []int{2, 3, 2}) || !bytes.Equal(x.Data, body) {
				t.Errorf("ReadIDX = dims %v data %v, want %v %v", x.Dims, x.Data, []int{2, 3, 2}, body)
			}
		})
	}
}

func TestReadIDXBad(t *testing.T) {
	good := idxBytes([]int{2, 2, 2}, make([]byte, 8))
	corrupt := gz(good)
	corrupt[len(corrupt)-6] ^= 0xff // CRC-32 in the gzip trailer
	for _, tc := range []struct {
		name string
		in   []byte
		want []string
	}{
		{"empty", nil, []string{"truncated", "header"}},
		{"short magic", []byte{0, 0}, []string{"truncated"}},
		{"not IDX", []byte("P6\n32 32\n255\n"), []string{"bad magic", "not an IDX"}},
		{"float type", []byte{0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}, []string{"0x0d", "float32", "unsupported"}},
		{"unknown type", []byte{0, 0, 0x42, 1, 0, 0, 0, 1}, []string{"bad magic", "unknown IDX element type 0x42"}},
		{"zero dims", []byte{0, 0, 8, 0}, []string{"absurd", "0 dimensions"}},
		{"too many dims", []byte{0, 0, 8, 9}, []string{"absurd", "9 dimensions"}},
		{"header cut", []byte{0, 0, 8, 3, 0, 0, 0, 1}, []string{"truncated", "3 dimension sizes"}},
		{"absurd side", idxBytes([]int{1, 100000, 28}, nil), []string{"absurd", "dimension 1 is 100000"}},
		{"zero side", idxBytes([]int{1, 0, 28}, nil), []string{"absurd", "dimension 1 is 0"}},
		{"body short", idxBytes([]int{2, 2, 2}, make([]byte, 7)), []string{"truncated", "should be 8 bytes", "after 7"}},
		{"body long", idxBytes([]int{2, 2, 2}, make([]byte, 9)), []string{"trailing data"}},
		{"gzip cut", gz(good)[:30], []string{"truncated"}},
		{"gzip crc", corrupt, []string{"corrupt compressed data"}},
		{"gzip header only", gz(good)[:5], []string{"gzip header"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := ReadIDX(bytes.NewReader(tc.in), "bad.idx")
			if err == nil {
				t.Fatalf("ReadIDX = %v, want error", x.Dims)
			}
			wantFormatError(t, err, "bad.idx", tc.want...)
		})
	}
}

// A header claiming a billion 28x28 images on a 1 KB file must fail as truncated
// quickly and without allocating anything near the claimed 784 GB.
func TestReadIDXLyingHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		dims []int
	}{
		{"images", []int{1_000_000_000, 28, 28}},
		{"labels", []int{1_000_000_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := idxBytes(tc.dims, make([]byte, 1024))
			for _, enc := range [][]byte{in, gz(in)} {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				_, err := ReadIDX(bytes.NewReader(enc), "liar.idx")
				took := time.Since(start)
				runtime.ReadMemStats(&after)
				wantFormatError(t, err, "liar.idx", "truncated", "file ends after 1024")
				if took > time.Second {
					t.Errorf("ReadIDX took %v on a lying header, want well under 1s", took)
				}
				const limit = 8 << 20
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
					t.Errorf("ReadIDX allocated %d bytes on a 1 KB file, want at most %d", alloc, limit)
				}
			}
		})
	}
}

func TestReadIDXLabelsAndImages(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		read func([]byte) error
		want []string
	}{
		{"labels as images", idxBytes([]int{3}, []byte{1, 2, 3}),
			func(b []byte) error { _, err := readIDXImages(bytes.NewReader(b), "f"); return err },
			[]string{"bad magic 0x00000801, want 0x00000803"}},
		{"images as labels", idxBytes([]int{1, 1, 1}, []byte{1}),
			func(b []byte) error { _, err := readIDXLabels(bytes.NewReader(b), "f", 10); return err },
			[]string{"bad magic 0x00000803, want 0x00000801"}},
		{"label out of range", idxBytes([]int{3}, []byte{1, 10, 3}),
			func(b []byte) error { _, err := readIDXLabels(bytes.NewReader(b), "f", 10); return err },
			[]string{"label 10 of item 1 out of range"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFormatError(t, tc.read(tc.in), "f", tc.want...)
		})
	}
}
