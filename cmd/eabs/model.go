package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/zoo"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A MODEL argument is a model file (model.eabs, or a training checkpoint), a directory
// holding one (a training run directory or an export directory, which also holds the
// ONNX files), or a model of the zoo compiled into the binary ("zoo:mnist-eabs").

// modelFile resolves a MODEL argument to its model.eabs.
func modelFile(arg string) (string, error) {
	st, err := os.Stat(arg)
	if err != nil {
		return "", fmt.Errorf("model %s: %w", arg, err)
	}
	if !st.IsDir() {
		return arg, nil
	}
	p := filepath.Join(arg, "model.eabs")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("model %s: a directory without model.eabs (pass a model file, a training run or an export directory)", arg)
	}
	return p, nil
}

func loadWeights(arg string) (*models.Weights, map[string]string, string, error) {
	if strings.HasPrefix(arg, zoo.Prefix) {
		w, meta, err := zoo.Load(arg)
		return w, meta, arg, err
	}
	p, err := modelFile(arg)
	if err != nil {
		return nil, nil, "", err
	}
	w, meta, err := models.LoadModel(p)
	if err != nil {
		return nil, nil, "", err
	}
	return w, meta, p, nil
}

// runtimeFlags are the flags of commands that run a model on a chosen engine.
type runtimeFlags struct {
	engine  string
	threads int
	workers int
}

// The defaults run one single-threaded ONNX Runtime computation per core: on these
// small convolutions that beat one session with a multi-threaded pool by 1.3x on two
// idle cores and 2x on busy ones (see the README's benchmark notes).
func (f *runtimeFlags) add(cmd *cobra.Command, def string) {
	cmd.Flags().StringVar(&f.engine, "runtime", def, "engine: ort (ONNX Runtime) or ref (Go reference graph, float64)")
	cmd.Flags().IntVar(&f.threads, "threads", 1, "ONNX Runtime intra-op threads per computation")
	cmd.Flags().IntVar(&f.workers, "workers", goruntime.NumCPU(), "inference batches run concurrently")
}

// initORT loads ONNX Runtime from --ort-lib, $EABS_ORT_LIB or third_party/.
func initORT(cmd *cobra.Command) error {
	flag, _ := cmd.Flags().GetString("ort-lib")
	lib, err := ort.LibraryPath(flag)
	if err != nil {
		return err
	}
	return ort.Init(lib)
}

// exportDir returns a directory holding the ONNX export of the model at arg: arg itself
// when it is an export directory from the same weights, else a fresh export into a
// temporary directory (removed by the returned cleanup).
func exportDir(arg string, w *models.Weights, opt infer.Options) (string, func(), error) {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		if info, err := onnx.ReadFile(filepath.Join(arg, onnx.RoleEncoder+".onnx")); err == nil {
			if info.Metadata[onnx.MetaWeightsSHA256] == onnx.WeightsSHA256(w) {
				return arg, func() {}, nil
			}
		}
	}
	dir, err := os.MkdirTemp("", "eabs-export-*")
	if err != nil {
		return "", nil, err
	}
	unregister := onSignalCleanup(func() { os.RemoveAll(dir) })
	cleanup := func() { os.RemoveAll(dir); unregister() }
	if _, err := exportModel(w, dir, "", opt); err != nil {
		cleanup()
		return "", nil, err
	}
	return dir, cleanup, nil
}

func exportModel(w *models.Weights, dir, dataset string, opt infer.Options) ([]string, error) {
	ev, err := json.Marshal(opt)
	if err != nil {
		return nil, err
	}
	return onnx.Export(w, dir, onnx.ExportOptions{Dataset: dataset, Meta: map[string]string{onnx.MetaEval: string(ev)}})
}

// openModel opens a generative model on the chosen engine.
func openModel(cmd *cobra.Command, rf runtimeFlags, arg string, w *models.Weights, opt infer.Options) (runtime.Model, func(), error) {
	switch rf.engine {
	case "ref":
		m, err := ref.New(w)
		return m, func() {}, err
	case "ort":
		if err := initORT(cmd); err != nil {
			return nil, nil, err
		}
		dir, cleanup, err := exportDir(arg, w, opt)
		if err != nil {
			return nil, nil, err
		}
		m, err := ort.OpenModel(dir, ort.Options{IntraOpThreads: rf.threads})
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		return m, cleanup, nil
	}
	return nil, nil, fmt.Errorf("unknown --runtime %q (want ort or ref)", rf.engine)
}

// loadSet loads one split of a dataset through the --data-dir resolution.
func loadSet(stderr io.Writer, name, dataDir, split string) (*data.Set, error) {
	root, from := resolveDataDir(dataDir, os.Getenv)
	if data.Embedded(name) {
		root, from = data.EmbeddedRoot, "built-in sample"
	}
	fmt.Fprintf(stderr, "data: %s %s (%s)\n", name, root, from)
	ds, err := data.Load(name, root)
	if err != nil {
		return nil, dataLoadHint(name, root, err)
	}
	return ds.Split(split)
}

