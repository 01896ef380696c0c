package data

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/eabs/eabs/internal/atomicfile"
)

// ChannelStats are pixel statistics of one channel over all images of a split, on the
// [0,1] scale. Std is the population standard deviation.
type ChannelStats struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// SplitStats describe one split: its size, image shape, images per class and
// per-channel pixel statistics.
type SplitStats struct {
	Split       string         `json:"split"`
	N           int            `json:"n"`
	C           int            `json:"c"`
	H           int            `json:"h"`
	W           int            `json:"w"`
	ClassCounts []int          `json:"class_counts"`
	Channels    []ChannelStats `json:"channels"`
}

// Stats describe a dataset as `eabs data inspect` prints it; the JSON form goes into
// reports and run folders.
type Stats struct {
	Dataset       string       `json:"dataset"`
	Classes       int          `json:"classes"`
	ClassNames    []string     `json:"class_names"`
	SourceClasses []int        `json:"source_classes,omitempty"`
	Fingerprint   string       `json:"fingerprint"`
	Files         int          `json:"files"`
	Splits        []SplitStats `json:"splits"`
}

// Inspect computes the statistics of both splits of ds.
func Inspect(ds *Dataset) *Stats {
	return &Stats{
		Dataset:       ds.Name,
		Classes:       ds.Train.Classes,
		ClassNames:    ds.Train.ClassNames,
		SourceClasses: ds.Train.SourceClasses,
		Fingerprint:   ds.Fingerprint,
		Files:         len(ds.Files),
		Splits:        []SplitStats{ds.Train.Stats(), ds.Test.Stats()},
	}
}

// Stats computes the statistics of s. Sums are accumulated in float64 per image, so
// the result does not depend on the order of summation beyond float64 rounding.
func (s *Set) Stats() SplitStats {
	st := SplitStats{Split: s.Name, N: s.N, C: s.C, H: s.H, W: s.W, ClassCounts: s.ClassCounts()}
	plane := s.H * s.W
	for c := range s.C {
		var sum, sq float64
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := range s.N {
			var ps, pq float64
			for _, v := range s.Images[(i*s.C+c)*plane : (i*s.C+c+1)*plane] {
				f := float64(v)
				ps += f
				pq += f * f
				lo = min(lo, f)
				hi = max(hi, f)
			}
			sum += ps
			sq += pq
		}
		n := float64(s.N * plane)
		cs := ChannelStats{}
		if n > 0 {
			cs.Mean = sum / n
			cs.Std = math.Sqrt(max(sq/n-cs.Mean*cs.Mean, 0))
			cs.Min, cs.Max = lo, hi
		}
		st.Channels = append(st.Channels, cs)
	}
	return st
}

