package attack

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"syscall"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/zoo"
)

// The adaptive-gradient benchmarks time one gradient call (LogitsVJP, EOT 5, the
// paper's inference: 8000+1 starts, 50 Adam steps) of zoo:mnist-eabs on ONNX Runtime
// for a batch of 16 MNIST test images (data.SampleIndices(10000, 16, 1)), one
// single-threaded session per worker and GOMAXPROCS workers, each call at an image
// moved by one PGD-L2 step (2.5*1.5/80 in a random direction) from the previous call's.
// They need EABS_ORT_LIB and EABS_DATA_DIR and skip without them.
//
// Reported per call: wall seconds, process CPU seconds (getrusage: on a shared machine
// the wall time depends on the load, the CPU time much less), and the inference time
// split into the start search, the full inference's latent steps and the warm-started
// refinement (summed over workers). "s/image@paper" extrapolates the gradients of the
// paper's PGD budget, 80 steps x 5 restarts, each call EOT 5, to one image:
//
//	s/image = 80 * 5 * (wall seconds per call) / 16
//
// (verdicts add 5 restarts x one EOT-5 full inference per image, the cost of one
// full-inference call per restart: 5/16 of a Full call per image). cpu-s/image@paper
// is the same with CPU seconds; divided by the cores it is the idle-machine wall time.
//
//	go test ./attack -run '^$' -bench AdaptiveGradient -benchtime 3x
func BenchmarkAdaptiveGradientFull(b *testing.B) { benchAdaptive(b, nil) }

// BenchmarkAdaptiveGradientWarm warm-starts every call after the first (which runs the
// full search, outside the timer) with EABS_BENCH_WARM_STEPS (default 5) Adam steps and
// no periodic full search: the cost of a warm call. With a full search every F calls
// the average is (t_full + F t_warm) / (F + 1).
func BenchmarkAdaptiveGradientWarm(b *testing.B) {
	steps := 5
	if s := os.Getenv("EABS_BENCH_WARM_STEPS"); s != "" {
		if _, err := fmt.Sscan(s, &steps); err != nil {
			b.Fatalf("EABS_BENCH_WARM_STEPS=%q: %v", s, err)
		}
	}
	benchAdaptive(b, &WarmStart{Steps: steps})
}

func benchAdaptive(b *testing.B, warm *WarmStart) {
	const batch, eot = 16, 5
	lib, err := ort.LibraryPath("")
	if err != nil {
		b.Skip(err)
	}
	dir := os.Getenv("EABS_DATA_DIR")
	if dir == "" {
		b.Skip("EABS_DATA_DIR is not set")
	}
	if err := ort.Init(lib); err != nil {
		b.Fatal(err)
	}
	w, _, err := zoo.Load("zoo:mnist-eabs")
	if err != nil {
		b.Fatal(err)
	}
	tmp := b.TempDir()
	if _, err := onnx.Export(w, tmp, onnx.ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	m, err := ort.OpenModel(tmp, ort.Options{IntraOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	e, err := infer.NewEngine(m, infer.DefaultOptions(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ds, err := data.Load("mnist", dir)
	if err != nil {
		b.Skip(err)
	}
	set := ds.Test.Subset(data.SampleIndices(ds.Test.N, batch, 1))
	x := append([]float32(nil), set.Images...)
	P := set.ImageSize()
	workers := goruntime.GOMAXPROCS(0)
	a := &Adaptive{Engine: e, EOT: eot, Seed: 1, Workers: workers, Warm: warm}
	cot := func(l []float32) []float32 { return ceCotangent(l, set.Labels, 10) }
	r := rand.New(rand.NewPCG(1, 2))
	move := func() {
		const step = 2.5 * 1.5 / 80
		for i := 0; i < batch; i++ {
			d := make([]float64, P)
			var s float64
			for j := range d {
				d[j] = r.NormFloat64()
				s += d[j] * d[j]
			}
			for j := range d {
				v := &x[i*P+j]
				*v = float32(min(max(float64(*v)+step*d[j]/math.Sqrt(s), 0), 1))
			}
		}
	}
	if warm != nil {
		if _, _, err := a.LogitsVJP(x, batch, cot); err != nil {
			b.Fatal(err)
		}
	}
	before := a.Stats()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		move()
		if _, _, err := a.LogitsVJP(x, batch, cot); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuSeconds() - cpu0
	st := a.Stats()
	n := float64(b.N)
	wall := b.Elapsed().Seconds() / n
	b.ReportMetric(wall, "s/call")
	b.ReportMetric(cpu/n, "cpu-s/call")
	b.ReportMetric((st.Search-before.Search).Seconds()/n, "search-s/call")
	b.ReportMetric((st.Optimise-before.Optimise).Seconds()/n, "latent-s/call")
	b.ReportMetric((st.Refine-before.Refine).Seconds()/n, "refine-s/call")
	b.ReportMetric(float64(st.Forced-before.Forced)/n, "forced/call")
	b.ReportMetric(80*5*wall/batch, "s/image@paper")
	b.ReportMetric(80*5*cpu/n/batch, "cpu-s/image@paper")
}

// cpuSeconds is the process's user plus system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