// firstN returns the first n images of s (all when n <= 0 or n >= s.N; the flags'
// validation keeps a user's 0 from reaching it, --all passes -1).
func firstN(s *data.Set, n int) *data.Set {
	if n <= 0 || n >= s.N {
		return s
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return s.Subset(idx)
}

// writeJSON writes v as indented JSON to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// provenance is attached to every result file.
type provenance struct {
	Command []string       `json:"command"`
	Build   buildinfo.Info `json:"build"`
	Time    string         `json:"time"`
}

// newEngine builds an inference engine, showing the start bank's progress.
func newEngine(stderr io.Writer, m runtime.Model, opt infer.Options) (*infer.Engine, error) {
	bar := newProgress(stderr, opt.Starts, fmt.Sprintf("start bank (%d means x %d decoders)", opt.Starts, m.Spec().Arch.Classes))
	defer bar.Finish()
	return infer.NewEngine(m, opt, func(done, _ int) { bar.Set(done) })
}

// lossAtFlag is the --loss-at flag: where the inference reads l_k (infer.LossAt).
type lossAtFlag struct{ v *infer.LossAt }

func (f lossAtFlag) String() string { return string(*f.v) }
func (f lossAtFlag) Type() string   { return "best|final" }
func (f lossAtFlag) Set(s string) error {
	v, err := infer.ParseLossAt(s)
	if err != nil {
		return err
	}
	*f.v = v
	return nil
}

// addLossAt registers --loss-at for an inference setting.
func addLossAt(f *pflag.FlagSet, v *infer.LossAt) {
	f.Var(lossAtFlag{v}, "loss-at", "where l_k is read: best (lowest loss of every point evaluated: start, samples, optimised mean) or final (the optimised mean)")
}

const splitHelp = "dataset split: test, train, or val (the 10% of train that eabs train --seed 1 holds out for validation)"

// setFlags are the --dataset, --data-dir, --split, --n and --all flags of the
// commands that run a model on the first N images of a dataset split. --n must be at
// least 1; the whole split is asked for explicitly with --all (a whole test set can
// mean hours of inference, so no value of --n means it by accident).
type setFlags struct {
	dataset, dataDir, split string
	n                       int
	all                     bool
	fs                      *pflag.FlagSet
	// model and arch are set by loadModel: the set loaded must fit them.
	model string
	arch  *models.Arch
}

func (s *setFlags) add(f *pflag.FlagSet, datasetHelp string, n int, nHelp string) {
	f.StringVar(&s.dataset, "dataset", "", datasetHelp)
	f.StringVar(&s.dataDir, "data-dir", "", "data root (default $"+envDataDir+", then "+defaultSharedData+", then the built-in sample)")
	f.StringVar(&s.split, "split", "test", splitHelp)
	f.IntVar(&s.n, "n", n, nHelp+" (at least 1; --all for the whole split)")
	f.BoolVar(&s.all, "all", false, "use every image of the split instead of --n")
	s.fs = f
}

// count is the number of images asked for: --n, or -1 for --all.
func (s *setFlags) count() (int, error) {
	return imageCount(s.fs, s.n, s.all)
}

// imageCount resolves --n and --all: --n must be at least 1 (also checked with every
// flag by validateFlags, for a caller that sets it otherwise), --all gives -1 (every
// image), both together are an error.
func imageCount(fs *pflag.FlagSet, n int, all bool) (int, error) {
	if all {
		if fs != nil && fs.Changed("n") {
			return 0, fmt.Errorf("give --n or --all, not both")
		}
		return -1, nil
	}
	if err := checkInt("n", n, 1, math.MaxInt); err != nil {
		return 0, fmt.Errorf("%w (--all uses the whole split)", err)
	}
	return n, nil
}

// checkSetFits refuses a data set the model cannot classify (another image shape or
// class count) or one without images, with a message naming both sides, before any
// work starts.
func checkSetFits(model string, a models.Arch, dataset string, set *data.Set) error {
	if set.C != a.InC || set.H != a.InH || set.W != a.InW || set.Classes != a.Classes {
		return fmt.Errorf("model %s expects %dx%dx%d images and %d classes, data %s has %dx%dx%d and %d",
			model, a.InC, a.InH, a.InW, a.Classes, dataset, set.C, set.H, set.W, set.Classes)
	}
	if set.N == 0 {
		return fmt.Errorf("data %s (%s split) has no images: nothing to evaluate", dataset, set.Name)
	}
	return nil
}

// loadModel loads MODEL's weights; without --dataset, the dataset is the one the model
// file names.
func (s *setFlags) loadModel(arg string) (w *models.Weights, path string, err error) {
	w, meta, path, err := loadWeights(arg)
	if err != nil {
		return nil, "", err
	}
	if s.dataset == "" {
		s.dataset = meta["dataset"]
	}
	if s.dataset == "" {
		return nil, "", fmt.Errorf("--dataset is required (the model file does not name its dataset)")
	}
	if _, err := s.count(); err != nil {
		return nil, "", err
	}
	s.model, s.arch = arg, &w.Spec.Arch
	return w, path, nil
}

// images loads the first --n images of the split (all with --all), refusing an
// empty selection and, after loadModel, data the model does not fit.
func (s *setFlags) images(stderr io.Writer) (*data.Set, error) {
	n, err := s.count()
	if err != nil {
		return nil, err
	}
	set, err := loadSet(stderr, s.dataset, s.dataDir, s.split)
	if err != nil {
		return nil, err
	}
	set = firstN(set, n)
	if s.arch != nil {
		if err := checkSetFits(s.model, *s.arch, s.dataset, set); err != nil {
			return nil, err
		}
	} else if set.N == 0 {
		return nil, fmt.Errorf("data %s (%s split) has no images: nothing to evaluate", s.dataset, s.split)
	}
	return set, nil
}

// writeReport writes a command's JSON report to path, when one was asked for.
func writeReport(stderr io.Writer, path string, v any) error {
	if path == "" {
		return nil
	}
	if err := writeJSON(path, v); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s\n", path)
	return nil
}
