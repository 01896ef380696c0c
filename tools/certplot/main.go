// Command certplot turns eabs certify reports into the committed certification
// results: the convergence curve of eps* against optimiser effort (restarts x steps)
// and the plot of certified accuracy against radius for E-ABS beside randomized
// smoothing and the published MNIST anchors. scripts/certify-mnist.sh runs it.
//
//	certplot convergence -out DIR run-s50.json run-s100.json ...
//	certplot compare -out DIR -eabs part0.json,part1.json -smooth s025.json -smooth s050.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/eabs/eabs/certify"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/plotlegend"
	"github.com/eabs/eabs/shard"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

type eabsReport struct {
	Header   shard.Header     `json:"header"`
	Label    string           `json:"label"`
	Options  certify.Options  `json:"options"`
	Seconds  float64          `json:"seconds"`
	PerImage float64          `json:"seconds_per_image"`
	Results  []certify.Result `json:"results"`
	// Validation is the budget of an eabs certify --validate run (its JSON as written).
	Validation json.RawMessage `json:"validation,omitempty"`
}

type smoothReport struct {
	Header    shard.Header           `json:"header"`
	Label     string                 `json:"label"`
	Model     string                 `json:"model"`
	Smoothing certify.Smoothing      `json:"smoothing"`
	Seconds   float64                `json:"seconds"`
	PerImage  float64                `json:"seconds_per_image"`
	Results   []certify.SmoothResult `json:"results"`
}

func read(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: certplot convergence|compare ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "convergence":
		err = convergence(os.Args[2:])
	case "compare":
		err = compare(os.Args[2:])
	case "crosscheck":
		err = crosscheck(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "certplot:", err)
		os.Exit(1)
	}
}

// Point is one effort setting of the convergence curve.
type Point struct {
	Steps    int     `json:"steps"`
	Restarts int     `json:"restarts"`
	N        int     `json:"n"`
	Median   float64 `json:"median_eps"`
	Mean     float64 `json:"mean_eps"`
	// Changed counts images whose eps* differs by more than 1e-3 from the most
	// effortful setting's (the reference); MaxDiff/MeanDiff are |eps* - reference|.
	Changed   int             `json:"changed_vs_reference"`
	MaxDiff   float64         `json:"max_abs_diff_vs_reference"`
	MeanDiff  float64         `json:"mean_abs_diff_vs_reference"`
	Higher    int             `json:"higher_than_reference"`
	Certified []certify.Level `json:"certified"`
}

// Convergence is the committed curve.
type Convergence struct {
	Description string   `json:"description"`
	Reference   string   `json:"reference"`
	Runs        []string `json:"runs"`
	Points      []Point  `json:"points"`
}

