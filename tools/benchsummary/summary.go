package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/eabs/eabs/internal/buildinfo"
)

// Summary is one bench.sh run: its settings, the peak and a row per benchmark.
type Summary struct {
	Provenance buildinfo.Provenance `json:"provenance"`
	Dir        string               `json:"dir"`
	// Machine is bench.sh's machine.txt: the commit benchmarked, date, CPU, load.
	Machine string `json:"machine"`
	// Settings are bench.sh's settings.env (quick, steps, starts, torch, before).
	Settings map[string]string `json:"settings"`
	// Peak is the SGEMM peak (GOMAXPROCS single-threaded 1024x1024 SGEMMs at once)
	// measured before and after the benchmarks; the benchmarks' fractions use the
	// first.
	Peak PeakRates `json:"peak_gflops"`
	Rows []Row     `json:"rows"`
}

// PeakRates are the SGEMM rates of a run in GFLOP/s: of wall time at the start and
// the end, per CPU second likewise (what the CPU fractions compare with), and one
// SGEMM alone at the start.
type PeakRates struct {
	Start    float64 `json:"start"`
	End      float64 `json:"end,omitempty"`
	CPUStart float64 `json:"per_cpu_second_start,omitempty"`
	CPUEnd   float64 `json:"per_cpu_second_end,omitempty"`
	Core     float64 `json:"one_core_alone,omitempty"`
}

// Row is one benchmark of the run.
type Row struct {
	Name   string `json:"name"`
	Stage  string `json:"stage"`
	Engine string `json:"engine"`
	Batch  int    `json:"batch"`
	// Before marks a row of the code before (BENCH_BEFORE).
	Before          bool    `json:"before,omitempty"`
	ImagesPerS      float64 `json:"images_per_s"`
	CPUmsPerImage   float64 `json:"cpu_ms_per_image,omitempty"`
	MFLOPPerImage   float64 `json:"mflop_per_image,omitempty"`
	GFLOPPerS       float64 `json:"gflop_per_s,omitempty"`
	PeakFraction    float64 `json:"peak_fraction,omitempty"`
	CPUPeakFraction float64 `json:"cpu_peak_fraction,omitempty"`
	SearchS         float64 `json:"search_s_per_batch,omitempty"`
	OptimiseS       float64 `json:"optimise_s_per_batch,omitempty"`
	RSSMiB          float64 `json:"peak_rss_mib,omitempty"`
	// The PyTorch yardstick's run of the same stage and batch, and the ratio.
	TorchImagesPerS float64 `json:"torch_images_per_s,omitempty"`
	TorchRSSMiB     float64 `json:"torch_peak_rss_mib,omitempty"`
	TorchRatio      float64 `json:"ratio_to_torch,omitempty"`
	// The same benchmark of the code before, and the ratio.
	BeforeImagesPerS float64 `json:"before_images_per_s,omitempty"`
	BeforeRatio      float64 `json:"ratio_to_before,omitempty"`
}

// engines names the engines in benchmark names.
var engines = map[string]string{
	"ort":         "ONNX Runtime, one session on all cores",
	"ort-workers": "ONNX Runtime, a single-threaded session per core",
	"ref":         "Go reference graph (float64)",
}

// parseName splits a benchmark's file name (without go- and .out): train-64,
// infer-ort-16, infer-ort-workers-16, infer-ref-16, each maybe with -before.
func parseName(name string) (Row, error) {
	r := Row{Name: name}
	rest, before := strings.CutSuffix(name, "-before")
	r.Before = before
	i := strings.LastIndex(rest, "-")
	if i < 0 {
		return r, fmt.Errorf("benchmark %q: want STAGE[-ENGINE]-BATCH", name)
	}
	b, err := strconv.Atoi(rest[i+1:])
	if err != nil || b <= 0 {
		return r, fmt.Errorf("benchmark %q: want STAGE[-ENGINE]-BATCH", name)
	}
	r.Batch = b
	stage, engine, _ := strings.Cut(rest[:i], "-")
	switch stage {
	case "train":
		if engine != "" {
			return r, fmt.Errorf("benchmark %q: training has one engine", name)
		}
		r.Stage, r.Engine = "training step", "Go (Gorgonia, float32)"
	case "infer":
		e, ok := engines[engine]
		if !ok {
			return r, fmt.Errorf("benchmark %q: unknown engine %q", name, engine)
		}
		r.Stage, r.Engine = "full inference", e
	default:
		return r, fmt.Errorf("benchmark %q: unknown stage %q", name, stage)
	}
	return r, nil
}

