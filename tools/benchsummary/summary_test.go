package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		name   string
		stage  string
		engine string
		batch  int
		before bool
		err    string
	}{
		{"train-64", "training step", "Go (Gorgonia, float32)", 64, false, ""},
		{"train-512-before", "training step", "Go (Gorgonia, float32)", 512, true, ""},
		{"infer-ort-16", "full inference", engines["ort"], 16, false, ""},
		{"infer-ort-workers-16", "full inference", engines["ort-workers"], 16, false, ""},
		{"infer-ref-1", "full inference", engines["ref"], 1, false, ""},
		{"infer-gpu-16", "", "", 16, false, `unknown engine "gpu"`},
		{"train-go-64", "", "", 64, false, "one engine"},
		{"attack-16", "", "", 16, false, `unknown stage "attack"`},
		{"train", "", "", 0, false, "want STAGE"},
		{"train-x", "", "", 0, false, "want STAGE"},
	}
	for _, test := range tests {
		r, err := parseName(test.name)
		if test.err != "" {
			if err == nil || !strings.Contains(err.Error(), test.err) {
				t.Errorf("parseName(%q) error = %v, want one containing %q", test.name, err, test.err)
			}
			continue
		}
		if err != nil || r.Stage != test.stage || r.Engine != test.engine || r.Batch != test.batch || r.Before != test.before {
			t.Errorf("parseName(%q) = %+v, %v; want %s, %s, batch %d, before %v", test.name, r, err, test.stage, test.engine, test.batch, test.before)
		}
	}
}

