package grad_test

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/runtime/ort"
)

// BenchmarkGradient: one run at batch 16 on one ONNX Runtime thread of two
// PyTorch-exported MNIST classifiers of ../shared/onnx-models: "forward" is the model
// as exported, "gradient" the graph Build writes (outputs, cross-entropy and its input
// gradient), so their ratio is what a gradient costs over a forward pass; "build" is
// Build itself. cpu-ms/op is the process's CPU time per run, the stable measure on a
// shared machine.
func BenchmarkGradient(b *testing.B) {
	dir := sharedDir(b, "EABS_ONNX_MODELS", "onnx-models")
	initORT(b)
	const n = 16
	rnd := rand.New(rand.NewPCG(12345678, 0))
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = rnd.Float32()
	}
	labels := make([]int64, n)
	for i := range labels {
		labels[i] = int64(rnd.IntN(10))
	}
	shape := []int64{n, 1, 28, 28}
	run := func(b *testing.B, s *ort.Session, in []ort.Tensor) {
		b.ResetTimer()
		cpu := processCPU()
		for range b.N {
			if _, err := s.Run(in); err != nil {
				b.Fatal(err)
			}
		}
		// CPU time hardly depends on other load on the machine; wall time does.
		b.ReportMetric(float64((processCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
	}
	for _, model := range []string{"mnist-lenet", "mnist-resnet-norm"} {
		path := filepath.Join(dir, model+".onnx")
		b.Run(model+"/forward", func(b *testing.B) {
			s, err := ort.Open(path, ort.Options{IntraOpThreads: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			run(b, s, []ort.Tensor{{Shape: shape, Data: x}})
		})
		b.Run(model+"/gradient", func(b *testing.B) {
			r, err := grad.BuildFile(path, grad.Options{})
			if err != nil {
				b.Fatal(err)
			}
			s := openGrad(b, r)
			run(b, s, []ort.Tensor{{Shape: shape, Data: x}, {Shape: []int64{n}, Int64: labels}})
		})
		b.Run(model+"/build", func(b *testing.B) {
			for range b.N {
				if _, err := grad.BuildFile(path, grad.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
