// Command margins relates a model's clean margins to its robustness (issue 26): for each
// model, the margin of every image, min_{k != y} l_k - l_y (E-ABS's logits are -l_k, so
// this is the top logit's lead over the best wrong class, negative when misclassified),
// from an eabs classify result; and, from an eabs attack result on the same images,
// whether the image survived every attack of -norm. It writes margins.md (per model the
// margin quantiles, the robust rate per margin bin, and the robust count predicted from
// the model's margins by the robust rate per bin of the other models given, out of
// sample) and margins.png (robust rate against margin, per model, beside the margin
// distributions).
//
// An argument NAME=CLASSIFY.json without an attack run (an --amortized one, say) adds
// only to the table of losses: every run's median l_y, best wrong l_k and margin, and
// how far eq. 5's cross-entropy has saturated at those losses.
//
// Where a model's measured robust count sits near the count its margins predict, the
// margin distribution is what separates it from the others, and a classify run
// (minutes) ranks checkpoints where an attack (much longer) was needed. On MNIST this
// holds across the epochs of the paper's loss but not across losses
// (results/mnist/eabs/margins/README.md): compare like with like.
//
//	go run ./tools/margins -out results/mnist/eabs/margins \
//		zoo=classify-zoo.json,proxy-zoo.json paper-ep017=classify-ep017.json,proxy-paper-ep017.json
package main

import (
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/plotlegend"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "margins:", err)
		os.Exit(1)
	}
}

// model is one NAME=CLASSIFY,ATTACK argument, read.
type model struct {
	name             string
	classify, attack string
	margins          []float64 // per image, in the attack file's order
	robust           []bool
}

// losses is one classify run's per-image E-ABS losses (l_k = -logit_k): the label's
// l_y, the best wrong class's, and the weight 1 - softmax(-l)[y] that eq. 5's
// cross-entropy would give the image's gradient (its saturation: near 0 it pushes
// nothing apart).
type losses struct {
	name, file              string
	ly, wrong, margin, ceWt []float64
}

func run(args []string) error {
	fs := flag.NewFlagSet("margins", flag.ContinueOnError)
	out := fs.String("out", ".", "output directory (margins.md, margins.png)")
	norm := fs.String("norm", "l2", "an image is robust when it survives every attack of this norm in its attack file")
	binsFlag := fs.String("bins", "0,5,10,15,20,30", "inner edges of the margin bins, increasing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	edges, err := parseEdges(*binsFlag)
	if err != nil {
		return err
	}
	var ms []*model
	var ls []losses
	for _, a := range fs.Args() {
		name, files, _ := strings.Cut(a, "=")
		cf, _, paired := strings.Cut(files, ",")
		if paired {
			m, err := readModel(a, attack.Norm(*norm))
			if err != nil {
				return err
			}
			ms = append(ms, m)
		}
		l, err := readLosses(name, cf)
		if err != nil {
			return err
		}
		ls = append(ls, l)
	}
	if len(ms) == 0 {
		return fmt.Errorf("no models: give NAME=CLASSIFY.json,ATTACK.json arguments (and NAME=CLASSIFY.json for losses only)")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(*out, "margins.md"), func(w io.Writer) error {
		if err := table(w, ms, edges, *norm, args); err != nil {
			return err
		}
		return lossTable(w, ls)
	}); err != nil {
		return err
	}
	return plotAll(filepath.Join(*out, "margins.png"), ms, edges)
}

func parseEdges(s string) ([]float64, error) {
	var e []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || (len(e) > 0 && v <= e[len(e)-1]) {
			return nil, fmt.Errorf("-bins %q: want finite increasing numbers", s)
		}
		e = append(e, v)
	}
	return e, nil
}

// bin is the index of the margin's bin: 0 below edges[0], len(edges) from the last edge up.
func bin(m float64, edges []float64) int {
	return sort.SearchFloat64s(edges, math.Nextafter(m, math.Inf(1)))
}