// TestRead builds a bench.sh folder from outputs in the formats the benchmarks and
// the yardstick print and checks what Read makes of them.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"machine.txt":  "commit: abc (modified: false)\n",
		"settings.env": "quick=1\nsteps=2\nstarts=1000\ntorch=skipped: no module named torch\n",
		"go-sgemm-peak.out": "BenchmarkSgemm1024-2   \t 5\t 29648677 ns/op\t 72.5 GFLOP/s\n" +
			"BenchmarkSgemm1024Parallel-2   \t 10\t 14648677 ns/op\t 140 GFLOP/s\t 70 GFLOP/s/core\t 75 cpu-GFLOP/s\n",
		"go-sgemm-peak-end.out": "BenchmarkSgemm1024Parallel-2 10 1 ns/op 130 GFLOP/s 65 GFLOP/s/core 74 cpu-GFLOP/s\n",
		"go-train-64.out": "goos: linux\nBenchmarkTrainStepMNIST64-2   \t       2\t1151921108 ns/op\t        11.83 GFLOP/s\t       212.9 MFLOP/image\t" +
			"         7.598 cpu-ms/image\t         0.5605 cpu-peak-fraction\t        55.56 images/s\t         0.1183 peak-fraction\nPASS\n",
		"go-train-64.maxrss_kb":         "409600\n",
		"go-train-64-before.out":        "BenchmarkTrainStepMNIST64-2 2 1 ns/op 27.78 images/s\n",
		"torch-train-64.out":            "train images/s 25.0 (batch 64, threads 2)\n",
		"torch-train-64.maxrss_kb":      "204800\n",
		"go-infer-ort-workers-16.out":   "BenchmarkInferORTWorkers16-2 1 1 ns/op 4.5 images/s 0.2 search-s/op 3.1 optimise-s/op\n",
		"torch-infer-16.out":            "infer images/s 0.45 (batch 16, steps 50, threads 2)\n",
		"go-infer-ref-16.out":           "BenchmarkInferRef16-2 1 1 ns/op 1.2 images/s\n",
		"go-infer-ref-16.maxrss_kb":     "not a number\n",
		"go-infer-ref-16.cmd":           "ignored",
		"torch-infer-16.maxrss_kb":      "1024\n",
		"go-train-512-before.maxrss_kb": "1\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := (PeakRates{Start: 140, End: 130, CPUStart: 75, CPUEnd: 74, Core: 72.5}); s.Peak != want {
		t.Errorf("Peak = %+v, want %+v", s.Peak, want)
	}
	if s.Settings["steps"] != "2" || s.Settings["torch"] != "skipped: no module named torch" {
		t.Errorf("Settings = %v", s.Settings)
	}
	want := []Row{
		{Name: "train-64-before", Before: true, ImagesPerS: 27.78, TorchImagesPerS: 25, TorchRSSMiB: 200, TorchRatio: 27.78 / 25},
		{Name: "train-64", ImagesPerS: 55.56, CPUmsPerImage: 7.598, MFLOPPerImage: 212.9, GFLOPPerS: 11.83, PeakFraction: 0.1183,
			CPUPeakFraction: 0.5605, RSSMiB: 400, TorchImagesPerS: 25, TorchRSSMiB: 200, TorchRatio: 55.56 / 25, BeforeImagesPerS: 27.78, BeforeRatio: 2},
	}
	want = append(want, Row{Name: "infer-ort-workers-16", ImagesPerS: 4.5, SearchS: 0.2, OptimiseS: 3.1, TorchImagesPerS: 0.45, TorchRSSMiB: 1, TorchRatio: 10},
		Row{Name: "infer-ref-16", ImagesPerS: 1.2, TorchImagesPerS: 0.45, TorchRSSMiB: 1, TorchRatio: 1.2 / 0.45})
	if len(s.Rows) != len(want) {
		t.Fatalf("Read found %d rows, want %d: %+v", len(s.Rows), len(want), s.Rows)
	}
	for i, w := range want {
		g := s.Rows[i]
		gv := []float64{g.ImagesPerS, g.CPUmsPerImage, g.MFLOPPerImage, g.GFLOPPerS, g.PeakFraction, g.CPUPeakFraction, g.SearchS, g.OptimiseS, g.RSSMiB, g.TorchImagesPerS, g.TorchRSSMiB, g.TorchRatio, g.BeforeImagesPerS, g.BeforeRatio}
		wv := []float64{w.ImagesPerS, w.CPUmsPerImage, w.MFLOPPerImage, w.GFLOPPerS, w.PeakFraction, w.CPUPeakFraction, w.SearchS, w.OptimiseS, w.RSSMiB, w.TorchImagesPerS, w.TorchRSSMiB, w.TorchRatio, w.BeforeImagesPerS, w.BeforeRatio}
		for j := range gv {
			if math.Abs(gv[j]-wv[j]) > 1e-9*math.Max(1, math.Abs(wv[j])) {
				t.Errorf("row %s: field %d = %v, want %v (%+v)", w.Name, j, gv[j], wv[j], g)
			}
		}
		if g.Name != w.Name || g.Before != w.Before {
			t.Errorf("row %d = %s (before %v), want %s (before %v)", i, g.Name, g.Before, w.Name, w.Before)
		}
	}
	var md bytes.Buffer
	s.Markdown(&md)
	for _, frag := range []string{"**Quick run** (2 Adam steps, 1000 bank starts", "PyTorch yardstick: skipped: no module named torch",
		"| training step | Go (Gorgonia, float32) | 64 | 55.56 | 7.598 | 212.9 | 11.83 | 11.8% | 56.0% | 25 | 2.222 | 27.78 | 2 | 400 |"} {
		if !strings.Contains(md.String(), frag) {
			t.Errorf("Markdown lacks %q:\n%s", frag, md.String())
		}
	}
	if _, err := Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "machine.txt") {
		t.Errorf("Read(empty folder) error = %v, want one naming machine.txt", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "machine.txt"), []byte("x\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "go-attack-16.out"), nil, 0o644)
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), "attack") {
		t.Errorf("Read(unknown benchmark) error = %v, want one naming it", err)
	}
}

// TestRunRecordsBenchCommit: summary.json names the command and the commit bench.sh
// benchmarked, not the checkout's when the summary was written.
func TestRunRecordsBenchCommit(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "machine.txt"), []byte("commit: abc\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "go-train-64.out"), []byte("BenchmarkTrainStepMNIST64-2 1 1 ns/op 50 images/s\n"), 0o644)
	if err := run(dir, "scripts/bench.sh --quick train", "abc123", true); err != nil {
		t.Fatal(err)
	}
	var s Summary
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Provenance.Command, " "); got != "scripts/bench.sh --quick train" {
		t.Errorf("command = %q", got)
	}
	if bi := s.Provenance.Build; bi.Commit != "abc123" || !bi.Modified || bi.CommitFrom != commitFromBench {
		t.Errorf("build = %+v, want commit abc123, modified, from %q", bi, commitFromBench)
	}
	if len(s.Rows) != 1 || s.Rows[0].ImagesPerS != 50 {
		t.Errorf("rows = %+v", s.Rows)
	}
	if md, err := os.ReadFile(filepath.Join(dir, "summary.md")); err != nil || !strings.Contains(string(md), "| training step |") {
		t.Errorf("summary.md = %q, %v", md, err)
	}
}