// metrics reads the value-unit pairs of the Benchmark lines of a go test output
// (after the name and the iteration count); a later line overrides an earlier one.
func metrics(out string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
	}
	return m
}

// benchMetric reads one benchmark's metric from a go test output.
func benchMetric(out, bench, unit string) float64 {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.TrimSuffix(f[0], "-"+lastDash(f[0])) != bench {
			continue
		}
		return metrics(line)[unit]
	}
	return 0
}

// lastDash is what follows the last dash (the -GOMAXPROCS suffix of a benchmark).
func lastDash(s string) string {
	if i := strings.LastIndex(s, "-"); i >= 0 {
		return s[i+1:]
	}
	return ""
}

// torchRate reads the yardstick's "train images/s 25.4 (...)" or "infer images/s ...".
func torchRate(out string) float64 {
	f := strings.Fields(out)
	for i := 0; i+2 < len(f); i++ {
		if f[i+1] == "images/s" {
			v, _ := strconv.ParseFloat(f[i+2], 64)
			return v
		}
	}
	return 0
}

func readFile(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return string(b)
}

func rssMiB(dir, stem string) float64 {
	v, _ := strconv.ParseFloat(strings.TrimSpace(readFile(dir, stem+".maxrss_kb")), 64)
	return v / 1024
}

// Read collects a bench.sh folder.
func Read(dir string) (*Summary, error) {
	s := &Summary{Dir: dir, Machine: readFile(dir, "machine.txt"), Settings: map[string]string{}}
	if s.Machine == "" {
		return nil, fmt.Errorf("%s: no machine.txt: not a scripts/bench.sh folder", dir)
	}
	sc := bufio.NewScanner(strings.NewReader(readFile(dir, "settings.env")))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			s.Settings[k] = v
		}
	}
	start, end := readFile(dir, "go-sgemm-peak.out"), readFile(dir, "go-sgemm-peak-end.out")
	const par = "BenchmarkSgemm1024Parallel"
	s.Peak = PeakRates{Start: benchMetric(start, par, "GFLOP/s"), End: benchMetric(end, par, "GFLOP/s"),
		CPUStart: benchMetric(start, par, "cpu-GFLOP/s"), CPUEnd: benchMetric(end, par, "cpu-GFLOP/s"),
		Core: benchMetric(start, "BenchmarkSgemm1024", "GFLOP/s")}
	outs, err := filepath.Glob(filepath.Join(dir, "go-*.out"))
	if err != nil {
		return nil, err
	}
	for _, o := range outs {
		stem := strings.TrimSuffix(filepath.Base(o), ".out")
		name := strings.TrimPrefix(stem, "go-")
		if strings.HasPrefix(name, "sgemm-") {
			continue
		}
		r, err := parseName(name)
		if err != nil {
			return nil, err
		}
		m := metrics(readFile(dir, filepath.Base(o)))
		r.ImagesPerS, r.CPUmsPerImage = m["images/s"], m["cpu-ms/image"]
		r.MFLOPPerImage, r.GFLOPPerS = m["MFLOP/image"], m["GFLOP/s"]
		r.PeakFraction, r.CPUPeakFraction = m["peak-fraction"], m["cpu-peak-fraction"]
		r.SearchS, r.OptimiseS = m["search-s/op"], m["optimise-s/op"]
		r.RSSMiB = rssMiB(dir, stem)
		stage, _, _ := strings.Cut(name, "-")
		tstem := fmt.Sprintf("torch-%s-%d", stage, r.Batch)
		if v := torchRate(readFile(dir, tstem+".out")); v > 0 {
			r.TorchImagesPerS, r.TorchRSSMiB = v, rssMiB(dir, tstem)
			if r.ImagesPerS > 0 {
				r.TorchRatio = r.ImagesPerS / v
			}
		}
		s.Rows = append(s.Rows, r)
	}
	// Training before inference, small batches first, engines as listed, a before
	// row right above its own.
	stageRank := map[string]int{"training step": 0, "full inference": 1}
	engineRank := map[string]int{engines["ort"]: 0, engines["ort-workers"]: 1, engines["ref"]: 2}
	sort.SliceStable(s.Rows, func(i, j int) bool {
		a, b := s.Rows[i], s.Rows[j]
		return cmp.Or(cmp.Compare(stageRank[a.Stage], stageRank[b.Stage]), cmp.Compare(a.Batch, b.Batch),
			cmp.Compare(engineRank[a.Engine], engineRank[b.Engine]), -cmp.Compare(boolInt(a.Before), boolInt(b.Before))) < 0
	})
	byName := map[string]int{}
	for i, r := range s.Rows {
		byName[r.Name] = i
	}
	for i := range s.Rows {
		r := &s.Rows[i]
		if j, ok := byName[r.Name+"-before"]; ok && !r.Before && s.Rows[j].ImagesPerS > 0 {
			r.BeforeImagesPerS, r.BeforeRatio = s.Rows[j].ImagesPerS, r.ImagesPerS/s.Rows[j].ImagesPerS
		}
	}
	return s, nil
}

