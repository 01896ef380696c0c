// Command epochcurve draws where a zoo model stands against its training epochs (made
// for the MNIST E-ABS, issue 14's alternative to the 0.990 bar, whose lines are the
// defaults; -name and -lines draw another): the encoder-shortcut validation accuracy
// of every epoch from the run's metrics.csv, the full-inference validation accuracy
// (eabs classify --json on 2000 validation images) of the epochs measured, each with
// its 95% Clopper-Pearson interval, the full-inference test accuracy of the zoo model,
// the 0.990 bar and the paper's 99.4% after 500 epochs. It writes a PNG and a Markdown
// table made only from those files.
//
//	go run ./tools/epochcurve -metrics results/mnist-eabs/selection/metrics-epochs1-31.csv \
//		-test results/mnist-eabs/test-full-ort.json -test-epoch 20 -out results/mnist-eabs/selection \
//		results/mnist-eabs/selection/val2000-full-ep*.json
//
// -lines lists horizontal reference lines as "value=label" separated by ";".
//
// -proxy adds the robustness proxy of results/mnist/eabs/proxy/README.md (issue 26): eabs
// attack results on the validation split with one bounded attack, each file named
// ...epNN..., drawn with their 95% intervals in a second plot, robustness-vs-epoch.png,
// beside -proxy-lines (the zoo model's proxy, say), and listed in the table:
//
//	go run ./tools/epochcurve -name mnist-eabs-paper -metrics checkpoints/mnist-eabs-paper/metrics.csv \
//		-proxy results/mnist/eabs/proxy/proxy-paper-ep005.json,results/mnist/eabs/proxy/proxy-paper-ep017.json \
//		-out results/mnist/eabs/paper-schedule
package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/internal/plotlegend"
	"github.com/eabs/eabs/stats"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// classified is the part of a classify report (eabs classify before the one result
