package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/graph"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/blas"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/zoo"
)

// Files of a run directory.
const (
	CheckpointFile = "checkpoint.eabs"
	ModelFile      = models.ModelFileName
	MetricsFile    = "metrics.csv"
	ManifestFile   = "manifest.json"
	// EpochsDir holds every epoch's model (EpochModel), so that an epoch can be
	// chosen on the validation split after training instead of taking the last.
	EpochsDir = "epochs"
)

// EpochModel is the path, inside a run directory, of the model after epoch e (1-based).
func EpochModel(e int) string {
	return filepath.Join(EpochsDir, fmt.Sprintf("model-epoch%03d.eabs", e))
}

// Options controls how a run is carried out, not what it computes.
type Options struct {
	// Dir is the run directory (created if needed).
	Dir string
	// Resume continues from Dir's checkpoint; without it an existing checkpoint is
	// an error, so a run is never overwritten by accident.
	Resume bool
	// Progress receives a progress bar (nil: none; then Log gets a line every
	// LogEvery steps instead, for runs logging to a file). Log gets one line per epoch.
	Progress io.Writer
	LogEvery int
	Log      io.Writer
	// Force starts a new run in a Dir that already holds one (a checkpoint, a model,
	// metrics or a manifest), replacing it. Without it such a Dir is an error, so
	// nothing the user made is replaced by accident.
	Force bool
	// StopAfter stops with a checkpoint after this many steps of this invocation
	// (0: run to the end). Used by tests and for time-boxed runs.
	StopAfter int
	// Command is recorded in the manifest (the command line that started the run).
	Command []string
	// DataFingerprint is the dataset's SHA-256, recorded in the manifest.
	DataFingerprint string
}

// Result summarises a finished (or stopped) run.
type Result struct {
	Weights *models.Weights
	// Epochs completed.
	Epochs int
	// ValAcc is the amortised validation accuracy after the last completed epoch.
	ValAcc  float64
	Stopped bool
}

// ErrStopped reports that Options.StopAfter or a cancelled context ended the run early
// after writing a checkpoint.
var ErrStopped = errors.New("train: stopped early; continue with --resume")

// progressState is where a run stands; it is saved in checkpoints.
type progressState struct {
	Epoch   int     `json:"epoch"`   // epoch in progress (0-based)
	Step    int     `json:"step"`    // steps done in that epoch
	Global  int     `json:"global"`  // steps done in the run
	Seconds float64 `json:"seconds"` // training time so far
	ValAcc  float64 `json:"val_acc"`
	// Sums over the epoch in progress, so a resumed epoch reports the same metrics.
	LossSum, DiscSum float64
	Correct, Seen    int
	// Format is stateFormat in checkpoints written since epoch ends are recorded as
	// complete (Epoch counts completed epochs when Step is 0). Older checkpoints (0)
	// wrote an epoch's end before moving Epoch on; upgradeLegacy reads them.
	Format int `json:"format,omitempty"`
	// Data is the training data's fingerprint (Options.DataFingerprint): a run
	// resumes only on the data it started on.
	Data string `json:"data_sha256,omitempty"`
}

// stateFormat is the progressState layout written by this version.
const stateFormat = 2

// upgradeLegacy interprets a checkpoint written before the state recorded finished
// epochs: such a checkpoint saved at the end of epoch e still says "epoch e, step 0",
// which would retrain epoch e on resume. Its step count tells the two apart: after
// epoch e it has done (e+1)*perEpoch steps, at the start of epoch e (a stop there)
// only e*perEpoch.
func (st *progressState) upgradeLegacy(perEpoch int) {
	if st.Format >= stateFormat {
		return
	}
	if st.Step == 0 && st.Global > 0 && st.Global == (st.Epoch+1)*perEpoch {
		st.Epoch++
	}
	st.Format = stateFormat
}

