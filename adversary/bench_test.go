package adversary

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
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
//	go test ./adversary -run '^$' -bench AdaptiveGradient -benchtime 3x
func BenchmarkAdaptiveGradientFull(b *testing.B) {
	e, set := benchSetup(b)
	c := newBenchCase(b, e, set, nil)
	b.ResetTimer()
	c.run(b)
}

// BenchmarkAdaptiveGradientWarm warm-starts every call after the first (which runs the
// full search, outside the timer) with 0, 1 and 5 Adam steps (or the comma-separated
// EABS_BENCH_WARM_STEPS) and no periodic full search: the cost of a warm call. With a
// full search every F calls the average is (t_full + F t_warm) / (F + 1).
func BenchmarkAdaptiveGradientWarm(b *testing.B) {
	steps := []int{0, 1, 5}
	if s := os.Getenv("EABS_BENCH_WARM_STEPS"); s != "" {
		steps = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				b.Fatalf("EABS_BENCH_WARM_STEPS=%q: want step counts separated by commas", s)
			}
			steps = append(steps, n)
		}
	}
	e, set := benchSetup(b)
	for _, n := range steps {
		// The first, full, call runs once here, not in every round of b.N.
		c := newBenchCase(b, e, set, &WarmStart{Steps: n})
		b.Run(fmt.Sprintf("steps=%d", n), c.run)
	}
}

// BenchmarkRefineBatch times one warm-started refinement (infer.Engine.Refine from the
// full inference's optimum, 0 and 5 Adam steps) of B image-runs in one ONNX Runtime
// call, B = 1, 5 (one sample's EOT runs) and 8, on one single-threaded session, in
// process CPU milliseconds per image-run: whether batching a sample's EOT runs into one
// call would make the attacker's inference cheaper per image-run.
//
//	go test ./adversary -run '^$' -bench RefineBatch -benchtime 40x
func BenchmarkRefineBatch(b *testing.B) {
	e, set := benchSetup(b)
	const n = 8
	K, M, P := 10, e.Model().Spec().Arch.Latent, set.ImageSize()
	x := set.Images[:n*P]
	rs := make([]*rand.Rand, n)
	for i := range rs {
		rs[i] = infer.NoiseFor(1, 0, i)
	}
	o, err := e.Classify(x, n, rs)
	if err != nil {
		b.Fatal(err)
	}
	for _, steps := range []int{0, 5} {
		for _, bs := range []int{1, 5, 8} {
			b.Run(fmt.Sprintf("steps=%d/batch=%d", steps, bs), func(b *testing.B) {
				cpu0 := cpuSeconds()
				for i := 0; i < b.N; i++ {
					for j := range rs {
						rs[j] = infer.NoiseFor(2, i, j)
					}
					if _, err := e.Refine(x[:bs*P], bs, o.Z[:bs*K*M], o.Logvar[:bs*K*M], steps, rs[:bs]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(1000*(cpuSeconds()-cpu0)/float64(b.N*bs), "cpu-ms/image-run")
			})
		}
	}
}

// benchSetup opens zoo:mnist-eabs on ONNX Runtime with the paper's inference and loads
// the benchmark's 16 MNIST test images.
func benchSetup(b *testing.B) (*infer.Engine, *data.Set) {
	const batch = 16
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
	b.Cleanup(func() { m.Close() })
	e, err := infer.NewEngine(m, infer.DefaultOptions(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ds, err := data.Load("mnist", dir)
	if err != nil {
		b.Skip(err)
	}
	return e, ds.Test.Subset(data.SampleIndices(ds.Test.N, batch, 1))
}

// benchCase is one Adaptive with its images, which every call moves by one PGD-L2
// step; a warm-started one has made its first (full) call.
type benchCase struct {
	a   *Adaptive
	set *data.Set
	x   []float32
	r   *rand.Rand
}

func newBenchCase(b *testing.B, e *infer.Engine, set *data.Set, warm *WarmStart) *benchCase {
	c := &benchCase{a: &Adaptive{Engine: e, EOT: 5, Seed: 1, Workers: goruntime.GOMAXPROCS(0), Warm: warm},
		set: set, x: append([]float32(nil), set.Images...), r: rand.New(rand.NewPCG(1, 2))}
	if warm != nil {
		if _, _, err := c.a.LogitsVJP(c.x, set.N, c.cot); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

func (c *benchCase) cot(l []float32) []float32 { return ceCotangent(l, c.set.Labels, 10) }

func (c *benchCase) move() {
	const step = 2.5 * 1.5 / 80
	P := c.set.ImageSize()
	for i := 0; i < c.set.N; i++ {
		d := make([]float64, P)
		var s float64
		for j := range d {
			d[j] = c.r.NormFloat64()
			s += d[j] * d[j]
		}
		for j := range d {
			v := &c.x[i*P+j]
			*v = float32(min(max(float64(*v)+step*d[j]/math.Sqrt(s), 0), 1))
		}
	}
}

func (c *benchCase) run(b *testing.B) {
	batch := c.set.N
	before := c.a.Stats()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.move()
		if _, _, err := c.a.LogitsVJP(c.x, batch, c.cot); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuSeconds() - cpu0
	st := c.a.Stats()
	n := float64(b.N)
	wall := b.Elapsed().Seconds() / n
	b.ReportMetric(wall, "s/call")
	b.ReportMetric(cpu/n, "cpu-s/call")
	b.ReportMetric((st.Search-before.Search).Seconds()/n, "search-s/call")
	b.ReportMetric((st.Optimise-before.Optimise).Seconds()/n, "latent-s/call")
	b.ReportMetric((st.Refine-before.Refine).Seconds()/n, "refine-s/call")
	b.ReportMetric(float64(st.Forced-before.Forced)/n, "forced/call")
	b.ReportMetric(80*5*wall/float64(batch), "s/image@paper")
	b.ReportMetric(80*5*cpu/n/float64(batch), "cpu-s/image@paper")
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
