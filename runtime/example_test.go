package runtime_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/runtime"
	_ "github.com/eabs/eabs/runtime/ort" // registers the "ort" engine
	"github.com/eabs/eabs/zoo"
)

// A plain ONNX classifier (here the zoo's MNIST CNN, exported to a .onnx file as any
// other tool would write one), opened with the options a user gives for it and
// attacked with PGD through the gradient graph eabs writes for it (package onnx/grad),
// all on ONNX Runtime.
func Example_plainONNX() {
	dir, _ := os.MkdirTemp("", "plain-onnx")
	defer os.RemoveAll(dir)
	w, _, _ := zoo.Load("mnist-cnn")
	if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	src, err := runtime.Load(filepath.Join(dir, "cnn.onnx"))
	if err != nil {
		fmt.Println(err)
		return
	}
	// How the model takes images and what it returns (Foolbox's bounds and
	// preprocessing, the input layout, the output): the defaults, spelled out.
	src.Adapt = adapt.Options{Layout: adapt.NCHW, Bounds: []float64{0, 1}, Kind: grad.Logits}
	c, err := runtime.OpenClassifier("ort", src, runtime.Options{Threads: 1, Gradients: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	ds, _ := data.Load("mnist-sample", data.EmbeddedRoot)
	x, y := ds.Test.Image(0), ds.Test.Labels[0]
	z, _ := c.Logits(x, 1)
	fmt.Printf("label %d, predicted %d\n", y, floats.Argmax(z))

	pgd := attack.PGDAttack{Lp: attack.Linf, Eps: 0.3, Steps: 20, Restarts: 1}
	found, err := pgd.Run(context.Background(), c, x, []int{y}, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	z, _ = c.Logits(found.Adv, 1)
	fmt.Printf("after PGD-Linf 0.3 (%d gradients): predicted %d\n", found.Queries[0], floats.Argmax(z))
	// Output:
	// label 7, predicted 7
	// after PGD-Linf 0.3 (4 gradients): predicted 9
}
