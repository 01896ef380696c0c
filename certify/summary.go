package certify

import (
	"fmt"
	"io"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Summary aggregates certificates.
type Summary struct {
	N         int     `json:"n"`
	Correct   int     `json:"correct"`
	Median    float64 `json:"median_eps"`
	Mean      float64 `json:"mean_eps"`
	Invalid   int     `json:"invalid"`
	Certified []Level `json:"certified"`
}

// Level is the fraction of all images certified at radius Eps or more (a
// misclassified image counts as certified at no radius).
type Level struct {
	Eps      float64 `json:"eps"`
	Accuracy float64 `json:"certified_accuracy"`
}

// Summarise computes the median and mean eps* over all images (0 for misclassified
// ones) and the certified accuracy at each radius in levels.
func Summarise(rs []Result, levels []float64) Summary {
	s := Summary{N: len(rs)}
	eps := make([]float64, len(rs))
	for i, r := range rs {
		eps[i] = r.Eps
		s.Mean += r.Eps
		if r.Pred == r.Label {
			s.Correct++
			if !r.Valid {
				s.Invalid++
			}
		}
	}
	if len(rs) == 0 {
		return s
	}
	s.Mean /= float64(len(rs))
	sort.Float64s(eps)
	s.Median = eps[len(eps)/2]
	if len(eps)%2 == 0 {
		s.Median = (eps[len(eps)/2-1] + eps[len(eps)/2]) / 2
	}
	for _, l := range levels {
		n := 0
		for _, r := range rs {
			if r.Pred == r.Label && r.Eps >= l {
				n++
			}
		}
		s.Certified = append(s.Certified, Level{Eps: l, Accuracy: float64(n) / float64(len(rs))})
	}
	return s
}

// PlotCurve draws the certified accuracy as a function of the radius (the fraction of
// images whose eps* is at least the radius) as a PNG.
func PlotCurve(w io.Writer, rs []Result, title string) error {
	if len(rs) == 0 {
		return fmt.Errorf("certify: nothing to plot")
	}
	eps := make([]float64, 0, len(rs))
	for _, r := range rs {
		if r.Pred == r.Label {
			eps = append(eps, r.Eps)
		}
	}
	sort.Float64s(eps)
	pts := plotter.XYs{{X: 0, Y: float64(len(eps)) / float64(len(rs))}}
	for i, e := range eps {
		pts = append(pts, plotter.XY{X: e, Y: float64(len(eps)-i) / float64(len(rs))}, plotter.XY{X: e, Y: float64(len(eps)-i-1) / float64(len(rs))})
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "L2 radius eps"
	p.Y.Label.Text = "certified accuracy"
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	line, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	line.Width = vg.Points(1.5)
	p.Add(line)
	wt, err := p.WriterTo(6*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}
