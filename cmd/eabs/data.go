package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/models"
)

func init() { register(func() *cobra.Command { return newDataCmd() }) }

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Inspect the datasets eabs reads",
		Long: `The datasets eabs reads: the built-in ones by name (` + strings.Join(data.Names(), ", ") + `),
from the data folder (--data-dir, $` + data.EnvDataDir + `, ` + data.DefaultDataDir + `), and your own data,
named KIND:PATH wherever a dataset is taken (eabs data inspect, --dataset):

  folder:DIR       class subfolders of PNG/JPEG images, like torchvision's ImageFolder:
                   label k is the k-th subfolder name in sorted order; DIR/train/ and
                   DIR/test/ are the splits when DIR holds them, else DIR is the test
                   split. All images one size (no resizing); #channels=1|3 (default:
                   1 when every image is greyscale).
  npz:FILE         a .npz with images x and labels y (the test split), or Keras'
                   x_train, y_train, x_test, y_test; #x=A,y=B (and x_train=, y_train=)
                   name other arrays, #names=ARRAY the class names (default
                   class_names when present).
  npy:FILE#y=FILE  images and labels in two .npy files (the test split).
  cifar10:DIR      CIFAR-10's binary version: data_batch_1..5.bin, test_batch.bin,
                   batches.meta.txt (DIR may hold cifar-10-batches-bin/).

Arrays: uint8 (scaled by 1/255) or float32/float64 in [0,1], shape (N,H,W), (N,C,H,W) or
(N,H,W,C) with C 1 or 3. A 4-d array's layout is the one whose channel axis has size 1
or 3; when axis 1 and axis 3 both do, #layout=nchw or #layout=nhwc must say which.
Labels: integers, shape (N,) or (N,1); #classes=N sets the number of classes (default:
the number of class names, else the largest label + 1). Options follow the path after
'#', comma-separated: npz:train.npz#x=images,y=labels,layout=nhwc.

Own data has no attack budgets: eabs attack needs --eps-l2 / --eps-linf for the norms of
its attacks. Class names (folder names, the names array, CIFAR's meta file) go into the
results. More: docs/own-data.md.`,
	}
	cmd.AddCommand(newDataInspectCmd(nil))
	return cmd
}

