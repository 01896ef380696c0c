package onnxgo

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ort"
)

// BenchmarkEncode times Encode of the MNIST E-ABS (one encoder) and ABS (ten) models
// in onnx-go and, for comparison, in ONNX Runtime with one intra-op thread (skipped
// when its library is not found):
//
//	go test ./runtime/onnxgo -run '^$' -bench Encode -benchtime 20x
func BenchmarkEncode(b *testing.B) {
	const seed = 12345678
	for _, model := range []string{"eabs", "abs"} {
		s, err := models.NewSpec("mnist", model)
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		w, err := models.NewWeights(s, rng)
		if err != nil {
			b.Fatal(err)
		}
		naive.RandomizeBN(w, rng)
		for _, batch := range []int{1, 16} {
			x := uniform(rng, batch*s.Arch.Pixels(), 0, 1)
			b.Run(fmt.Sprintf("onnxgo/%s/batch=%d", model, batch), func(b *testing.B) {
				m := open(b, w)
				defer m.Close()
				encodeBench(b, m, x, batch)
			})
			b.Run(fmt.Sprintf("ort/%s/batch=%d", model, batch), func(b *testing.B) {
				m := openORT(b, w)
				defer m.Close()
				encodeBench(b, m, x, batch)
			})
		}
	}
}

func encodeBench(b *testing.B, m runtime.Model, x []float32, batch int) {
	if _, _, err := m.Encode(x, batch); err != nil { // compiles the graph
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := m.Encode(x, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
}

func openORT(b *testing.B, w *models.Weights) *ort.Model {
	lib, err := ort.LibraryPath("")
	if errors.Is(err, ort.ErrLibraryNotFound) {
		testenv.SkipOrFail(b, "ONNX Runtime: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := ort.Init(lib); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if _, err := onnx.Export(w, dir, onnx.ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	m, err := ort.OpenModel(dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	return m
}
