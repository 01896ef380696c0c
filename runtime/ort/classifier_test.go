package ort

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime/runtimetest"
	"github.com/eabs/eabs/zoo"
)

var (
	_ attack.Classifier = (*Classifier)(nil)
	_ attack.Parallel   = (*Classifier)(nil)
)

// tinyCNN exports the seeded tiny CNN and returns its cnn.onnx, the float64 oracle and
// the architecture.
func tinyCNN(t *testing.T) (string, *naive.Model, models.Arch) {
	t.Helper()
	w := runtimetest.Weights(t, "cnn", 4)
	dir := t.TempDir()
	if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, onnx.RoleCNN+".onnx"), naive.New(w), w.Spec.Arch
}

func TestClassifierAgainstOracle(t *testing.T) {
	initORT(t)
	path, o, a := tinyCNN(t)
	for _, opts := range []ClassifierOptions{
		{Options: Options{IntraOpThreads: 1}},
		{Options: Options{IntraOpThreads: 1}, Workers: 2, MaxBatch: 2}, // 5 images: chunks 2, 2, 1
	} {
		c, err := OpenClassifier(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		ch, h, w := c.Shape()
		if c.Classes() != a.Classes || ch != a.InC || h != a.InH || w != a.InW {
			t.Errorf("classifier reads %d classes, %dx%dx%d; the model has %d, %dx%dx%d", c.Classes(), ch, h, w,
				a.Classes, a.InC, a.InH, a.InW)
		}
		if wk, mb := c.Parallelism(); wk != max(opts.Workers, 1) || mb != max(opts.MaxBatch, 1024*btoi(opts.MaxBatch == 0)) {
			t.Errorf("Parallelism() = %d, %d for options %+v", wk, mb, opts)
		}
		const batch = 5
		r := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, batch*c.Pixels())
		for i := range x {
			x[i] = r.Float32()
		}
		got, err := c.Logits(x, batch)
		if err != nil {
			t.Fatal(err)
		}
		k := c.Classes()
		for b := 0; b < batch; b++ {
			want := o.Logits(naive.ImageFrom32(ch, h, w, x[b*c.Pixels():(b+1)*c.Pixels()]))
			for j, v := range want {
				// float32 inference against the float64 oracle.
				if g := float64(got[b*k+j]); math.Abs(g-v) > 1e-4*math.Max(1, math.Abs(v)) {
					t.Errorf("image %d class %d: ORT %v, oracle %v", b, j, g, v)
				}
			}
		}
		if _, err := c.Logits(x[:len(x)-1], batch); err == nil || !strings.Contains(err.Error(), "values for 5 images") {
			t.Errorf("short input: err = %v", err)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestOpenClassifierRefusesOtherModels(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	if _, err := onnx.Export(runtimetest.Weights(t, "eabs", 1), dir, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join("testdata", "add_mul.onnx"), "2 inputs (x float32 [?,?], y float32 [?,?]) and 2 outputs"},
		{filepath.Join("testdata", "conv.onnx"), "1 inputs (x float32 [?,1,4,4]) and 2 outputs (features"},
		{filepath.Join(dir, "encoder.onnx"), "2 outputs (mu"},
		{filepath.Join(dir, "decoders.onnx"), "its input is z float32 [?,"},
		{filepath.Join(dir, "no-such.onnx"), "no such file"},
	} {
		m, err := OpenClassifier(c.path, ClassifierOptions{Options: Options{IntraOpThreads: 1}})
		if err == nil {
			m.Close()
			t.Errorf("OpenClassifier(%s) succeeded", c.path)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(c.path)) {
			t.Errorf("OpenClassifier(%s): error %q does not name the file and %q", c.path, err, c.want)
		}
	}
}

// TestSquareOnORT runs a gradient-free attack through ONNX Runtime end to end on the
// zoo's MNIST CNN and MNIST test images: the queries the attack reports are the images
// ORT was asked about, and its beliefs match ORT's answers on its adversarials.
func TestSquareOnORT(t *testing.T) {
	initORT(t)
	w, _, err := zoo.Load("mnist-cnn")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := OpenClassifier(filepath.Join(dir, onnx.RoleCNN+".onnx"), ClassifierOptions{Options: Options{IntraOpThreads: 1}, Workers: 2, MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ds, err := data.Load("mnist-sample", data.EmbeddedRoot)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 4
	x := ds.Test.Images[:batch*c.Pixels()]
	y := ds.Test.Labels[:batch]
	cnt := &countingClassifier{Classifier: c}
	f, err := attack.Square{Lp: attack.Linf, Eps: 0.3, Queries: 200, Shape: [3]int{c.c, c.h, c.w}}.Run(
		context.Background(), cnt, x, y, batch, rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, q := range f.Queries {
		total += q
		if q > 200 {
			t.Errorf("queries %v exceed the budget 200", f.Queries)
		}
	}
	if total != cnt.n {
		t.Errorf("attack reports %d queries, ORT was asked about %d images", total, cnt.n)
	}
	zAdv, err := c.Logits(f.Adv, batch)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < batch; b++ {
		pred := 0
		for j := 1; j < c.Classes(); j++ {
			if zAdv[b*c.Classes()+j] > zAdv[b*c.Classes()+pred] {
				pred = j
			}
		}
		if f.Ok[b] != (pred != y[b]) {
			t.Errorf("sample %d: attack believes %v, ORT predicts %d for label %d", b, f.Ok[b], pred, y[b])
		}
	}
	t.Logf("queries %v, ok %v", f.Queries, f.Ok)
}

// countingClassifier counts the images asked, keeping the classifier's Parallelism.
type countingClassifier struct {
	*Classifier
	mu sync.Mutex
	n  int
}

func (c *countingClassifier) Logits(x []float32, batch int) ([]float32, error) {
	c.mu.Lock()
	c.n += batch
	c.mu.Unlock()
	return c.Classifier.Logits(x, batch)
}

func TestClassifierBatchInvariance(t *testing.T) {
	initORT(t)
	path, _, a := tinyCNN(t)
	for _, opts := range []ClassifierOptions{
		{Options: Options{IntraOpThreads: 1}},
		{Options: Options{IntraOpThreads: 2}, Workers: 2, MaxBatch: 2},
	} {
		c, err := OpenClassifier(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		runtimetest.CheckClassifierBatchInvariance(t, c, a.Pixels(), rand.New(rand.NewPCG(4, 4)))
		c.Close()
	}
}
