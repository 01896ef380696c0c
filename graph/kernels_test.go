package graph

import (
	"math/rand/v2"
	"testing"
)

// unfoldPairs is the definition of the unfolding, one element at a time: column row
// (c, ki, kj), column oy*Wo+ox holds image pixel (c, oy*S-P+ki, ox*S-P+kj), or 0 where
// that lies in the padding. visit gets each (column index, pixel index) pair that is
// not padding.
func unfoldPairs(g geometry, visit func(col, pix int)) {
	for c := 0; c < g.C; c++ {
		for ki := 0; ki < g.K; ki++ {
			for kj := 0; kj < g.K; kj++ {
				r := (c*g.K+ki)*g.K + kj
				for oy := 0; oy < g.Ho; oy++ {
					for ox := 0; ox < g.Wo; ox++ {
						iy, ix := oy*g.S-g.P+ki, ox*g.S-g.P+kj
						if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
							visit(r*g.colCols+oy*g.Wo+ox, (c*g.H+iy)*g.W+ix)
						}
					}
				}
			}
		}
	}
}

func im2colNaive(g geometry, img []float64) []float64 {
	cols := make([]float64, g.colRows*g.colCols)
	unfoldPairs(g, func(col, pix int) { cols[col] = img[pix] })
	return cols
}

func col2imNaive(g geometry, cols []float64) []float64 {
	img := make([]float64, g.imageSize)
	unfoldPairs(g, func(col, pix int) { img[pix] += cols[col] })
	return img
}

// TestUnfoldKernelsMatchTheDefinition: im2col and col2im (float32, as training runs
// them, and float64) equal the element-wise definitions on the MNIST decoder's and
// encoder's geometries and on odd ones (strides 1-3, padding beyond the kernel's
// reach, a window larger than the image), with columns laid side by side (ld > Ho*Wo).
// Every sum col2im makes has at most K*K terms of small integers, so float32 is exact.
func TestUnfoldKernelsMatchTheDefinition(t *testing.T) {
	geoms := []geometry{
		newGeometry(32, 11, 11, 5, 2, 0), newGeometry(16, 25, 25, 5, 2, 0), newGeometry(8, 28, 28, 4, 1, 0),
		newGeometry(1, 28, 28, 5, 2, 2), newGeometry(64, 4, 4, 4, 1, 1), newGeometry(3, 32, 32, 4, 2, 1),
		newGeometry(2, 7, 9, 3, 3, 2), newGeometry(2, 5, 6, 3, 1, 3), newGeometry(1, 3, 3, 5, 1, 2),
		newGeometry(2, 9, 8, 2, 2, 0), newGeometry(1, 6, 6, 1, 1, 0),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, g := range geoms {
		if g.Ho < 1 || g.Wo < 1 {
			t.Fatalf("geometry %+v has no output", g)
		}
		img := make([]float64, g.imageSize)
		for i := range img {
			img[i] = float64(rng.IntN(9) - 4)
		}
		cols := make([]float64, g.colRows*g.colCols)
		for i := range cols {
			cols[i] = float64(rng.IntN(9) - 4)
		}
		wantCols, wantImg := im2colNaive(g, img), col2imNaive(g, cols)
		for _, ld := range []int{g.colCols, g.colCols + 5} {
			// float64
			got := make([]float64, g.colRows*ld)
			for i := range got {
				got[i] = 99 // every column element must be written
			}
			im2col(g, img, got, ld)
			for r := 0; r < g.colRows; r++ {
				for j := 0; j < g.colCols; j++ {
					if got[r*ld+j] != wantCols[r*g.colCols+j] {
						t.Fatalf("im2col %+v ld %d: row %d col %d = %g, want %g", g, ld, r, j, got[r*ld+j], wantCols[r*g.colCols+j])
					}
				}
			}
			spread := make([]float64, g.colRows*ld)
			spread32 := make([]float32, g.colRows*ld)
			for r := 0; r < g.colRows; r++ {
				for j := 0; j < g.colCols; j++ {
					spread[r*ld+j] = cols[r*g.colCols+j]
					spread32[r*ld+j] = float32(cols[r*g.colCols+j])
				}
			}
			gotImg := make([]float64, g.imageSize)
			col2im(g, spread, gotImg, ld)
			gotImg32 := make([]float32, g.imageSize)
			col2im(g, spread32, gotImg32, ld)
			for i := range wantImg {
				if gotImg[i] != wantImg[i] || float64(gotImg32[i]) != wantImg[i] {
					t.Fatalf("col2im %+v ld %d: pixel %d = %g (float32 %g), want %g", g, ld, i, gotImg[i], gotImg32[i], wantImg[i])
				}
			}
			// float32 im2col
			img32 := make([]float32, len(img))
			for i, v := range img {
				img32[i] = float32(v)
			}
			got32 := make([]float32, g.colRows*ld)
			im2col(g, img32, got32, ld)
			for r := 0; r < g.colRows; r++ {
				for j := 0; j < g.colCols; j++ {
					if float64(got32[r*ld+j]) != wantCols[r*g.colCols+j] {
						t.Fatalf("im2col float32 %+v ld %d: row %d col %d = %g, want %g", g, ld, r, j, got32[r*ld+j], wantCols[r*g.colCols+j])
					}
				}
			}
		}
	}
}