// Markdown writes the run's header and table.
func (s *Summary) Markdown(w io.Writer) {
	fmt.Fprintf(w, "# Benchmarks (%s)\n\n```\n%s```\n\n", s.Dir, s.Machine)
	if s.Settings["quick"] == "1" {
		fmt.Fprintf(w, "**Quick run** (%s Adam steps, %s bank starts, few iterations): checks that the benchmarks run, not how fast.\n\n", s.Settings["steps"], s.Settings["starts"])
	}
	if t := s.Settings["torch"]; t != "" && t != "ran" {
		fmt.Fprintf(w, "PyTorch yardstick: %s\n\n", t)
	}
	fmt.Fprintf(w, "SGEMM peak (GOMAXPROCS single-threaded 1024x1024 SGEMMs at once): %s GFLOP/s before the benchmarks, %s after (one SGEMM alone: %s); "+
		"per CPU second %s before, %s after. \"of peak\" is a benchmark's GFLOP/s over the first; \"CPU: of peak\" its FLOP per CPU second over the SGEMM's, "+
		"which load on the machine changes much less.\n\n",
		num(s.Peak.Start), num(s.Peak.End), num(s.Peak.Core), num(s.Peak.CPUStart), num(s.Peak.CPUEnd))
	fmt.Fprintln(w, "| stage | engine | batch | images/s | CPU ms/image | MFLOP/image | GFLOP/s | of peak | CPU: of peak | PyTorch images/s | / PyTorch | before images/s | / before | peak RSS MiB |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range s.Rows {
		stage := r.Stage
		if r.Before {
			stage += " (before)"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", stage, r.Engine, r.Batch,
			num(r.ImagesPerS), num(r.CPUmsPerImage), num(r.MFLOPPerImage), num(r.GFLOPPerS), pct(r.PeakFraction), pct(r.CPUPeakFraction),
			num(r.TorchImagesPerS), num(r.TorchRatio), num(r.BeforeImagesPerS), num(r.BeforeRatio), num(r.RSSMiB))
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func num(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func pct(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}
