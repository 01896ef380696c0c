package data

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadUnknown(t *testing.T) {
	_, err := Load("cifar-10", t.TempDir())
	var ue *UnknownDatasetError
	if !errors.As(err, &ue) {
		t.Fatalf("Load(cifar-10) error = %v, want *UnknownDatasetError", err)
	}
	for _, name := range []string{"cifar-10", "mnist", "fashion-mnist", "gtsrb", "gtsrb-10", "svhn", "mnist-sample"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not list %q", err, name)
		}
	}
	if _, err := Fingerprint("cifar-10", "."); !errors.As(err, &ue) {
		t.Errorf("Fingerprint(cifar-10) error = %v, want *UnknownDatasetError", err)
	}
	if _, err := Dir("cifar-10"); !errors.As(err, &ue) {
		t.Errorf("Dir(cifar-10) error = %v, want *UnknownDatasetError", err)
	}
}

func TestDir(t *testing.T) {
	for name, want := range map[string]string{
		"mnist": "mnist", "fashion-mnist": "fashion-mnist", "gtsrb": "gtsrb/GTSRB",
		"gtsrb-10": "gtsrb/GTSRB", "svhn": "svhn", "mnist-sample": "mnist",
	} {
		if got, err := Dir(name); got != want || err != nil {
			t.Errorf("Dir(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		name, root string
		want       []string
	}{
		{"mnist", filepath.Join(root, "nope"), []string{"data directory", "nope", "does not exist"}},
		{"mnist", root, []string{"directory", filepath.Join(root, "mnist"), "not found"}},
		{"svhn", root, []string{filepath.Join(root, "svhn"), "not found"}},
		{"gtsrb", root, []string{filepath.Join(root, "gtsrb", "GTSRB", "Final_Training", "Images"), "not found"}},
	} {
		_, err := Load(tc.name, tc.root)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%s, %s) error = %v, want fs.ErrNotExist", tc.name, tc.root, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%s) error %q does not contain %q", tc.name, err, w)
			}
		}
	}
	_, err := Load("gtsrb", EmbeddedRoot)
	if err == nil || !strings.Contains(err.Error(), "not in the embedded sample") {
		t.Errorf("Load(gtsrb, embedded) error = %v, want 'not in the embedded sample'", err)
	}
}

func TestLoadIDXDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "fashion-mnist")
	writeIDXSplit(t, dir, "train", 4, 2, 3, []byte{0, 9, 3, 3})
	// The test split un-gzipped, under the names some mirrors use.
	writeFile(t, filepath.Join(dir, "t10k-images.idx3-ubyte"), idxBytes([]int{2, 2, 3}, make([]byte, 12)))
	writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"), idxBytes([]int{2}, []byte{5, 1}))

	ds, err := Load("fashion-mnist", root)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.N != 4 || ds.Test.N != 2 || ds.Train.H != 2 || ds.Train.W != 3 || ds.Train.C != 1 {
		t.Fatalf("Load = %d/%d %dx%dx%d, want 4/2 1x2x3", ds.Train.N, ds.Test.N, ds.Train.C, ds.Train.H, ds.Train.W)
	}
	if !slices.Equal(ds.Train.Labels, []int{0, 9, 3, 3}) || ds.Train.ClassNames[9] != "Ankle boot" {
		t.Errorf("labels %v names %v", ds.Train.Labels, ds.Train.ClassNames)
	}
	// Pixel i of the training images is byte(7i)/255.
	for i, v := range ds.Train.Images {
		if want := float32(byte(7*i)) / 255; v != want {
			t.Fatalf("pixel %d = %v, want %v", i, v, want)
		}
	}
	wantFiles := []string{"fashion-mnist/t10k-images.idx3-ubyte", "fashion-mnist/t10k-labels-idx1-ubyte",
		"fashion-mnist/train-images-idx3-ubyte.gz", "fashion-mnist/train-labels-idx1-ubyte.gz"}
	var got []string
	for _, f := range ds.Files {
		got = append(got, f.Path)
	}
	if !slices.Equal(got, wantFiles) {
		t.Errorf("Files = %v, want %v", got, wantFiles)
	}
	if fp, err := Fingerprint("fashion-mnist", root); err != nil || fp != ds.Fingerprint {
		t.Errorf("Fingerprint = %s, %v; want %s", fp, err, ds.Fingerprint)
	}

	// Mismatched counts: 3 labels for 4 images.
	writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), gz(idxBytes([]int{3}, []byte{1, 2, 3})))
	_, err = Load("fashion-mnist", root)
	wantFormatError(t, err, "train-labels-idx1-ubyte.gz", "has 3 labels but train-images-idx3-ubyte.gz has 4 images")
}