// WriteText prints st as tables: images per class and split, then pixel statistics.
func (st *Stats) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "dataset %s: %d classes, fingerprint %s (%d files)\n\n", st.Dataset, st.Classes, st.Fingerprint, st.Files)
	head := []string{"label"}
	if st.SourceClasses != nil {
		head = append(head, "orig")
	}
	for _, sp := range st.Splits {
		head = append(head, sp.Split)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t name")
	for k := range st.Classes {
		row := []string{fmt.Sprint(k)}
		if st.SourceClasses != nil {
			row = append(row, fmt.Sprint(st.SourceClasses[k]))
		}
		for _, sp := range st.Splits {
			row = append(row, fmt.Sprint(sp.ClassCounts[k]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t "+st.ClassNames[k])
	}
	total := []string{"total"}
	if st.SourceClasses != nil {
		total = append(total, "")
	}
	for _, sp := range st.Splits {
		total = append(total, fmt.Sprint(sp.N))
	}
	fmt.Fprintln(tw, strings.Join(total, "\t")+"\t")
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "split\tshape\tchannel\tmean\tstd\tmin\tmax\t")
	for _, sp := range st.Splits {
		for c, ch := range sp.Channels {
			fmt.Fprintf(tw, "%s\t%dx%dx%d\t%s\t%.4f\t%.4f\t%.4f\t%.4f\t\n",
				sp.Split, sp.C, sp.H, sp.W, channelName(sp.C, c), ch.Mean, ch.Std, ch.Min, ch.Max)
		}
	}
	return tw.Flush()
}

func channelName(channels, c int) string {
	if channels == 3 {
		return [3]string{"R", "G", "B"}[c]
	}
	if channels == 1 {
		return "grey"
	}
	return fmt.Sprint(c)
}

// Grid colours: separators and cells of classes with fewer than perClass images.
var (
	gridSeparator = color.RGBA{128, 128, 128, 255}
	gridEmpty     = color.RGBA{48, 48, 48, 255}
)

// Grid draws perClass images of each class of s, evenly spaced through the class in set
// order (the first, then every len/perClass-th), as a picture: one row per class, label 0 at the top, each image scaled up scale times by nearest
// neighbour, with 1-pixel grey separators. One-channel images are drawn grey, three
// channels as RGB. It panics on perClass or scale below 1, or other channel counts.
func Grid(s *Set, perClass, scale int) *image.RGBA {
	if perClass < 1 || scale < 1 {
		panic(fmt.Sprintf("data: grid needs perClass and scale >= 1, got %d, %d", perClass, scale))
	}
	if s.C != 1 && s.C != 3 {
		panic(fmt.Sprintf("data: grid draws 1 or 3 channels, got %d", s.C))
	}
	cw, ch := s.W*scale, s.H*scale
	img := image.NewRGBA(image.Rect(0, 0, perClass*(cw+1)+1, s.Classes*(ch+1)+1))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:i+4], []byte{gridSeparator.R, gridSeparator.G, gridSeparator.B, 255})
	}
	for k := range s.Classes {
		for col := range perClass {
			fill(img, image.Rect(1+col*(cw+1), 1+k*(ch+1), 1+col*(cw+1)+cw, 1+k*(ch+1)+ch), gridEmpty)
		}
	}
	byClass := make([][]int, s.Classes)
	for i, l := range s.Labels {
		byClass[l] = append(byClass[l], i)
	}
	for k, idx := range byClass {
		for col := range min(perClass, len(idx)) {
			// Evenly spaced through the class: GTSRB stores 30-image tracks of one
			// physical sign in a row, so the first few would all look the same.
			im := s.Image(idx[col*len(idx)/min(perClass, len(idx))])
			DrawImage(img, 1+col*(cw+1), 1+k*(ch+1), im, s.C, s.H, s.W, scale)
		}
	}
	return img
}

// DrawImage paints one CHW image with values in [0,1] (1 channel: grey, 3: RGB) onto
// dst with its top-left corner at (x0, y0), each pixel scaled up scale times.
func DrawImage(dst *image.RGBA, x0, y0 int, im []float32, c, h, w, scale int) {
	plane := h * w
	for y := range h * scale {
		for x := range w * scale {
			p := (y/scale)*w + x/scale
			r := toByte(im[p])
			g, b := r, r
			if c == 3 {
				g, b = toByte(im[plane+p]), toByte(im[2*plane+p])
			}
			o := dst.PixOffset(x0+x, y0+y)
			dst.Pix[o], dst.Pix[o+1], dst.Pix[o+2], dst.Pix[o+3] = r, g, b, 255
		}
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func toByte(v float32) byte {
	return byte(math.Round(float64(min(max(v, 0), 1)) * 255))
}

// MaxGridPixels bounds the pictures WriteGrid draws: 64 Mpx, 256 MB in memory.
const MaxGridPixels = 1 << 26

// GridSize is the width and height of Grid(s, perClass, scale), computed without
// drawing it (or overflowing: perClass and scale are capped at 1<<20 here).
func GridSize(s *Set, perClass, scale int) (w, h int) {
	perClass, scale = min(perClass, 1<<20), min(scale, 1<<20)
	return perClass*(s.W*scale+1) + 1, s.Classes*(s.H*scale+1) + 1
}

// WriteGrid writes Grid(s, perClass, scale) as a PNG file, atomically: a reader never
// sees a half-written picture, and a failed write leaves any old file in place.
// Sizes Grid panics on (perClass or scale below 1, other channel counts) and grids
// of more than MaxGridPixels pixels are errors, so a size flag cannot exhaust memory.
func WriteGrid(path string, s *Set, perClass, scale int) error {
	if perClass < 1 || scale < 1 {
		return fmt.Errorf("data: grid needs at least 1 image per class and scale 1, got %d and %d", perClass, scale)
	}
	if s.C != 1 && s.C != 3 {
		return fmt.Errorf("data: grid draws 1 or 3 channels, %s has %d", s.Name, s.C)
	}
	w, h := GridSize(s, perClass, scale)
	if w > MaxGridPixels || h > MaxGridPixels || w*h > MaxGridPixels {
		return fmt.Errorf("data: a grid of %d per class at scale %d would be %dx%d pixels, more than %d; use a smaller --per-class or --scale", perClass, scale, w, h, MaxGridPixels)
	}
	img := Grid(s, perClass, scale)
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}