// format) used here; newer results are read with eval.ReadClassify.
type classified struct {
	Model    string  `json:"model"`
	Split    string  `json:"split"`
	N        int     `json:"n"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
	Mode     string  `json:"mode"`
}

type point struct {
	epoch          int
	acc, lo, hi    float64
	n, correct     int
	file, model    string
	split, measure string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "epochcurve:", err)
		os.Exit(1)
	}
}

var epochRe = regexp.MustCompile(`ep(?:och-?)?(\d+)`)

// name, refLines, yMin, yMax and valN are the -name, -lines, -ymin, -ymax and -val-n flags.
var (
	name       string
	refLines   []refLine
	yMin, yMax float64
	valN       int // validation images behind the metrics' shortcut accuracy, for the legend
)

type refLine struct {
	y     float64
	label string
}

func parseLines(s string) ([]refLine, error) {
	var out []refLine
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		v, label, ok := strings.Cut(part, "=")
		y, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil || y < 0 || y > 1 {
			return nil, fmt.Errorf("-lines: %q: want value=label with the value in [0,1]", part)
		}
		out = append(out, refLine{y, label})
	}
	return out, nil
}

func run() error {
	metrics := flag.String("metrics", "", "training metrics.csv (epoch, val_acc_amortized columns)")
	test := flag.String("test", "", "eabs classify --json report of the zoo model on the whole test set (full inference)")
	testEpoch := flag.Int("test-epoch", 0, "epoch of the -test model")
	out := flag.String("out", ".", "output directory")
	flag.StringVar(&name, "name", "mnist-eabs", "zoo model name, for the title")
	flag.IntVar(&valN, "val-n", 6000, "validation images the metrics' encoder-shortcut accuracy was measured on (MNIST's 6,000; the run's manifest.json val_images)")
	flag.Float64Var(&yMin, "ymin", 0.97, "lowest accuracy drawn (epochs below it are left out of the curve)")
	flag.Float64Var(&yMax, "ymax", 1.0, "highest accuracy drawn")
	proxyFlag := flag.String("proxy", "", "comma-separated eabs attack results of the robustness proxy on the validation split, each named ...epNN...")
	proxyLinesFlag := flag.String("proxy-lines", "", `reference lines of the proxy plot, "value=label;value=label"`)
	linesFlag := flag.String("lines", "0.990=issue 14's bar, 0.990;0.994=paper: 99.4% after 500 epochs", `reference lines, "value=label;value=label"`)
	flag.Parse()
	var err error
	if refLines, err = parseLines(*linesFlag); err != nil {
		return err
	}
	if !(0 <= yMin && yMin < yMax && yMax <= 1) {
		return fmt.Errorf("-ymin %g, -ymax %g: want 0 <= ymin < ymax <= 1", yMin, yMax)
	}
	if valN < 1 {
		return fmt.Errorf("-val-n %d: want at least 1", valN)
	}
	var shortcut []point
	if *metrics != "" {
		if shortcut, err = readMetrics(*metrics); err != nil {
			return err
		}
	}
	var full []point
	for _, f := range flag.Args() {
		m := epochRe.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			return fmt.Errorf("%s: no epoch in the file name (want ...epNN...)", f)
		}
		ep, _ := strconv.Atoi(m[1])
		p, err := readClassified(f, ep)
		if err != nil {
			return err
		}
		full = append(full, p)
	}
	sort.Slice(full, func(i, j int) bool { return full[i].epoch < full[j].epoch })
	var tp *point
	if *test != "" {
		p, err := readClassified(*test, *testEpoch)
		if err != nil {
			return err
		}
		tp = &p
	}
	var proxy []point
	var proxyRefs []refLine
	if *proxyFlag != "" {
		for _, f := range strings.Split(*proxyFlag, ",") {
			p, err := readProxy(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			proxy = append(proxy, p)
		}
		sort.Slice(proxy, func(i, j int) bool { return proxy[i].epoch < proxy[j].epoch })
		if proxyRefs, err = parseLines(*proxyLinesFlag); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if len(proxy) > 0 {
		if err := plotProxy(filepath.Join(*out, "robustness-vs-epoch.png"), proxy, proxyRefs, shortcut); err != nil {
			return err
		}
	}
	if err := plotCurve(filepath.Join(*out, "accuracy-vs-epoch.png"), shortcut, full, tp); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(*out, "accuracy-vs-epoch.md"), func(w io.Writer) error { return table(w, shortcut, full, tp, proxy) })
}

// readProxy reads one proxy measurement: an attack result on the validation split with
// a single bounded attack, the epoch from the file name. The point is the attack's
// robust accuracy over every sample (clean errors count as not robust).
func readProxy(path string) (point, error) {
	m := epochRe.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return point{}, fmt.Errorf("%s: no epoch in the file name (want ...epNN...)", path)
	}
	ep, _ := strconv.Atoi(m[1])
	r, err := eval.ReadFile(path)
	if err != nil {
		return point{}, err
	}
	if !r.Complete {
		return point{}, fmt.Errorf("%s: an unfinished run (a state file?)", path)
	}
	if r.Header.Split != "val" {
		return point{}, fmt.Errorf("%s: split %q: the proxy is measured on the validation split", path, r.Header.Split)
	}
	if len(r.Settings.Attacks) != 1 || !r.Settings.Attacks[0].Bounded {
		return point{}, fmt.Errorf("%s: want exactly one bounded attack, have %d", path, len(r.Settings.Attacks))
	}
	a := r.Settings.Attacks[0]
	s := eval.Summarize(r)
	rate := s.Attacks[0].Robust
	if rate.N <= 0 {
		return point{}, fmt.Errorf("%s: no samples", path)
	}
	return point{epoch: ep, acc: rate.Acc, lo: rate.Lo, hi: rate.Hi, n: rate.N, correct: rate.K,
		file: filepath.Base(path), model: r.Model, split: r.Header.Split,
		measure: fmt.Sprintf("robust, %s %g (proxy)", a.Name, a.Eps)}, nil
}

// plotProxy draws the proxy's robust accuracy against epochs; the encoder-shortcut
// validation accuracy goes on the same axes for scale.
func plotProxy(path string, proxy []point, refs []refLine, shortcut []point) error {
	p := plot.New()
	p.Title.Text = name + ": robustness proxy against training epochs (validation)"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "accuracy"
	p.Y.Min, p.Y.Max = 0.5, 1
	p.Add(plotter.NewGrid())
	blue, red, green, grey := color.RGBA{0, 90, 181, 255}, color.RGBA{220, 50, 32, 255}, color.RGBA{0, 150, 60, 255}, color.RGBA{90, 90, 90, 255}
	last := float64(proxy[len(proxy)-1].epoch)
	if len(shortcut) > 0 {
		xy := make(plotter.XYs, 0, len(shortcut))
		for _, s := range shortcut {
			if s.acc >= p.Y.Min {
				xy = append(xy, plotter.XY{X: float64(s.epoch), Y: s.acc})
			}
		}
		if len(xy) > 0 {
			l, err := plotter.NewLine(xy)
			if err != nil {
				return err
			}
			l.Color, l.Width = blue, vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("clean, encoder shortcut (all %d validation images)", valN), l)
			last = max(last, float64(shortcut[len(shortcut)-1].epoch))
		}
	}
	if err := withBars(p, proxy, red, draw.CircleGlyph{}, fmt.Sprintf("%s, %d validation images, 95%% CI", proxy[0].measure, proxy[0].n)); err != nil {
		return err
	}
	return finish(p, path, refs, last, grey, green)
}

// finish draws the reference lines (dashed, alternating the two colours, from epoch 0 to
// last+1) and writes the plot with its legend below the axes.
func finish(p *plot.Plot, path string, refs []refLine, last float64, cols ...color.Color) error {
	for i, h := range refs {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: h.y}, {X: last + 1, Y: h.y}})
		if err != nil {
			return err
		}
		l.Color, l.Dashes = cols[i%len(cols)], []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(h.label, l)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	wt, err := plotlegend.WriterTo(p, 8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error { _, err := wt.WriteTo(w); return err })
}

func readMetrics(path string) ([]point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: no epochs", path)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	ei, ok1 := col["epoch"]
	vi, ok2 := col["val_acc_amortized"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s: want columns epoch and val_acc_amortized, have %v", path, rows[0])
	}
	var out []point
	for _, r := range rows[1:] {
		ep, err1 := strconv.Atoi(r[ei])
		acc, err2 := strconv.ParseFloat(r[vi], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad row %v", path, r)
		}
		out = append(out, point{epoch: ep, acc: acc, file: filepath.Base(path), measure: "encoder shortcut"})
	}
	return out, nil
}

func readClassified(path string, epoch int) (point, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return point{}, err
	}
	var c classified
	if err := json.Unmarshal(b, &c); err != nil {
		// The classify results of eabs since the one result format: a header, the run
		// and the accuracy as a rate.
		r, err2 := eval.ReadClassify(path)
		if err2 != nil || r.Accuracy == nil || r.Run == nil {
			return point{}, fmt.Errorf("%s: neither a classify report (%v) nor a classify result (%v)", path, err, err2)
		}
		c = classified{Model: r.Model, Split: r.Header.Split, N: r.Accuracy.N, Correct: r.Accuracy.K, Mode: r.Run.Mode}
	}
	if c.N <= 0 || c.Correct < 0 || c.Correct > c.N {
		return point{}, fmt.Errorf("%s: %d correct of %d is not an accuracy", path, c.Correct, c.N)
	}
	if c.Mode != "full" {
		return point{}, fmt.Errorf("%s: mode %q, want full inference", path, c.Mode)
	}
	lo, hi, err := stats.ClopperPearson(c.Correct, c.N, 0.05)
	if err != nil {
		return point{}, err
	}
	return point{epoch: epoch, acc: float64(c.Correct) / float64(c.N), lo: lo, hi: hi, n: c.N, correct: c.Correct,
		file: filepath.Base(path), model: c.Model, split: c.Split, measure: "full inference"}, nil
}

func plotCurve(path string, shortcut, full []point, tp *point) error {
	p := plot.New()
	p.Title.Text = "zoo:" + name + ": accuracy against training epochs"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "accuracy"
	p.Y.Min, p.Y.Max = yMin, yMax
	p.Add(plotter.NewGrid())
	blue, red, green, grey := color.RGBA{0, 90, 181, 255}, color.RGBA{220, 50, 32, 255}, color.RGBA{0, 150, 60, 255}, color.RGBA{90, 90, 90, 255}
	if len(shortcut) > 0 {
		xy := make(plotter.XYs, 0, len(shortcut))
		for _, s := range shortcut {
			if s.acc >= p.Y.Min {
				xy = append(xy, plotter.XY{X: float64(s.epoch), Y: s.acc})
			}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color, l.Width = blue, vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("validation, encoder shortcut (all %d, every epoch)", valN), l)
	}
	if len(full) > 0 {
		if err := withBars(p, full, red, draw.CircleGlyph{}, fmt.Sprintf("validation, full inference (%d images), 95%% CI", full[0].n)); err != nil {
			return err
		}
	}
	if tp != nil {
		if err := withBars(p, []point{*tp}, green, draw.BoxGlyph{}, fmt.Sprintf("test, full inference (all %d), 95%% CI", tp.n)); err != nil {
			return err
		}
	}
	last := 31.0
	if len(shortcut) > 0 {
		last = float64(shortcut[len(shortcut)-1].epoch)
	}
	return finish(p, path, refLines, last, grey, red)
}

func withBars(p *plot.Plot, pts []point, col color.Color, glyph draw.GlyphDrawer, name string) error {
	xy := make(plotter.XYs, len(pts))
	errs := make(plotter.YErrors, len(pts))
	for i, q := range pts {
		xy[i] = plotter.XY{X: float64(q.epoch), Y: q.acc}
		errs[i].Low, errs[i].High = q.acc-q.lo, q.hi-q.acc
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return err
	}
	s.Color, s.Shape, s.Radius = col, glyph, vg.Points(3.5)
	bars, err := plotter.NewYErrorBars(struct {
		plotter.XYer
		plotter.YErrorer
	}{xy, errs})
	if err != nil {
		return err
	}
	bars.Color = col
	p.Add(s, bars)
	p.Legend.Add(name, s)
	return nil
}

func table(w io.Writer, shortcut, full []point, tp *point, proxy []point) error {
	fmt.Fprintf(w, "# zoo:%s: accuracy against training epochs\n", name)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Made by `go run ./tools/epochcurve %s` from the files named below; plot: `accuracy-vs-epoch.png`.\n\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintln(w, "| epoch | measure | split | correct / n | accuracy | 95% CI | file |")
	fmt.Fprintln(w, "|---:|---|---|---:|---:|---|---|")
	for _, q := range full {
		fmt.Fprintf(w, "| %d | %s | %s | %d / %d | %.4f | [%.4f, %.4f] | `%s` |\n", q.epoch, q.measure, q.split, q.correct, q.n, q.acc, q.lo, q.hi, q.file)
	}
	for _, q := range proxy {
		fmt.Fprintf(w, "| %d | %s | %s | %d / %d | %.4f | [%.4f, %.4f] | `%s` |\n", q.epoch, q.measure, q.split, q.correct, q.n, q.acc, q.lo, q.hi, q.file)
	}
	if tp != nil {
		fmt.Fprintf(w, "| %d | %s | %s | %d / %d | **%.4f** | [%.4f, %.4f] | `%s` |\n", tp.epoch, tp.measure, tp.split, tp.correct, tp.n, tp.acc, tp.lo, tp.hi, tp.file)
	}
	if len(shortcut) > 0 {
		var b strings.Builder
		for i, s := range shortcut {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d: %.4f", s.epoch, s.acc)
		}
		fmt.Fprintf(w, "\nEncoder-shortcut validation accuracy per epoch (`%s`): %s.\n", shortcut[0].file, b.String())
	}
	return nil
}
