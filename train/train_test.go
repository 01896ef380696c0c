package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/models"
)

// tinyDataset is the embedded MNIST sample restricted to digits 0-2, the classes of
// the "tiny" test architecture: real images, a few milliseconds per step.
// tinyProfile is the test dataset's profile: the embedded sample's first three
// classes (tinyDataset) for the "tiny" architecture, at MNIST's budgets.
var tinyProfile = data.Profile{Name: "tiny", Dir: "mnist", Desc: "the embedded MNIST sample", Embedded: true,
	Reader: data.IDXReader("mnist", []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}),
	Arch:   "tiny", Noise: 0.2, EpsL2: 1.5, EpsLinf: 0.3, Restarts: 1}

func init() {
	if err := data.Register(tinyProfile); err != nil {
		panic(err)
	}
}

func tinyDataset(t testing.TB) *data.Dataset {
	t.Helper()
	ds, err := data.Load("mnist-sample", data.EmbeddedRoot)
	if err != nil {
		t.Fatal(err)
	}
	keep := func(s *data.Set) *data.Set {
		var idx []int
		for i, y := range s.Labels {
			if y < 3 {
				idx = append(idx, i)
			}
		}
		out := s.Subset(idx)
		out.Classes, out.ClassNames = 3, s.ClassNames[:3]
		return out
	}
	return &data.Dataset{Name: "tiny", Train: keep(ds.Train), Test: keep(ds.Test)}
}

func tinyConfig(model string) Config {
	c := DefaultConfig("tiny", model)
	c.Epochs, c.Batch, c.CheckpointSteps, c.Seed = 2, 8, 2, 42
	return c
}

func TestResumeEqualsUninterrupted(t *testing.T) {
	ds := tinyDataset(t)
	// The ablation's loss weights are part of the stored model: a run with them
	// resumes like any other (it was refused: the checkpoint's check rebuilt the
	// paper's weights).
	ablation := tinyConfig("eabs")
	beta, gamma := 0.5, 30.0
	ablation.Beta, ablation.Gamma = &beta, &gamma
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"eabs", tinyConfig("eabs")}, {"abs", tinyConfig("abs")}, {"cnn", tinyConfig("cnn")}, {"eabs beta 0.5 gamma 30", ablation}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			dirA, dirB := t.TempDir(), t.TempDir()
			a, err := Run(context.Background(), cfg, ds, Options{Dir: dirA})
			if err != nil {
				t.Fatal(err)
			}
			// Stop mid-epoch, then twice more across the epoch boundary.
			for _, stop := range []int{3, 4, 1} {
				_, err := Run(context.Background(), cfg, ds, Options{Dir: dirB, Resume: stop != 3, StopAfter: stop})
				if !errors.Is(err, ErrStopped) {
					t.Fatalf("StopAfter %d: err = %v, want ErrStopped", stop, err)
				}
			}
			b, err := Run(context.Background(), cfg, ds, Options{Dir: dirB, Resume: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range a.Weights.Params {
				q := b.Weights.Params[i]
				for j := range p.Data {
					if p.Data[j] != q.Data[j] {
						t.Fatalf("%s[%d]: uninterrupted %v, resumed %v", p.Name, j, p.Data[j], q.Data[j])
					}
				}
			}
			ma, mb := metricsColumns(t, dirA), metricsColumns(t, dirB)
			if ma != mb {
				t.Errorf("metrics differ:\nuninterrupted\n%s\nresumed\n%s", ma, mb)
			}
			checkEpochModels(t, dirA, dirB, cfg.Epochs)
		})
	}
}

// checkEpochModels: every epoch's model is kept, the same bytes in both runs, the
// last one the run's model.eabs, and the epochs differ from each other.
func checkEpochModels(t *testing.T, dirA, dirB string, epochs int) {
	t.Helper()
	var prev []byte
	for e := 1; e <= epochs; e++ {
		a, err := os.ReadFile(filepath.Join(dirA, EpochModel(e)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dirB, EpochModel(e)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("epoch %d: the resumed run's model differs from the uninterrupted one's", e)
		}
		if bytes.Equal(a, prev) {
			t.Errorf("epoch %d's model is the same as epoch %d's", e, e-1)
		}
		prev = a
	}
	last, err := os.ReadFile(filepath.Join(dirA, ModelFile))
	if err != nil || !bytes.Equal(last, prev) {
		t.Errorf("%s is not the last epoch's model (%v)", ModelFile, err)
	}
	if _, err := os.Stat(filepath.Join(dirA, EpochModel(epochs+1))); !os.IsNotExist(err) {
		t.Errorf("a model for epoch %d of %d: %v", epochs+1, epochs, err)
	}
}

// metricsColumns returns metrics.csv without its timing columns.
func metricsColumns(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, ",")
		out = append(out, strings.Join(f[:7], ","))
	}
	return strings.Join(out, "\n")
}

