package data

import (
	"embed"
	"io/fs"
)

// sample is a 200-train / 100-test cut of MNIST (see sample/README.md), compiled in so
// that `eabs data inspect mnist-sample` and the quick-start work on a fresh clone with
// no data directory.
//
//go:embed sample/mnist/*.gz
var sample embed.FS

// sampleFS returns the embedded sample laid out like a data root (mnist/...).
func sampleFS() fs.FS {
	sub, err := fs.Sub(sample, "sample")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