func binLabel(i int, edges []float64) string {
	switch {
	case i == 0:
		return fmt.Sprintf("< %g", edges[0])
	case i == len(edges):
		return fmt.Sprintf(">= %g", edges[i-1])
	}
	return fmt.Sprintf("[%g, %g)", edges[i-1], edges[i])
}

// readModel reads NAME=CLASSIFY,ATTACK and pairs the two runs by dataset index: every
// image the attack run holds must have been classified (same dataset and split).
func readModel(arg string, norm attack.Norm) (*model, error) {
	name, files, ok := strings.Cut(arg, "=")
	cf, af, ok2 := strings.Cut(files, ",")
	if !ok || !ok2 || name == "" || cf == "" || af == "" {
		return nil, fmt.Errorf("%q: want NAME=CLASSIFY.json,ATTACK.json", arg)
	}
	c, err := eval.ReadClassify(cf)
	if err != nil {
		return nil, err
	}
	a, err := eval.ReadFile(af)
	if err != nil {
		return nil, err
	}
	if !a.Complete {
		return nil, fmt.Errorf("%s: an unfinished attack run (a state file?)", af)
	}
	if c.Header.Dataset != a.Header.Dataset || c.Header.Split != a.Header.Split {
		return nil, fmt.Errorf("%s: %s %s images, %s: %s %s: give runs of the same images", cf, c.Header.Dataset, c.Header.Split, af, a.Header.Dataset, a.Header.Split)
	}
	var cols []int
	for i, s := range a.Settings.Attacks {
		if s.Norm == norm {
			cols = append(cols, i)
		}
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("%s: no %s attack", af, norm)
	}
	byIndex := make(map[int]eval.ClassifyRecord, len(c.Records))
	for _, r := range c.Records {
		byIndex[r.Index] = r
	}
	m := &model{name: name, classify: cf, attack: af}
	for _, rec := range a.Records {
		r, ok := byIndex[rec.Index]
		if !ok {
			return nil, fmt.Errorf("%s: image %d of %s was not classified", cf, rec.Index, af)
		}
		if r.Label != rec.Label {
			return nil, fmt.Errorf("image %d: label %d in %s, %d in %s", rec.Index, r.Label, cf, rec.Label, af)
		}
		mg, err := margin(r.Logits, r.Label)
		if err != nil {
			return nil, fmt.Errorf("%s: image %d: %w", cf, rec.Index, err)
		}
		robust := rec.CleanCorrect
		for _, i := range cols {
			robust = robust && rec.Attacks[i].Robust
		}
		m.margins = append(m.margins, mg)
		m.robust = append(m.robust, robust)
	}
	if len(m.margins) == 0 {
		return nil, fmt.Errorf("%s: no images", af)
	}
	return m, nil
}

// margin is the label's logit minus the best other class's.
func margin(logits []float32, y int) (float64, error) {
	if y < 0 || y >= len(logits) || len(logits) < 2 {
		return 0, fmt.Errorf("label %d of %d logits", y, len(logits))
	}
	best := math.Inf(-1)
	for k, v := range logits {
		if math.IsNaN(float64(v)) {
			return 0, fmt.Errorf("NaN logit %d", k)
		}
		if k != y {
			best = max(best, float64(v))
		}
	}
	return float64(logits[y]) - best, nil
}

// binCounts is a model's images per margin bin: robust ones k, all n, and the sum of
// their margins.
type binCounts struct {
	k, n []int
	sum  []float64
}

func (m *model) bins(edges []float64) binCounts {
	c := binCounts{make([]int, len(edges)+1), make([]int, len(edges)+1), make([]float64, len(edges)+1)}
	for i, v := range m.margins {
		b := bin(v, edges)
		c.n[b]++
		c.sum[b] += v
		if m.robust[i] {
			c.k[b]++
		}
	}
	return c
}

