package data

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cifarPix is the test batches' pixel (channel c, row y, column x) of image id.
func cifarPix(id, c, y, x int) byte { return byte((id*17 + c*101 + y*7 + x*3) % 256) }

// cifarBatch writes records in CIFAR-10's binary format, as its page describes: per
// image, 1 label byte, then the 1024 red values, the 1024 green, the 1024 blue, each
// plane row-major (the first 32 bytes are the first row). Image i gets id first+i.
func cifarBatch(labels []byte, first int) []byte {
	var b bytes.Buffer
	for i, l := range labels {
		b.WriteByte(l)
		for c := range 3 {
			for y := range 32 {
				for x := range 32 {
					b.WriteByte(cifarPix(first+i, c, y, x))
				}
			}
		}
	}
	return b.Bytes()
}

func TestReadCIFAR10(t *testing.T) {
	s, err := ReadCIFAR10(bytes.NewReader(cifarBatch([]byte{3, 9, 0}, 0)), "b.bin", "test")
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 3 || s.C != 3 || s.H != 32 || s.W != 32 || !slices.Equal(s.Labels, []int{3, 9, 0}) || s.Classes != 10 {
		t.Fatalf("ReadCIFAR10 = %d images %dx%dx%d labels %v classes %d; want 3 of 3x32x32, [3 9 0], 10", s.N, s.C, s.H, s.W, s.Labels, s.Classes)
	}
	s.check()
	wantPixels(t, s, func(n, c, h, w int) float64 { return float64(float32(cifarPix(n, c, h, w)) / 255) })

	bad := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "empty: no CIFAR-10 records"},
		{"truncated", cifarBatch([]byte{1, 2}, 0)[:2*cifarRecord-5], "truncated: record 1 has 3068 of its 3073 bytes"},
		{"label", cifarBatch([]byte{1, 10}, 0), "record 1 (byte offset 3073): label 10 outside 0-9"},
	}
	for _, c := range bad {
		_, err := ReadCIFAR10(bytes.NewReader(c.b), "b.bin", "test")
		wantFormatError(t, err, "b.bin", c.want)
	}
}

func TestLoadCIFAR10(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, cifarSubdir)
	var trainLabels []int
	for i := 1; i <= 5; i++ {
		labels := []byte{byte(i), byte(2 * i % 10)}
		trainLabels = append(trainLabels, i, 2*i%10)
		writeFile(t, filepath.Join(sub, "data_batch_"+string(rune('0'+i))+".bin"), cifarBatch(labels, 100+2*(i-1)))
	}
	writeFile(t, filepath.Join(sub, "test_batch.bin"), cifarBatch([]byte{7, 0, 4}, 0))
	meta := "plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n" // the official file ends in a blank line
	writeFile(t, filepath.Join(sub, "batches.meta.txt"), []byte(meta))

	// DIR may be the folder the archive unpacks into, or cifar-10-batches-bin itself.
	for _, name := range []string{"cifar10:" + dir, "cifar10:" + sub} {
		ds, err := Load(name, "")
		if err != nil {
			t.Fatal(err)
		}
		if ds.Train.N != 10 || ds.Test.N != 3 || !slices.Equal(ds.Train.Labels, trainLabels) || !slices.Equal(ds.Test.Labels, []int{7, 0, 4}) ||
			ds.Test.ClassNames[1] != "car" || ds.Train.ClassNames[9] != "truck" || len(ds.Files) != 7 {
			t.Fatalf("%s = train %d %v, test %d %v, names %v, %d files; want 10, 3, the meta file's names, 7 files",
				name, ds.Train.N, ds.Train.Labels, ds.Test.N, ds.Test.Labels, ds.Test.ClassNames, len(ds.Files))
		}
		wantPixels(t, ds.Train, func(n, c, h, w int) float64 { return float64(float32(cifarPix(100+n, c, h, w)) / 255) })
		wantPixels(t, ds.Test, func(n, c, h, w int) float64 { return float64(float32(cifarPix(n, c, h, w)) / 255) })
		if fp, err := Fingerprint(name, ""); err != nil || fp != ds.Fingerprint {
			t.Errorf("Fingerprint(%s) = %s, %v; want Load's %s", name, fp, err, ds.Fingerprint)
		}
	}

	// Only the test batch, no meta file: an empty training split, the official names.
	only := t.TempDir()
	writeFile(t, filepath.Join(only, "test_batch.bin"), cifarBatch([]byte{1}, 0))
	ds, err := Load("cifar10:"+only, "")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.N != 0 || ds.Test.N != 1 || !slices.Equal(ds.Test.ClassNames, cifarNames) || ds.Train.Classes != 10 {
		t.Errorf("test batch only: train %d, test %d, names %v", ds.Train.N, ds.Test.N, ds.Test.ClassNames)
	}
}

func TestLoadCIFAR10Refuses(t *testing.T) {
	cases := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"no test batch", map[string][]byte{"data_batch_1.bin": cifarBatch([]byte{1}, 0)}, "test_batch.bin not found"},
		{"partial download", map[string][]byte{"test_batch.bin": cifarBatch([]byte{1}, 0), "data_batch_1.bin": cifarBatch([]byte{1}, 0),
			"data_batch_2.bin": cifarBatch([]byte{1}, 0)}, "data_batch_3.bin, data_batch_4.bin, data_batch_5.bin missing"},
		{"truncated", map[string][]byte{"test_batch.bin": cifarBatch([]byte{1, 2}, 0)[:4000]}, "test_batch.bin: truncated: record 1 has 927 of its 3073 bytes"},
		{"cifar-100", map[string][]byte{"test_batch.bin": append([]byte{15}, cifarBatch([]byte{55}, 0)...)}, "test_batch.bin: record 0 (byte offset 0): label 15 outside 0-9: not a CIFAR-10 batch (CIFAR-100"},
		{"meta", map[string][]byte{"test_batch.bin": cifarBatch([]byte{1}, 0), "batches.meta.txt": []byte("a\nb\n")}, "batches.meta.txt: lists 2 class names"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for f, b := range c.files {
				writeFile(t, filepath.Join(dir, f), b)
			}
			_, err := Load("cifar10:"+dir, "")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one containing %q", err, c.want)
			}
		})
	}
}
