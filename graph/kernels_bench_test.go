package graph

import "testing"

// The unfolding kernels on the MNIST E-ABS decoder's transposed convolutions, as
// training runs them (per image; ten decoders per step): col2im folds a layer's columns
// onto its output in the forward pass, im2col unfolds the output gradient in the
// backward pass. Reported per element of the column matrix.
//
//	go test ./graph -run '^$' -bench 'Im2col|Col2im'
var decoderGeometries = []struct {
	name string
	g    geometry
}{
	{"32x4x4-k5s2-32x11x11", newGeometry(32, 11, 11, 5, 2, 0)},
	{"32x11x11-k5s2-16x25x25", newGeometry(16, 25, 25, 5, 2, 0)},
	{"16x25x25-k4s1-8x28x28", newGeometry(8, 28, 28, 4, 1, 0)},
}

func BenchmarkCol2im(b *testing.B) {
	for _, d := range decoderGeometries {
		g := d.g
		cols := make([]float32, g.colRows*g.colCols)
		for i := range cols {
			cols[i] = float32(i%7) - 3
		}
		img := make([]float32, g.imageSize)
		b.Run(d.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				col2im(g, cols, img, g.colCols)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cols)), "ns/elem")
		})
	}
}

func BenchmarkIm2col(b *testing.B) {
	for _, d := range decoderGeometries {
		g := d.g
		img := make([]float32, g.imageSize)
		for i := range img {
			img[i] = float32(i%5) - 2
		}
		cols := make([]float32, g.colRows*g.colCols)
		b.Run(d.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				im2col(g, img, cols, g.colCols)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cols)), "ns/elem")
		})
	}
}