// Run trains a model on ds's training split (minus the validation split) and writes
// checkpoints, per-epoch metrics, a manifest and the final model into opt.Dir.
func Run(ctx context.Context, cfg Config, ds *data.Dataset, opt Options) (*Result, error) {
	cfg, err := cfg.Resolve()
	if err != nil {
		return nil, err
	}
	var initW *models.Weights
	if cfg.Init != "" {
		if initW, cfg.InitSHA256, err = loadInit(cfg.Init); err != nil {
			return nil, fmt.Errorf("train: --init: %w", err)
		}
	}
	spec, err := cfg.spec()
	if err != nil {
		return nil, err
	}
	a := spec.Arch
	if ds.Train.C != a.InC || ds.Train.H != a.InH || ds.Train.W != a.InW || ds.Train.Classes != a.Classes {
		return nil, fmt.Errorf("train: dataset %s has %d classes of %dx%dx%d images; model %q wants %d of %dx%dx%d",
			ds.Name, ds.Train.Classes, ds.Train.C, ds.Train.H, ds.Train.W, a.Name, a.Classes, a.InC, a.InH, a.InW)
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, err
	}
	trainSet, valSet := data.ValidationSplit(ds.Train, cfg.ValFrac, cfg.Seed)
	if cfg.MaxTrain > 0 && cfg.MaxTrain < trainSet.N {
		idx := make([]int, cfg.MaxTrain)
		for i := range idx {
			idx[i] = i
		}
		trainSet = trainSet.Subset(idx)
	}
	if trainSet.N < cfg.Batch {
		return nil, fmt.Errorf("train: %d training images, fewer than one batch of %d", trainSet.N, cfg.Batch)
	}

	ckPath := filepath.Join(opt.Dir, CheckpointFile)
	var w *models.Weights
	opt2 := NewAdam(cfg.LR)
	stepPCG := rand.NewPCG(cfg.Seed, streamSteps)
	st := progressState{Format: stateFormat, Data: opt.DataFingerprint}
	perClass := spec.Kind == models.Generative && !spec.Discriminative
	if perClass {
		// Each class's encoder and decoder learn from single-class batches only: a class
		// with fewer training images than a batch would never be trained, and the run
		// would report epochs of nothing (NaN losses, a chance-level model).
		for k, n := range trainSet.ClassCounts() {
			if n < cfg.Batch {
				return nil, fmt.Errorf("train: model %s trains each class on batches of that class alone, and class %d has %d training images, fewer than one batch of %d (use a smaller --batch or more images)",
					cfg.Model, k, n, cfg.Batch)
			}
		}
	}
	// Temporary files of writes a kill interrupted (atomicfile's) are not the run's.
	for _, f := range []string{CheckpointFile, ModelFile, MetricsFile, ManifestFile} {
		left, _ := filepath.Glob(filepath.Join(opt.Dir, "."+f+".tmp*"))
		for _, l := range left {
			os.Remove(l)
		}
	}
	if opt.Force && !opt.Resume {
		// A new run replaces the old one at once: the old checkpoint must not
		// survive a kill before the new run's first save (--resume would continue
		// the old run), nor the old model and metrics sit beside the new manifest.
		for _, f := range []string{CheckpointFile, ModelFile, MetricsFile} {
			if err := os.Remove(filepath.Join(opt.Dir, f)); err != nil && !os.IsNotExist(err) {
				return nil, err
			}
		}
		if err := os.RemoveAll(filepath.Join(opt.Dir, EpochsDir)); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(ckPath); err == nil {
		if !opt.Resume {
			return nil, fmt.Errorf("train: %s already holds a checkpoint; pass --resume to continue it, --force to start over, or choose another --out", opt.Dir)
		}
		ck, err := ReadCheckpoint(ckPath)
		if err != nil {
			return nil, err
		}
		// Everything but the number of epochs must match: a run may be extended
		// (with the same learning-rate schedule, so pass the checkpoint's
		// --halve-every when the default would change with --epochs).
		extended := ck.Config
		extended.Epochs = cfg.Epochs
		if !sameJSON(extended, cfg) {
			return nil, fmt.Errorf("train: checkpoint %s was made with other settings: %s", ckPath, configDiff(ck.Config, cfg))
		}
		if ck.Config.Epochs != cfg.Epochs && opt.Log != nil {
			fmt.Fprintf(opt.Log, "resuming %s with %d epochs instead of %d\n", ckPath, cfg.Epochs, ck.Config.Epochs)
		}
		if err := sameData(opt, ck.State.Data); err != nil {
			return nil, err
		}
		w, opt2, st = ck.Weights, ck.Adam, ck.State
		if st.Data == "" {
			st.Data = opt.DataFingerprint
		}
		st.upgradeLegacy(len(batches(trainSet, cfg.Batch, perClass, rand.New(rand.NewPCG(cfg.Seed, streamEpoch)))))
		done := st.Epoch
		if st.Step > 0 {
			done++ // the epoch in progress counts: it cannot be undone either
		}
		if cfg.Epochs < done {
			return nil, fmt.Errorf("train: %s has trained %d epochs (checkpoint at epoch %d step %d); --epochs %d would not train them back: pass --epochs %d or more",
				opt.Dir, st.Epoch, st.Epoch+1, st.Step, cfg.Epochs, done)
		}
		if cfg.Epochs == st.Epoch && opt.Log != nil {
			fmt.Fprintf(opt.Log, "%s already holds all %d epochs: nothing to train (a larger --epochs extends it)\n", opt.Dir, st.Epoch)
		}
		if err := stepPCG.UnmarshalBinary(ck.RNG); err != nil {
			return nil, fmt.Errorf("train: checkpoint %s: rng state: %w", ckPath, err)
		}
	} else {
		same := sameRun(opt, cfg)
		if opt.Resume {
			if same {
				return nil, fmt.Errorf("train: --resume: no checkpoint in %s: the run stopped before its first checkpoint; run the same command without --resume to start it again", opt.Dir)
			}
			return nil, fmt.Errorf("train: --resume: no checkpoint in %s", opt.Dir)
		}
		if !opt.Force {
			var found []string
			for _, f := range []string{ModelFile, MetricsFile, ManifestFile} {
				if _, err := os.Stat(filepath.Join(opt.Dir, f)); err == nil {
					found = append(found, f)
				}
			}
			if same {
				// This very run (same settings and data), stopped before its first
				// checkpoint was written (a kill during the write, a full disk): what
				// it left is rewritten as it trains again.
				found = nil
			}
			if len(found) > 0 {
				return nil, fmt.Errorf("train: %s already holds %s (and no checkpoint to resume): choose another --out, or pass --force to replace them", opt.Dir, strings.Join(found, ", "))
			}
		}
		if cfg.Init != "" {
			iw := initW
			if !specEqual(iw.Spec, spec) {
				return nil, fmt.Errorf("train: --init %s holds a %s model on %q, this run trains %s on %q", cfg.Init, iw.Spec.Name(), iw.Spec.Arch.Name, spec.Name(), spec.Arch.Name)
			}
			w = iw
		} else if w, err = models.NewWeights(spec, rand.New(rand.NewPCG(cfg.Seed, streamInit))); err != nil {
			return nil, err
		}
		if err := writeManifest(opt, cfg, spec, trainSet, valSet); err != nil {
			return nil, err
		}
	}
	stepRNG := rand.New(stepPCG)
	b := &batcher{set: trainSet, noise: cfg.Noise, noisyTarget: cfg.NoisyTarget, unclipped: cfg.NoiseUnclipped}
	s, err := newStepper(w, cfg.Batch, b, opt2, cfg.PGD, discSettings{steps: cfg.DiscSteps, lr: cfg.DiscLR})
	if err != nil {
		return nil, err
	}
	defer s.close()
	metrics, err := openMetrics(filepath.Join(opt.Dir, MetricsFile), st.Epoch)
	if err != nil {
		return nil, err
	}
	defer metrics.Close()

	save := func() error {
		pb, err := stepPCG.MarshalBinary()
		if err != nil {
			return err
		}
		return (&Checkpoint{Config: cfg, Weights: w, Adam: opt2, State: st, RNG: pb}).WriteFile(ckPath)
	}
	steps := 0
	for st.Epoch < cfg.Epochs {
		plan := batches(trainSet, cfg.Batch, perClass, rand.New(rand.NewPCG(cfg.Seed, streamEpoch+uint64(st.Epoch))))
		lr := cfg.LRAt(st.Epoch)
		bar := newBar(opt.Progress, len(plan), fmt.Sprintf("epoch %d/%d", st.Epoch+1, cfg.Epochs))
		bar.Set(st.Step)
		start, base := time.Now(), st.Seconds
		images := 0
		for ; st.Step < len(plan); st.Step++ {
			if steps == opt.StopAfter && opt.StopAfter > 0 || ctx.Err() != nil {
				st.Seconds = base + time.Since(start).Seconds()
				if err := save(); err != nil {
					return nil, err
				}
				return &Result{Weights: w, Epochs: st.Epoch, ValAcc: st.ValAcc, Stopped: true}, ErrStopped
			}
			ss, err := s.step(plan[st.Step], stepRNG, lr)
			if err != nil {
				return nil, fmt.Errorf("epoch %d step %d: %w", st.Epoch+1, st.Step+1, err)
			}
			steps++
			st.Global++
			images += len(plan[st.Step])
			st.LossSum += ss.loss
			st.DiscSum += ss.discLoss
			st.Correct += ss.correct
			st.Seen += ss.n
			bar.Describe(fmt.Sprintf("epoch %d/%d loss %.3f acc %s %.0f img/s", st.Epoch+1, cfg.Epochs,
				st.LossSum/float64(st.Step+1), accText(st.Correct, st.Seen), float64(images)/time.Since(start).Seconds()))
			bar.Add(1)
			if opt.Progress == nil && opt.Log != nil && opt.LogEvery > 0 && (st.Step+1)%opt.LogEvery == 0 {
				fmt.Fprintf(opt.Log, "%s epoch %d/%d step %d/%d: loss %.4f acc %s %.1f img/s\n", time.Now().Format(time.TimeOnly), st.Epoch+1, cfg.Epochs,
					st.Step+1, len(plan), st.LossSum/float64(st.Step+1), accText(st.Correct, st.Seen), float64(images)/time.Since(start).Seconds())
			}
			if cfg.CheckpointSteps > 0 && (st.Step+1)%cfg.CheckpointSteps == 0 {
				st.Step++
				st.Seconds = base + time.Since(start).Seconds()
				err := save()
				st.Step--
				if err != nil {
					return nil, err
				}
			}
		}
		bar.Finish()
		elapsed := time.Since(start).Seconds()
		st.Seconds = base + elapsed
		if st.ValAcc, err = amortizedAccuracy(w, valSet); err != nil {
			return nil, err
		}
		row := metricsRow{Epoch: st.Epoch + 1, Steps: st.Global, LR: lr, Loss: st.LossSum / float64(len(plan)),
			DiscLoss: st.DiscSum / float64(len(plan)), TrainAcc: ratio(st.Correct, st.Seen), ValAcc: st.ValAcc,
			ImagesPerSec: float64(images) / elapsed, Seconds: st.Seconds}
		if err := metrics.write(row); err != nil {
			return nil, err
		}
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, "epoch %d/%d: loss %.4f disc %.4f train acc %s val acc %.4f (%.0f img/s, lr %g)\n",
				row.Epoch, cfg.Epochs, row.Loss, row.DiscLoss, accText(st.Correct, st.Seen), row.ValAcc, row.ImagesPerSec, lr)
		}
		// The epoch is complete: the checkpoint says so (Epoch moves on before it is
		// written), so a kill after it resumes at the next epoch instead of training
		// this one again. The model goes first: a kill between the two writes leaves
		// the previous checkpoint, from which the resumed run recomputes this same
		// epoch bit for bit and rewrites the same model.
		// A diverged run stops here, keeping its last good checkpoint, rather than
		// writing a model no reader accepts (models.CheckValues).
		if err := models.CheckValues(w); err != nil {
			return nil, fmt.Errorf("train: epoch %d diverged (%w); the checkpoint before it is kept: resume with a lower --lr or start over", st.Epoch+1, err)
		}
		st.Epoch++
		st.Step, st.LossSum, st.DiscSum, st.Correct, st.Seen = 0, 0, 0, 0, 0
		meta := map[string]string{"dataset": cfg.Dataset, "epochs": strconv.Itoa(st.Epoch),
			"val_acc_amortized": strconv.FormatFloat(st.ValAcc, 'f', 4, 64), "seed": strconv.FormatUint(cfg.Seed, 10)}
		if err := models.SaveModel(filepath.Join(opt.Dir, ModelFile), w, meta); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(opt.Dir, EpochsDir), 0o755); err != nil {
			return nil, err
		}
		if err := models.SaveModel(filepath.Join(opt.Dir, EpochModel(st.Epoch)), w, meta); err != nil {
			return nil, err
		}
		if err := save(); err != nil {
			return nil, err
		}
	}
	return &Result{Weights: w, Epochs: st.Epoch, ValAcc: st.ValAcc}, nil
}

