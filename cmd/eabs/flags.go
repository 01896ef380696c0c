package main

import (
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/runtime"
	_ "github.com/eabs/eabs/runtime/onnxgo" // the engines runtime.Open chooses from
	_ "github.com/eabs/eabs/runtime/ort"
	_ "github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/shard"
)

// The flag groups several commands share, each parsed into the options of a library
// call. A MODEL argument is a model file (model.eabs or a checkpoint), a training run or
// export folder, a zoo model ("zoo:mnist-eabs") or, where the command takes one, a
// plain .onnx classifier (runtime.Load).

// engineFlags choose the engine a model runs on (runtime.Open).
type engineFlags struct {
	engine           string
	threads, workers int
}

// The defaults run one single-threaded ONNX Runtime computation per core: on these
// small convolutions that beat one session with a multi-threaded pool on two cores.
func (f *engineFlags) add(cmd *cobra.Command, def string) {
	cmd.Flags().StringVar(&f.engine, "runtime", def, "engine: ort (ONNX Runtime) or ref (Go reference graph, float64)")
	cmd.Flags().IntVar(&f.threads, "threads", 1, "ONNX Runtime intra-op threads per computation")
	cmd.Flags().IntVar(&f.workers, "workers", goruntime.NumCPU(), "computations run concurrently")
}

// options are the engine settings, with the library from the global --ort-lib.
func (f *engineFlags) options(cmd *cobra.Command) runtime.Options {
	lib, _ := cmd.Flags().GetString("ort-lib")
	return runtime.Options{Threads: f.threads, Workers: f.workers, Library: lib}
}

// sampleFlags pick the images of a run (eval.Sample): --n images of a dataset split,
// the seeded random sample (--sample-seed; 0: the first --n), or this shard's part.
type sampleFlags struct {
	dataset, dataDir, split string
	n                       int
	all                     bool
	seed                    uint64
	shard                   string
	shardCount              int
}

func (f *sampleFlags) add(fs *pflag.FlagSet, n int, nHelp string) {
	f.addFirst(fs, n, nHelp)
	fs.Uint64Var(&f.seed, "sample-seed", 1, "seed of the random sample of --n images, the same for every model (0: the first --n)")
	fs.StringVar(&f.shard, "shard", "", "run part i/n of the sample list, or auto (Slurm's array index, Kubernetes' completion index); eabs report --merge joins the parts")
	fs.IntVar(&f.shardCount, "shard-count", 0, "with --shard auto on Kubernetes: the number of parts")
}

// addFirst adds the flags of a command that takes the first --n images of a split
// (no --sample-seed, no shards).
func (f *sampleFlags) addFirst(fs *pflag.FlagSet, n int, nHelp string) {
	fs.StringVar(&f.dataset, "dataset", "", "dataset (default: the one the model file names), or own data: "+data.OwnForms+" (eabs data --help)")
	fs.StringVar(&f.dataDir, "data-dir", "", "data root (default $"+data.EnvDataDir+", then "+data.DefaultDataDir+")")
	fs.StringVar(&f.split, "split", "test", "dataset split: test, train, or val (the 10% of train that eabs train --seed 1 holds out)")
	fs.IntVar(&f.n, "n", n, nHelp+" (--all: the whole split)")
	fs.BoolVar(&f.all, "all", false, "use every image of the split instead of --n")
}

// spec parses --shard (none: the whole run, 0/1).
func (f *sampleFlags) spec() (shard.Spec, error) {
	sp, err := shard.Parse(f.shard, os.Getenv, f.shardCount)
	if err != nil {
		return shard.Spec{}, fmt.Errorf("--shard: %w", err)
	}
	return sp, nil
}

