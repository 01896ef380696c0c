// Package onnxfixtures reads the third-party ONNX classifiers of ../shared/onnx-models
// (exported by PyTorch's torch.onnx.export, not by eabs) with their reference answers,
// for the tests of every package that runs plain ONNX classifiers: one reader, so
// each test compares with PyTorch's numbers in the same layout.
//
// The folder is $EABS_ONNX_MODELS, else onnx-models in the shared folder beside the
// checkout; the MNIST and Fashion-MNIST test images the references name come from
// $EABS_DATA_DIR, else data beside it. Tests skip when the folder is absent (a clone
// without the shared fixtures).
package onnxfixtures

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fixture is one classifier and PyTorch's answers on its 16 reference inputs.
type Fixture struct {
	Name, Path string
	// Layout is the model input's axis order, NCHW or NHWC; Output "logits" or
	// "probabilities"; Dataset "mnist", "fashion-mnist" or "none".
	Layout, Output, Dataset string
	// Batch is the model's fixed batch size, 0 when symbolic.
	Batch   int
	C, H, W int
	// Labels, Inputs (NCHW pixels in [0,1], float32 values), PyTorch's float64 outputs,
	// and its float64 gradients of the cross-entropy (-log p[label] for probabilities)
	// with respect to the input, transposed to NCHW.
	Labels  []int
	Inputs  [][]float32
	Outputs [][]float64
	GradCE  [][]float64
	// TestAccuracy is PyTorch's accuracy on the whole test set, 0 for models without
	// data.
	TestAccuracy float64
}

// Pixels is C*H*W.
func (f *Fixture) Pixels() int { return f.C * f.H * f.W }

type reference struct {
	InputShape   []any       `json:"input_shape"`
	Layout       string      `json:"layout"`
	Output       string      `json:"output"`
	Dataset      string      `json:"dataset"`
	TestIndices  []int       `json:"test_indices"`
	Labels       []int       `json:"labels"`
	Inputs       [][]float64 `json:"inputs"`
	Outputs      [][]float64 `json:"outputs"`
	GradCE       [][]float64 `json:"grad_ce"`
	TestAccuracy *float64    `json:"test_accuracy"`
}

// shared returns the folder name beside the checkout (found by walking up from the
// working directory to go.mod), or $env when set.
func shared(env, name string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join("..", "shared", name)
		}
		dir = parent
	}
}

// Dir returns the fixtures folder, skipping the test when it is absent.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir := shared("EABS_ONNX_MODELS", "onnx-models")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		tb.Skipf("no folder %s (set EABS_ONNX_MODELS): skipping the test on the shared ONNX fixtures", dir)
	}
	return dir
}

// DataDir returns the shared data folder (the one eabs commands read by default).
func DataDir() string { return shared("EABS_DATA_DIR", "data") }

// Load reads every fixture, sorted by name; the test fails when there are fewer than
// the five its README lists or one cannot be read.
func Load(tb testing.TB) []*Fixture {
	tb.Helper()
	dir := Dir(tb)
	paths, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if len(paths) < 5 {
		tb.Fatalf("found %d models in %s, want the 5 of its README", len(paths), dir)
	}
	var out []*Fixture
	for _, p := range paths {
		f, err := read(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// Get returns the named fixture.
func Get(tb testing.TB, name string) *Fixture {
	tb.Helper()
	f, err := read(filepath.Join(Dir(tb), name+".onnx"))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func read(path string) (*Fixture, error) {
	b, err := os.ReadFile(strings.TrimSuffix(path, ".onnx") + ".reference.json")
	if err != nil {
		return nil, err
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &Fixture{Name: strings.TrimSuffix(filepath.Base(path), ".onnx"), Path: path, Layout: r.Layout, Output: r.Output,
		Dataset: r.Dataset, Labels: r.Labels, Outputs: r.Outputs}
	if r.TestAccuracy != nil {
		f.TestAccuracy = *r.TestAccuracy
	}
	if len(r.InputShape) != 4 {
		return nil, fmt.Errorf("%s: input shape %v", path, r.InputShape)
	}
	d := make([]int, 4)
	for i, v := range r.InputShape {
		if n, ok := v.(float64); ok {
			d[i] = int(n)
		}
	}
	f.Batch = d[0]
	if r.Layout == "NHWC" {
		f.H, f.W, f.C = d[1], d[2], d[3]
	} else {
		f.C, f.H, f.W = d[1], d[2], d[3]
	}
	inputs := r.Inputs
	if inputs == nil {
		if inputs, err = testImages(f.Dataset, r.TestIndices, f.Pixels()); err != nil {
			return nil, err
		}
	}
	for _, in := range inputs {
		x := f.toNCHW(in)
		x32 := make([]float32, len(x))
		for i, v := range x {
			x32[i] = float32(v)
		}
		f.Inputs = append(f.Inputs, x32)
	}
	for _, g := range r.GradCE {
		f.GradCE = append(f.GradCE, f.toNCHW(g))
	}
	return f, nil
}

// toNCHW reorders values given in the model's layout.
func (f *Fixture) toNCHW(v []float64) []float64 {
	if f.Layout != "NHWC" {
		return v
	}
	out := make([]float64, len(v))
	for c := range f.C {
		for y := range f.H {
			for x := range f.W {
				out[(c*f.H+y)*f.W+x] = v[(y*f.W+x)*f.C+c]
			}
		}
	}
	return out
}

// testImages reads the images at indices of a dataset's IDX test file, as pixel/255.
func testImages(dataset string, indices []int, pixels int) ([][]float64, error) {
	path := filepath.Join(DataDir(), dataset, "t10k-images-idx3-ubyte.gz")
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	z, err := gzip.NewReader(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) < 16 || binary.BigEndian.Uint32(b) != 0x803 {
		return nil, fmt.Errorf("%s: not an IDX image file", path)
	}
	n, h, w := int(binary.BigEndian.Uint32(b[4:])), int(binary.BigEndian.Uint32(b[8:])), int(binary.BigEndian.Uint32(b[12:]))
	if h*w != pixels || len(b) != 16+n*h*w {
		return nil, fmt.Errorf("%s: %d images of %dx%d, want %d pixels each", path, n, h, w, pixels)
	}
	out := make([][]float64, len(indices))
	for i, k := range indices {
		if k < 0 || k >= n {
			return nil, fmt.Errorf("%s: index %d of %d", path, k, n)
		}
		out[i] = make([]float64, pixels)
		for j, v := range b[16+k*pixels : 16+(k+1)*pixels] {
			out[i][j] = float64(float32(v) / 255)
		}
	}
	return out, nil
}