// dataInspectOptions are the inputs of `eabs data inspect`.
type dataInspectOptions struct {
	Dataset string
	DataDir string
	Out     string
	JSON    string
	Split   string
	// SplitGiven is false when --split is the default, which own data without a
	// training split replaces by test.
	SplitGiven bool
	PerClass   int
	Scale      int

	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// newDataInspectCmd builds `eabs data inspect`; runF replaces the run function in tests.
func newDataInspectCmd(runF func(*dataInspectOptions) error) *cobra.Command {
	o := &dataInspectOptions{Getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "inspect DATASET",
		Short: "Print counts and pixel statistics of a dataset and write a grid of sample images",
		Long: fmt.Sprintf(`Load DATASET (one of: %v), print its images per split and class and its
per-channel pixel statistics, and write a PNG grid with one row per class.

The data folder is --data-dir, else $%s, else %s if it exists. Inside it each
dataset has its own folder (mnist/, fashion-mnist/, gtsrb/GTSRB/, svhn/) in the layout of
the official download. "mnist-sample" always reads the sample built into the binary.
DATASET may be your own data (%s; see eabs data --help); the grid
then shows the test split when there is no training split.`, data.Names(), data.EnvDataDir, data.DefaultDataDir, data.OwnForms),
		Example: `  eabs data inspect mnist-sample
  eabs data inspect gtsrb-10 --data-dir ../shared/data --grid out/gtsrb10.png --out out/gtsrb10.json
  eabs data inspect folder:my-digits
  eabs data inspect npz:mnist.npz --split test`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dataset = args[0]
			o.Stdout, o.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			if o.PerClass < 1 || o.Scale < 1 {
				return fmt.Errorf("--per-class and --scale must be at least 1")
			}
			if o.Split != "train" && o.Split != "test" {
				return fmt.Errorf("--split must be train or test, not %q", o.Split)
			}
			if strings.EqualFold(filepath.Ext(o.JSON), ".png") {
				return fmt.Errorf("--out %s: --out is the statistics (JSON); the picture is --grid", o.JSON)
			}
			if o.Out == "" {
				o.Out = filepath.Join("out", data.FileStem(o.Dataset)+"-grid.png")
			}
			if data.IsOwn(o.Dataset) && cmd.Flags().Changed("data-dir") {
				return fmt.Errorf("--data-dir does not apply to own data (%s names its files)", o.Dataset)
			}
			o.SplitGiven = cmd.Flags().Changed("split")
			if err := checkWritable("grid", o.Out); err != nil {
				return err
			}
			// The grid's size is known from the dataset's architecture: refuse one too
			// large to draw before loading (GTSRB takes a while), not after.
			if a, err := models.ArchFor(o.Dataset); err == nil {
				shape := &data.Set{C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes}
				if w, h := data.GridSize(shape, o.PerClass, o.Scale); w > data.MaxGridPixels || h > data.MaxGridPixels || w*h > data.MaxGridPixels {
					return fmt.Errorf("--per-class %d --scale %d: the grid of %s would be %dx%d pixels, more than %d; use smaller values", o.PerClass, o.Scale, o.Dataset, w, h, data.MaxGridPixels)
				}
			}
			if runF != nil {
				return runF(o)
			}
			return runDataInspect(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", "", "data root holding mnist/, fashion-mnist/, gtsrb/GTSRB/, svhn/ (default $"+data.EnvDataDir+", then "+data.DefaultDataDir+")")
	f.StringVar(&o.Out, "grid", "", "PNG grid to write (default out/DATASET-grid.png)")
	addOut(f, &o.JSON, "also write the statistics as JSON here")
	f.StringVar(&o.Split, "split", "train", "split the grid shows: train or test (own data without a training split: test)")
	f.IntVar(&o.PerClass, "per-class", 10, "images per class in the grid")
	f.IntVar(&o.Scale, "scale", 2, "grid upscaling factor (nearest neighbour)")
	return cmd
}

func runDataInspect(o *dataInspectOptions) error {
	root, from := data.ResolveRoot(o.DataDir, o.Getenv)
	switch {
	case data.IsOwn(o.Dataset):
		root, from = "", "own data"
	case data.Embedded(o.Dataset):
		root, from = data.EmbeddedRoot, "built-in sample"
	}
	fmt.Fprintf(o.Stdout, "data: %s (%s)\n", strings.TrimSpace(root+" "+o.Dataset), from)

	opt := data.Options{}
	var bar *progressbar.ProgressBar
	if isTerminal(o.Stderr) {
		opt.Progress = func(done, total int) {
			if total < 100 { // IDX and MAT loads are a handful of files: no bar
				return
			}
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(o.Stderr),
					progressbar.OptionSetDescription("loading "+o.Dataset), progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100e6))
			}
			bar.Set(done)
		}
	}
	ds, err := data.LoadRoot(o.Dataset, root, opt)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return dataLoadHint(o.Dataset, err)
	}

	st := data.Inspect(ds)
	if err := st.WriteText(o.Stdout); err != nil {
		return err
	}
	set := ds.Train
	if o.Split == "test" || !o.SplitGiven && set.N == 0 && data.IsOwn(o.Dataset) {
		set = ds.Test
	}
	if err := data.WriteGrid(o.Out, set, o.PerClass, o.Scale); err != nil {
		return fmt.Errorf("write grid: %w", err)
	}
	fmt.Fprintf(o.Stdout, "\nwrote %s: %s split, one row per label (0 at the top), %d per class, %dx\n", o.Out, set.Name, o.PerClass, o.Scale)
	if o.JSON != "" {
		if err := atomicfile.WriteJSON(o.JSON, st); err != nil {
			return fmt.Errorf("write stats: %w", err)
		}
		fmt.Fprintf(o.Stdout, "wrote %s\n", o.JSON)
	}
	return nil
}

// dataLoadHint adds to a load error what the user can do about it.
func dataLoadHint(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) && !data.IsOwn(name) {
		dir, _ := data.Dir(name)
		return fmt.Errorf("%w\n  pass --data-dir DIR or set %s to a folder holding %s/ in the official layout (see the README's Data section)", err, data.EnvDataDir, dir)
	}
	return err
}

// isTerminal reports whether w is a terminal, where a progress bar makes sense (in
// logs and pipes it would be noise).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
