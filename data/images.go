package data

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // image.Decode reads JPEG
	_ "image/png"  // and PNG
	"os"
	"path/filepath"
	"strings"
)

// ReadImages decodes image files into an unlabelled Set of c x h x w images: PNG and
// JPEG through the standard library, binary PPM through ReadPPM; each is resized
// bilinearly to w x h and converted to grey (ITU-R 601 luma, c = 1) or RGB (c = 3).
func ReadImages(files []string, c, h, w int) (*Set, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("data: images of %d channels: want 1 or 3", c)
	}
	hw := h * w
	s := &Set{Name: "files", N: len(files), C: c, H: h, W: w, Images: make([]float32, len(files)*c*hw),
		Files: append([]string(nil), files...)}
	for i, f := range files {
		rgb, err := readRGB(f)
		if err != nil {
			return nil, err
		}
		rgb = rgb.Resize(w, h)
		dst := s.Images[i*c*hw : (i+1)*c*hw]
		for p := 0; p < hw; p++ {
			r, g, b := float32(rgb.Pix[3*p]), float32(rgb.Pix[3*p+1]), float32(rgb.Pix[3*p+2])
			if c == 1 {
				dst[p] = (0.299*r + 0.587*g + 0.114*b) / 255
				continue
			}
			dst[p], dst[hw+p], dst[2*hw+p] = r/255, g/255, b/255
		}
	}
	return s, nil
}

func readRGB(path string) (*RGB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(filepath.Ext(path), ".ppm") {
		return ReadPPM(bytes.NewReader(b), path)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w (supported: PNG, JPEG, binary PPM)", path, err)
	}
	r := img.Bounds()
	out := &RGB{W: r.Dx(), H: r.Dy(), Pix: make([]byte, 3*r.Dx()*r.Dy())}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			i := 3 * ((y-r.Min.Y)*r.Dx() + x - r.Min.X)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = byte(cr>>8), byte(cg>>8), byte(cb>>8)
		}
	}
	return out, nil
}
