package eval

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/shard"
)

// ClassifyKind is the shard.Header kind of classification results.
const ClassifyKind = "classify"

// ClassifyRecord is one sample's classification.
type ClassifyRecord struct {
	Pos   int    `json:"pos"`
	Index int    `json:"index"`
	File  string `json:"file,omitempty"`
	// Label is -1 for images without one (files).
	Label   int       `json:"label"`
	Pred    int       `json:"pred"`
	Correct bool      `json:"correct"`
	Logits  []float32 `json:"logits"`
}

// Position implements shard.Positioned.
func (r ClassifyRecord) Position() int { return r.Pos }

// ClassifyRun is how a classification ran: what decides its logits (also in the
// header's config) and, under "timing", what does not.
type ClassifyRun struct {
	// Mode is "full" (the paper's inference), "amortized" (the encoder's mean) or
	// "logits" (a classifier).
	Mode    string         `json:"mode"`
	Runtime string         `json:"runtime"`
	Options *infer.Options `json:"options,omitempty"`
	EOT     int            `json:"eot,omitempty"`
	Seed    uint64         `json:"seed,omitempty"`
	Timing  ClassifyTiming `json:"timing"`
}

// ClassifyTiming is where a classification's time went, and the settings that only
// change the time.
type ClassifyTiming struct {
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_second"`
	BankSeconds  float64 `json:"bank_seconds,omitempty"`
	SearchSec    float64 `json:"search_seconds,omitempty"`
	OptimiseSec  float64 `json:"optimise_seconds,omitempty"`
	Batch        int     `json:"batch"`
	Workers      int     `json:"workers,omitempty"`
	Threads      int     `json:"threads,omitempty"`
}

// ClassifyResult is a classification results file (a whole run or a shard).
type ClassifyResult struct {
	Header     shard.Header     `json:"header"`
	Model      string           `json:"model"`
	ClassNames []string         `json:"class_names,omitempty"` // the dataset's names of the labels
	Run        *ClassifyRun     `json:"run,omitempty"`
	Records    []ClassifyRecord `json:"records"`
	Accuracy   *Rate            `json:"accuracy,omitempty"`
	Provenance any              `json:"provenance,omitempty"`
	Parts      []string         `json:"parts,omitempty"`
}

// ClassifyJob is one classification: a model on a sample (or its shard).
type ClassifyJob struct {
	Model  *runtime.Source
	Sample *Sample
	// Engine runs a generative model's full inference ("ort" or "ref"); classifiers
	// and the amortized shortcut run on the reference graph, plain ONNX classifiers on
	// ONNX Runtime.
	Engine  string
	Runtime runtime.Options
	// Amortized scores the encoder's mean instead of running the full inference.
	Amortized bool
	Infer     infer.Options
	// EOT averages each image's losses over this many inferences with independent
	// noise, from Seed and the image's position in the sample list.
	EOT  int
	Seed uint64
	// Beta, when set, replaces the model's prior weight in the inference (the
	// -beta*log D(z) term of the loss), for ablations; nil: the model's.
	Beta *float64
	// Batch images per call, Workers batches at once (full inference).
	Batch, Workers int
	// BankProgress and Progress report the start bank's means and the images done.
	BankProgress, Progress func(done, total int)
}

// Classify runs a classification job.
func Classify(job ClassifyJob) (*ClassifyResult, error) {
	if job.Batch < 1 || job.EOT < 1 {
		return nil, fmt.Errorf("classify: batch %d and eot %d must be at least 1", job.Batch, job.EOT)
	}
	src := job.Model
	set, pos, idx := job.Sample.Part()
	tick := func(done int) {
		if job.Progress != nil {
			job.Progress(done, set.N)
		}
	}
	run := &ClassifyRun{Timing: ClassifyTiming{Batch: job.Batch}}
	var (
		modelSHA, config, name string
		logits                 []float32
		classes                int
	)
	start := time.Now()
	switch w := src.Weights; {
	case w == nil:
		sha, err := src.SHA256()
		if err != nil {
			return nil, err
		}
		modelSHA, name, config = sha, src.Name(), PlainConfig(src)
		run.Mode, run.Runtime = "logits", "ort"
		if err := src.CheckData(job.Sample.Dataset, job.Sample.Set, 0); err != nil {
			return nil, err
		}
		c, err := runtime.OpenClassifier("ort", src, job.Runtime)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		classes = c.Classes()
		if err := src.CheckData(job.Sample.Dataset, job.Sample.Set, classes); err != nil {
			return nil, err
		}
		if logits, err = classifyBatches(c, set, job.Batch, tick); err != nil {
			return nil, err
		}
	case w.Spec.Kind == models.CNN || job.Amortized:
		modelSHA, name, classes = onnx.WeightsSHA256(w), w.Spec.Name(), w.Spec.Arch.Classes
		run.Mode, run.Runtime, config = "amortized", "ref-float32", "amortized (reference graph)"
		if w.Spec.Kind == models.CNN {
			run.Mode, config = "logits", "logits (reference graph)"
		}
		if err := fits(src, w.Spec.Arch, job.Sample.Dataset, set); err != nil {
			return nil, err
		}
		r, err := infer.Amortized(w, set, job.Batch, tick)
		if err != nil {
			return nil, err
		}
		logits = r.Logits
	default:
		modelSHA, name, classes = onnx.WeightsSHA256(w), w.Spec.Name(), w.Spec.Arch.Classes
		if err := fits(src, w.Spec.Arch, job.Sample.Dataset, set); err != nil {
			return nil, err
		}
		config = fmt.Sprintf("full inference, runtime %s, %+v, eot %d, seed %d", job.Engine, job.Infer, job.EOT, job.Seed)
		if job.Beta != nil {
			src = withBeta(src, *job.Beta)
			config += fmt.Sprintf(", inference beta %g", *job.Beta)
		}
		opt := job.Infer
		run.Mode, run.Runtime, run.Options, run.EOT, run.Seed = "full", job.Engine, &opt, job.EOT, job.Seed
		run.Timing.Workers = job.Workers
		if job.Engine == "ort" {
			run.Timing.Threads = max(job.Runtime.Threads, 1)
		}
		m, err := runtime.Open(job.Engine, src, job.Runtime)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		t0 := time.Now()
		e, err := infer.NewEngine(m, job.Infer, job.BankProgress)
		if err != nil {
			return nil, err
		}
		run.Timing.BankSeconds = time.Since(t0).Seconds()
		start = time.Now()
		r, tm, err := e.ClassifyKeyed(set, pos, job.Batch, job.Workers, job.Seed, job.EOT, tick)
		if err != nil {
			return nil, err
		}
		logits = r.Logits
		run.Timing.SearchSec, run.Timing.OptimiseSec = tm.Search.Seconds(), tm.Optimise.Seconds()
	}
	run.Timing.Seconds = time.Since(start).Seconds()
	run.Timing.ImagesPerSec = float64(set.N*job.EOT) / run.Timing.Seconds
	r := &ClassifyResult{Header: job.Sample.Header(ClassifyKind, modelSHA, config), Model: name, ClassNames: set.ClassNames, Run: run}
	for i := range pos {
		row := logits[i*classes : (i+1)*classes]
		rec := ClassifyRecord{Pos: pos[i], Index: idx[i], Label: -1, Pred: floats.Argmax(row), Logits: append([]float32(nil), row...)}
		if set.Labels != nil {
			rec.Label = set.Labels[i]
			rec.Correct = rec.Pred == rec.Label
		}
		if set.Files != nil {
			rec.File = set.Files[i]
		}
		r.Records = append(r.Records, rec)
	}
	r.summarize()
	return r, nil
}

