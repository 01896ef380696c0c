// Package report turns results into pictures and tables people would rather look at
// than read: reconstruction grids that show analysis by synthesis at work.
package report

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/atomicfile"
)

var (
	background = color.RGBA{40, 40, 40, 255}
	correct    = color.RGBA{40, 200, 80, 255}
	wrong      = color.RGBA{230, 50, 50, 255}
	label      = color.RGBA{90, 140, 255, 255}
)

// Reconstructions draws one row per image: the input, then each class's best
// reconstruction G_k(z*) (B, K, C*H*W). The predicted class's frame is green when it
// equals the label and red otherwise; the label's frame is blue when the prediction is
// wrong. labels may be nil.
func Reconstructions(x, rec []float32, pred, labels []int, k, c, h, w, scale int) (*image.RGBA, error) {
	p := c * h * w
	if p == 0 || len(x)%p != 0 {
		return nil, fmt.Errorf("report: %d values are not whole %dx%dx%d images", len(x), c, h, w)
	}
	b := len(x) / p
	if len(rec) != b*k*p || len(pred) != b || (labels != nil && len(labels) != b) {
		return nil, fmt.Errorf("report: %d images, %d reconstruction values (want %d), %d predictions", b, len(rec), b*k*p, len(pred))
	}
	const pad = 3
	cw, ch := w*scale+2*pad, h*scale+2*pad
	gap := 6
	img := image.NewRGBA(image.Rect(0, 0, (k+1)*cw+gap, b*ch))
	fillRect(img, img.Bounds(), background)
	for i := 0; i < b; i++ {
		y0 := i * ch
		data.DrawImage(img, pad, y0+pad, x[i*p:(i+1)*p], c, h, w, scale)
		for j := 0; j < k; j++ {
			x0 := cw + gap + j*cw
			switch {
			case j == pred[i] && (labels == nil || labels[i] == j):
				frame(img, image.Rect(x0, y0, x0+cw, y0+ch), correct)
			case j == pred[i]:
				frame(img, image.Rect(x0, y0, x0+cw, y0+ch), wrong)
			case labels != nil && labels[i] == j:
				frame(img, image.Rect(x0, y0, x0+cw, y0+ch), label)
			}
			data.DrawImage(img, x0+pad, y0+pad, rec[(i*k+j)*p:(i*k+j+1)*p], c, h, w, scale)
		}
	}
	return img, nil
}

// WritePNG writes img to path atomically.
func WritePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}

func fillRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func frame(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	fillRect(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+2), c)
	fillRect(img, image.Rect(r.Min.X, r.Max.Y-2, r.Max.X, r.Max.Y), c)
	fillRect(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+2, r.Max.Y), c)
	fillRect(img, image.Rect(r.Max.X-2, r.Min.Y, r.Max.X, r.Max.Y), c)
}
