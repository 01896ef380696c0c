package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/eval"
)

// ownDigits writes test images of the embedded MNIST sample as an image folder of
// PNGs (one folder per digit, named after it) and as a .npz (uint8, (N, 28, 28, 1),
// int64 labels, class names), and returns the folder, the .npz and the indices of the
// images in the sample's test split, in the folder's order.
func ownDigits(t *testing.T, perClass int) (folder, npz string, idx []int) {
	t.Helper()
	ds, err := data.Load("mnist-sample", data.EmbeddedRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	folder, npz = filepath.Join(dir, "digits"), filepath.Join(dir, "digits.npz")
	s := ds.Test
	count := make([]int, 10)
	var pix []byte
	var labels []int64
	// The folder lists class 0's images first, each class in file name order: take
	// them in that order.
	for k := range 10 {
		for i := range s.N {
			if s.Labels[i] != k || count[k] == perClass {
				continue
			}
			count[k]++
			img := image.NewGray(image.Rect(0, 0, 28, 28))
			for p, v := range s.Image(i) {
				img.Pix[p] = byte(math.Round(float64(v) * 255))
			}
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				t.Fatal(err)
			}
			writeTestFile(t, filepath.Join(folder, fmt.Sprint(k), fmt.Sprintf("img%03d.png", i)), b.Bytes())
			idx = append(idx, i)
			pix = append(pix, img.Pix...)
			labels = append(labels, int64(k))
		}
	}
	lb := new(bytes.Buffer)
	binary.Write(lb, binary.LittleEndian, labels)
	names := new(bytes.Buffer)
	for _, n := range []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"} {
		binary.Write(names, binary.LittleEndian, append([]rune(n), make([]rune, 5-len(n))...)) // <U5: UTF-32, NUL-padded
	}
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	for _, m := range []struct {
		name, header string
		body         []byte
	}{
		{"x", fmt.Sprintf("{'descr': '|u1', 'fortran_order': False, 'shape': (%d, 28, 28, 1), }", len(idx)), pix},
		{"y", fmt.Sprintf("{'descr': '<i8', 'fortran_order': False, 'shape': (%d,), }", len(idx)), lb.Bytes()},
		{"class_names", "{'descr': '<U5', 'fortran_order': False, 'shape': (10,), }", names.Bytes()},
	} {
		w, err := zw.Create(m.name + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		h := m.header + strings.Repeat(" ", 63-(10+len(m.header))%64) + "\n"
		w.Write(append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8)))
		w.Write([]byte(h))
		w.Write(m.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, npz, z.Bytes())
	return folder, npz, idx
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOwnDataEndToEnd: eabs data inspect, classify and attack on an image folder and a
// .npz written from the embedded MNIST sample. The zoo CNN must give the folder's and
// the .npz's images exactly the logits it gives the same images of mnist-sample (PNG
// and uint8 arrays are lossless), with the folder's labels and class names in the
// results; attack needs its budget as a flag.
func TestOwnDataEndToEnd(t *testing.T) {
	folder, npz, idx := ownDigits(t, 2)
	dir := t.TempDir()
	digits := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

	stats, grid := filepath.Join(dir, "stats.json"), filepath.Join(dir, "grid.png")
	out, err := run(t, "data", "inspect", "folder:"+folder, "--grid", grid, "--out", stats)
	if err != nil {
		t.Fatalf("data inspect: %v\n%s", err, out)
	}
	var st data.Stats
	if b, err := os.ReadFile(stats); err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("stats: %v", err)
	}
	if st.Classes != 10 || !slices.Equal(st.ClassNames, digits) || st.Splits[1].N != 20 || st.Splits[0].N != 0 ||
		!slices.Equal(st.Splits[1].ClassCounts, slices.Repeat([]int{2}, 10)) || st.Files != 20 {
		t.Errorf("inspect = %+v; want 10 classes 0-9, 20 test images (2 per class), no training images, 20 files", st)
	}
	if !strings.Contains(out, "test split") {
		t.Errorf("the grid of own data without a training split shows the test split; output:\n%s", out)
	}
	if _, err := os.Stat(grid); err != nil {
		t.Errorf("no grid: %v", err)
	}

	ref := filepath.Join(dir, "ref.json")
	if out, err := run(t, "classify", "zoo:mnist-cnn", "--dataset", "mnist-sample", "--all", "--out", ref); err != nil {
		t.Fatalf("classify mnist-sample: %v\n%s", err, out)
	}
	refRes, err := eval.ReadClassify(ref)
	if err != nil {
		t.Fatal(err)
	}
	// want[i] is the record of mnist-sample's test image i (--all lists the images in
	// the seeded sample order).
	want := map[int]eval.ClassifyRecord{}
	for _, r := range refRes.Records {
		want[r.Index] = r
	}
	for _, c := range []struct {
		dataset string
		names   []string
		files   bool
	}{
		{"folder:" + folder, digits, true},
		{"npz:" + npz, []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}, false},
	} {
		res := filepath.Join(dir, "own.json")
		if out, err := run(t, "classify", "zoo:mnist-cnn", "--dataset", c.dataset, "--all", "--out", res); err != nil {
			t.Fatalf("classify %s: %v\n%s", c.dataset, err, out)
		}
		got, err := eval.ReadClassify(res)
		if err != nil {
			t.Fatal(err)
		}
		if got.Header.Dataset != c.dataset || !slices.Equal(got.ClassNames, c.names) || len(got.Records) != len(idx) || got.Accuracy == nil {
			t.Fatalf("classify %s: dataset %q, names %v, %d records; want %d with the names", c.dataset, got.Header.Dataset, got.ClassNames, len(got.Records), len(idx))
		}
		for _, r := range got.Records {
			w := want[idx[r.Index]]
			if r.Label != w.Label || r.Pred != w.Pred || !slices.Equal(r.Logits, w.Logits) {
				t.Errorf("classify %s image %d: label %d pred %d logits %v; mnist-sample image %d: %d %d %v",
					c.dataset, r.Index, r.Label, r.Pred, r.Logits, idx[r.Index], w.Label, w.Pred, w.Logits)
			}
			if wantFile := fmt.Sprintf("%d/img%03d.png", r.Label, idx[r.Index]); c.files && r.File != wantFile {
				t.Errorf("record %d names file %q, want %q", r.Index, r.File, wantFile)
			}
		}
	}

	att := filepath.Join(dir, "attack.json")
	args := []string{"attack", "zoo:mnist-cnn", "--dataset", "folder:" + folder, "--n", "4", "--attacks", "pgd-l2,pgd-linf",
		"--pgd-steps", "3", "--pgd-restarts", "1", "--sweep-n", "0", "--keep", "0", "--out", att}
	// Refused when the flags are read: before the run starts (and shows its progress).
	if out, err := run(t, append(args, "--eps-l2", "1.5")...); err == nil || !strings.Contains(err.Error(), "pass --eps-linf") || strings.Contains(out, "attack 0/1") {
		t.Errorf("attack without --eps-linf: %v, output %q; want an error naming --eps-linf before the run starts", err, out)
	}
	if out, err := run(t, append(args, "--eps-l2", "1.5", "--eps-linf", "0.1")...); err != nil {
		t.Fatalf("attack: %v\n%s", err, out)
	}
	r, err := eval.ReadFile(att)
	if err != nil {
		t.Fatal(err)
	}
	if r.Header.Dataset != "folder:"+folder || !slices.Equal(r.ClassNames, digits) || len(r.Records) != 4 ||
		r.Settings.Attacks[0].Eps != 1.5 || r.Settings.Attacks[1].Eps != 0.1 {
		t.Fatalf("attack: dataset %q, names %v, %d records, budgets %g %g", r.Header.Dataset, r.ClassNames, len(r.Records), r.Settings.Attacks[0].Eps, r.Settings.Attacks[1].Eps)
	}
	for _, rec := range r.Records {
		w := want[idx[rec.Index]]
		if rec.Label != w.Label || rec.CleanPred != w.Pred {
			t.Errorf("attack record of image %d: label %d, clean prediction %d; classify says %d, %d", rec.Index, rec.Label, rec.CleanPred, w.Label, w.Pred)
		}
	}
}