// load reads the split and picks the sample; without --dataset the dataset is the one
// the model file names.
func (f *sampleFlags) load(cmd *cobra.Command, src *runtime.Source) (*eval.Sample, error) {
	if f.dataset == "" && src != nil {
		f.dataset = src.Dataset()
	}
	if f.dataset == "" {
		return nil, fmt.Errorf("--dataset is required (the model does not name its dataset)")
	}
	n := f.n
	if f.all {
		if cmd.Flags().Changed("n") {
			return nil, fmt.Errorf("give --n or --all, not both")
		}
		n = 0
	}
	sp, err := f.spec()
	if err != nil {
		return nil, err
	}
	root, from := data.ResolveRoot(f.dataDir, os.Getenv)
	switch {
	case data.IsOwn(f.dataset):
		if cmd.Flags().Changed("data-dir") {
			return nil, fmt.Errorf("--data-dir does not apply to own data (--dataset %s names its files)", f.dataset)
		}
		root, from = "", "own data"
	case data.Embedded(f.dataset):
		from = "built-in sample"
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "data: %s (%s)\n", strings.TrimSpace(f.dataset+" "+root), from)
	return eval.LoadSample(f.dataset, root, f.split, n, f.seed, sp, data.Options{})
}

// inferFlags are the inference settings (infer.Options) of the commands that run it.
func addInferFlags(fs *pflag.FlagSet, o *infer.Options) {
	fs.IntVar(&o.Starts, "starts", o.Starts, "inference: random starting means (the paper's 8000)")
	fs.IntVar(&o.Steps, "infer-steps", o.Steps, "inference: Adam steps on Q*(z) (ABS's 50)")
	fs.Float64Var(&o.LR, "infer-lr", o.LR, "inference: Adam step size (ABS's 0.05)")
	fs.Uint64Var(&o.BankSeed, "bank-seed", o.BankSeed, "inference: seed of the random starting means")
	fs.Var(lossAtFlag{&o.LossAt}, "loss-at", "inference: where l_k is read: best (the lowest loss of every point evaluated) or final (the optimised mean)")
	alias(fs, "steps", "infer-steps")
	alias(fs, "lr", "infer-lr")
}

// addExactFlag adds --infer-exact to the commands that run the deployed model
// (classify, attack): certify's bound is always under exact inference.
func addExactFlag(fs *pflag.FlagSet, o *infer.Options) {
	fs.BoolVar(&o.Exact, "infer-exact", false, "inference: the mean only, unit variance, no sampling (Appendix A's exact inference; the paper's model samples); an ablation of the variance")
}

// alias adds a deprecated name for a flag, bound to the same value.
func alias(fs *pflag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	fs.Var(f.Value, old, "")
	fs.MarkDeprecated(old, "use --"+name)
	aliases[old] = name
}

// aliases maps deprecated flag names to their current ones (validateFlags refuses a
// command line that gives both).
var aliases = map[string]string{}

// changed reports whether the user gave flag name (or a deprecated name of it).
func changed(cmd *cobra.Command, name string) bool {
	if cmd.Flags().Changed(name) {
		return true
	}
	for old, cur := range aliases {
		if cur == name && cmd.Flags().Lookup(old) != nil && cmd.Flags().Changed(old) {
			return true
		}
	}
	return false
}

// refuse returns an error for the first of names the user gave: the flag would not act.
func refuse(cmd *cobra.Command, why string, names ...string) error {
	for _, n := range names {
		if changed(cmd, n) {
			return fmt.Errorf("--%s %s", n, why)
		}
	}
	return nil
}

// addOut adds --out FILE, the results file of a command (with the deprecated --json).
func addOut(fs *pflag.FlagSet, v *string, help string) {
	fs.StringVar(v, "out", "", help+"; - writes it to standard output")
	alias(fs, "json", "out")
}

// newEngine builds an inference engine, showing the start bank's progress.
func newEngine(stderr io.Writer, m runtime.Model, opt infer.Options) (*infer.Engine, error) {
	bar := newProgress(stderr, opt.Starts, fmt.Sprintf("start bank (%d means x %d decoders)", opt.Starts, m.Spec().Arch.Classes))
	defer bar.Finish()
	return infer.NewEngine(m, opt, func(done, _ int) { bar.Set(done) })
}
