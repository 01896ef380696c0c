package ort

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/zoo"
)

// BenchmarkPGDPlainONNX: PGD-Linf (eps 0.3, 20 steps, one restart, every step taken)
// on MNIST test images against the zoo's MNIST CNN two ways, in one run: "zoo" is
// zoo:mnist-cnn on its native path (the float64 reference graph eval attacks zoo CNNs
// with), "plain-onnx" the same CNN exported to ONNX and opened as a plain .onnx file
// (ONNX Runtime on one thread, gradients from the onnx/grad graph: a forward run for
// the scores, then the gradient graph with their cotangent). batch=1 is how eval runs
// attacks by default (--attack-batch 1), batch=16 one call for 16 images. cpu-ms/op
// is the process's CPU time per attack call, the stable measure on a shared machine
// (the reference graph runs a batch's images on every core; ONNX Runtime on one);
// the ratio plain-onnx/zoo of cpu-ms/op is the one to read.
func BenchmarkPGDPlainONNX(b *testing.B) {
	initORT(b)
	w, _, err := zoo.Load("mnist-cnn")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, onnx.RoleCNN+".onnx")
	plain, err := runtime.OpenClassifier(Engine, &runtime.Source{Arg: path, Path: path, ONNX: path}, runtime.Options{Threads: 1, Gradients: true})
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	native, err := ref.NewClassifier(w)
	if err != nil {
		b.Fatal(err)
	}
	defer native.Close()
	ds, err := data.Load("mnist-sample", data.EmbeddedRoot)
	if err != nil {
		b.Fatal(err)
	}
	pgd := attack.PGDAttack{Lp: attack.Linf, Eps: 0.3, Steps: 20, Restarts: 1, KeepGoing: true}
	p := ds.Test.ImageSize()
	for _, n := range []int{1, 16} {
		x, y := ds.Test.Images[:n*p], ds.Test.Labels[:n]
		for _, m := range []struct {
			name string
			c    attack.Classifier
		}{{"zoo", native}, {"plain-onnx", plain}} {
			b.Run(fmt.Sprintf("batch=%d/%s", n, m.name), func(b *testing.B) {
				b.ResetTimer()
				cpu := processCPU()
				for i := range b.N {
					if _, err := pgd.Run(context.Background(), m.c, x, y, n, rand.New(rand.NewPCG(1, uint64(i)))); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((processCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
