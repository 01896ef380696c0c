package certify

import (
	"fmt"
	"io"
	"sort"

	"github.com/eabs/eabs/shard"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Summary aggregates certificates: the headline numbers of eabs certify.
type Summary struct {
	// Label says what the radii are ("lower bound under exact inference, d_k from N
	// restarts x S steps"); set by the caller from Options.Label.
	Label   string  `json:"label,omitempty"`
	N       int     `json:"n"`
	Correct int     `json:"correct"`
	Median  float64 `json:"median_eps"`
	Mean    float64 `json:"mean_eps"`
	Invalid int     `json:"invalid"`
	// BindingChanged counts certified samples whose restarts disagreed on the binding
	// class; MaxEpsSpread is the largest spread of eps* across restarts.
	BindingChanged int     `json:"binding_changed"`
	MaxEpsSpread   float64 `json:"max_eps_spread"`
	// NotConverged lists the images (Result.Index) whose certificate had not settled
	// when the restarts ran out (Result.Converged false).
	NotConverged []int `json:"not_converged"`
	// Audited counts the certificates AuditDistances checked; AuditSmaller lists the
	// images where it found a smaller d_k for some k != y, AuditLowered those whose
	// eps* that lowers, and MaxAuditDrop the largest such drop of eps*.
	Audited      int     `json:"audited"`
	AuditSmaller []int   `json:"audit_smaller,omitempty"`
	AuditLowered []int   `json:"audit_lowered,omitempty"`
	MaxAuditDrop float64 `json:"max_audit_drop"`
	// Validated counts the samples attacked inside their radius and Violations, per
	// target, those where an attack found a counterexample.
	Validated  int            `json:"validated"`
	Violations map[string]int `json:"violations,omitempty"`
	Certified  []Level        `json:"certified"`
}

// Level is the fraction of all images certified at radius Eps or more, with the
// number of those images and, per validation target, how many of them an attack broke
// inside eps*. An image is certified when it is classified correctly with eps* > 0: a
// misclassified image, or a correct one with eps* = 0, is certified at no radius, not
// even 0 (Summary.Correct counts the correct ones).
type Level struct {
	Eps        float64        `json:"eps"`
	Accuracy   float64        `json:"certified_accuracy"`
	Count      int            `json:"count"`
	Violations map[string]int `json:"violations,omitempty"`
}

// Summarise computes the median and mean eps* over all images (0 for misclassified
// ones), the certified accuracy at each radius in levels, the restart, convergence and
// audit statistics and the validation counts.
func Summarise(rs []Result, levels []float64) Summary {
	s := Summary{N: len(rs), NotConverged: []int{}}
	eps := make([]float64, len(rs))
	for i, r := range rs {
		e := r.Eps
		if r.Pred != r.Label {
			e = 0
		}
		eps[i] = e
		s.Mean += e
		if r.Pred == r.Label {
			s.Correct++
			if !r.Valid {
				s.Invalid++
			}
			if r.BindingChanged {
				s.BindingChanged++
			}
			s.MaxEpsSpread = max(s.MaxEpsSpread, r.EpsSpread)
		}
		if !r.Converged {
			s.NotConverged = append(s.NotConverged, r.Index)
		}
		if a := r.Audit; a != nil {
			s.Audited++
			if len(a.Smaller) > 0 {
				s.AuditSmaller = append(s.AuditSmaller, r.Index)
			}
			if a.Eps < r.Eps {
				s.AuditLowered = append(s.AuditLowered, r.Index)
				s.MaxAuditDrop = max(s.MaxAuditDrop, r.Eps-a.Eps)
			}
		}
		if r.Validation != nil {
			s.Validated++
			for _, c := range r.Validation.Checks {
				if s.Violations == nil {
					s.Violations = map[string]int{}
				}
				if c.Violated {
					s.Violations[c.Target]++
				} else {
					s.Violations[c.Target] += 0
				}
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
		lv := Level{Eps: l}
		for _, r := range rs {
			if certified(r) && r.Eps >= l {
				lv.Count++
				if r.Validation != nil {
					if lv.Violations == nil {
						lv.Violations = map[string]int{}
					}
					for _, c := range r.Validation.Checks {
						if c.Violated {
							lv.Violations[c.Target]++
						} else {
							lv.Violations[c.Target] += 0
						}
					}
				}
			}
		}
		lv.Accuracy = float64(lv.Count) / float64(len(rs))
		s.Certified = append(s.Certified, lv)
	}
	return s
}

// certified says the certificate proves a ball: the image is classified correctly and
// eps* > 0.
func certified(r Result) bool { return r.Pred == r.Label && r.Eps > 0 }

// PlotCurve draws the certified accuracy as a function of the radius (the fraction of
// images certified with eps* at least the radius) as a PNG.
func PlotCurve(w io.Writer, rs []Result, title string) error {
	if len(rs) == 0 {
		return fmt.Errorf("certify: nothing to plot")
	}
	eps := make([]float64, 0, len(rs))
	for _, r := range rs {
		if certified(r) {
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
	wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

// Levels are the radii the headline certified accuracies are reported at (the issue's
// and the published MNIST anchors' r = 0.5, 1.0, 1.5, 2.0, with 0 for the images
// certified at any positive radius).
var Levels = []float64{0, 0.5, 1, 1.5, 2}

// Merge joins the parts of a sharded eabs certify run (checked by shard.Merge: same
// model, data, sample list and configuration, no part missing or repeated) and
// summarises the whole at levels. The header's Config carries the certificate's label.
func Merge(parts []shard.Part[Result], levels []float64) (shard.Header, []Result, Summary, error) {
	h, rs, err := shard.Merge(parts)
	if err != nil {
		return h, nil, Summary{}, err
	}
	s := Summarise(rs, levels)
	return h, rs, s, nil
}

// MergeSmoothing is Merge for eabs certify --smoothing parts.
func MergeSmoothing(parts []shard.Part[SmoothResult], levels []float64) (shard.Header, []SmoothResult, SmoothSummary, error) {
	h, rs, err := shard.Merge(parts)
	if err != nil {
		return h, nil, SmoothSummary{}, err
	}
	return h, rs, SummariseSmoothing(rs, levels), nil
}
