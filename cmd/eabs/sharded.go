package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/shard"
	"github.com/eabs/eabs/suite"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// shardFlags are the --shard and --shard-count flags of the sharded evaluations.
type shardFlags struct {
	spec  string
	count int
}

func (s *shardFlags) add(f *pflag.FlagSet) {
	f.StringVar(&s.spec, "shard", "", "run part i/n of the sample list (positions i, i+n, ...), or auto: the index from Slurm's SLURM_ARRAY_TASK_ID/COUNT or Kubernetes' JOB_COMPLETION_INDEX; merge the parts with eabs report --merge")
	f.IntVar(&s.count, "shard-count", 0, "with --shard auto on Kubernetes: the number of parts (the Indexed Job's completions)")
}

func (s *shardFlags) parse() (shard.Spec, error) {
	if s.count < 0 {
		return shard.Spec{}, fmt.Errorf("--shard-count %d: want a positive count (or 0: not given)", s.count)
	}
	sp, err := shard.Parse(s.spec, os.Getenv, s.count)
	if err != nil {
		return shard.Spec{}, fmt.Errorf("--shard: %w", err)
	}
	return sp, nil
}

// partPath is where shard sp of a run writing out puts its part: out with "{shard}"
// replaced by "i-of-n" (also "0-of-1" for the whole run), else out itself for the whole
// run and out with ".shard-i-of-n" inserted before the extension for a part.
func partPath(out string, sp shard.Spec) string {
	tag := fmt.Sprintf("%d-of-%d", sp.Index, sp.Count)
	if strings.Contains(out, "{shard}") {
		return strings.ReplaceAll(out, "{shard}", tag)
	}
	if !sp.Sharded() {
		return out
	}
	ext := filepath.Ext(out)
	return strings.TrimSuffix(out, ext) + ".shard-" + tag + ext
}

// dataFingerprint identifies the bytes of the dataset read with --data-dir.
func dataFingerprint(name, dataDir string) (string, error) {
	root, _ := resolveDataDir(dataDir, os.Getenv)
	if data.Embedded(name) {
		root = data.EmbeddedRoot
	}
	return data.Fingerprint(name, root)
}

// signalContext is cancelled by SIGINT or SIGTERM (Slurm's and Kubernetes' stop).
func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	// After the first signal the default action returns: a second one kills at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// runClassifyShard is eabs classify --shard: the seeded sample list's part, each
// image's noise keyed by its position in the list, written as a part that eabs report
// --merge joins.
func runClassifyShard(cmd *cobra.Command, o *classifyOptions, args []string, sf shardFlags, sampleSeed uint64) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	sp, err := sf.parse()
	if err != nil {
		return err
	}
	if o.dataset == "" || len(args) != 1 {
		return fmt.Errorf("--shard classifies a dataset: give MODEL --dataset D and no image files")
	}
	if o.jsonOut == "" {
		return fmt.Errorf("--shard needs --out (or --json) FILE (each part is written to its own file)")
	}
	if o.batch < 1 {
		return fmt.Errorf("--batch %d must be positive", o.batch)
	}
	if o.eot < 1 {
		return fmt.Errorf("--eot %d must be at least 1", o.eot)
	}
	w, _, _, err := loadWeights(args[0])
	if err != nil {
		return err
	}
	set, err := loadSet(stderr, o.dataset, o.dataDir, o.split)
	if err != nil {
		return err
	}
	n := o.n
	if n == 0 {
		n = set.N
	}
	if n < 1 || n > set.N {
		return fmt.Errorf("--n %d: want 1..%d (the images of %s %s)", o.n, set.N, o.dataset, o.split)
	}
	fp, err := dataFingerprint(o.dataset, o.dataDir)
	if err != nil {
		return err
	}
	K := w.Spec.Arch.Classes
	h := shard.Header{ModelSHA256: onnx.WeightsSHA256(w), DataFingerprint: fp, Dataset: o.dataset, Split: o.split,
		SampleSeed: sampleSeed, SampleN: n, Shard: sp}
	var f suite.ClassifyFunc
	switch {
	case w.Spec.Kind == models.CNN || o.amortized:
		h.Config = "logits (reference graph)"
		if w.Spec.Kind != models.CNN {
			h.Config = "amortized (reference graph)"
		}
		f = func(x []float32, batch int, pos []int) ([]float32, error) {
			s := &data.Set{N: batch, C: w.Spec.Arch.InC, H: w.Spec.Arch.InH, W: w.Spec.Arch.InW, Images: x, Labels: make([]int, batch), Classes: K}
			r, err := infer.Amortized(w, s, batch, nil)
			if err != nil {
				return nil, err
			}
			return r.Logits, nil
		}
	default:
		h.Config = fmt.Sprintf("full inference, runtime %s, %+v, eot %d, seed %d", o.rf.engine, o.infer, o.eot, o.seed)
		m, cleanup, err := openModel(cmd, o.rf, args[0], w, o.infer)
		if err != nil {
			return err
		}
		defer cleanup()
		defer m.Close()
		e, err := newEngine(stderr, m, o.infer)
		if err != nil {
			return err
		}
		// The unsharded eabs classify draws image i's noise in EOT run r from
		// NoiseFor(seed, r, i); here i is the position in the sample list.
		f = func(x []float32, batch int, pos []int) ([]float32, error) {
			sum := make([]float64, batch*K)
			for r := 0; r < o.eot; r++ {
				rs := make([]*rand.Rand, batch)
				for i, p := range pos {
					rs[i] = infer.NoiseFor(o.seed, r, p)
				}
				out, err := e.Classify(x, batch, rs)
				if err != nil {
					return nil, err
				}
				for i, l := range out.Loss {
					sum[i] += float64(l)
				}
			}
			logits := make([]float32, len(sum))
			for i, s := range sum {
				logits[i] = float32(-s / float64(o.eot))
			}
			return logits, nil
		}
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	total := len(sp.Positions(n))
	bar := newProgress(stderr, total, fmt.Sprintf("classify shard %s", sp))
	r, err := suite.Classify(ctx, h, w.Spec.Name(), set, K, o.batch, f, func(done, _ int) { bar.Set(done) })
	bar.Finish()
	if err != nil {
		return err
	}
	r.Provenance = newProvenance()
	out := partPath(o.jsonOut, sp)
	if err := suite.WriteClassify(out, r); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s on shard %s of %d %s %s images (sample seed %d): accuracy %.4f (%d/%d), 95%% CI [%.4f, %.4f]\n",
		w.Spec.Name(), sp, n, o.dataset, o.split, sampleSeed, r.Accuracy.Acc, r.Accuracy.K, r.Accuracy.N, r.Accuracy.Lo, r.Accuracy.Hi)
	fmt.Fprintf(stderr, "wrote %s\n", out)
	return nil
}
