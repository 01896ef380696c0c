// Package plotlegend draws a gonum plot with its legend in a strip below the axes.
//
// gonum/plot draws the legend inside the data area, in a corner the caller picks. Our
// figures have a dozen models, and whichever corner is chosen some model's curve
// passes through it (a vertical drop at the budget runs through the lower left of every
// accuracy-vs-eps plot), so a legend there covers data. Below the axes it cannot.
package plotlegend

import (
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// pad is the space above and below the legend's entries.
const pad = vg.Length(6)

// Height is the height of the strip Draw gives p's legend (0 without entries).
func Height(p *plot.Plot) vg.Length {
	r := p.Legend.Rectangle(draw.Canvas{})
	if h := r.Size().Y; h > 0 {
		return h + 2*pad
	}
	return 0
}

// Draw draws p into c: the plot (title, axes, data) in the upper part and the legend,
// left-aligned, in a strip of Height(p) at the bottom. p's legend settings other than
// its position (entries, text style, thumbnail width) are kept, and p is left as it was.
func Draw(p *plot.Plot, c draw.Canvas) {
	lh := Height(p)
	orig := p.Legend
	p.Legend = plot.NewLegend() // no entries: p.Draw draws none
	defer func() { p.Legend = orig }()
	p.Draw(draw.Crop(c, 0, 0, lh, 0))
	if lh == 0 {
		return
	}
	leg := orig // a copy: the entries are shared, the position is the strip's
	leg.Top, leg.Left = true, true
	leg.XOffs, leg.YOffs = pad, -pad
	leg.Draw(draw.Crop(c, 0, 0, 0, -(c.Max.Y - c.Min.Y - lh)))
}

// WriterTo renders p in format ("png", "svg", ...) with a plot area of w x h and its
// legend in a strip of Height(p) below it.
func WriterTo(p *plot.Plot, w, h vg.Length, format string) (io.WriterTo, error) {
	c, err := draw.NewFormattedCanvas(w, h+Height(p), format)
	if err != nil {
		return nil, err
	}
	Draw(p, draw.New(c))
	return c, nil
}
