package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	_ "image/jpeg" // decoders for classify's image files
	_ "image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/suite"
	"github.com/spf13/cobra"
)

func init() { register(newClassifyCmd) }

type classifyOptions struct {
	rf        runtimeFlags
	dataset   string
	dataDir   string
	split     string
	n         int
	all       bool
	batch     int
	amortized bool
	eot       int
	seed      uint64
	infer     infer.Options
	jsonOut   string
	csvOut    string
	// shard and sampleSeed: eabs classify --shard (sharded.go)
	shard      shardFlags
	sampleSeed uint64
}

// ClassifyReport is the JSON eabs classify writes: what was measured, on what, how.
type ClassifyReport struct {
	provenance
	Model      string         `json:"model"`
	ModelName  string         `json:"model_name"`
	WeightsSHA string         `json:"weights_sha256"`
	Dataset    string         `json:"dataset,omitempty"`
	Split      string         `json:"split,omitempty"`
	Files      []string       `json:"files,omitempty"`
	N          int            `json:"n"`
	Runtime    string         `json:"runtime"`
	Mode       string         `json:"mode"`
	Options    *infer.Options `json:"inference,omitempty"`
	EOT        int            `json:"eot"`
	Seed       uint64         `json:"seed"`
	Batch      int            `json:"batch"`
	Correct    int            `json:"correct,omitempty"`
	Accuracy   *float64       `json:"accuracy,omitempty"`
	// CI95 is the accuracy's Clopper-Pearson 95% interval: inference is randomised
	// and test sets are finite, so an accuracy is reported with its interval.
	CI95         []float64 `json:"ci95,omitempty"`
	Seconds      float64   `json:"seconds"`
	BankSeconds  float64   `json:"bank_seconds,omitempty"`
	ImagesPerSec float64   `json:"images_per_s"`
	Workers      int       `json:"workers,omitempty"`
	Threads      int       `json:"ort_threads,omitempty"`
	// SearchSec and OptimiseSec are summed over concurrent workers.
	SearchSec   float64 `json:"search_seconds,omitempty"`
	OptimiseSec float64 `json:"optimise_seconds,omitempty"`
	Predictions []int   `json:"predictions,omitempty"`
}

func newClassifyCmd() *cobra.Command {
	o := &classifyOptions{infer: infer.DefaultOptions()}
	cmd := &cobra.Command{
		Use:     "classify MODEL (--dataset D | IMAGE...)",
		Aliases: []string{"eval"},
		Short:   "Classify images with the paper's inference (or the encoder shortcut)",
		Long: `Classify a dataset split or image files (PNG, JPEG, PPM; resized to the model's input).

Full inference (the default) follows Section 3.3: per class, the best of --starts random
means and the encoder's Q(z|x), then --steps Adam steps (--lr) on the mean and
log-variance of Q*(z), one reparameterised sample per step; l_k is read where
--loss-at says (default: the lowest loss of every point evaluated) and the prediction is
argmin_k l_k. --eot N averages l_k over N runs with
independent noise. --amortized skips the optimisation and scores the encoder's mean
(the validation metric of training). A CNN model is always classified by its logits.

MODEL is a model.eabs file, a training run directory or an export directory.`,
		Example: `  eabs classify zoo/mnist-eabs --dataset mnist --n 1000 --json results/mnist-eabs-clean.json
  eabs eval zoo/mnist-eabs --dataset mnist --amortized
  eabs classify zoo/mnist-eabs digit.png`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runClassify(cmd, o, args) },
	}
	f := cmd.Flags()
	o.rf.add(cmd, "ort")
	f.StringVar(&o.dataset, "dataset", "", "dataset to classify (instead of image files)")
	f.StringVar(&o.dataDir, "data-dir", "", "data root (default $"+envDataDir+", then "+defaultSharedData+", then the built-in sample)")
	f.StringVar(&o.split, "split", "test", splitHelp)
	f.IntVar(&o.n, "n", 0, "classify only the first N images (at least 1; default: the whole split)")
	f.BoolVar(&o.all, "all", false, "classify the whole split (the default without --n)")
	f.IntVar(&o.batch, "batch", 16, "images per inference batch")
	f.BoolVar(&o.amortized, "amortized", false, "score the encoder's mean instead of optimising (Go reference graph)")
	f.IntVar(&o.eot, "eot", 1, "average the per-class losses over N runs with independent noise")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the reparameterisation noise")
	f.IntVar(&o.infer.Starts, "starts", o.infer.Starts, "random starting means (the paper's 8000)")
	f.IntVar(&o.infer.Steps, "steps", o.infer.Steps, "Adam steps on Q*(z) (ABS's 50)")
	f.Float64Var(&o.infer.LR, "lr", o.infer.LR, "Adam step size (ABS's 0.05)")
	addLossAt(f, &o.infer.LossAt)
	f.Uint64Var(&o.infer.BankSeed, "bank-seed", o.infer.BankSeed, "seed of the random starting means")
	f.StringVar(&o.jsonOut, "json", "", "write the report (accuracy, settings, provenance) as JSON here")
	f.StringVar(&o.jsonOut, "out", "", "the same as --json (the results-file flag every sharded command shares; {shard} is replaced by i-of-n)")
	f.StringVar(&o.csvOut, "csv", "", "write per-image predictions and logits as CSV here")
	o.shard.add(f)
	f.Uint64Var(&o.sampleSeed, "sample-seed", 1, "with --shard: seed of the random sample of --n images (data.SampleIndices; --n 0: all) that the shards split")
	return cmd
}

