// Package benchmetric reports a benchmark's speed against what the machine can do
// (issue 30): images per second, the FLOP an image costs (counted from the
// architecture: models.Cost), the rate achieved, and its fraction of the SGEMM peak
// that scripts/bench.sh measures in the same run and passes in EnvPeak and EnvPeakCPU. Wall time says
// what a user waits for; on a shared machine the CPU time a benchmark used says more
// about its code, so both fractions are reported.
package benchmetric

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// EnvPeak names the variable holding the machine's SGEMM peak in GFLOP/s: the rate of
// GOMAXPROCS single-threaded 1024x1024 SGEMMs running at once
// (internal/blas BenchmarkSgemm1024Parallel).
const EnvPeak = "EABS_BENCH_PEAK_GFLOPS"

// EnvPeakCPU names the variable holding the SGEMM rate per CPU second of the same
// measurement: FLOP over the process's CPU time, which other load on the machine
// changes much less than the wall-clock rate. It is what the CPU fractions compare
// with; without it they use EnvPeak / GOMAXPROCS.
const EnvPeakCPU = "EABS_BENCH_PEAK_CPU_GFLOPS"

// Peak returns the peak from EnvPeak, 0 when it is unset.
func Peak() (float64, error) { return rate(EnvPeak) }

// PeakCPU returns the per-CPU-second peak from EnvPeakCPU, 0 when it is unset.
func PeakCPU() (float64, error) { return rate(EnvPeakCPU) }

func rate(env string) (float64, error) {
	v := os.Getenv(env)
	if v == "" {
		return 0, nil
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || !(p > 0) {
		return 0, fmt.Errorf("%s=%q: want a positive rate in GFLOP/s", env, v)
	}
	return p, nil
}

// CPUTime is the process's user plus system CPU time so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Rates are what Report reports.
type Rates struct {
	ImagesPerS    float64
	CPUmsPerImage float64
	MFLOPPerImage float64
	GFLOPPerS     float64
	// PeakFraction is GFLOPPerS over the peak; CPUPeakFraction is the FLOP per CPU
	// second over the SGEMM's (peakCPU, or one core's share of the peak): how well
	// the cycles the benchmark got were used, whatever else ran on the machine. Zero
	// without a peak.
	PeakFraction, CPUPeakFraction float64
}

// Compute derives the rates of images processed in wall and cpu time, each costing
// flop, against peak GFLOP/s (0: none) and peakCPU GFLOP per CPU second (0: peak
// shared by procs cores).
func Compute(images int, wall, cpu time.Duration, flop, peak, peakCPU float64, procs int) Rates {
	r := Rates{MFLOPPerImage: flop / 1e6}
	if wall > 0 {
		r.ImagesPerS = float64(images) / wall.Seconds()
		r.GFLOPPerS = r.ImagesPerS * flop / 1e9
	}
	if images > 0 {
		r.CPUmsPerImage = cpu.Seconds() * 1e3 / float64(images)
	}
	if peak > 0 {
		r.PeakFraction = r.GFLOPPerS / peak
		if peakCPU == 0 && procs > 0 {
			peakCPU = peak / float64(procs)
		}
	}
	if peakCPU > 0 && cpu > 0 {
		r.CPUPeakFraction = float64(images) * flop / cpu.Seconds() / 1e9 / peakCPU
	}
	return r
}

// Report adds the rates of a benchmark that processed images in b.Elapsed() and cpu
// CPU time, each image costing flop FLOP: images/s, cpu-ms/image, MFLOP/image,
// GFLOP/s and, when EnvPeak or EnvPeakCPU is set, peak-fraction and cpu-peak-fraction.
func Report(b *testing.B, images int, cpu time.Duration, flop float64) {
	b.Helper()
	peak, err := Peak()
	if err != nil {
		b.Fatal(err)
	}
	peakCPU, err := PeakCPU()
	if err != nil {
		b.Fatal(err)
	}
	r := Compute(images, b.Elapsed(), cpu, flop, peak, peakCPU, goruntime.GOMAXPROCS(0))
	b.ReportMetric(r.ImagesPerS, "images/s")
	b.ReportMetric(r.CPUmsPerImage, "cpu-ms/image")
	b.ReportMetric(r.MFLOPPerImage, "MFLOP/image")
	b.ReportMetric(r.GFLOPPerS, "GFLOP/s")
	if peak > 0 {
		b.ReportMetric(r.PeakFraction, "peak-fraction")
	}
	if r.CPUPeakFraction > 0 {
		b.ReportMetric(r.CPUPeakFraction, "cpu-peak-fraction")
	}
}
