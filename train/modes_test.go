package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/graph"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/runtime/ref"
)

// TestModesOfEachStage trains a tiny E-ABS for a few steps and checks that BatchNorm
// and dropout are in the mode each stage needs.
//
//   - Training uses batch statistics and folds them into the running ones: the steps
//     moved every BatchNorm's running mean and variance.
//   - Every later stage (the validation metric, inference and certify on the reference
//     graph, the attacker's view, the ONNX export on ONNX Runtime) uses the running
//     statistics and no dropout: an image's encoding equals the float64 oracle's
//     (naive, which knows only the running statistics) whether the image comes alone
//     or with others, and twice in a row.
func TestModesOfEachStage(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("eabs")
	init, err := models.NewWeights(mustSpec(t, "tiny", "eabs"), rand.New(rand.NewPCG(cfg.Seed, streamInit)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = Run(context.Background(), cfg, ds, Options{Dir: dir, StopAfter: 3})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("3 steps: %v", err)
	}
	ck, err := ReadCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	w := ck.Weights
	stats := 0
	for i, p := range w.Params {
		if p.Role != models.RoleBNMean && p.Role != models.RoleBNVar {
			continue
		}
		stats++
		changed := false
		for j := range p.Data {
			changed = changed || p.Data[j] != init.Params[i].Data[j]
		}
		if !changed {
			t.Errorf("training left %s at its initial value: batch statistics were not folded in", p.Name)
		}
	}
	if stats == 0 {
		t.Fatal("no BatchNorm running statistics among the parameters")
	}

	a := w.Spec.Arch
	P, M := a.Pixels(), a.Latent
	const n = 4
	x := make([]float32, n*P)
	copy(x, ds.Test.Images[:n*P])
	o := naive.New(w)
	want := make([][]float64, n)
	for i := range want {
		mu, _ := o.Encode(0, naive.ImageFrom32(a.InC, a.InH, a.InW, x[i*P:(i+1)*P]))
		want[i] = mu
	}
	check := func(stage string, tol float64, encode func(x []float32, batch int) ([]float32, error)) {
		t.Helper()
		all, err := encode(x, n)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		again, _ := encode(x, n)
		for i := 0; i < n; i++ {
			alone, err := encode(x[i*P:(i+1)*P], 1)
			if err != nil {
				t.Fatalf("%s: %v", stage, err)
			}
			for j := 0; j < M; j++ {
				got := float64(all[i*M+j])
				if math.Abs(got-want[i][j]) > tol*math.Max(1, math.Abs(want[i][j])) {
					t.Fatalf("%s: image %d mu[%d] = %v in a batch, oracle (running statistics, no dropout) %v", stage, i, j, got, want[i][j])
				}
				if alone[j] != all[i*M+j] || again[i*M+j] != all[i*M+j] {
					t.Fatalf("%s: image %d mu[%d]: %v alone, %v in a batch, %v again: batch statistics or dropout", stage, i, j, alone[j], all[i*M+j], again[i*M+j])
				}
			}
		}
	}
	rm, err := ref.New(w)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	check("reference graph (inference, certify, attacks)", 1e-6, func(x []float32, b int) ([]float32, error) {
		mu, _, err := rm.Encode(x, b)
		return mu, err
	})
	// The validation metric and the inference's encoder start: the float32 graph.
	amort := func(x []float32, b int) ([]float32, error) {
		set := &data.Set{N: b, C: a.InC, H: a.InH, W: a.InW, Images: x, Labels: make([]int, b), Classes: a.Classes}
		p, err := graph.NewAmortized[float32](w, 1)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		var out []float32
		for i := 0; i < b; i++ {
			if err := p.Set("x", set.Images[i*P:(i+1)*P]); err != nil {
				return nil, err
			}
			if err := p.Run(); err != nil {
				return nil, err
			}
			out = append(out, p.Output("mu")...)
		}
		return out, nil
	}
	check("amortized graph (validation)", 1e-4, amort)
	// The attacker sees the engine's inference: exact inference on the reference graph
	// is deterministic only if nothing in it is random (no dropout).
	e, err := infer.NewEngine(rm, infer.Options{Starts: 8, Steps: 2, LR: 0.05, BankSeed: 1, Exact: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o1, err := e.Classify(x, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	o2, _ := e.Classify(x, n, nil)
	for i := range o1.Loss {
		if o1.Loss[i] != o2.Loss[i] {
			t.Fatalf("exact inference (the certified and attacked model) differs between two runs at %d: %v vs %v", i, o1.Loss[i], o2.Loss[i])
		}
	}
	// The export runs in ONNX Runtime with BatchNormalization in its inference form.
	if _, err := ort.LibraryPath(""); err != nil {
		testenv.SkipOrFail(t, "ONNX Runtime: %v", err)
	}
	exp := t.TempDir()
	if _, err := onnx.Export(w, exp, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	om, err := runtime.Open(ort.Engine, &runtime.Source{Arg: exp, Weights: w, ExportDir: exp}, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer om.Close()
	check("ONNX export on ONNX Runtime", 1e-5, func(x []float32, b int) ([]float32, error) {
		mu, _, err := om.Encode(x, b)
		return mu, err
	})
}

func mustSpec(t *testing.T, dataset, model string) models.Spec {
	t.Helper()
	s, err := models.NewSpec(dataset, model)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
