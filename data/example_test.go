package data_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/eabs/eabs/data"
)

// Load the embedded MNIST sample and hold out 10% of its training set for
// validation, as the paper does, with a seeded generator.
func ExampleLoad() {
	ds, err := data.Load("mnist-sample", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	train, val := ds.Train.Split(0.1, rand.New(rand.NewPCG(1, 1)))
	fmt.Printf("%s: %d train, %d test, %dx%dx%d, %d classes\n",
		ds.Name, ds.Train.N, ds.Test.N, ds.Train.C, ds.Train.H, ds.Train.W, ds.Train.Classes)
	fmt.Printf("split: %d train, %d val\n", train.N, val.N)
	// Output:
	// mnist-sample: 200 train, 100 test, 1x28x28, 10 classes
	// split: 180 train, 20 val
}