// sameRun says whether opt.Dir's manifest describes a run of cfg on the same data:
// a run killed before its first checkpoint leaves only its manifest, and may start
// again without --force.
func sameRun(opt Options, cfg Config) bool {
	b, err := os.ReadFile(filepath.Join(opt.Dir, ManifestFile))
	if err != nil {
		return false
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return false
	}
	return sameJSON(m.Config, cfg) && m.DataFingerprint == opt.DataFingerprint
}

// configDiff lists the settings in which two configs differ, as "json_name: a -> b".
func configDiff(was, now Config) string {
	var a, b map[string]any
	ja, _ := json.Marshal(was)
	jb, _ := json.Marshal(now)
	json.Unmarshal(ja, &a)
	json.Unmarshal(jb, &b)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var diffs []string
	for k := range keys {
		va, _ := json.Marshal(a[k])
		vb, _ := json.Marshal(b[k])
		if k != "epochs" && string(va) != string(vb) {
			diffs = append(diffs, fmt.Sprintf("%s %s there, %s now", k, va, vb))
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "; ")
}

// sameData refuses to resume on other data than the run started on (the same
// dataset name may hold other files): the checkpoint's fingerprint, or for a
// checkpoint that does not record one the manifest's, must be this run's.
func sameData(opt Options, recorded string) error {
	from := CheckpointFile
	if recorded == "" {
		from = ManifestFile
		b, err := os.ReadFile(filepath.Join(opt.Dir, ManifestFile))
		if err != nil {
			return nil // nothing recorded to compare with
		}
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("train: %s: %w", filepath.Join(opt.Dir, ManifestFile), err)
		}
		recorded = m.DataFingerprint
	}
	if recorded == "" || opt.DataFingerprint == "" || recorded == opt.DataFingerprint {
		return nil
	}
	return fmt.Errorf("train: cannot resume %s on other data: its %s records data fingerprint %s, the data loaded now has %s (same dataset name, other files?)",
		opt.Dir, from, recorded, opt.DataFingerprint)
}

