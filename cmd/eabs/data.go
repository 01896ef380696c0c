package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/models"
)

func init() { register(func() *cobra.Command { return newDataCmd() }) }

// envDataDir names the environment variable that sets the default data directory.
const envDataDir = "EABS_DATA_DIR"

// defaultSharedData is the data directory used when neither --data-dir nor
// EABS_DATA_DIR is given and it exists: the layout of a checkout next to shared/.
const defaultSharedData = "../shared/data"

// resolveDataDir picks the data root: the flag, then $EABS_DATA_DIR, then
// ../shared/data if it is a directory, else the sample embedded in the binary. It
// returns the root and where it came from, for the user.
func resolveDataDir(flag string, getenv func(string) string) (root, from string) {
	switch {
	case flag != "":
		return flag, "--data-dir"
	case getenv(envDataDir) != "":
		return getenv(envDataDir), "$" + envDataDir
	}
	if st, err := os.Stat(defaultSharedData); err == nil && st.IsDir() {
		return defaultSharedData, "default " + defaultSharedData
	}
	return data.EmbeddedRoot, "no --data-dir, $" + envDataDir + " or " + defaultSharedData + ": embedded sample"
}

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Inspect the datasets eabs reads",
	}
	cmd.AddCommand(newDataInspectCmd(nil))
	return cmd
}

// dataInspectOptions are the inputs of `eabs data inspect`.
type dataInspectOptions struct {
	Dataset  string
	DataDir  string
	Out      string
	JSON     string
	Split    string
	PerClass int
	Scale    int

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

The data directory is --data-dir, else $%s, else %s if it exists, else the
small MNIST sample built into the binary. Inside it each dataset has its own folder
(mnist/, fashion-mnist/, gtsrb/GTSRB/, svhn/) in the layout of the official download.
"mnist-sample" always reads the built-in sample.`, data.Names(), envDataDir, defaultSharedData),
		Example: `  eabs data inspect mnist-sample
  eabs data inspect gtsrb-10 --data-dir ../shared/data --out out/gtsrb10.png --json out/gtsrb10.json`,
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
			if o.Out == "" {
				o.Out = filepath.Join("out", o.Dataset+"-grid.png")
			}
			if err := checkWritable("out", o.Out); err != nil {
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
	f.StringVar(&o.DataDir, "data-dir", "", "data root holding mnist/, fashion-mnist/, gtsrb/GTSRB/, svhn/ (default $"+envDataDir+", then "+defaultSharedData+", then the built-in sample)")
	f.StringVar(&o.Out, "out", "", "PNG grid to write (default out/DATASET-grid.png)")
	f.StringVar(&o.JSON, "json", "", "also write the statistics as JSON to this file")
	f.StringVar(&o.Split, "split", "train", "split the grid shows: train or test")
	f.IntVar(&o.PerClass, "per-class", 10, "images per class in the grid")
	f.IntVar(&o.Scale, "scale", 2, "grid upscaling factor (nearest neighbour)")
	return cmd
}

func runDataInspect(o *dataInspectOptions) error {
	root, from := resolveDataDir(o.DataDir, o.Getenv)
	if data.Embedded(o.Dataset) {
		root, from = data.EmbeddedRoot, "built-in sample"
	}
	fmt.Fprintf(o.Stdout, "data: %s (%s)\n", root, from)

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
	ds, err := data.LoadWith(o.Dataset, root, opt)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return dataLoadHint(o.Dataset, root, err)
	}

	st := data.Inspect(ds)
	if err := st.WriteText(o.Stdout); err != nil {
		return err
	}
	set := ds.Train
	if o.Split == "test" {
		set = ds.Test
	}
	if err := data.WriteGrid(o.Out, set, o.PerClass, o.Scale); err != nil {
		return fmt.Errorf("write grid: %w", err)
	}
	fmt.Fprintf(o.Stdout, "\nwrote %s: %s split, one row per label (0 at the top), %d per class, %dx\n", o.Out, o.Split, o.PerClass, o.Scale)
	if o.JSON != "" {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteBytes(o.JSON, append(b, '\n')); err != nil {
			return fmt.Errorf("write stats: %w", err)
		}
		fmt.Fprintf(o.Stdout, "wrote %s\n", o.JSON)
	}
	return nil
}

// dataLoadHint adds to a load error what the user can do about it.
func dataLoadHint(name, root string, err error) error {
	var unknown *data.UnknownDatasetError
	switch {
	case errors.As(err, &unknown):
		return err
	case root == data.EmbeddedRoot && !data.Embedded(name):
		return fmt.Errorf("%w\n  no data directory was found, so only the built-in MNIST sample is available: pass --data-dir DIR or set %s to the folder that holds the datasets", err, envDataDir)
	case errors.Is(err, fs.ErrNotExist):
		dir, _ := data.Dir(name)
		return fmt.Errorf("%w\n  pass --data-dir DIR or set %s to a folder holding %s/ in the official layout (see the README's Data section)", err, envDataDir, dir)
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
