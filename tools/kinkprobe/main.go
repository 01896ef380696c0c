// Command kinkprobe tests whether a latent-step gradient mismatch between ONNX Runtime
// and the reference graph is a kink of the piecewise-linear network: it records the
// latent step that `eabs crosscheck` compares on the first images of a set, prints both
// runtimes' gradients for one (image, class) row, and the reference's gradients at the
// latent mean moved by small amounts. If the reference's own gradient jumps by the size
// of the mismatch under a move far below float32 resolution of the activations, the two
// runtimes are on different sides of a kink.
//
//	go run ./tools/kinkprobe [-model zoo:mnist-eabs] [-dataset mnist-sample] [-images 8] [-image 1] [-class 6]
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/eabs/eabs/crosscheck"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/tools/internal/probe"
)

// recorder keeps the arguments of the first latent step it runs.
type recorder struct {
	runtime.Model
	x, mu, lv, eps []float32
	batch          int
}

func (r *recorder) LatentStep(x, mu, lv, eps []float32, batch int) (*runtime.Step, error) {
	if r.x == nil {
		r.x, r.mu, r.lv, r.eps, r.batch = slices.Clone(x), slices.Clone(mu), slices.Clone(lv), slices.Clone(eps), batch
	}
	return r.Model.LatentStep(x, mu, lv, eps, batch)
}

func (r *recorder) DiscLogit(z []float32, n int) ([]float32, error) {
	return r.Model.(runtime.Discriminator).DiscLogit(z, n)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kinkprobe:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "zoo:mnist-eabs", "zoo model")
	dataset := flag.String("dataset", "mnist-sample", "dataset (its test split)")
	dataDir := flag.String("data-dir", "../shared/data", "data root")
	images := flag.Int("images", 8, "images in the cross-checked batch (eabs demo uses batches of 8)")
	image := flag.Int("image", 1, "image of the row to probe")
	class := flag.Int("class", 6, "class of the row to probe")
	flag.Parse()

	ex, err := probe.Export(*model)
	if err != nil {
		return err
	}
	defer ex.Close()
	w := ex.W
	if !w.Spec.HasDiscriminator() {
		return fmt.Errorf("%s has no discriminator; the probe follows E-ABS's cross-check", *model)
	}
	ds, err := data.Load(*dataset, *dataDir)
	if err != nil {
		return err
	}
	a := w.Spec.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	if *images > ds.Test.N || *image >= *images || *class >= K {
		return fmt.Errorf("image %d class %d of %d images: out of range", *image, *class, *images)
	}
	set := &data.Set{N: *images, C: a.InC, H: a.InH, W: a.InW, Classes: K, Images: ds.Test.Images[:*images*P], Labels: ds.Test.Labels[:*images]}

	om, err := ort.OpenModel(ex.Dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		return err
	}
	defer om.Close()
	rm, err := ref.New(w)
	if err != nil {
		return err
	}
	defer rm.Close()
	rec := &recorder{Model: rm}
	opt := infer.DefaultOptions()
	opt.Starts, opt.Steps = 16, 1 // the full-inference part is not what is probed
	rep, err := crosscheck.Run(rec, om, "ref", "ort", set, crosscheck.Options{Batch: *images, Infer: opt, Seed: 1})
	if err != nil {
		return err
	}
	for _, r := range rep.Rows {
		if r.Tensor == "step.grad_mu" {
			fmt.Printf("cross-check step.grad_mu: max %.3g of row max (tolerance %g), worst element %d\n", r.MaxRel, r.Tol.Rel, r.WorstAt)
		}
	}
	row := *image*K + *class
	grad := func(m runtime.Model, mu []float32) ([]float32, error) {
		st, err := m.LatentStep(rec.x, mu, rec.lv, rec.eps, rec.batch)
		if err != nil {
			return nil, err
		}
		return st.GradMu[row*M : (row+1)*M], nil
	}
	for _, c := range []struct {
		name string
		m    runtime.Model
	}{{"ref", rm}, {"ort", om}} {
		g, err := grad(c.m, rec.mu)
		if err != nil {
			return err
		}
		fmt.Printf("%-4s at mu          %v\n", c.name, g)
	}
	for _, d := range []float32{1e-6, -1e-6, 1e-5, -1e-5} {
		mu := slices.Clone(rec.mu)
		for j := row * M; j < (row+1)*M; j++ {
			mu[j] += d
		}
		g, err := grad(rm, mu)
		if err != nil {
			return err
		}
		fmt.Printf("ref  at mu %+.0e  %v\n", d, g)
	}
	return nil
}