// TestRunRefusesClassesSmallerThanABatch: a model trained on single-class batches
// (ABS) with a class holding fewer training images than a batch is refused, naming
// the class, instead of training nothing (it ran zero steps and reported NaN losses).
func TestRunRefusesClassesSmallerThanABatch(t *testing.T) {
	ds := tinyDataset(t)
	counts := make([]int, 3)
	for _, y := range ds.Train.Labels {
		counts[y]++
	}
	cfg := tinyConfig("abs")
	cfg.ValFrac = 0
	cfg.Batch = slices.Min(counts) + 1
	if cfg.Batch > ds.Train.N {
		t.Fatalf("batch %d beyond the %d images", cfg.Batch, ds.Train.N)
	}
	_, err := Run(context.Background(), cfg, ds, Options{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("has %d training images, fewer than one batch of %d", slices.Min(counts), cfg.Batch)) {
		t.Errorf("abs, batch %d (classes %v): err = %v, want a refusal naming the small class", cfg.Batch, counts, err)
	}
	// E-ABS trains on mixed batches: the same batch is fine.
	e := tinyConfig("eabs")
	e.ValFrac, e.Batch, e.Epochs = 0, cfg.Batch, 1
	if _, err := Run(context.Background(), e, ds, Options{Dir: t.TempDir()}); err != nil {
		t.Errorf("eabs, batch %d: %v", e.Batch, err)
	}
}

func TestRunRefusesToOverwrite(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("cnn")
	cfg.Epochs = 1
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("second run into %s: err = %v, want a refusal mentioning --resume", dir, err)
	}
	other := cfg
	other.LR = 0.5
	if _, err := Run(context.Background(), other, ds, Options{Dir: dir, Resume: true}); err == nil || !strings.Contains(err.Error(), "other settings") || !strings.Contains(err.Error(), "lr 0.001 there, 0.5 now") {
		t.Errorf("resume with another config: err = %v, want a mismatch error", err)
	}
}