// Seeded streams: each use of randomness gets its own PCG stream of the run's seed.
const (
	streamInit  = 1
	streamSteps = 3
	streamEpoch = 1000
)

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// accText is a training accuracy for the log: "-" where the steps classify nothing
// (ABS-style single-class batches train autoencoders, not a classifier; metrics.csv
// then records 0).
func accText(correct, seen int) string {
	if seen == 0 {
		return "-"
	}
	return fmt.Sprintf("%.4f", ratio(correct, seen))
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func newBar(w io.Writer, n int, desc string) *progressbar.ProgressBar {
	if w == nil {
		w = io.Discard
	}
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionSetWidth(20), progressbar.OptionThrottle(500*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
}

// Manifest records how a run was made.
type Manifest struct {
	Command         []string       `json:"command"`
	Config          Config         `json:"config"`
	Spec            models.Spec    `json:"spec"`
	Parameters      int            `json:"parameters"`
	TrainImages     int            `json:"train_images"`
	ValImages       int            `json:"val_images"`
	DataFingerprint string         `json:"dataset_sha256"`
	BLAS            string         `json:"blas"`
	Build           buildinfo.Info `json:"build"`
	Started         string         `json:"started"`
}

func writeManifest(opt Options, cfg Config, spec models.Spec, tr, val *data.Set) error {
	w, _ := models.NewWeights(spec, rand.New(rand.NewPCG(0, 0)))
	m := Manifest{Command: opt.Command, Config: cfg, Spec: spec, Parameters: w.Count(), TrainImages: tr.N, ValImages: val.N,
		DataFingerprint: opt.DataFingerprint, BLAS: blas.Name, Build: buildinfo.Collect(), Started: time.Now().UTC().Format(time.RFC3339)}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(opt.Dir, ManifestFile), append(b, '\n'))
}

// amortizedAccuracy is the validation metric: the encoder shortcut's accuracy
// (graph.Amortized) on set.
func amortizedAccuracy(w *models.Weights, set *data.Set) (float64, error) {
	if set.N == 0 {
		return 0, nil
	}
	logits, err := graph.Amortized(w, set, 250, nil)
	if err != nil {
		return 0, err
	}
	K, ok := w.Spec.Arch.Classes, 0
	for i, y := range set.Labels {
		if floats.Argmax(logits[i*K:(i+1)*K]) == y {
			ok++
		}
	}
	return float64(ok) / float64(set.N), nil
}

// loadInit reads the model --init names: a model or checkpoint file, a training run or
// export folder (its model.eabs), or a zoo model; sha is the SHA-256 of its file.
func loadInit(init string) (w *models.Weights, sha string, err error) {
	if strings.HasPrefix(init, zoo.Prefix) {
		b, err := zoo.Bytes(init)
		if err != nil {
			return nil, "", err
		}
		w, _, err := zoo.Load(init)
		sum := sha256.Sum256(b)
		return w, hex.EncodeToString(sum[:]), err
	}
	if strings.EqualFold(filepath.Ext(init), ".onnx") {
		return nil, "", fmt.Errorf("%s is a plain ONNX file; --init takes an eabs model (a model.eabs, a training run or export folder, or a zoo model)", init)
	}
	if st, err := os.Stat(init); err == nil && st.IsDir() {
		init = filepath.Join(init, models.ModelFileName)
	}
	if sha, err = fileSHA256(init); err != nil {
		return nil, "", err
	}
	w, _, err = models.LoadModel(init)
	return w, sha, err
}
