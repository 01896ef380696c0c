package cli

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/buildinfo"
	"github.com/eabs/eabs/onnx"
	"github.com/spf13/cobra"
)

func init() { register(newCertifyCmd) }

// CertifyReport is the JSON eabs certify writes.
type CertifyReport struct {
	provenance
	Model      string           `json:"model"`
	WeightsSHA string           `json:"weights_sha256"`
	Dataset    string           `json:"dataset"`
	Split      string           `json:"split"`
	Inference  infer.Options    `json:"inference"`
	Summary    certify.Summary  `json:"summary"`
	Seconds    float64          `json:"seconds"`
	Results    []certify.Result `json:"results"`
}

func newCertifyCmd() *cobra.Command {
	var jsonOut, csvOut, plotOut string
	var batch int
	var sf setFlags
	opt := infer.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "certify MODEL --dataset D",
		Short: "Compute the certified L2 lower bound eps* per image (Appendix A)",
		Long: `For each image, on the Go reference graph with exact inference (mean only, no sampling):
l*_k(x) = min_z ||x - G_k(z)||^2 - beta*log D(z), r = ||x - G_y(z*_y)||,
d_k(x) = min_z ||x - G_k(z)||, and

  eps*(x) = min_{k != y} (d_k(x)^2 - l*_y(x)) / (2 d_k(x) + 2 r)

(0 when the image is misclassified): no L2 perturbation smaller than eps* changes the
prediction, as far as the minima found are the true ones (an optimiser can only
overestimate d_k; see the certify package documentation).

Writes per-image certificates (--csv, --json), the median and mean radius and the
certified accuracy at several radii, and a plot of certified accuracy against the
radius (--plot).`,
		Example: `  eabs certify zoo:mnist-eabs --dataset mnist --n 100 --json results/mnist-eabs/certify.json --plot results/mnist-eabs/certify.png`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			w, path, err := sf.loadModel(args[0])
			if err != nil {
				return err
			}
			set, err := sf.images(stderr)
			if err != nil {
				return err
			}
			bank := newProgress(stderr, opt.Starts, "start bank (reference graph)")
			c, err := certify.New(w, opt, func(d, _ int) { bank.Set(d) })
			bank.Finish()
			if err != nil {
				return err
			}
			defer c.Close()
			bar := newProgress(stderr, set.N, "certify")
			start := time.Now()
			var results []certify.Result
			P := set.ImageSize()
			for lo := 0; lo < set.N; lo += batch {
				hi := min(lo+batch, set.N)
				rs, err := c.Certify(set.Images[lo*P:hi*P], set.Labels[lo:hi], hi-lo)
				if err != nil {
					return err
				}
				results = append(results, rs...)
				bar.Set(hi)
			}
			bar.Finish()
			opt.Exact = true
			rep := &CertifyReport{provenance: provenance{Command: os.Args, Build: buildinfo.Collect(), Time: time.Now().UTC().Format(time.RFC3339)},
				Model: path, WeightsSHA: onnx.WeightsSHA256(w), Dataset: sf.dataset, Split: sf.split, Inference: opt,
				Summary: certify.Summarise(results, []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5}), Seconds: time.Since(start).Seconds(), Results: results}
			s := rep.Summary
			fmt.Fprintf(stdout, "%s on %d %s images: accuracy (exact inference) %.3f, median eps* %.3f, mean %.3f\n", w.Spec.Name(), s.N, sf.dataset, float64(s.Correct)/float64(s.N), s.Median, s.Mean)
			for _, l := range s.Certified {
				fmt.Fprintf(stdout, "  certified accuracy at L2 %.2f: %.3f\n", l.Eps, l.Accuracy)
			}
			if s.Invalid > 0 {
				fmt.Fprintf(stdout, "  %d certificates fail the bound's condition eps* < d_k\n", s.Invalid)
			}
			if csvOut != "" {
				if err := writeCertificates(csvOut, results); err != nil {
					return err
				}
			}
			if plotOut != "" {
				err := atomicfile.Write(plotOut, func(wr io.Writer) error {
					return certify.PlotCurve(wr, results, fmt.Sprintf("%s on %s (%d images): certified L2 radius", w.Spec.Name(), sf.dataset, s.N))
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(stderr, "wrote %s\n", plotOut)
			}
			return writeReport(stderr, jsonOut, rep)
		},
	}
	f := cmd.Flags()
	sf.add(f, "dataset (default: the model's)", 100, "images to certify (the first N)")
	f.IntVar(&batch, "batch", 16, "images per batch")
	f.IntVar(&opt.Starts, "starts", opt.Starts, "random starts of both minimisations")
	f.IntVar(&opt.Steps, "steps", opt.Steps, "Adam steps of both minimisations")
	f.Float64Var(&opt.LR, "lr", opt.LR, "Adam step size")
	addLossAt(f, &opt.LossAt)
	f.Uint64Var(&opt.BankSeed, "bank-seed", opt.BankSeed, "seed of the random starting means")
	f.StringVar(&jsonOut, "json", "", "write the report with every certificate as JSON here")
	f.StringVar(&csvOut, "csv", "", "write per-image certificates as CSV here")
	f.StringVar(&plotOut, "plot", "", "write the certified-accuracy curve as PNG here")
	return cmd
}

func writeCertificates(path string, rs []certify.Result) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"index", "label", "pred", "eps", "binding", "r", "l_label", "d_binding", "valid"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for i, r := range rs {
		db := ""
		if r.Binding >= 0 {
			db = f(r.D[r.Binding])
		}
		w.Write([]string{strconv.Itoa(i), strconv.Itoa(r.Label), strconv.Itoa(r.Pred), f(r.Eps), strconv.Itoa(r.Binding), f(r.R), f(r.L[r.Label]), db, strconv.FormatBool(r.Valid)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}