func TestEABSLossDecreasesOnRealBatch(t *testing.T) {
	ds := tinyDataset(t)
	s, _ := models.NewSpec("tiny", "eabs")
	w, err := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	const batch = 16
	st, err := newStepper(w, batch, &batcher{set: ds.Train}, NewAdam(1e-3), nil, discSettings{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	rng := rand.New(rand.NewPCG(2, 2))
	var losses []float64
	for i := 0; i < 30; i++ {
		ss, err := st.step(idx, rng, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, ss.loss)
	}
	first := (losses[0] + losses[1] + losses[2]) / 3
	last := (losses[27] + losses[28] + losses[29]) / 3
	if !(last < 0.8*first) {
		t.Errorf("E-ABS loss over 30 steps on one real batch: first %.2f, last %.2f; want a drop of at least 20%% (all: %.1f)", first, last, losses)
	}
}

func TestBatchNormStatisticsSurviveSaveAndMatter(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("eabs")
	cfg.Epochs = 1
	dir := t.TempDir()
	res, err := Run(context.Background(), cfg, ds, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	bnMoved := false
	for _, p := range res.Weights.Params {
		if p.Role == models.RoleBNMean {
			for _, v := range p.Data {
				if v != 0 {
					bnMoved = true
				}
			}
		}
	}
	if !bnMoved {
		t.Fatal("training left every BatchNorm running mean at 0")
	}
	loaded, _, err := models.LoadModel(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	before, err := infer.Amortized(res.Weights, ds.Test, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := infer.Amortized(loaded, ds.Test, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range before.Logits {
		if before.Logits[i] != after.Logits[i] {
			t.Fatalf("logit %d: %v before save, %v after load", i, before.Logits[i], after.Logits[i])
		}
	}
	// Resetting the running statistics to their initial values must change the
	// evaluation outputs: they are used, not recomputed from the batch.
	reset := loaded.Clone()
	for _, p := range reset.Params {
		for i := range p.Data {
			switch p.Role {
			case models.RoleBNMean:
				p.Data[i] = 0
			case models.RoleBNVar:
				p.Data[i] = 1
			}
		}
	}
	changed, err := infer.Amortized(reset, ds.Test, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := range before.Logits {
		if before.Logits[i] == changed.Logits[i] {
			same++
		}
	}
	if same == len(before.Logits) {
		t.Error("evaluation outputs do not depend on the BatchNorm running statistics")
	}
}

func TestCheckpointRefusals(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("eabs")
	cfg.Epochs = 1
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, CheckpointFile)
	good, err := os.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCheckpoint(ck); err != nil {
		t.Fatalf("ReadCheckpoint(good) = %v", err)
	}
	version := bytes.Clone(good)
	version[8] = 99
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "truncated"},
		{"version", version, "version 99"},
		{"corrupt", append(bytes.Clone(good[:len(good)-9]), 1, 2, 3, 4, 5, 6, 7, 8, 9), "checksum"},
		{"text", []byte("hello, world, this is not a checkpoint"), "bad magic"},
	}
	for _, c := range cases {
		p := filepath.Join(t.TempDir(), "ck.eabs")
		os.WriteFile(p, c.data, 0o644)
		if _, err := ReadCheckpoint(p); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: ReadCheckpoint error = %v, want one naming the file and containing %q", c.name, err, c.want)
		}
	}
	// A model file is not a checkpoint.
	if _, err := ReadCheckpoint(filepath.Join(dir, ModelFile)); err == nil || !strings.Contains(err.Error(), "not a checkpoint") {
		t.Errorf("ReadCheckpoint(model file) error = %v", err)
	}
	// A checkpoint whose weights belong to another architecture than its config says.
	f, err := models.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	f.Spec, _ = models.NewSpec("mnist", "eabs")
	p := filepath.Join(t.TempDir(), "other.eabs")
	if err := f.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCheckpoint(p); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("ReadCheckpoint(mismatched architecture) error = %v", err)
	}
}

func TestAdversarialTrainingFromCNN(t *testing.T) {
	ds := tinyDataset(t)
	base := tinyConfig("cnn")
	base.Epochs = 1
	cnnDir := t.TempDir()
	if _, err := Run(context.Background(), base, ds, Options{Dir: cnnDir}); err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig("adv-linf")
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "--init") {
		t.Fatalf("adv-linf without --init: err = %v, want a hint about --init", err)
	}
	cfg.Init = filepath.Join(cnnDir, ModelFile)
	cfg.PGD = &PGDConfig{Norm: "linf", Steps: 3}
	dirA, dirB := t.TempDir(), t.TempDir()
	a, err := Run(context.Background(), cfg, ds, Options{Dir: dirA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dirB, StopAfter: 5}); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), cfg, ds, Options{Dir: dirB, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range a.Weights.Params {
		for j := range p.Data {
			if p.Data[j] != b.Weights.Params[i].Data[j] {
				t.Fatalf("%s[%d]: uninterrupted %v, resumed %v", p.Name, j, p.Data[j], b.Weights.Params[i].Data[j])
			}
		}
	}
	ck, err := ReadCheckpoint(filepath.Join(dirA, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := tinyProfile.EpsLinf; ck.Config.PGD == nil || ck.Config.PGD.Eps != want || ck.Config.Noise != 0 || ck.Config.InitSHA256 == "" {
		t.Errorf("resolved adversarial config = %+v (pgd %+v), want the default Linf eps %g, no noise, the init's hash", ck.Config, ck.Config.PGD, want)
	}
}

func TestResumeMayExtendEpochs(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("cnn")
	cfg.Epochs, cfg.HalveEvery = 1, 1
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	cfg.Epochs = 2
	res, err := Run(context.Background(), cfg, ds, Options{Dir: dir, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 2 {
		t.Errorf("extended run finished %d epochs, want 2", res.Epochs)
	}
	cfg.HalveEvery = 2
	cfg.Epochs = 3
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir, Resume: true}); err == nil {
		t.Error("resume with another learning-rate schedule was accepted")
	}
}

// TestKillBetweenEpochsResumesExactly: the last thing an epoch writes is its
// checkpoint, so a run of one epoch leaves exactly what a kill between epochs 1 and 2
// leaves. Resuming it with --epochs 2 (the same learning-rate schedule: HalveEvery is
// 1 for both) must continue at epoch 2, not train epoch 1 again, and reach the
// uninterrupted run's weights and metrics rows bit for bit. A checkpoint of the
// earlier layout, which recorded the finished epoch as "epoch 0, step 0", must be
// read the same way.
func TestKillBetweenEpochsResumesExactly(t *testing.T) {
	ds := tinyDataset(t)
	for _, model := range []string{"eabs", "cnn"} {
		t.Run(model, func(t *testing.T) {
			cfg := tinyConfig(model)
			cfg.CheckpointSteps = 0 // only epoch ends, as in the repro
			dirA := t.TempDir()
			a, err := Run(context.Background(), cfg, ds, Options{Dir: dirA})
			if err != nil {
				t.Fatal(err)
			}
			for _, legacy := range []bool{false, true} {
				dirB := t.TempDir()
				one := cfg
				one.Epochs = 1
				if _, err := Run(context.Background(), one, ds, Options{Dir: dirB}); err != nil {
					t.Fatal(err)
				}
				ckPath := filepath.Join(dirB, CheckpointFile)
				ck, err := ReadCheckpoint(ckPath)
				if err != nil {
					t.Fatal(err)
				}
				if ck.State.Epoch != 1 || ck.State.Step != 0 {
					t.Fatalf("checkpoint after epoch 1 records epoch %d step %d, want 1 complete epoch (1, 0)", ck.State.Epoch, ck.State.Step)
				}
				if legacy {
					ck.State.Epoch, ck.State.Format = 0, 0
					if err := ck.WriteFile(ckPath); err != nil {
						t.Fatal(err)
					}
				}
				b, err := Run(context.Background(), cfg, ds, Options{Dir: dirB, Resume: true})
				if err != nil {
					t.Fatal(err)
				}
				if b.Epochs != 2 {
					t.Errorf("legacy %v: resumed run finished %d epochs, want 2", legacy, b.Epochs)
				}
				for i, p := range a.Weights.Params {
					q := b.Weights.Params[i]
					for j := range p.Data {
						if p.Data[j] != q.Data[j] {
							t.Fatalf("legacy %v: %s[%d]: uninterrupted %v, resumed %v", legacy, p.Name, j, p.Data[j], q.Data[j])
						}
					}
				}
				if ma, mb := metricsColumns(t, dirA), metricsColumns(t, dirB); ma != mb {
					t.Errorf("legacy %v: metrics differ:\nuninterrupted\n%s\nresumed\n%s", legacy, ma, mb)
				}
			}
		})
	}
}

// TestRunRefusesForeignFiles: a folder with a model, metrics or manifest but no
// checkpoint (a copied model folder) is not overwritten without Force; Force over an
// earlier run starts a new one, whose checkpoint is not the old run's.
func TestRunRefusesForeignFiles(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("cnn")
	cfg.Epochs = 1
	for _, f := range []string{ModelFile, MetricsFile, ManifestFile} {
		dir := t.TempDir()
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, []byte("the user's file"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Run(context.Background(), cfg, ds, Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), "--force") {
			t.Errorf("run into a folder holding %s: err = %v, want a refusal naming it and --force", f, err)
		}
		if b, _ := os.ReadFile(p); string(b) != "the user's file" {
			t.Errorf("%s was changed by a refused run", f)
		}
		if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir, Force: true}); err != nil {
			t.Errorf("run with Force into a folder holding %s: %v", f, err)
		}
	}
	// A run killed before its first checkpoint leaves only its manifest: the same run
	// starts again without Force (scripts/train-queue.sh reruns it so), another is
	// refused.
	early := t.TempDir()
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: early, DataFingerprint: "d1"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CheckpointFile, ModelFile, MetricsFile} {
		os.Remove(filepath.Join(early, f))
	}
	other := cfg
	other.Seed = 9
	if _, err := Run(context.Background(), other, ds, Options{Dir: early, DataFingerprint: "d1"}); err == nil || !strings.Contains(err.Error(), ManifestFile) {
		t.Errorf("another run into a folder with a manifest only: err = %v, want a refusal", err)
	}
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: early, DataFingerprint: "d2"}); err == nil {
		t.Error("the same run on other data into a folder with its manifest was accepted")
	}
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: early, DataFingerprint: "d1"}); err != nil {
		t.Errorf("the same run restarted after a kill before its first checkpoint: %v", err)
	}

	// Force over a finished run of another seed gives the new seed's run.
	dirA, dirB := t.TempDir(), t.TempDir()
	a, err := Run(context.Background(), cfg, ds, Options{Dir: dirA})
	if err != nil {
		t.Fatal(err)
	}
	old := cfg
	old.Seed = 7
	if _, err := Run(context.Background(), old, ds, Options{Dir: dirB}); err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), cfg, ds, Options{Dir: dirB, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range a.Weights.Params {
		if !slicesEqual(p.Data, b.Weights.Params[i].Data) {
			t.Fatalf("forced run's %s differs from a fresh run's", p.Name)
		}
	}
	if ma, mb := metricsColumns(t, dirA), metricsColumns(t, dirB); ma != mb {
		t.Errorf("forced run's metrics\n%s\nwant a fresh run's\n%s", mb, ma)
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestResumeRefusesOtherData: a run resumes only on the data it started on; the
// refusal names both fingerprints. A checkpoint that does not record one (the older
// layout) is compared through the manifest.
func TestResumeRefusesOtherData(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("cnn")
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir, StopAfter: 2, DataFingerprint: "aaaa1111"}); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), cfg, ds, Options{Dir: dir, Resume: true, DataFingerprint: "bbbb2222"})
	if err == nil || !strings.Contains(err.Error(), "aaaa1111") || !strings.Contains(err.Error(), "bbbb2222") {
		t.Errorf("resume on other data: err = %v, want a refusal naming both fingerprints", err)
	}
	ckPath := filepath.Join(dir, CheckpointFile)
	ck, err := ReadCheckpoint(ckPath)
	if err != nil {
		t.Fatal(err)
	}
	ck.State.Data = ""
	if err := ck.WriteFile(ckPath); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), cfg, ds, Options{Dir: dir, Resume: true, DataFingerprint: "bbbb2222"})
	if err == nil || !strings.Contains(err.Error(), "aaaa1111") || !strings.Contains(err.Error(), ManifestFile) {
		t.Errorf("resume on other data (fingerprint in the manifest only): err = %v, want a refusal naming it", err)
	}
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir, Resume: true, DataFingerprint: "aaaa1111"}); err != nil {
		t.Errorf("resume on the same data: %v", err)
	}
}