// The embedded sample loads from any working directory, needs no root, and is what
// sample/README.md says: 20 training and 10 test images per class.
func TestSample(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, root := range []string{"", "/does/not/matter"} {
		ds, err := Load("mnist-sample", root)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Train.N != 200 || ds.Test.N != 100 || ds.Train.H != 28 || ds.Name != "mnist-sample" {
			t.Fatalf("mnist-sample = %d/%d images of %d rows, want 200/100 of 28", ds.Train.N, ds.Test.N, ds.Train.H)
		}
		for k, c := range ds.Train.ClassCounts() {
			if c != 20 || ds.Test.ClassCounts()[k] != 10 {
				t.Errorf("class %d: %d train / %d test images, want 20/10", k, c, ds.Test.ClassCounts()[k])
			}
		}
	}
	ds, err := Load("mnist", EmbeddedRoot)
	if err != nil || ds.Train.N != 200 {
		t.Errorf("Load(mnist, embedded) = %v, want the 200-image sample", err)
	}
	fp, err := Fingerprint("mnist-sample", "")
	if err != nil || fp != ds.Fingerprint {
		t.Errorf("Fingerprint(mnist-sample) = %s, %v; want %s", fp, err, ds.Fingerprint)
	}
}

// The sample is the first images of each class of the real files, as sample/cut.go
// cuts them.
func TestSampleMatchesMNIST(t *testing.T) {
	root := sharedData(t)
	full, err := Load("mnist", root)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := Load("mnist-sample", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		full, sample *Set
		per          int
	}{{full.Train, sample.Train, 20}, {full.Test, sample.Test, 10}} {
		var idx []int
		count := make([]int, 10)
		for i, l := range p.full.Labels {
			if count[l] < p.per {
				count[l]++
				idx = append(idx, i)
			}
		}
		want := p.full.Subset(idx)
		if !slices.Equal(want.Images, p.sample.Images) || !slices.Equal(want.Labels, p.sample.Labels) {
			t.Errorf("%s sample differs from the first %d images per class of MNIST", p.sample.Name, p.per)
		}
	}
}

// Counts and file hashes as shared/data/README.md gives them; the fingerprint is the
// SHA-256 of the README's sha256sum lines.
func TestLoadMNISTReal(t *testing.T) {
	root := sharedData(t)
	for _, tc := range []struct {
		name       string
		trainCount []int
		testCount  []int
		sums       string
	}{
		{"mnist", []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949},
			[]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009},
			`1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be  mnist/t10k-images-idx3-ubyte.gz
b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b  mnist/t10k-labels-idx1-ubyte.gz
0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971  mnist/train-images-idx3-ubyte.gz
1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203  mnist/train-labels-idx1-ubyte.gz
`},
		{"fashion-mnist", slices.Repeat([]int{6000}, 10), slices.Repeat([]int{1000}, 10),
			`cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa  fashion-mnist/t10k-images-idx3-ubyte.gz
8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05  fashion-mnist/t10k-labels-idx1-ubyte.gz
b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7  fashion-mnist/train-images-idx3-ubyte.gz
0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056  fashion-mnist/train-labels-idx1-ubyte.gz
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(root, tc.name)); err != nil {
				t.Skipf("no %s in %s", tc.name, root)
			}
			ds, err := Load(tc.name, root)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Train.N != 60000 || ds.Test.N != 10000 || ds.Train.C != 1 || ds.Train.H != 28 || ds.Train.W != 28 {
				t.Errorf("%s = %d/%d images %dx%dx%d, want 60000/10000 1x28x28", tc.name, ds.Train.N, ds.Test.N, ds.Train.C, ds.Train.H, ds.Train.W)
			}
			if got := ds.Train.ClassCounts(); !slices.Equal(got, tc.trainCount) {
				t.Errorf("train counts = %v, want %v", got, tc.trainCount)
			}
			if got := ds.Test.ClassCounts(); !slices.Equal(got, tc.testCount) {
				t.Errorf("test counts = %v, want %v", got, tc.testCount)
			}
			sum := sha256.Sum256([]byte(tc.sums))
			if want := hex.EncodeToString(sum[:]); ds.Fingerprint != want {
				t.Errorf("Fingerprint = %s, want %s (sha256 of the README's sha256sum lines)", ds.Fingerprint, want)
			}
		})
	}
}
