// Command attackprobe runs the attack package's gradient attacks by name on the MNIST
// CNN baseline (zoo:mnist-cnn on the float64 reference graph) over the seeded random
// test sample every evaluation uses, and prints per attack the robust accuracy at the
// paper's budget (Linf 0.3, L2 1.5; a minimum-norm attack's sample is robust when it
// found nothing within the budget), the median distance of its adversarial examples,
// how many of its claims of success the model's verdict contradicts, queries per attacked
// image and the time. It is a quick check that the attacks work on a real model, not the
// evaluation runner (`eabs attack`), which makes the committed results.
//
//	EABS_DATA_DIR=/work/shared/data go run ./scripts/attackprobe [-n 50] [-seed 1] [-batch 25] pgd-l2 ddn ...
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/zoo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "attackprobe:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 50, "test images (data.SampleIndices)")
	seed := flag.Uint64("seed", 1, "sample seed")
	batch := flag.Int("batch", 25, "images per attack call")
	flag.Parse()
	w, _, err := zoo.Load("mnist-cnn")
	if err != nil {
		return err
	}
	c, err := ref.NewClassifier(w)
	if err != nil {
		return err
	}
	defer c.Close()
	ds, err := data.Load("mnist", os.Getenv("EABS_DATA_DIR"))
	if err != nil {
		return err
	}
	s := ds.Test.Subset(data.SampleIndices(ds.Test.N, *n, *seed))
	size, K := s.ImageSize(), c.Classes()
	z, err := c.Logits(s.Images, s.N)
	if err != nil {
		return err
	}
	var correct []int
	for i := 0; i < s.N; i++ {
		if floats.Argmax(z[i*K:(i+1)*K]) == s.Labels[i] {
			correct = append(correct, i)
		}
	}
	fmt.Printf("clean %d/%d\n", len(correct), s.N)
	sub := s.Subset(correct)
	for _, name := range flag.Args() {
		eps := 1.5
		if strings.HasSuffix(name, "linf") {
			eps = 0.3
		}
		a, err := attack.New(name, attack.Settings{Eps: eps})
		if err != nil {
			return err
		}
		t0 := time.Now()
		robust, wrong, queries := 0, 0, 0
		var dists []float64
		for lo := 0; lo < sub.N; lo += *batch {
			hi := min(lo+*batch, sub.N)
			x, y := sub.Images[lo*size:hi*size], sub.Labels[lo:hi]
			f, err := a.Run(context.Background(), c, x, y, hi-lo, rand.New(rand.NewPCG(*seed, uint64(lo))))
			if err != nil {
				return err
			}
			za, err := c.Logits(f.Adv, hi-lo)
			if err != nil {
				return err
			}
			for b := 0; b < hi-lo; b++ {
				mis := floats.Argmax(za[b*K:(b+1)*K]) != y[b]
				if mis != f.Ok[b] {
					wrong++
				}
				d := distance(a.Norm(), f.Adv[b*size:(b+1)*size], x[b*size:(b+1)*size])
				if mis {
					dists = append(dists, d)
				}
				if !mis || d > eps*(1+1e-6) {
					robust++
				}
				queries += f.Queries[b]
			}
		}
		med := 0.0
		if len(dists) > 0 {
			slices.Sort(dists)
			med = dists[len(dists)/2]
		}
		fmt.Printf("%-14s eps %.2f: robust %d/%d (%.1f%%), fooled %d (median distance %.3f), claims contradicted %d, queries/image %.0f, %.1f s\n",
			name, eps, robust, s.N, 100*float64(robust)/float64(s.N), len(dists), med, wrong, float64(queries)/float64(max(sub.N, 1)), time.Since(t0).Seconds())
	}
	return nil
}

func distance(norm attack.Norm, a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		if d < 0 {
			d = -d
		}
		if norm == attack.Linf {
			s = max(s, d)
		} else {
			s += d * d
		}
	}
	if norm == attack.L2 {
		return math.Sqrt(s)
	}
	return s
}