// readLosses reads a classify run's per-image losses (name may be empty: the file's).
func readLosses(name, path string) (losses, error) {
	if path == "" {
		return losses{}, fmt.Errorf("%q: want NAME=CLASSIFY.json[,ATTACK.json]", name)
	}
	c, err := eval.ReadClassify(path)
	if err != nil {
		return losses{}, err
	}
	l := losses{name: name, file: path}
	for _, r := range c.Records {
		mg, err := margin(r.Logits, r.Label)
		if err != nil {
			return losses{}, fmt.Errorf("%s: image %d: %w", path, r.Index, err)
		}
		ly := -float64(r.Logits[r.Label])
		l.ly, l.wrong, l.margin = append(l.ly, ly), append(l.wrong, ly+mg), append(l.margin, mg)
		l.ceWt = append(l.ceWt, 1-softmaxAt(r.Logits, r.Label))
	}
	if len(l.ly) == 0 {
		return losses{}, fmt.Errorf("%s: no images", path)
	}
	return l, nil
}

// softmaxAt is softmax(z)[y], computed stably.
func softmaxAt(z []float32, y int) float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, float64(v))
	}
	s := 0.0
	for _, v := range z {
		s += math.Exp(float64(v) - m)
	}
	return math.Exp(float64(z[y])-m) / s
}

// lossTable writes every classify run's median losses and the cross-entropy weight's
// distribution.
func lossTable(w io.Writer, ls []losses) error {
	fmt.Fprintf(w, "\nLosses (E-ABS: l_k = -logit_k; medians) and the weight `1 - softmax(-l)[y]` eq. 5's cross-entropy gives each image at these losses:\n\n")
	fmt.Fprintln(w, "| run | images | l_y | best wrong l_k | margin | weight: median | q90 | images above 0.01 | file |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, l := range ls {
		sorted := func(v []float64) []float64 { v = slices.Clone(v); sort.Float64s(v); return v }
		wt := sorted(l.ceWt)
		above := 0
		for _, v := range wt {
			if v > 0.01 {
				above++
			}
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f | %.2g | %.2g | %.1f%% | `%s` |\n", l.name, len(wt),
			quantile(sorted(l.ly), 0.5), quantile(sorted(l.wrong), 0.5), quantile(sorted(l.margin), 0.5),
			quantile(wt, 0.5), quantile(wt, 0.9), 100*float64(above)/float64(len(wt)), filepath.Base(l.file))
	}
	return nil
}

// calibrate is the pooled robust rate per margin bin over the images of every model but
// ms[skip] (skip -1: every model), NaN for a bin without images.
func calibrate(ms []*model, edges []float64, skip int) []float64 {
	k := make([]int, len(edges)+1)
	n := make([]int, len(edges)+1)
	for j, m := range ms {
		if j == skip {
			continue
		}
		c := m.bins(edges)
		for b := range n {
			k[b] += c.k[b]
			n[b] += c.n[b]
		}
	}
	rate := make([]float64, len(n))
	for b := range n {
		rate[b] = math.NaN()
		if n[b] > 0 {
			rate[b] = float64(k[b]) / float64(n[b])
		}
	}
	return rate
}

// predict is the robust count ms[j]'s margins predict under the other models' robust
// rate per bin; ok is false when a bin ms[j] uses has no images among the others.
func predict(ms []*model, j int, edges []float64) (pred float64, ok bool) {
	cal := calibrate(ms, edges, j)
	for _, v := range ms[j].margins {
		r := cal[bin(v, edges)]
		if math.IsNaN(r) {
			return 0, false
		}
		pred += r
	}
	return pred, true
}

// quantile is the q-quantile of sorted xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

