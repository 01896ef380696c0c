package report

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/eval"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// GridItem is one column of an adversarial grid.
type GridItem struct {
	Clean []float32
	// Adv is the adversarial example, nil when none was found (the sample is robust).
	Adv              []float32
	Label, CleanPred int
	AdvPred          int
	// Attack and Dist name and measure the adversarial example.
	Attack string
	Dist   float64
}

// GridItems picks, for norm nm, the kept samples of r (the first ones, whose images
// the results store) that are classified correctly, each with its smallest verified
// adversarial example over the norm's attacks.
func GridItems(r *eval.Result, nm attack.Norm, n int) []GridItem {
	var out []GridItem
	for i := range r.Records {
		rec := &r.Records[i]
		if len(out) == n {
			break
		}
		if rec.Clean == nil || !rec.CleanCorrect {
			continue
		}
		it := GridItem{Clean: rec.Clean, Label: rec.Label, CleanPred: rec.CleanPred, AdvPred: rec.CleanPred, Dist: math.Inf(1)}
		for j, a := range r.Settings.Attacks {
			ar := rec.Attacks[j]
			if a.Norm == nm && ar.Adv != nil && ar.Dist != nil && *ar.Dist < it.Dist {
				it.Adv, it.AdvPred, it.Attack, it.Dist = ar.Adv, ar.Pred, a.Name, *ar.Dist
			}
		}
		out = append(out, it)
	}
	return out
}

// AdversarialGrid draws the paper's Figures 4-5: per sample a column with the clean
// image (framed green), its adversarial example (framed red; the clean image again,
// framed green, when none was found), and the perturbation (grey 0.5 is zero, scaled
// to the largest absolute change), with the predicted class and the distance below.
func AdversarialGrid(items []GridItem, c, h, w, scale int) (*image.RGBA, error) {
	p := c * h * w
	if p == 0 || len(items) == 0 {
		return nil, fmt.Errorf("report: no images for the grid")
	}
	for i, it := range items {
		if len(it.Clean) != p || (it.Adv != nil && len(it.Adv) != p) {
			return nil, fmt.Errorf("report: grid item %d has %d and %d values, want %dx%dx%d", i, len(it.Clean), len(it.Adv), c, h, w)
		}
	}
	const pad, text = 3, 14
	cw := max(w*scale+2*pad, 7*6+2*pad)
	ch := h*scale + 2*pad
	img := image.NewRGBA(image.Rect(0, 0, len(items)*cw, 3*ch+2*text))
	fillRect(img, img.Bounds(), background)
	white := image.NewUniform(color.RGBA{230, 230, 230, 255})
	say := func(x, y int, s string) {
		d := font.Drawer{Dst: img, Src: white, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	for i, it := range items {
		x0 := i * cw
		col := correct
		if it.CleanPred != it.Label {
			col = wrong
		}
		frame(img, image.Rect(x0, 0, x0+cw, ch), col)
		data.DrawImage(img, x0+pad, pad, it.Clean, c, h, w, scale)
		adv, ac := it.Clean, correct
		if it.Adv != nil {
			adv = it.Adv
			if it.AdvPred != it.Label {
				ac = wrong
			}
		}
		frame(img, image.Rect(x0, ch, x0+cw, 2*ch), ac)
		data.DrawImage(img, x0+pad, ch+pad, adv, c, h, w, scale)
		say(x0+pad, 2*ch+text-3, fmt.Sprintf("%d>%d", it.Label, it.AdvPred))
		delta := make([]float32, p)
		var m float64
		for j := range delta {
			m = math.Max(m, math.Abs(float64(adv[j]-it.Clean[j])))
		}
		for j := range delta {
			delta[j] = 0.5
			if m > 0 {
				delta[j] = float32(0.5 + 0.5*float64(adv[j]-it.Clean[j])/m)
			}
		}
		y := 2*ch + text
		data.DrawImage(img, x0+pad, y+pad, delta, c, h, w, scale)
		if it.Adv != nil {
			say(x0+pad, y+ch+text-3, fmt.Sprintf("%.2f", it.Dist))
		} else {
			say(x0+pad, y+ch+text-3, "none")
		}
	}
	return img, nil
}