// TestOwnDataCIFAR10: CIFAR-10 batches written in the test run through classify on a
// 3x32x32 zoo CNN with 10 classes, the names of batches.meta.txt in the result.
func TestOwnDataCIFAR10(t *testing.T) {
	dir := t.TempDir()
	var batch []byte
	for i, l := range []byte{3, 8, 1} {
		batch = append(batch, l)
		for p := range 3072 {
			batch = append(batch, byte((p*7+i*31)%256))
		}
	}
	writeTestFile(t, filepath.Join(dir, "test_batch.bin"), batch)
	names := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	writeTestFile(t, filepath.Join(dir, "batches.meta.txt"), []byte(strings.Join(names, "\n")+"\n\n"))
	res := filepath.Join(t.TempDir(), "c.json")
	if out, err := run(t, "classify", "zoo:gtsrb-10-cnn", "--dataset", "cifar10:"+dir, "--all", "--out", res); err != nil {
		t.Fatalf("classify: %v\n%s", err, out)
	}
	got, err := eval.ReadClassify(res)
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int, 3)
	for _, r := range got.Records {
		labels[r.Index] = r.Label
	}
	if !slices.Equal(labels, []int{3, 8, 1}) || !slices.Equal(got.ClassNames, names) {
		t.Errorf("classify cifar10: labels %v, names %v; want [3 8 1] and the meta file's", labels, got.ClassNames)
	}
}

