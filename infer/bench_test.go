package infer

import (
	"fmt"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/benchmetric"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/runtime/ref"
)

// The full-inference benchmarks run the paper's settings (K = 10, 8000 + 1 starts,
// 50 Adam steps) on the MNIST E-ABS architecture with seeded random weights: speed
// does not depend on the weights' values. They report images/s, the FLOP per image
// (ClassifyWork) and the rate (with benchmetric.EnvPeak, its fraction of the SGEMM
// peak), and the split of time between choosing starts (bank search + encoder) and
// optimising. Compare with ../shared/bench/torch_ref.py infer in the same run
// (scripts/bench.sh does both). EABS_BENCH_STEPS and EABS_BENCH_STARTS change the Adam
// steps and bank starts (scripts/bench.sh --quick); the FLOP count follows them.

func mnistWeights(b *testing.B) *models.Weights {
	s, _ := models.NewSpec("mnist", "eabs")
	w, err := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// openORT exports w and opens it on ONNX Runtime (threads per session, 0: all cores);
// without the library it skips (testenv.SkipOrFail).
func openORT(b testing.TB, w *models.Weights, threads int) runtime.Model {
	lib, err := ort.LibraryPath("")
	if err != nil {
		testenv.SkipOrFail(b, "ONNX Runtime: %v", err)
	}
	if err := ort.Init(lib); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	m, err := ort.OpenModel(dir, ort.Options{IntraOpThreads: threads})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// benchEngine is the paper's inference on m, with EABS_BENCH_STEPS Adam steps and
// EABS_BENCH_STARTS bank starts when set.
func benchEngine(b *testing.B, m runtime.Model) *Engine {
	opt := DefaultOptions()
	for _, v := range []struct {
		env string
		to  *int
	}{{"EABS_BENCH_STEPS", &opt.Steps}, {"EABS_BENCH_STARTS", &opt.Starts}} {
		if s := os.Getenv(v.env); s != "" {
			if _, err := fmt.Sscan(s, v.to); err != nil || *v.to < 0 {
				b.Fatalf("%s=%q: want a count", v.env, s)
			}
		}
	}
	e, err := NewEngine(m, opt, nil)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchInference(b *testing.B, m runtime.Model, batch int) {
	defer m.Close()
	e := benchEngine(b, m)
	r := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, batch*784)
	for i := range x {
		x[i] = float32(r.Float64())
	}
	var search, optimise float64
	b.ResetTimer()
	cpu0 := benchmetric.CPUTime()
	for i := 0; i < b.N; i++ {
		out, err := e.Classify(x, batch, rngs(batch, uint64(i)))
		if err != nil {
			b.Fatal(err)
		}
		search += out.Search.Seconds()
		optimise += out.Optimise.Seconds()
	}
	reportInference(b, e, batch, batch*b.N, benchmetric.CPUTime()-cpu0)
	b.ReportMetric(search/float64(b.N), "search-s/op")
	b.ReportMetric(optimise/float64(b.N), "optimise-s/op")
}

// reportInference reports the rates of images classified in batches of batch, in the
// benchmark's time and cpu CPU time.
func reportInference(b *testing.B, e *Engine, batch, images int, cpu time.Duration) {
	c := ClassifyWork(e.Options()).Cost(e.Model().Spec(), batch)
	benchmetric.Report(b, images, cpu, float64(c.FLOP())/float64(batch))
}

// One batch on one session whose thread pool uses every core: the latency view.
func BenchmarkInferORT1(b *testing.B)  { w := mnistWeights(b); benchInference(b, openORT(b, w, 0), 1) }
func BenchmarkInferORT16(b *testing.B) { w := mnistWeights(b); benchInference(b, openORT(b, w, 0), 16) }
func BenchmarkInferORT128(b *testing.B) {
	w := mnistWeights(b)
	benchInference(b, openORT(b, w, 0), 128)
}

// BenchmarkInferORTWorkers16 is the throughput view and eabs classify's default: one
// single-threaded computation per core, each on its own batch of 16.
func BenchmarkInferORTWorkers16(b *testing.B) {
	w := mnistWeights(b)
	m := openORT(b, w, 1)
	defer m.Close()
	e := benchEngine(b, m)
	workers := goruntime.GOMAXPROCS(0)
	n := 16 * workers
	set := &data.Set{N: n, C: 1, H: 28, W: 28, Classes: 10, Images: make([]float32, n*784), Labels: make([]int, n)}
	r := rand.New(rand.NewPCG(3, 3))
	for i := range set.Images {
		set.Images[i] = float32(r.Float64())
	}
	var tm Timing
	b.ResetTimer()
	cpu0 := benchmetric.CPUTime()
	for i := 0; i < b.N; i++ {
		_, t, err := e.ClassifySet(set, 16, workers, uint64(i), 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		tm.Search += t.Search
		tm.Optimise += t.Optimise
	}
	reportInference(b, e, 16, n*b.N, benchmetric.CPUTime()-cpu0)
	b.ReportMetric(tm.Search.Seconds()/float64(b.N*workers), "search-s/op")
	b.ReportMetric(tm.Optimise.Seconds()/float64(b.N*workers), "optimise-s/op")
}

func openRef(b *testing.B, w *models.Weights) runtime.Model {
	m, err := ref.New(w)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkInferRef1(b *testing.B)   { w := mnistWeights(b); benchInference(b, openRef(b, w), 1) }
func BenchmarkInferRef16(b *testing.B)  { w := mnistWeights(b); benchInference(b, openRef(b, w), 16) }
func BenchmarkInferRef128(b *testing.B) { w := mnistWeights(b); benchInference(b, openRef(b, w), 128) }

// BenchmarkBankSearch16 is the start search alone at the paper's bank size for a batch
// of 16 MNIST images (one product per image and class).
func BenchmarkBankSearch16(b *testing.B) {
	const S, K, P, batch = 8000, 10, 784, 16
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32()
		}
		return v
	}
	bk := &Bank{S: S, K: K, M: 10, P: P, Prior: fill(S)}
	for range K {
		bk.Rec, bk.Norm2 = append(bk.Rec, fill(S*P)), append(bk.Norm2, fill(S))
	}
	x := fill(batch * P)
	b.ResetTimer()
	for range b.N {
		bk.Search(x, batch)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
}
