package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/zoo"
	"github.com/spf13/cobra"
)

func init() { register(newExportCmd) }

func newExportCmd() *cobra.Command {
	var out, dataset string
	opt := infer.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "export MODEL --out DIR",
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
		Example: `  eabs export runs/mnist-eabs --out zoo/mnist-eabs`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, meta, path, err := loadWeights(args[0])
			if err != nil {
				return err
			}
			if dataset == "" {
				dataset = meta["dataset"]
			}
			if out == "" {
				return fmt.Errorf("--out DIR is required")
			}
			paths, err := exportModel(w, out, dataset, opt)
			if err != nil {
				return err
			}
			// model.eabs goes along so the directory is a complete model: the file
			// itself, or for a zoo model (no file) its weights and metadata re-encoded.
			dst := filepath.Join(out, "model.eabs")
			switch {
			case strings.HasPrefix(path, zoo.Prefix):
				if err := models.SaveModel(dst, w, meta); err != nil {
					return err
				}
			case mustAbs(path) != mustAbs(dst):
				if err := copyFile(dst, path); err != nil {
					return err
				}
			}
			for _, p := range append(paths, dst) {
				st, _ := os.Stat(p)
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d bytes\n", p, st.Size())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory to write")
	f.StringVar(&dataset, "dataset", "", "dataset name for the metadata (default: the model file's)")
	f.IntVar(&opt.Starts, "starts", opt.Starts, "inference setting recorded in the metadata: random starts")
	f.IntVar(&opt.Steps, "steps", opt.Steps, "inference setting recorded in the metadata: Adam steps")
	f.Float64Var(&opt.LR, "lr", opt.LR, "inference setting recorded in the metadata: Adam step size")
	addLossAt(f, &opt.LossAt)
	f.Uint64Var(&opt.BankSeed, "bank-seed", opt.BankSeed, "inference setting recorded in the metadata: start seed")
	return cmd
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