// TestResumeRefusesFewerEpochs: a run cannot be resumed to fewer epochs than it has
// trained (it used to report them as trained and do nothing); the same number is a
// no-op that keeps the model.
func TestResumeRefusesFewerEpochs(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("cnn")
	cfg.HalveEvery = 1
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	fewer := cfg
	fewer.Epochs = 1
	if _, err := Run(context.Background(), fewer, ds, Options{Dir: dir, Resume: true}); err == nil || !strings.Contains(err.Error(), "--epochs 2 or more") {
		t.Errorf("resume with fewer epochs: err = %v, want a refusal", err)
	}
	var log bytes.Buffer
	res, err := Run(context.Background(), cfg, ds, Options{Dir: dir, Resume: true, Log: &log})
	if err != nil || res.Epochs != 2 || !strings.Contains(log.String(), "nothing to train") {
		t.Errorf("resume of a finished run: %v, %d epochs, log %q", err, res.Epochs, log.String())
	}
}

// TestForceDropsOldEpochModels: --force starts a run over, and the old run's epoch
// models must not sit beside the new run's as if it had made them.
func TestForceDropsOldEpochModels(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("cnn")
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	cfg.Epochs = 1
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir, Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, EpochModel(1))); err != nil {
		t.Errorf("the new run's epoch 1: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, EpochModel(2))); !os.IsNotExist(err) {
		t.Errorf("the replaced run's epoch-2 model survived --force (stat: %v)", err)
	}
}

