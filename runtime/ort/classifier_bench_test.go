package ort

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	goruntime "runtime"
	"sync/atomic"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/zoo"
)

// The attack oracle's throughput (queries/s: images scored per second, counted by the
// oracle) on the zoo's MNIST models, at the call sizes the gradient-free attacks make:
// Square and Boundary ask one image per sample per call (a call = the batch of
// samples), NES asks Samples (100) per sample, HopSkipJump up to 100 per sample.
// results/bench/gradient-free-oracle.md records a run and the command.

// benchImages returns n MNIST test images from the sample compiled into the binary,
// repeated as needed (inference cost does not depend on the pixels).
func benchImages(b *testing.B, n int) []float32 {
	ds, err := data.Load("mnist-sample", data.EmbeddedRoot)
	if err != nil {
		b.Fatal(err)
	}
	p := ds.Test.ImageSize()
	x := make([]float32, 0, n*p)
	for i := 0; i < n; i++ {
		j := i % ds.Test.N
		x = append(x, ds.Test.Images[j*p:(j+1)*p]...)
	}
	return x
}

func benchOracle(b *testing.B, m attack.Classifier, n, p int, x []float32) {
	o := attack.NewOracle(m, 1, p, 0)
	owners := make([]int, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := o.Query(context.Background(), owners, x[:n*p]); err != nil {
			b.Fatal(err)
		}
	}
	if q := o.Queries()[0]; q != n*b.N {
		b.Fatalf("oracle counted %d queries, want %d", q, n*b.N)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "queries/s")
}

// BenchmarkOracleCNN: the zoo's MNIST CNN through the ORT classifier, one session with
// a thread per core ("threads=N") or single-threaded calls on every core ("workers=N").
func BenchmarkOracleCNN(b *testing.B) {
	initORT(b)
	w, _, err := zoo.Load("mnist-cnn")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	cores := goruntime.NumCPU()
	sizes := []int{1, 16, 100, 500, 5000}
	x := benchImages(b, sizes[len(sizes)-1])
	for _, cfg := range []struct {
		name string
		opts ClassifierOptions
	}{
		{fmt.Sprintf("threads=%d", cores), ClassifierOptions{}},
		{fmt.Sprintf("workers=%d", cores), ClassifierOptions{Options: Options{IntraOpThreads: 1}, Workers: cores, MaxBatch: 256}},
	} {
		c, err := OpenClassifier(filepath.Join(dir, onnx.RoleCNN+".onnx"), cfg.opts)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/batch=%d", cfg.name, n), func(b *testing.B) { benchOracle(b, c, n, c.Pixels(), x) })
		}
		c.Close()
	}
}

// eabsScores is the E-ABS classifier the attacks see: scores -l_k from the paper's
// full inference (infer.Engine.Classify), fresh noise per call.
type eabsScores struct {
	e     *infer.Engine
	seed  uint64
	calls atomic.Int64
}

func (s *eabsScores) Classes() int { return s.e.Model().Spec().Arch.Classes }

func (s *eabsScores) Logits(x []float32, batch int) ([]float32, error) {
	call := int(s.calls.Add(1))
	rs := make([]*rand.Rand, batch)
	for i := range rs {
		rs[i] = infer.NoiseFor(s.seed, call, i)
	}
	out, err := s.e.Classify(x, batch, rs)
	if err != nil {
		return nil, err
	}
	z := make([]float32, len(out.Loss))
	for i, v := range out.Loss {
		z[i] = -v
	}
	return z, nil
}

// BenchmarkOracleEABS: the zoo's MNIST E-ABS, full inference (8000+1 starts, 50 Adam
// steps) on ORT as `eabs classify --runtime ort` runs it: single-threaded sessions,
// one batch of at most 16 per core at once.
func BenchmarkOracleEABS(b *testing.B) {
	initORT(b)
	w, _, err := zoo.Load("mnist-eabs")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	m, err := OpenModel(dir, Options{IntraOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	e, err := infer.NewEngine(m, infer.DefaultOptions(), nil)
	if err != nil {
		b.Fatal(err)
	}
	cores := goruntime.NumCPU()
	c := attack.WithParallelism(&eabsScores{e: e, seed: 1}, cores, 16)
	p := w.Spec.Arch.Pixels()
	x := benchImages(b, 32)
	for _, n := range []int{1, 16, 32} {
		b.Run(fmt.Sprintf("workers=%d/batch=%d", cores, n), func(b *testing.B) { benchOracle(b, c, n, p, x) })
	}
}
