package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/cleanup"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/train"
	"github.com/eabs/eabs/zoo"
)

func init() { register(newExportCmd) }

func newExportCmd() *cobra.Command {
	var out, dataset string
	var force bool
	opt := infer.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "export MODEL --out-dir DIR",
		Short: "Export a trained model to ONNX (opset 13)",
		Long: `Write the model's ONNX files into DIR, with a copy of model.eabs so DIR is a complete
model directory that every other command accepts:

  encoder.onnx        x [B,C,H,W] -> mu, logvar [B,E,M]
  decoders.onnx       z [B,K,M] -> rec [B,K,C,H,W]   (all K decoders in one graph)
  discriminator.onnx  z [B,M] -> logit [B,1]          (adversarial models)
  latent_step.onnx    x, mu, logvar, eps -> loss [B,K], rec, grad_mu, grad_logvar
  cnn.onnx            x -> logits [B,K]               (CNN models)

The latent step carries its gradients as ONNX operators, so ONNX Runtime alone runs the
whole inference. Every file has a symbolic batch dimension, the weights as
initializers and eabs metadata (dataset, classes, input shape, latent size, beta, the
inference settings below, and the weights' SHA-256).`,
		Example: `  eabs export runs/mnist-eabs --out-dir exports/mnist-eabs`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			src, err := runtime.Load(args[0])
			if err != nil {
				return err
			}
			if err := src.NeedWeights("export"); err != nil {
				return err
			}
			w, meta, path := src.Weights, src.Meta, src.Path
			if dataset == "" {
				dataset = meta["dataset"]
			}
			if out == "" {
				return fmt.Errorf("--out-dir DIR is required")
			}
			dst := filepath.Join(out, train.ModelFile)
			inPlace := !strings.HasPrefix(path, zoo.Prefix) && mustAbs(path) == mustAbs(dst)
			if err := checkExportDir(out, inPlace, force); err != nil {
				return err
			}
			// Everything is written into a hidden staging folder inside DIR (same file
			// system, so the moves are renames) and moved in only when complete, so a
			// failed export leaves DIR as it was (a DIR it created is removed again).
			if _, err := os.Stat(out); os.IsNotExist(err) {
				if err := os.MkdirAll(out, 0o755); err != nil {
					return err
				}
				defer func() {
					if err != nil {
						os.Remove(out)
					}
				}()
			}
			tmp, err := os.MkdirTemp(out, stagingPrefix+"*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			unregister := cleanup.OnSignal(func() { os.RemoveAll(tmp) })
			defer unregister()
			ev, err := json.Marshal(opt)
			if err != nil {
				return err
			}
			paths, err := onnx.Export(w, tmp, onnx.ExportOptions{Dataset: dataset, Meta: map[string]string{onnx.MetaEval: string(ev)}})
			if err != nil {
				return err
			}
			paths = append(paths, filepath.Join(tmp, onnx.ManifestFile))
			// model.eabs goes along so the directory is a complete model: the file
			// itself, or for a zoo model (no file) its weights and metadata re-encoded.
			switch {
			case strings.HasPrefix(path, zoo.Prefix):
				if err := models.SaveModel(filepath.Join(tmp, train.ModelFile), w, meta); err != nil {
					return err
				}
				paths = append(paths, filepath.Join(tmp, train.ModelFile))
			case !inPlace:
				if err := copyFile(filepath.Join(tmp, train.ModelFile), path); err != nil {
					return err
				}
				paths = append(paths, filepath.Join(tmp, train.ModelFile))
			}
			// Stale files of an earlier export (another model kind has other roles)
			// go; then the new ones move in.
			for _, name := range exportFiles() {
				if name == train.ModelFile && inPlace {
					continue
				}
				if err := os.Remove(filepath.Join(out, name)); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
			for _, p := range paths {
				if err := os.Rename(p, filepath.Join(out, filepath.Base(p))); err != nil {
					return err
				}
			}
			// Staging folders of exports killed before they finished go too.
			if old, _ := filepath.Glob(filepath.Join(out, stagingPrefix+"*")); len(old) > 0 {
				for _, o := range old {
					if o != tmp {
						os.RemoveAll(o)
					}
				}
			}
			for _, p := range paths {
				p = filepath.Join(out, filepath.Base(p))
				st, err := os.Stat(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d bytes\n", p, st.Size())
			}
			if inPlace {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\tkept (the exported model itself)\n", dst)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out-dir", "", "folder to write (new or empty; see --force)")
	alias(f, "out", "out-dir")
	f.BoolVar(&force, "force", false, "replace an earlier export in --out (its ONNX files and model.eabs; other files stay)")
	f.StringVar(&dataset, "dataset", "", "dataset name for the metadata (default: the model file's)")
	addInferFlags(f, &opt) // recorded in the metadata
	return cmd
}

// stagingPrefix names the hidden folder an export is written into before its files
// move into DIR.
const stagingPrefix = ".eabs-export-"

// exportFiles are the names an export writes: every role's ONNX file (a model kind
// writes only some of them), the manifest and model.eabs.
func exportFiles() []string {
	return []string{onnx.RoleEncoder + ".onnx", onnx.RoleDecoders + ".onnx", onnx.RoleDiscriminator + ".onnx",
		onnx.RoleLatentStep + ".onnx", onnx.RoleCNN + ".onnx", onnx.ManifestFile, train.ModelFile}
}

// checkExportDir refuses to write an export where it would replace what the user made:
// a non-empty DIR needs --force, and even then a training run's model.eabs (DIR holds
// a checkpoint, metrics or a manifest) is replaced by no other model's weights.
// inPlace says DIR's model.eabs is the model being exported (it is kept).
func checkExportDir(dir string, inPlace, force bool) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), stagingPrefix) { // left by a killed export
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("--out %s is not empty (%s): choose a new folder, or pass --force to replace an earlier export there", dir, listNames(names, 5))
	}
	if inPlace {
		return nil
	}
	for _, f := range []string{train.CheckpointFile, train.MetricsFile, train.ManifestFile} {
		if slices.Contains(names, f) {
			if slices.Contains(names, train.ModelFile) {
				return fmt.Errorf("--out %s is a training run (it holds %s): its %s is not replaced, even with --force; export into another folder", dir, f, train.ModelFile)
			}
		}
	}
	return nil
}

// listNames shows at most max names, then how many more there are.
func listNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

func mustAbs(p string) string {
	a, _ := filepath.Abs(p)
	return a
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}
