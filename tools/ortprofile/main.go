// Command ortprofile shows where ONNX Runtime spends the time of E-ABS inference: it
// exports a model, runs its latent-step graph (one Adam step of the inference: K
// decoders forward and backward for a batch) with ORT's operator profiler on, and
// prints the time per operator type and the slowest nodes with their shapes.
//
//	go run ./tools/ortprofile [-model zoo:mnist-eabs] [-batch 16] [-runs 30] [-threads 1]
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/tools/internal/probe"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ortprofile:", err)
		os.Exit(1)
	}
}

// event is one record of ORT's Chrome-trace profile.
type event struct {
	Cat  string `json:"cat"`
	Name string `json:"name"`
	Dur  int64  `json:"dur"` // microseconds
	Args struct {
		Op  string `json:"op_name"`
		In  any    `json:"input_type_shape"`
		Out any    `json:"output_type_shape"`
	} `json:"args"`
}

func run() error {
	model := flag.String("model", "zoo:mnist-eabs", "zoo model")
	batch := flag.Int("batch", 16, "images per latent step")
	runs := flag.Int("runs", 30, "latent steps profiled")
	threads := flag.Int("threads", 1, "ORT intra-op threads")
	top := flag.Int("top", 10, "slowest nodes listed")
	flag.Parse()

	ex, err := probe.Export(*model)
	if err != nil {
		return err
	}
	defer ex.Close()
	w, dir := ex.W, ex.Dir
	prefix := filepath.Join(dir, "profile")
	s, err := ort.Open(filepath.Join(dir, "latent_step.onnx"), ort.Options{IntraOpThreads: *threads, ProfilePrefix: prefix})
	if err != nil {
		return err
	}
	a := w.Spec.Arch
	B, K, M := int64(*batch), int64(a.Classes), int64(a.Latent)
	rng := rand.New(rand.NewPCG(1, 1))
	tensor := func(scale float64, shape ...int64) ort.Tensor {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * rng.NormFloat64())
		}
		return ort.Tensor{Shape: shape, Data: v}
	}
	x := tensor(1, B, int64(a.InC), int64(a.InH), int64(a.InW))
	for i, v := range x.Data {
		x.Data[i] = min(max(v, 0), 1)
	}
	in := []ort.Tensor{x, tensor(1, B, K, M), tensor(0.5, B, K, M), tensor(1, B, K, M)}
	for range *runs {
		if _, err := s.Run(in); err != nil {
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	files, _ := filepath.Glob(prefix + "*.json")
	if len(files) != 1 {
		return fmt.Errorf("ORT wrote %d profiles, want 1", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	var events []event
	if err := json.Unmarshal(raw, &events); err != nil {
		return fmt.Errorf("reading ORT's profile: %w", err)
	}
	return report(events, *batch, *threads, *top)
}

func report(events []event, batch, threads, top int) error {
	type total struct {
		name    string
		us      int64
		example event
	}
	byOp, byNode := map[string]*total{}, map[string]*total{}
	var runUS, kernelUS int64
	runs := 0
	for _, e := range events {
		switch {
		case e.Cat == "Session" && e.Name == "model_run":
			runs++
			runUS += e.Dur
		case e.Cat == "Node" && len(e.Name) > 12 && e.Name[len(e.Name)-12:] == "_kernel_time":
			kernelUS += e.Dur
			for _, m := range []struct {
				m   map[string]*total
				key string
			}{{byOp, e.Args.Op}, {byNode, e.Name[:len(e.Name)-12]}} {
				t, ok := m.m[m.key]
				if !ok {
					t = &total{name: m.key, example: e}
					m.m[m.key] = t
				}
				t.us += e.Dur
			}
		}
	}
	if runs == 0 || kernelUS == 0 {
		return fmt.Errorf("the profile holds no runs")
	}
	sorted := func(m map[string]*total) []*total {
		v := make([]*total, 0, len(m))
		for _, t := range m {
			v = append(v, t)
		}
		slices.SortFunc(v, func(a, b *total) int { return cmp.Compare(b.us, a.us) })
		return v
	}
	ms := func(us int64) float64 { return float64(us) / float64(runs) / 1000 }
	fmt.Printf("latent step, batch %d, %d ORT thread(s): %.2f ms per run over %d runs (operators %.2f ms)\n\n", batch, threads, ms(runUS), runs, ms(kernelUS))
	fmt.Printf("%-22s %8s %6s\n", "operator", "ms/run", "share")
	for _, t := range sorted(byOp) {
		fmt.Printf("%-22s %8.2f %5.1f%%\n", t.name, ms(t.us), 100*float64(t.us)/float64(kernelUS))
	}
	fmt.Printf("\nslowest nodes\n")
	for i, t := range sorted(byNode) {
		if i == top {
			break
		}
		in, _ := json.Marshal(t.example.Args.In)
		out, _ := json.Marshal(t.example.Args.Out)
		fmt.Printf("%-28s %-18s %8.2f ms  %s -> %s\n", t.name, t.example.Args.Op, ms(t.us), in, out)
	}
	return nil
}