func runClassify(cmd *cobra.Command, o *classifyOptions, args []string) error {
	if cmd.Flags().Changed("shard") {
		return runClassifyShard(cmd, o, args, o.shard, o.sampleSeed)
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	w, _, path, err := loadWeights(args[0])
	if err != nil {
		return err
	}
	files := args[1:]
	var set *data.Set
	switch {
	case o.dataset != "" && len(files) > 0:
		return fmt.Errorf("give --dataset or image files, not both")
	case o.dataset != "":
		n := -1 // without --n, classify takes the whole split
		if cmd.Flags().Changed("n") || o.all {
			if n, err = imageCount(cmd.Flags(), o.n, o.all); err != nil {
				return err
			}
		}
		if set, err = loadSet(stderr, o.dataset, o.dataDir, o.split); err != nil {
			return err
		}
		set = firstN(set, n)
		if err := checkSetFits(args[0], w.Spec.Arch, o.dataset, set); err != nil {
			return err
		}
	case len(files) > 0:
		if set, err = readImages(files, w.Spec.Arch); err != nil {
			return err
		}
	default:
		return fmt.Errorf("nothing to classify: give --dataset D or image files")
	}
	if o.batch < 1 {
		return fmt.Errorf("--batch %d must be positive", o.batch)
	}
	rep := &ClassifyReport{provenance: provenance{Command: os.Args, Build: buildinfo.Collect(), Time: time.Now().UTC().Format(time.RFC3339)},
		Model: path, ModelName: w.Spec.Name(), WeightsSHA: onnx.WeightsSHA256(w), Dataset: o.dataset, Files: files,
		N: set.N, EOT: o.eot, Seed: o.seed, Batch: o.batch}
	if o.dataset != "" {
		rep.Split = o.split
	}
	// The bar starts when the classification does, so its rate leaves out the set-up.
	var bar *progress
	tick := func(done int) { bar.Set(done) }
	start := time.Now()
	var res *infer.Result
	switch {
	case o.amortized || w.Spec.Kind == models.CNN:
		rep.Mode, rep.Runtime = "amortized", "ref-float32"
		if w.Spec.Kind == models.CNN {
			rep.Mode = "logits"
		}
		bar = newProgress(stderr, set.N, "classify")
		res, err = infer.Amortized(w, set, o.batch, tick)
	default:
		rep.Mode, rep.Runtime, rep.Options, rep.Workers = "full", o.rf.engine, &o.infer, o.rf.workers
		if o.rf.engine == "ort" {
			rep.Threads = o.rf.threads
		}
		m, cleanup, err2 := openModel(cmd, o.rf, args[0], w, o.infer)
		if err2 != nil {
			return err2
		}
		defer cleanup()
		defer m.Close()
		t0 := time.Now()
		e, err2 := newEngine(stderr, m, o.infer)
		if err2 != nil {
			return err2
		}
		rep.BankSeconds = time.Since(t0).Seconds()
		start = time.Now()
		bar = newProgress(stderr, set.N, "classify")
		var tm infer.Timing
		res, tm, err = e.ClassifySet(set, o.batch, o.rf.workers, o.seed, o.eot, tick)
		rep.SearchSec, rep.OptimiseSec = tm.Search.Seconds(), tm.Optimise.Seconds()
	}
	bar.Finish()
	if err != nil {
		return err
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.ImagesPerSec = float64(set.N*max(1, o.eot)) / rep.Seconds
	if len(files) > 0 {
		rep.Predictions = res.Pred
	}
	if set.Labels != nil && o.dataset != "" {
		acc := res.Accuracy()
		rep.Accuracy = &acc
		rep.Correct = res.Correct()
		r := suite.NewRate(rep.Correct, set.N)
		rep.CI95 = []float64{r.Lo, r.Hi}
		fmt.Fprintf(stdout, "%s (%s, %s) on %s %s: accuracy %.4f (%d/%d), 95%% CI [%.4f, %.4f], in %.1fs, %.2f images/s\n",
			rep.ModelName, rep.Mode, rep.Runtime, o.dataset, o.split, acc, rep.Correct, set.N, r.Lo, r.Hi, rep.Seconds, rep.ImagesPerSec)
	}
	for i, f := range files {
		fmt.Fprintf(stdout, "%s\t%d\t%s\n", f, res.Pred[i], className(set, res.Pred[i]))
	}
	if o.csvOut != "" {
		if err := writePredictions(o.csvOut, res); err != nil {
			return err
		}
	}
	return writeReport(stderr, o.jsonOut, rep)
}

func className(s *data.Set, k int) string {
	if k < len(s.ClassNames) {
		return s.ClassNames[k]
	}
	return ""
}

func writePredictions(path string, r *infer.Result) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := []string{"index", "label", "pred"}
	for k := 0; k < r.Classes; k++ {
		head = append(head, "logit_"+strconv.Itoa(k))
	}
	w.Write(head)
	for i := 0; i < r.N; i++ {
		label := ""
		if r.Labels != nil {
			label = strconv.Itoa(r.Labels[i])
		}
		row := []string{strconv.Itoa(i), label, strconv.Itoa(r.Pred[i])}
		for _, v := range r.Logits[i*r.Classes : (i+1)*r.Classes] {
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

// readImages decodes image files into a Set shaped for the architecture: PNG and
// JPEG through the standard library, binary PPM through data.ReadPPM; resized
// bilinearly to the input size, converted to grey (ITU-R 601 luma) or RGB.
func readImages(files []string, a models.Arch) (*data.Set, error) {
	s := &data.Set{Name: "files", N: len(files), C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes,
		Images: make([]float32, len(files)*a.Pixels())}
	for i, f := range files {
		rgb, err := readRGB(f)
		if err != nil {
			return nil, err
		}
		rgb = rgb.Resize(a.InW, a.InH)
		dst := s.Images[i*a.Pixels() : (i+1)*a.Pixels()]
		hw := a.InH * a.InW
		for p := 0; p < hw; p++ {
			r, g, b := float32(rgb.Pix[3*p]), float32(rgb.Pix[3*p+1]), float32(rgb.Pix[3*p+2])
			if a.InC == 1 {
				dst[p] = (0.299*r + 0.587*g + 0.114*b) / 255
				continue
			}
			dst[p], dst[hw+p], dst[2*hw+p] = r/255, g/255, b/255
		}
	}
	return s, nil
}

func readRGB(path string) (*data.RGB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(filepath.Ext(path), ".ppm") {
		return data.ReadPPM(bytes.NewReader(b), path)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w (supported: PNG, JPEG, binary PPM)", path, err)
	}
	r := img.Bounds()
	out := &data.RGB{W: r.Dx(), H: r.Dy(), Pix: make([]byte, 3*r.Dx()*r.Dy())}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			i := 3 * ((y-r.Min.Y)*r.Dx() + x - r.Min.X)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = byte(cr>>8), byte(cg>>8), byte(cb>>8)
		}
	}
	return out, nil
}
