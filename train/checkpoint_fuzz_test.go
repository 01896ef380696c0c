package train

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/models"
)

// TestCheckpointRefusesImpossibleOptimiserState: Adam's moments are finite and its
// second moment never negative; a checkpoint holding anything else is refused,
// naming the tensor.
func TestCheckpointRefusesImpossibleOptimiserState(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("cnn")
	cfg.Epochs = 1
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, CheckpointFile)
	for _, c := range []struct {
		second bool
		v      float32
	}{{false, float32(math.NaN())}, {false, float32(math.Inf(1))}, {true, -1e-3}} {
		ck, err := ReadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		name := ck.Weights.Params[0].Name
		moment, prefix := ck.Adam.M, "adam.m/"
		if c.second {
			moment, prefix = ck.Adam.V, "adam.v/"
		}
		moment[name][0] = c.v
		bad := filepath.Join(t.TempDir(), "ck.eabs")
		if err := ck.WriteFile(bad); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCheckpoint(bad); err == nil || !strings.Contains(err.Error(), prefix+name) {
			t.Errorf("%s%s[0] = %v: ReadCheckpoint error %v, want one naming the tensor", prefix, name, c.v, err)
		}
	}
}

// FuzzReadCheckpoint: no file makes the checkpoint reader panic; what it accepts is
// consistent (optimiser moments for existing parameters, of their sizes, finite).
func FuzzReadCheckpoint(f *testing.F) {
	// A checkpoint made by hand, not by a run: the fuzzing build instruments every
	// package, and training under it is too slow to set up each worker.
	spec, err := models.NewSpec("tiny", "cnn")
	if err != nil {
		f.Fatal(err)
	}
	w, err := models.NewWeights(spec, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		f.Fatal(err)
	}
	adam := NewAdam(1e-3)
	for _, p := range w.Params[:2] {
		adam.M[p.Name] = make([]float32, len(p.Data))
		adam.V[p.Name] = make([]float32, len(p.Data))
		adam.T[p.Name] = 3
	}
	rng, _ := rand.NewPCG(1, 3).MarshalBinary()
	path := filepath.Join(f.TempDir(), "ck.eabs")
	ck := &Checkpoint{Config: tinyConfig("cnn"), Weights: w, Adam: adam, State: progressState{Epoch: 1, Global: 9, Format: stateFormat}, RNG: rng}
	if err := ck.WriteFile(path); err != nil {
		f.Fatal(err)
	}
	if _, err := ReadCheckpoint(path); err != nil {
		f.Fatalf("the seed checkpoint is refused: %v", err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-5])
	f.Add(good[:64])
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := ReadCheckpoint(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		for _, m := range []map[string][]float32{ck.Adam.M, ck.Adam.V} {
			for name, d := range m {
				p := ck.Weights.Param(name)
				if p == nil || len(p.Data) != len(d) {
					t.Fatalf("optimiser state %s accepted for no parameter of its size", name)
				}
				for _, v := range d {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("optimiser state %s accepted with %v", name, v)
					}
				}
			}
		}
	})
}

// TestDivergedRunStops: a run whose weights leave what a trained model can hold (a
// learning rate of 1e9 moves every weight by about 1e9 per Adam step) stops at the
// epoch's end with an error, writing no model a reader would refuse.
func TestDivergedRunStops(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("cnn")
	cfg.Epochs, cfg.LR = 1, 1e9
	dir := t.TempDir()
	_, err := Run(context.Background(), cfg, ds, Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("lr 1e9: err = %v, want a divergence error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ModelFile)); !os.IsNotExist(err) {
		t.Errorf("a diverged run wrote %s (stat: %v)", ModelFile, err)
	}
}
