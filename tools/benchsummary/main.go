// Command benchsummary turns the raw outputs scripts/bench.sh collects into a Markdown
// table and a JSON file: eabs and PyTorch images/s side by side, their ratio, peak
// memory and, for inference, the time split between start search and optimisation.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type entry struct {
	Name        string  `json:"name"`
	GoImagesS   float64 `json:"eabs_images_per_s"`
	TorchImages float64 `json:"torch_images_per_s,omitempty"`
	Ratio       float64 `json:"ratio,omitempty"`
	GoRSSMiB    float64 `json:"eabs_peak_rss_mib"`
	GoCPUms     float64 `json:"eabs_cpu_ms_per_image,omitempty"`
	TorchRSSMiB float64 `json:"torch_peak_rss_mib,omitempty"`
	SearchS     float64 `json:"search_s_per_batch,omitempty"`
	OptimiseS   float64 `json:"optimise_s_per_batch,omitempty"`
}

var (
	goMetric = regexp.MustCompile(`([0-9.e+-]+) ([a-z/-]+)`)
	torchRe  = regexp.MustCompile(`images/s ([0-9.]+)`)
)

func read(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return string(b)
}

func rss(dir, name string) float64 {
	v, _ := strconv.ParseFloat(strings.TrimSpace(read(dir, name+".maxrss_kb")), 64)
	return v / 1024
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchsummary DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	outs, _ := filepath.Glob(filepath.Join(dir, "go-*.out"))
	sort.Strings(outs)
	var es []entry
	for _, o := range outs {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(o), "go-"), ".out")
		e := entry{Name: name, GoRSSMiB: rss(dir, "go-"+name)}
		for _, line := range strings.Split(read(dir, filepath.Base(o)), "\n") {
			if !strings.HasPrefix(line, "Benchmark") {
				continue
			}
			for _, m := range goMetric.FindAllStringSubmatch(line, -1) {
				v, _ := strconv.ParseFloat(m[1], 64)
				switch m[2] {
				case "images/s":
					e.GoImagesS = v
				case "cpu-ms/image":
					e.GoCPUms = v
				case "search-s/op":
					e.SearchS = v
				case "optimise-s/op":
					e.OptimiseS = v
				}
			}
		}
		// a BENCH_BEFORE row is compared with the same PyTorch run as this tree's
		tname := "torch-" + strings.NewReplacer("-before", "", "infer-ort-workers-", "infer-", "infer-ort-", "infer-", "infer-ref-", "infer-").Replace(name)
		if m := torchRe.FindStringSubmatch(read(dir, tname+".out")); m != nil {
			e.TorchImages, _ = strconv.ParseFloat(m[1], 64)
			e.TorchRSSMiB = rss(dir, tname)
			if e.TorchImages > 0 {
				e.Ratio = e.GoImagesS / e.TorchImages
			}
		}
		es = append(es, e)
	}
	fmt.Printf("# Benchmarks (%s)\n\n```\n%s```\n\n", dir, read(dir, "machine.txt"))
	fmt.Println("| benchmark | eabs images/s | PyTorch images/s | eabs / PyTorch | eabs peak RSS MiB | PyTorch peak RSS MiB | eabs CPU ms/image | search s/batch | optimise s/batch |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	f := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	for _, e := range es {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", e.Name, f(e.GoImagesS), f(e.TorchImages), f(e.Ratio), f(e.GoRSSMiB), f(e.TorchRSSMiB), f(e.GoCPUms), f(e.SearchS), f(e.OptimiseS))
	}
	b, _ := json.MarshalIndent(es, "", "  ")
	os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644)
}
