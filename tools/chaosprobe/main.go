// Command chaosprobe tests whether the final losses of one image's full inference are
// chaotic under float32 rounding, the excuse `eabs crosscheck` grants an image whose
// losses differ between ONNX Runtime and the reference graph: it runs the image on
// both runtimes with the same starts and noise, then repeats both runs with every
// latent mean jittered by float32 rounding (crosscheck.LatentJitter), and prints every
// run's per-class losses and, per class where the runtimes differ beyond -tol, how
// many jittered reference runs land within -tol of ONNX Runtime's loss.
//
//	go run ./tools/chaosprobe [-model zoo:mnist-eabs] [-dataset mnist] [-image 907] [-runs 16]
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/eabs/eabs/crosscheck"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/tools/internal/probe"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaosprobe:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "zoo:mnist-eabs", "zoo model")
	dataset := flag.String("dataset", "mnist", "dataset (its test split)")
	dataDir := flag.String("data-dir", "../shared/data", "data root")
	image := flag.Int("image", 907, "test image")
	runs := flag.Int("runs", 16, "jittered reference runs (ONNX Runtime gets half as many)")
	tol := flag.Float64("tol", crosscheck.DefaultTolerances(0)["infer.loss"].Rel, "relative tolerance of a final loss")
	seed := flag.Uint64("seed", 1, "seed of the noise (eabs crosscheck's --seed) and of the jitter")
	flag.Parse()

	ex, err := probe.Export(*model)
	if err != nil {
		return err
	}
	defer ex.Close()
	ds, err := data.Load(*dataset, *dataDir)
	if err != nil {
		return err
	}
	if *image < 0 || *image >= ds.Test.N {
		return fmt.Errorf("image %d: the test split has %d", *image, ds.Test.N)
	}
	om, err := ort.OpenModel(ex.Dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		return err
	}
	defer om.Close()
	rm, err := ref.New(ex.W)
	if err != nil {
		return err
	}
	defer rm.Close()
	re, err := infer.NewEngine(rm, infer.DefaultOptions(), nil)
	if err != nil {
		return err
	}
	x := ds.Test.Image(*image)
	classify := func(m runtime.Model) ([]float32, error) {
		e, err := infer.NewEngineWithBank(m, re.Options(), re.Bank(), nil)
		if err != nil {
			return nil, err
		}
		// the noise of image i in eabs crosscheck, whose full inference runs the
		// first images of the test split
		out, err := e.Classify(x, 1, []*rand.Rand{infer.NoiseFor(*seed, 0, *image)})
		if err != nil {
			return nil, err
		}
		return out.Loss, nil
	}
	fmt.Printf("test image %d, label %d; l_k per class\n", *image, ds.Test.Labels[*image])
	refLoss, err := classify(rm)
	if err != nil {
		return err
	}
	ortLoss, err := classify(om)
	if err != nil {
		return err
	}
	fmt.Printf("%-12s %v\n%-12s %v\n", "ref", refLoss, "ort", ortLoss)
	rng := rand.New(rand.NewPCG(*seed, 0xC4A05))
	hits := make([]int, len(refLoss))
	for _, c := range []struct {
		name string
		m    runtime.Model
		n    int
		ref  bool
	}{{"ref jittered", rm, *runs, true}, {"ort jittered", om, *runs / 2, false}} {
		for range c.n {
			l, err := classify(crosscheck.Jitter(c.m, rng))
			if err != nil {
				return err
			}
			fmt.Printf("%-12s %v\n", c.name, l)
			if c.ref {
				for k, v := range l {
					if within(v, ortLoss[k], *tol) {
						hits[k]++
					}
				}
			}
		}
	}
	for k := range refLoss {
		if !within(refLoss[k], ortLoss[k], *tol) {
			fmt.Printf("class %d: ref %.6g, ort %.6g (rel %.2g > %g); %d of %d jittered reference runs within %g of ort\n",
				k, refLoss[k], ortLoss[k], math.Abs(float64(ortLoss[k]-refLoss[k]))/math.Abs(float64(refLoss[k])), *tol, hits[k], *runs, *tol)
		}
	}
	return nil
}

func within(a, b float32, tol float64) bool {
	return math.Abs(float64(a)-float64(b)) <= tol*math.Abs(float64(a))
}