// TestOwnDataErrors: bad own data fails before any work, naming the file or the flag.
func TestOwnDataErrors(t *testing.T) {
	folder, _, _ := ownDigits(t, 1)
	mixed := t.TempDir()
	os.CopyFS(mixed, os.DirFS(folder))
	odd := image.NewGray(image.Rect(0, 0, 27, 28))
	var b bytes.Buffer
	png.Encode(&b, odd)
	writeTestFile(t, filepath.Join(mixed, "7", "odd.png"), b.Bytes())
	rgb := t.TempDir()
	writeTestFile(t, filepath.Join(rgb, "a", "1.png"), func() []byte {
		var b bytes.Buffer
		png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 28, 28)))
		return b.Bytes()
	}())
	// Nine class folders under a ten-class model: every command refuses them (their
	// labels 0-8 would name other digits), certify --smoothing included.
	nine := t.TempDir()
	os.CopyFS(nine, os.DirFS(folder))
	os.RemoveAll(filepath.Join(nine, "9"))
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "folder:" + mixed}, "odd.png: is 27x28 pixels, but 0/img"},
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "folder:" + nine}, "expects 1x28x28 images and 10 classes"},
		{[]string{"certify", "--smoothing", "0.25", "--n0", "10", "--samples", "20", "--n", "3", "zoo:mnist-cnn", "--dataset", "folder:" + nine}, "has 10 classes, data folder:"},
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "folder:" + rgb}, "expects 1x28x28 images and 10 classes"},
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "folder:" + folder, "--data-dir", folder}, "--data-dir does not apply to own data"},
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "npz:" + filepath.Join(folder, "none.npz")}, "none.npz: file not found"},
		{[]string{"classify", "zoo:mnist-cnn", "--dataset", "npz:x.npz#layout=hwc"}, "layout=hwc: want nchw or nhwc"},
		{[]string{"data", "inspect", "folder:" + folder + "#colour=1"}, "folder takes no option \"colour\""},
		{[]string{"data", "inspect", "folder:" + mixed, "--grid", filepath.Join(t.TempDir(), "g.png")}, "odd.png"},
		{[]string{"train", "--dataset", "folder:" + folder, "--model", "cnn"}, "has no model architecture"},
	}
	for _, c := range cases {
		out, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eabs %s: err = %v (output %q), want one containing %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}