func table(w io.Writer, ms []*model, edges []float64, norm string, args []string) error {
	fmt.Fprintf(w, "# Clean margins against robustness (%s)\n\n", norm)
	fmt.Fprintf(w, "Made by `go run ./tools/margins %s`. Margin: min over wrong classes of l_k, minus l_y (E-ABS; a classifier's top-logit lead), from each model's classify run; robust: the image survived every %s attack of its attack run. \"Predicted\" is the sum over the model's images of the robust rate of the image's margin bin among the other models' images (out of sample; \"-\" when one of its bins has none there).\n\n", strings.Join(args, " "), norm)
	fmt.Fprintln(w, "| model | images | robust | predicted from margins | margin q10 | q25 | median | q75 | files |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for j, m := range ms {
		s := append([]float64(nil), m.margins...)
		sort.Float64s(s)
		k := 0
		for i := range m.margins {
			if m.robust[i] {
				k++
			}
		}
		pred := "-"
		if p, ok := predict(ms, j, edges); ok {
			pred = fmt.Sprintf("%.1f", p)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %.1f | %.1f | %.1f | %.1f | `%s`, `%s` |\n", m.name, len(s), k, pred,
			quantile(s, 0.1), quantile(s, 0.25), quantile(s, 0.5), quantile(s, 0.75), filepath.Base(m.classify), filepath.Base(m.attack))
	}
	fmt.Fprintf(w, "\nRobust rate per margin bin (robust / images):\n\n| margin |")
	for _, m := range ms {
		fmt.Fprintf(w, " %s |", m.name)
	}
	fmt.Fprintf(w, " pooled |\n|---|")
	for range ms {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w, "---:|")
	cal := calibrate(ms, edges, -1)
	counts := make([]binCounts, len(ms))
	for j, m := range ms {
		counts[j] = m.bins(edges)
	}
	for b := 0; b <= len(edges); b++ {
		fmt.Fprintf(w, "| %s |", binLabel(b, edges))
		for _, c := range counts {
			fmt.Fprintf(w, " %d / %d |", c.k[b], c.n[b])
		}
		if math.IsNaN(cal[b]) {
			fmt.Fprintln(w, " - |")
		} else {
			fmt.Fprintf(w, " %.2f |\n", cal[b])
		}
	}
	return nil
}

var palette = []color.Color{
	color.RGBA{0, 90, 181, 255}, color.RGBA{220, 50, 32, 255}, color.RGBA{0, 150, 60, 255},
	color.RGBA{230, 159, 0, 255}, color.RGBA{120, 60, 160, 255}, color.RGBA{90, 90, 90, 255},
	color.RGBA{0, 170, 170, 255}, color.RGBA{200, 80, 160, 255},
}

// panel is an empty plot with the margin on x and a [0, 1] y axis.
func panel(title, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "clean margin (min_k l_k - l_y)"
	p.Y.Label.Text = y
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return p
}

// plotAll draws two panels: the robust rate per margin bin (at the bin's mean margin),
// and each model's margin distribution (empirical CDF).
func plotAll(path string, ms []*model, edges []float64) error {
	rate := panel("robust rate against clean margin", "robust")
	cdf := panel("clean margin distribution", "fraction of images below")
	for j, m := range ms {
		col := palette[j%len(palette)]
		c := m.bins(edges)
		var xy plotter.XYs
		for b, n := range c.n {
			if n > 0 {
				xy = append(xy, plotter.XY{X: c.sum[b] / float64(n), Y: float64(c.k[b]) / float64(n)})
			}
		}
		lp, sp, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		lp.Color, sp.Color, sp.Shape = col, col, draw.CircleGlyph{}
		rate.Add(lp, sp)
		rate.Legend.Add(m.name, lp, sp)
		s := append([]float64(nil), m.margins...)
		sort.Float64s(s)
		xs := make(plotter.XYs, len(s))
		for i, v := range s {
			xs[i] = plotter.XY{X: v, Y: float64(i+1) / float64(len(s))}
		}
		l, err := plotter.NewLine(xs)
		if err != nil {
			return err
		}
		l.Color, l.Width = col, vg.Points(1.5)
		cdf.Add(l)
		cdf.Legend.Add(m.name, l)
	}
	// Two panels side by side, each with its legend below it.
	const wd, ht = 6 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(2*wd, ht)
	dc := draw.New(img)
	left := draw.Crop(dc, 0, -wd, 0, 0)
	right := draw.Crop(dc, wd, 0, 0, 0)
	plotlegend.Draw(rate, left)
	plotlegend.Draw(cdf, right)
	return atomicfile.Write(path, func(w io.Writer) error { _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); return err })
}
