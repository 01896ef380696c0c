package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/train"
)

func init() { register(newTrainCmd) }

func newTrainCmd() *cobra.Command {
	cfg := train.DefaultConfig("mnist", "eabs")
	var dataDir, out string
	var resume, force bool
	var stopAfter, pgdSteps int
	var pgdEps, beta, gamma float64
	cmd := &cobra.Command{
		Use:   "train --dataset D --model M",
		Short: "Train E-ABS, ABS, an ablation variant or the CNN baseline",
		Long: `Train a model with Gorgonia on the CPU and write, into --out-dir:
  model.eabs       the trained weights (with BatchNorm statistics)
  epochs/          every epoch's model (model-epoch001.eabs, ...), to choose an
                   epoch on the validation split rather than take the last
  checkpoint.eabs  weights, optimiser and RNG state, to continue with --resume
  metrics.csv      one row per epoch (loss, train and validation accuracy, images/s)
  manifest.json    flags, seeds, dataset SHA-256, commit, Go and library versions

Models: ` + strings.Join(models.ModelNames, ", ") + ` (eabs = ADV, abs = none of A/D/V), and
adv-linf / adv-l2: a trained CNN (--init) adversarially trained with PGD (Madry et al.)
at the dataset's budget, learning rate 1e-4 unless --lr is given.
Ctrl-C writes a checkpoint and stops; rerun with --resume to continue.`,
		Example: `  eabs train --dataset mnist --model eabs --epochs 10 --out runs/mnist-eabs
  eabs train --dataset mnist --model eabs --out runs/mnist-eabs --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if resume && force {
				return fmt.Errorf("--resume continues the run in --out-dir, --force replaces it: give one of them")
			}
			if out == "" {
				out = filepath.Join("runs", cfg.Dataset+"-"+cfg.Model)
			}
			if err := checkWritableDir("out-dir", out); err != nil {
				return err
			}
			if strings.HasPrefix(cfg.Model, "adv-") {
				if !cmd.Flags().Changed("lr") {
					cfg.LR = 1e-4 // the paper's rate for adversarial training
				}
				cfg.PGD = &train.PGDConfig{Norm: cfg.Model[4:], Eps: pgdEps, Steps: pgdSteps}
			}
			if changed(cmd, "beta") {
				cfg.Beta = &beta
			}
			if changed(cmd, "gamma") {
				cfg.Gamma = &gamma
			}
			root, from := data.ResolveRoot(dataDir, os.Getenv)
			fmt.Fprintf(cmd.ErrOrStderr(), "data: %s (%s)\n", root, from)
			ds, err := data.LoadRoot(cfg.Dataset, root, data.Options{})
			if err != nil {
				return dataLoadHint(cfg.Dataset, err)
			}
			ctx, stop, stopped := signalContext(cmd)
			defer stop()
			opt := train.Options{Dir: out, Resume: resume, Force: force, Log: cmd.OutOrStdout(), LogEvery: 100,
				StopAfter: stopAfter, Command: os.Args, DataFingerprint: ds.Fingerprint}
			if isTerminal(cmd.ErrOrStderr()) {
				opt.Progress = cmd.ErrOrStderr()
			}
			res, err := train.Run(ctx, cfg, ds, opt)
			if errors.Is(err, train.ErrStopped) {
				fmt.Fprintf(cmd.OutOrStdout(), "stopped after %d complete epochs; checkpoint in %s (continue with --resume)\n", res.Epochs, out)
				// A signal that stopped the run is not a success (train && next must not
				// go on); --stop-after is.
				return stopped()
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trained %d epochs; validation accuracy (amortised) %.4f; model in %s\n", res.Epochs, res.ValAcc, filepath.Join(out, train.ModelFile))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Dataset, "dataset", cfg.Dataset, "dataset: "+strings.Join(data.Names(), ", "))
	f.StringVar(&cfg.Model, "model", cfg.Model, "model: eabs, abs, cnn, or ablation letters a, d, v (e.g. dv)")
	f.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "epochs (the paper trains 500)")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "minibatch size (the paper uses 512; smaller batches learn faster per CPU second)")
	f.Float64Var(&cfg.LR, "lr", cfg.LR, "Adam learning rate")
	f.IntVar(&cfg.HalveEvery, "halve-every", 0, "halve the learning rate every N epochs (default: 0.4*epochs, the paper's 200 of 500)")
	f.Float64Var(&cfg.Noise, "noise", cfg.Noise, "std of the Gaussian augmentation noise (default: the dataset's, the paper's)")
	f.BoolVar(&cfg.NoiseUnclipped, "noise-unclipped", false, "leave noisy images unclipped (base classifiers for randomized smoothing)")
	f.BoolVar(&cfg.NoisyTarget, "noisy-target", false, "reconstruct the noise-augmented image instead of the clean one")
	f.Float64Var(&cfg.ValFrac, "val-frac", cfg.ValFrac, "held-out validation fraction of the training set")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every random choice of the run")
	f.IntVar(&cfg.MaxTrain, "max-train", 0, "train on only the first N training images (0: all)")
	f.IntVar(&cfg.CheckpointSteps, "checkpoint-steps", cfg.CheckpointSteps, "also checkpoint every N steps within an epoch (0: epoch ends only)")
	f.StringVar(&dataDir, "data-dir", "", "data root (default $"+data.EnvDataDir+", then "+data.DefaultDataDir+")")
	f.StringVar(&out, "out-dir", "", "run folder (default runs/<dataset>-<model>)")
	alias(f, "out", "out-dir")
	f.BoolVar(&resume, "resume", false, "continue the run in --out-dir from its checkpoint")
	f.BoolVar(&force, "force", false, "start a new run in an --out-dir that holds one, replacing its files")
	f.IntVar(&stopAfter, "stop-after", 0, "stop with a checkpoint after N steps (0: run to the end)")
	f.StringVar(&cfg.Init, "init", "", "start from this model's weights (required for adv-linf and adv-l2: a trained CNN)")
	f.Float64Var(&pgdEps, "eps", 0, "adv-linf/adv-l2: PGD budget (default: the paper's, e.g. MNIST Linf 0.3, L2 1.5)")
	f.IntVar(&pgdSteps, "pgd-steps", 10, "adv-linf/adv-l2: PGD steps per batch (step size 2.5*eps/steps, random start)")
	f.Float64Var(&beta, "beta", 1, "E-ABS/ABS: weight of the prior term -beta*log D(z) (the paper's 1; also the inference's default); for ablations")
	f.Float64Var(&gamma, "gamma", 10, "E-ABS: weight of the discriminative loss (the paper's 10); for ablations")
	f.Float64Var(&cfg.CETemperature, "ce-temperature", 0, "E-ABS: the discriminative loss as gamma*T*(-log softmax(-c/T)[y]) (0 or 1: the paper's eq. 5); an ablation beyond the paper")
	f.IntVar(&cfg.DiscSteps, "disc-steps", 0, "discriminator updates per training step (0: one, the paper's); for ablations")
	f.Float64Var(&cfg.DiscLR, "disc-lr", 0, "discriminator learning rate as a multiple of --lr (0: 1, the paper's); for ablations")
	return cmd
}