// TestStoppedBeforeFirstCheckpointStartsAgain: a run killed while it wrote its first
// checkpoint (or on a full disk) leaves its manifest, metrics, model and an empty
// temporary file, and no checkpoint. --resume says so and how to go on; the same
// command without --resume starts the run again and ends with the weights of a run
// never interrupted. Another run's settings in the folder are still refused.
func TestStoppedBeforeFirstCheckpointStartsAgain(t *testing.T) {
	ds := tinyDataset(t)
	cfg := tinyConfig("cnn")
	cfg.Epochs, cfg.CheckpointSteps = 1, 0
	want, err := Run(context.Background(), cfg, ds, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, CheckpointFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "."+CheckpointFile+".tmp123"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, ds, Options{Dir: dir, Resume: true}); err == nil || !strings.Contains(err.Error(), "without --resume") {
		t.Errorf("--resume without a checkpoint: %v, want advice to run again without --resume", err)
	}
	other := cfg
	other.LR = 0.5
	if _, err := Run(context.Background(), other, ds, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("another run's settings over the stopped run: %v, want a refusal", err)
	}
	got, err := Run(context.Background(), cfg, ds, Options{Dir: dir})
	if err != nil {
		t.Fatalf("the same command again: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*")); len(left) > 0 {
		t.Errorf("the interrupted write's temporary files are still there: %v", left)
	}
	for i, p := range want.Weights.Params {
		for j := range p.Data {
			if p.Data[j] != got.Weights.Params[i].Data[j] {
				t.Fatalf("%s[%d]: %v after the restart, %v uninterrupted", p.Name, j, got.Weights.Params[i].Data[j], p.Data[j])
			}
		}
	}
}
