package train

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/benchmetric"
	"github.com/eabs/eabs/models"
)

// benchTrainStep measures one full E-ABS training step on MNIST-shaped data: eq. 5
// forward and backward for the encoder and ten decoders, the discriminator's step, and
// both Adam updates (what ../shared/bench/torch_ref.py train measures). Besides
// images/s it reports the step's FLOP per image (StepCost) and the rate, and, with
// benchmetric.EnvPeak set, their fraction of the machine's SGEMM peak.
func benchTrainStep(b *testing.B, batch int) {
	// The testing package calls a benchmark first with b.N = 1, then again with the
	// requested N; the probe's graphs are garbage by then, and collecting them before
	// building the next keeps the peak RSS that of one training loop (with GOGC=100 the
	// heap could otherwise grow to the probe's graphs plus the new ones before the
	// first collection).
	runtime.GC()
	s, _ := models.NewSpec("mnist", "eabs")
	w, err := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	set := &data.Set{N: batch, C: 1, H: 28, W: 28, Classes: 10, Images: make([]float32, batch*784), Labels: make([]int, batch)}
	for i := range set.Images {
		set.Images[i] = float32(rng.Float64())
	}
	idx := make([]int, batch)
	for i := range idx {
		set.Labels[i] = rng.IntN(10)
		idx[i] = i
	}
	st, err := newStepper(w, batch, &batcher{set: set, noise: 0.2}, NewAdam(1e-3), nil, discSettings{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	if _, err := st.step(idx, rng, 1e-3); err != nil { // warm-up: allocations, caches
		b.Fatal(err)
	}
	cost, err := StepCost(s, batch)
	if err != nil {
		b.Fatal(err)
	}
	idle0, total0 := schedCPU()
	b.ResetTimer()
	cpu0 := benchmetric.CPUTime()
	best := time.Duration(math.MaxInt64)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := st.step(idx, rng, 1e-3); err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(t0))
	}
	// CPU seconds per image: on a shared machine the wall-clock rate follows the
	// load; the CPU time a step takes much less so.
	cpu := benchmetric.CPUTime() - cpu0
	b.StopTimer()
	benchmetric.Report(b, batch*b.N, cpu, float64(cost.FLOP())/float64(batch))
	// The rate of the fastest step: on a shared machine, the step that other load
	// disturbed least, closer to what a quiet machine gives than the mean.
	b.ReportMetric(float64(batch)/best.Seconds(), "best-images/s")
	// The share of the Go scheduler's processor time (GOMAXPROCS per wall second)
	// with no goroutine to run: serial stretches and waits for the slower worker,
	// where a core had work but the step could not use it. Other load raises it too
	// (a worker the machine preempts keeps the other waiting at the end of a
	// kernel whose work is cut in fixed parts).
	if idle1, total1 := schedCPU(); total1 > total0 {
		b.ReportMetric((idle1-idle0)/(total1-total0), "idle-fraction")
	}
}

// schedCPU returns the Go runtime's estimates of the processor time idle and in
// total so far (runtime/metrics /cpu/classes), in seconds. The runtime accumulates
// them at the end of a garbage collection, so schedCPU collects first (outside the
// timed loop).
func schedCPU() (idle, total float64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/cpu/classes/idle:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64(), s[1].Value.Float64()
}

func BenchmarkTrainStepMNIST64(b *testing.B)  { benchTrainStep(b, 64) }
func BenchmarkTrainStepMNIST512(b *testing.B) { benchTrainStep(b, 512) }