// fits refuses images the model cannot classify, naming both sides.
func fits(src *runtime.Source, a models.Arch, dataset string, set *data.Set) error {
	if set.C != a.InC || set.H != a.InH || set.W != a.InW || (set.Classes != 0 && set.Classes != a.Classes) {
		if dataset == "" {
			dataset = "the images"
		}
		return fmt.Errorf("model %s expects %dx%dx%d images and %d classes, data %s has %dx%dx%d and %d",
			src.Arg, a.InC, a.InH, a.InW, a.Classes, dataset, set.C, set.H, set.W, set.Classes)
	}
	return nil
}

// classifyBatches runs a classifier over a set, batch images per call.
func classifyBatches(c runtime.Classifier, set *data.Set, batch int, tick func(int)) ([]float32, error) {
	n := set.ImageSize()
	var out []float32
	for lo := 0; lo < set.N; lo += batch {
		hi := min(lo+batch, set.N)
		l, err := c.Logits(set.Images[lo*n:hi*n], hi-lo)
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
		tick(hi)
	}
	return out, nil
}

func (r *ClassifyResult) summarize() {
	if len(r.Records) == 0 || r.Records[0].Label < 0 {
		r.Accuracy = nil
		return
	}
	k := 0
	for _, rec := range r.Records {
		if rec.Correct {
			k++
		}
	}
	a := NewRate(k, len(r.Records))
	r.Accuracy = &a
}

// WriteClassify writes r to path atomically.
func WriteClassify(path string, r *ClassifyResult) error {
	r.summarize()
	return writeResult(path, r)
}

// ReadClassify reads a classification results file.
func ReadClassify(path string) (*ClassifyResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeClassify(path, b)
}

func decodeClassify(name string, b []byte) (*ClassifyResult, error) {
	var r ClassifyResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.Header.Kind != ClassifyKind {
		return nil, fmt.Errorf("%s: a %q result, not a classify result", name, r.Header.Kind)
	}
	return &r, nil
}

// WriteCSV writes one row per record: position, split index (or file), label, prediction
// and the logits.
func (r *ClassifyResult) WriteCSV(path string) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := []string{"pos", "index", "file", "label", "pred"}
	if len(r.Records) > 0 {
		for k := range r.Records[0].Logits {
			head = append(head, "logit_"+strconv.Itoa(k))
		}
	}
	w.Write(head)
	for _, rec := range r.Records {
		label := ""
		if rec.Label >= 0 {
			label = strconv.Itoa(rec.Label)
		}
		row := []string{strconv.Itoa(rec.Pos), strconv.Itoa(rec.Index), rec.File, label, strconv.Itoa(rec.Pred)}
		for _, v := range rec.Logits {
			row = append(row, strconv.FormatFloat(float64(v), 'g', 8, 32))
		}
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}

// withBeta is src with the inference's prior weight replaced by beta. The weight is
// baked into the exported latent step, so the engine runs a copy of the weights with
// this beta (a fresh export on ONNX Runtime); the weights' own file is untouched.
func withBeta(src *runtime.Source, beta float64) *runtime.Source {
	wb := src.Weights.Clone()
	wb.Spec.Beta = beta
	return &runtime.Source{Arg: src.Arg, Path: src.Path, Weights: wb, Meta: src.Meta}
}
