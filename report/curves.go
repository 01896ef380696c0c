package report

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/plotlegend"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Curve is one model's accuracy against the budget in one norm.
type Curve struct {
	Model string
	Norm  attack.Norm
	// Eps and Acc: the accuracy at each budget from the smallest verified adversarial
	// distance per sample over the norm's attacks (an upper bound: a bounded attack run
	// at eps says nothing about smaller budgets than the distance it found).
	// Past the norm's budget the points go on only where the run measured there: when
	// every sample still robust at the budget was attacked by a minimum-norm attack of
	// the norm. Otherwise Eps ends at the budget, where a bounded attack's robust
	// samples have no distance, and a flat line past it would claim robustness nobody
	// measured (the sweep points are what is known there).
	Eps, Acc []float64
	// SweepEps and SweepAcc are the self-check's re-runs at larger budgets.
	SweepEps, SweepAcc []float64
	// Top is how far the x-axis reaches: twice the budget or the largest sweep
	// budget, whichever is larger.
	Top float64
}

// Curves returns, per norm of r, its accuracy at points budgets from 0 to twice the
// norm's budget or the largest sweep budget, whichever is larger (the paper's Figure
// 3: the curve goes past the budget), with the sweep points. Beyond the budget the
// curve counts the minimum-norm attacks' distances only (a bounded attack ran at the
// budget): an upper bound, which the sweep's re-runs at larger budgets check; it stops
// at the budget when some sample robust there met no minimum-norm attack (Curve.Eps).
func Curves(r *eval.Result, model string, points int) []Curve {
	var out []Curve
	s := eval.Summarize(r)
	for _, nm := range r.Norms() {
		eps := r.NormEps(nm)
		d := make([]float64, len(r.Records))
		for i := range r.Records {
			d[i] = r.MinDist(&r.Records[i], nm)
		}
		c := Curve{Model: model, Norm: nm}
		for _, cv := range s.Checks.Curves {
			if cv.Norm != nm {
				continue
			}
			for _, p := range cv.Points {
				if p.From != "distances" {
					c.SweepEps = append(c.SweepEps, p.Eps)
					c.SweepAcc = append(c.SweepAcc, p.Acc)
				}
			}
		}
		top := 2 * eps
		for _, e := range c.SweepEps {
			top = math.Max(top, e)
		}
		c.Top = top
		end := top
		if !measuredPast(r, nm, eps, d) {
			end = eps
		}
		at := func(e float64) {
			k := 0
			for _, v := range d {
				if v > e*(1+1e-5)+1e-7 {
					k++
				}
			}
			c.Eps = append(c.Eps, e)
			c.Acc = append(c.Acc, float64(k)/float64(max(len(d), 1)))
		}
		for j := 0; j < points; j++ {
			if e := top * float64(j) / float64(points-1); e <= end*(1+1e-12) {
				at(e)
			}
		}
		if n := len(c.Eps); n == 0 || c.Eps[n-1] < end*(1-1e-12) {
			at(end)
		}
		out = append(out, c)
	}
	return out
}

// measuredPast reports whether every sample of r still robust at the budget eps of
// norm nm (its smallest verified distance d[i] above eps) was attacked by a
// minimum-norm attack of the norm, so that the distances say where it breaks past eps.
func measuredPast(r *eval.Result, nm attack.Norm, eps float64, d []float64) bool {
	for i := range r.Records {
		if d[i] <= eps*(1+1e-5)+1e-7 {
			continue
		}
		ran := false
		for ai, a := range r.Settings.Attacks {
			if a.Norm == nm && !a.Bounded && r.Records[i].Attacks[ai].Ran {
				ran = true
				break
			}
		}
		if !ran {
			return false
		}
	}
	return true
}

// PlotCurves draws the curves of one norm (one line per model, sweep points as
// markers) and writes it in format "png" or "svg" to path, atomically.
func PlotCurves(path, format string, norm attack.Norm, curves []Curve) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Robust accuracy vs %s budget", normName(norm))
	p.X.Label.Text = fmt.Sprintf("eps (%s)", normName(norm))
	p.Y.Label.Text = "accuracy"
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	xmax, sweeps := 0.0, false
	i := -1 // the curve's index among this norm's: its colour
	for _, c := range curves {
		if c.Norm != norm {
			continue
		}
		i++
		pts := make(plotter.XYs, len(c.Eps))
		for j := range c.Eps {
			pts[j] = plotter.XY{X: c.Eps[j], Y: c.Acc[j]}
			xmax = math.Max(xmax, c.Eps[j])
		}
		xmax = math.Max(xmax, c.Top)
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.DarkColors[i%len(plotutil.DarkColors)]
		l.Dashes = plotutil.Dashes(i / len(plotutil.DarkColors))
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(c.Model, l)
		if len(c.SweepEps) > 0 {
			sp := make(plotter.XYs, len(c.SweepEps))
			for j := range c.SweepEps {
				sp[j] = plotter.XY{X: c.SweepEps[j], Y: c.SweepAcc[j]}
				xmax = math.Max(xmax, c.SweepEps[j])
			}
			s, err := plotter.NewScatter(sp)
			if err != nil {
				return err
			}
			s.Color = l.Color
			s.Shape = plotutil.Shape(1)
			p.Add(s)
			sweeps = true
		}
	}
	if sweeps {
		// One legend entry for every model's sweep markers: a legend line per model
		// and per sweep covered the curves once a table had a few models.
		// (A legend thumbnail only: the scatter is not added to the plot.)
		key, err := plotter.NewScatter(plotter.XYs{{}})
		if err != nil {
			return err
		}
		key.Color = color.Gray{Y: 96}
		key.Shape = plotutil.Shape(1)
		p.Legend.Add("sweep: the model's colour, larger budgets", key)
	}
	if xmax == 0 {
		return fmt.Errorf("report: no %s curve to plot", norm)
	}
	p.X.Min, p.X.Max = 0, xmax
	// The legend goes below the axes: in any corner some model's curve ran through it
	// (the drop at the budget crosses the lower left).
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	wt, err := plotlegend.WriterTo(p, 6*vg.Inch, 4.5*vg.Inch, format)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}
