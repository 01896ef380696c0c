package benchmetric

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestCompute(t *testing.T) {
	tests := []struct {
		name                string
		images              int
		wall, cpu           time.Duration
		flop, peak, peakCPU float64
		procs               int
		want                Rates
	}{
		// 64 images of 200 MFLOP in 0.5 s wall and 0.8 s CPU on 2 cores of a
		// 100 GFLOP/s machine: 128 images/s, 25.6 GFLOP/s (0.256 of the peak);
		// 12.8 GFLOP in 0.8 CPU seconds is 16 GFLOP per CPU second against 50 per
		// core: 0.32; 12.5 CPU ms per image.
		{"with peak", 64, 500 * time.Millisecond, 800 * time.Millisecond, 200e6, 100, 0, 2,
			Rates{ImagesPerS: 128, CPUmsPerImage: 12.5, MFLOPPerImage: 200, GFLOPPerS: 25.6, PeakFraction: 0.256, CPUPeakFraction: 0.32}},
		// The same against a CPU peak of 80 GFLOP per CPU second: 16/80.
		{"with CPU peak", 64, 500 * time.Millisecond, 800 * time.Millisecond, 200e6, 100, 80, 2,
			Rates{ImagesPerS: 128, CPUmsPerImage: 12.5, MFLOPPerImage: 200, GFLOPPerS: 25.6, PeakFraction: 0.256, CPUPeakFraction: 0.2}},
		{"CPU peak only", 64, 500 * time.Millisecond, 800 * time.Millisecond, 200e6, 0, 80, 2,
			Rates{ImagesPerS: 128, CPUmsPerImage: 12.5, MFLOPPerImage: 200, GFLOPPerS: 25.6, CPUPeakFraction: 0.2}},
		{"without peak", 10, 2 * time.Second, time.Second, 1e9, 0, 0, 2,
			Rates{ImagesPerS: 5, CPUmsPerImage: 100, MFLOPPerImage: 1000, GFLOPPerS: 5}},
	}
	for _, test := range tests {
		got := Compute(test.images, test.wall, test.cpu, test.flop, test.peak, test.peakCPU, test.procs)
		g := []float64{got.ImagesPerS, got.CPUmsPerImage, got.MFLOPPerImage, got.GFLOPPerS, got.PeakFraction, got.CPUPeakFraction}
		w := []float64{test.want.ImagesPerS, test.want.CPUmsPerImage, test.want.MFLOPPerImage, test.want.GFLOPPerS, test.want.PeakFraction, test.want.CPUPeakFraction}
		for i := range g {
			if math.Abs(g[i]-w[i]) > 1e-12*math.Max(1, math.Abs(w[i])) {
				t.Errorf("%s: Compute = %+v, want %+v", test.name, got, test.want)
				break
			}
		}
	}
}

func TestPeak(t *testing.T) {
	tests := []struct {
		env  string
		want float64
		err  string
	}{
		{"", 0, ""},
		{"150.5", 150.5, ""},
		{"fast", 0, "want a positive rate"},
		{"-3", 0, "want a positive rate"},
	}
	for _, test := range tests {
		t.Setenv(EnvPeak, test.env)
		t.Setenv(EnvPeakCPU, test.env)
		got, err := Peak()
		if gotCPU, errCPU := PeakCPU(); gotCPU != got || (errCPU == nil) != (err == nil) {
			t.Errorf("PeakCPU() with %q = %v, %v; Peak() = %v, %v", test.env, gotCPU, errCPU, got, err)
		}
		if test.err != "" {
			if err == nil || !strings.Contains(err.Error(), test.err) || !strings.Contains(err.Error(), EnvPeak) {
				t.Errorf("Peak() with %q: error %v, want one naming %s and containing %q", test.env, err, EnvPeak, test.err)
			}
			continue
		}
		if err != nil || got != test.want {
			t.Errorf("Peak() with %q = %v, %v; want %v", test.env, got, err, test.want)
		}
	}
}