func convergence(args []string) error {
	fs := flag.NewFlagSet("convergence", flag.ExitOnError)
	out := fs.String("out", ".", "output directory")
	n := fs.Int("n", 0, "use the first n sample positions of every run (0: the smallest run's size)")
	name := fs.String("name", "convergence", "base name of the JSON and PNG written")
	fs.Parse(args)
	type run struct {
		steps, restarts int
		res             map[int]certify.Result
	}
	var runs []run
	minN := math.MaxInt
	for _, p := range fs.Args() {
		var parts []shard.Part[certify.Result]
		var steps, restarts int
		for _, f := range strings.Split(p, ",") {
			var r eabsReport
			if err := read(f, &r); err != nil {
				return err
			}
			parts = append(parts, shard.Part[certify.Result]{Name: f, Header: r.Header, Samples: r.Results})
			steps, restarts = r.Options.Infer.Steps, r.Options.Restarts
		}
		_, rs, _, err := certify.Merge(parts, nil)
		if err != nil {
			return err
		}
		m := map[int]certify.Result{}
		for _, r := range rs {
			m[r.Pos] = r
		}
		minN = min(minN, len(rs))
		runs = append(runs, run{steps, restarts, m})
	}
	if len(runs) == 0 {
		return fmt.Errorf("no runs")
	}
	if *n == 0 {
		*n = minN
	}
	if *n > minN {
		return fmt.Errorf("-n %d: the smallest run has %d images", *n, minN)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].steps < runs[j].steps })
	best := runs[len(runs)-1]
	ref := make([]float64, *n)
	for i := range ref {
		ref[i] = best.res[i].Eps
	}
	c := Convergence{
		Description: fmt.Sprintf("eps* (lower bound under exact inference) of zoo:mnist-eabs on the first %d images of data.SampleIndices(10000, N, 1), against the optimiser effort: Adam steps per minimisation and restarts (independent start banks; d_k and l*_k the minima over the first j restarts). Reference: %d steps x %d restarts.", *n, best.steps, best.restarts),
		Reference:   fmt.Sprintf("%d steps x %d restarts", best.steps, best.restarts),
		Runs:        fs.Args(),
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("mnist-eabs eps* vs effort (%d images): median and mean eps*", *n)
	p.X.Label.Text = "restarts"
	p.Y.Label.Text = "eps* (L2)"
	p.Add(plotter.NewGrid())
	for ri, r := range runs {
		var med, mean plotter.XYs
		for j := 1; j <= r.restarts; j++ {
			rs := make([]certify.Result, *n)
			pt := Point{Steps: r.steps, Restarts: j, N: *n}
			for i := range rs {
				rs[i] = r.res[i].FirstRestarts(j)
				d := rs[i].Eps - ref[i]
				if math.Abs(d) > 1e-3 {
					pt.Changed++
				}
				if d > 1e-3 {
					pt.Higher++
				}
				pt.MaxDiff = math.Max(pt.MaxDiff, math.Abs(d))
				pt.MeanDiff += math.Abs(d) / float64(*n)
			}
			s := certify.Summarise(rs, certify.Levels)
			pt.Median, pt.Mean, pt.Certified = s.Median, s.Mean, s.Certified
			c.Points = append(c.Points, pt)
			med = append(med, plotter.XY{X: float64(j), Y: s.Median})
			mean = append(mean, plotter.XY{X: float64(j), Y: s.Mean})
		}
		col := plotColor(ri)
		for k, xy := range []plotter.XYs{med, mean} {
			l, pts, err := plotter.NewLinePoints(xy)
			if err != nil {
				return err
			}
			l.Color, pts.Color = col, col
			if k == 1 {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
				pts.Shape = draw.BoxGlyph{}
			}
			p.Add(l, pts)
			p.Legend.Add(fmt.Sprintf("%d steps, %s", r.steps, []string{"median", "mean"}[k]), l, pts)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := savePlot(p, filepath.Join(*out, *name+".png")); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := atomicfile.WriteBytes(filepath.Join(*out, *name+".json"), append(b, '\n')); err != nil {
		return err
	}
	for _, pt := range c.Points {
		fmt.Printf("%4d steps x %d restarts: median %.4f mean %.4f; vs reference: %d of %d changed (%d higher), max |diff| %.4f, mean %.4f\n",
			pt.Steps, pt.Restarts, pt.Median, pt.Mean, pt.Changed, pt.N, pt.Higher, pt.MaxDiff, pt.MeanDiff)
	}
	return nil
}

func plotColor(i int) color.Color {
	cs := []color.Color{color.RGBA{0, 90, 181, 255}, color.RGBA{220, 50, 32, 255}, color.RGBA{0, 150, 60, 255}, color.RGBA{120, 60, 160, 255}, color.RGBA{200, 140, 0, 255}, color.RGBA{90, 90, 90, 255}, color.RGBA{0, 170, 170, 255}}
	return cs[i%len(cs)]
}

func savePlot(p *plot.Plot, path string) error {
	wt, err := plotlegend.WriterTo(p, 8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error { _, err := wt.WriteTo(w); return err })
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// anchors are the published MNIST randomized-smoothing numbers the issue and
// ATTACKS.md quote (LeNet, N = 100,000, alpha = 0.001, all 10,000 test images,
// recomputed from the SmoothMix authors' logs).
var anchors = []struct {
	name string
	pts  plotter.XYs
}{
	{"published: Gaussian sigma 0.25 (LeNet)", plotter.XYs{{X: 0.5, Y: 0.967}}},
	{"published: Gaussian sigma 0.5 (LeNet)", plotter.XYs{{X: 0.5, Y: 0.969}, {X: 1.0, Y: 0.898}, {X: 1.5, Y: 0.678}}},
	{"published: Gaussian sigma 1.0 (LeNet)", plotter.XYs{{X: 0.5, Y: 0.914}, {X: 1.0, Y: 0.799}, {X: 1.5, Y: 0.595}, {X: 2.0, Y: 0.325}}},
	{"published: Consistency+SmoothAdv (best sigma per r)", plotter.XYs{{X: 0.5, Y: 0.981}, {X: 1.5, Y: 0.820}, {X: 2.0, Y: 0.454}}},
}

// Summary is the committed comparison.
type Summary struct {
	EABS    *eabsSummary            `json:"eabs,omitempty"`
	Smooth  []smoothSummary         `json:"smoothing"`
	Anchors map[string][][2]float64 `json:"published_anchors"`
}

type eabsSummary struct {
	Label         string             `json:"label"`
	N             int                `json:"n"`
	Summary       certify.Summary    `json:"summary"`
	SecondsPerImg float64            `json:"seconds_per_image"`
	Runtime       string             `json:"note"`
	Quantiles     map[string]float64 `json:"eps_quantiles"`
	Validations   []validationRun    `json:"validation_runs,omitempty"`
}

// validationRun is one eabs certify --validate report: its budget and its counts.
type validationRun struct {
	File    string          `json:"file"`
	Images  int             `json:"images"`
	Budget  json.RawMessage `json:"budget"`
	Summary certify.Summary `json:"summary"`
}

type smoothSummary struct {
	Model         string                `json:"model"`
	Label         string                `json:"label"`
	Summary       certify.SmoothSummary `json:"summary"`
	SecondsPerImg float64               `json:"seconds_per_image"`
}

func curve(p *plot.Plot, name string, radii []float64, correct []bool, col color.Color, dashed bool) error {
	n := len(correct)
	var eps []float64
	for i, c := range correct {
		if c {
			eps = append(eps, radii[i])
		}
	}
	sort.Float64s(eps)
	pts := plotter.XYs{{X: 0, Y: float64(len(eps)) / float64(n)}}
	for i, e := range eps {
		pts = append(pts, plotter.XY{X: e, Y: float64(len(eps)-i) / float64(n)}, plotter.XY{X: e, Y: float64(len(eps)-i-1) / float64(n)})
	}
	pts = append(pts, plotter.XY{X: 2.5, Y: pts[len(pts)-1].Y})
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color, l.Width = col, vg.Points(1.8)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func compare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	out := fs.String("out", ".", "output directory")
	eabs := fs.String("eabs", "", "comma-separated eabs certify parts of one run")
	var val multiFlag
	fs.Var(&val, "validate", "eabs certify --validate report of images of the same sample (repeatable: e.g. cheap attacks on all, costly ones on the first N)")
	var smooth multiFlag
	fs.Var(&smooth, "smooth", "eabs certify --smoothing report (repeatable)")
	fs.Parse(args)
	var sum Summary
	sum.Anchors = map[string][][2]float64{}
	p := plot.New()
	p.X.Label.Text = "L2 radius"
	p.Y.Label.Text = "certified accuracy"
	p.Y.Min, p.Y.Max, p.X.Min, p.X.Max = 0, 1, 0, 2.5
	p.Add(plotter.NewGrid())
	title := "MNIST certified accuracy"
	if *eabs != "" {
		var parts []shard.Part[certify.Result]
		var r eabsReport
		var secs float64
		for _, f := range strings.Split(*eabs, ",") {
			r = eabsReport{}
			if err := read(f, &r); err != nil {
				return err
			}
			secs += r.Seconds
			parts = append(parts, shard.Part[certify.Result]{Name: f, Header: r.Header, Samples: r.Results})
		}
		_, rs, s, err := certify.Merge(parts, certify.Levels)
		if err != nil {
			return err
		}
		s.Label = r.Label
		es := &eabsSummary{Label: r.Label, N: len(rs), Summary: s, SecondsPerImg: secs / float64(len(rs)),
			Runtime: "seconds per image: wall time on ONNX Runtime (1 thread) on a shared 2-core machine under load, nice 10"}
		radii, correct := make([]float64, len(rs)), make([]bool, len(rs))
		for i, x := range rs {
			radii[i], correct[i] = x.Eps, x.Pred == x.Label
		}
		sorted := append([]float64(nil), radii...)
		sort.Float64s(sorted)
		es.Quantiles = map[string]float64{}
		for _, q := range []float64{0, 0.1, 0.25, 0.5, 0.75, 0.9, 1} {
			es.Quantiles[fmt.Sprintf("p%02.0f", 100*q)] = sorted[int(math.Round(q*float64(len(sorted)-1)))]
		}
		name := fmt.Sprintf("E-ABS eps* (%d images): %s", len(rs), r.Label)
		for _, f := range val {
			var v eabsReport
			if err := read(f, &v); err != nil {
				return err
			}
			vs := certify.Summarise(v.Results, certify.Levels)
			es.Validations = append(es.Validations, validationRun{File: filepath.Base(f), Images: len(v.Results), Budget: v.Validation, Summary: vs})
			name += fmt.Sprintf("; validated on %d: violations exact %d, deployed %d", vs.Validated, vs.Violations["exact"], vs.Violations["deployed"])
		}
		if err := curve(p, name, radii, correct, plotColor(0), false); err != nil {
			return err
		}
		sum.EABS = es
		title += fmt.Sprintf(" (E-ABS: %s)", r.Label)
	}
	for i, f := range smooth {
		var r smoothReport
		if err := read(f, &r); err != nil {
			return err
		}
		var parts []shard.Part[certify.SmoothResult]
		parts = append(parts, shard.Part[certify.SmoothResult]{Name: f, Header: r.Header, Samples: r.Results})
		_, rs, s, err := certify.MergeSmoothing(parts, certify.Levels)
		if err != nil {
			return err
		}
		s.Label = r.Label
		sum.Smooth = append(sum.Smooth, smoothSummary{Model: r.Model, Label: r.Label, Summary: s, SecondsPerImg: r.PerImage})
		radii, correct := make([]float64, len(rs)), make([]bool, len(rs))
		for j, x := range rs {
			radii[j], correct[j] = x.Radius, x.Correct()
		}
		name := fmt.Sprintf("smoothed CNN sigma %g (%d images, n %d, alpha %g)", r.Smoothing.Sigma, len(rs), r.Smoothing.N, r.Smoothing.Alpha)
		if err := curve(p, name, radii, correct, plotColor(i+1), true); err != nil {
			return err
		}
	}
	for i, a := range anchors {
		s, err := plotter.NewScatter(a.pts)
		if err != nil {
			return err
		}
		s.Color = plotColor(i + 3)
		s.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.BoxGlyph{}}[i%4]
		s.Radius = vg.Points(4)
		p.Add(s)
		p.Legend.Add(a.name, s)
		for _, q := range a.pts {
			sum.Anchors[a.name] = append(sum.Anchors[a.name], [2]float64{q.X, q.Y})
		}
	}
	p.Title.Text = title
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	wt, err := plotlegend.WriterTo(p, 10*vg.Inch, 6*vg.Inch, "png")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(*out, "certified-accuracy.png"), func(w io.Writer) error { _, err := wt.WriteTo(w); return err }); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(sum, "", "  ")
	return atomicfile.WriteBytes(filepath.Join(*out, "summary.json"), append(b, '\n'))
}

// crosscheck compares two runs of the same certification (reference graph and ONNX
// Runtime) image by image and fails when eps* differs by more than 1e-3 or the binding
// class differs.
func crosscheck(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("crosscheck REF.json ORT.json")
	}
	var a, b eabsReport
	if err := read(args[0], &a); err != nil {
		return err
	}
	if err := read(args[1], &b); err != nil {
		return err
	}
	// Every image of the first report is looked up by its test-set index in the
	// second, which may hold more (a cross-check of the first N of a larger run).
	byIndex := map[int]certify.Result{}
	for _, y := range b.Results {
		byIndex[y.Index] = y
	}
	if a.Options != b.Options {
		return fmt.Errorf("the reports ran with other options: %+v vs %+v", a.Options, b.Options)
	}
	worst, bad := 0.0, 0
	fmt.Printf("index  eps*(%s)  eps*(%s)  |diff|  binding\n", filepath.Base(args[0]), filepath.Base(args[1]))
	for _, x := range a.Results {
		y, ok := byIndex[x.Index]
		if !ok {
			return fmt.Errorf("image %d of %s is not in %s", x.Index, args[0], args[1])
		}
		d := math.Abs(x.Eps - y.Eps)
		worst = math.Max(worst, d)
		if x.Index != y.Index || d > 1e-3 || x.Binding != y.Binding {
			bad++
		}
		fmt.Printf("%5d  %.6f  %.6f  %.2g  %d/%d\n", x.Index, x.Eps, y.Eps, d, x.Binding, y.Binding)
	}
	fmt.Printf("largest |diff| %.3g; %d of %d images disagree (tolerance 1e-3, same binding class)\n", worst, bad, len(a.Results))
	if bad > 0 {
		return fmt.Errorf("%d images disagree", bad)
	}
	return nil
}
