package plotlegend

import (
	"bytes"
	"image/png"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
	_ "gonum.org/v1/plot/vg/vgimg" // png
)

// testPlot has n lines, one a vertical drop through the lower left where the corner
// legend used to be, each with a legend entry.
func testPlot(t *testing.T, n int) (*plot.Plot, map[string]bool) {
	t.Helper()
	p := plot.New()
	p.Title.Text = "title"
	// (No y-axis label: it is drawn rotated, and the recorder keeps its rotated
	// coordinates.)
	p.X.Label.Text = "eps"
	names := map[string]bool{}
	for i := 0; i < n; i++ {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 1}, {X: 0.3, Y: 1}, {X: 0.3, Y: float64(i) / 20}, {X: 1, Y: float64(i) / 20}})
		if err != nil {
			t.Fatal(err)
		}
		p.Add(l)
		name := "model " + string(rune('A'+i))
		p.Legend.Add(name, l)
		names[name] = true
	}
	return p, names
}

// TestLegendBelowTheAxes: every legend text is drawn in the bottom strip, every other
// text (title, tick and axis labels) and every line above it; the strip holds all the
// entries, and the plot keeps its legend.
func TestLegendBelowTheAxes(t *testing.T) {
	for _, n := range []int{1, 12} {
		p, names := testPlot(t, n)
		const w, h = 6 * vg.Inch, 4 * vg.Inch
		lh := Height(p)
		if need := p.Legend.Rectangle(draw.Canvas{}).Size().Y; !(lh >= need) || need == 0 {
			t.Fatalf("%d entries: strip %v for a legend of height %v", n, lh, need)
		}
		rec := &recorder.Canvas{}
		Draw(p, draw.NewCanvas(rec, w, h+lh))
		legendTexts := 0
		for _, a := range rec.Actions {
			switch a := a.(type) {
			case *recorder.FillString:
				if names[a.String] {
					legendTexts++
					if a.Point.Y < 0 || a.Point.Y+a.Size > lh {
						t.Errorf("%d entries: legend text %q at y %v, outside the strip [0, %v]", n, a.String, a.Point.Y, lh)
					}
				} else if a.Point.Y < lh {
					t.Errorf("%d entries: text %q at y %v, inside the legend's strip [0, %v]", n, a.String, a.Point.Y, lh)
				}
			}
		}
		if legendTexts != n {
			t.Errorf("%d entries: %d legend texts drawn", n, legendTexts)
		}
		if p.Legend.Top || p.Legend.Left || p.Legend.XOffs != 0 {
			t.Errorf("Draw changed the plot's legend settings: %+v", p.Legend)
		}
		// Drawn again, the plot has its entries still.
		rec2 := &recorder.Canvas{}
		Draw(p, draw.NewCanvas(rec2, w, h+lh))
		if len(rec2.Actions) != len(rec.Actions) {
			t.Errorf("%d entries: a second Draw made %d actions, the first %d", n, len(rec2.Actions), len(rec.Actions))
		}
	}
}

// TestWriterToSize: the PNG is the plot area plus the strip tall.
func TestWriterToSize(t *testing.T) {
	p, _ := testPlot(t, 5)
	const w, h = 4 * vg.Inch, 3 * vg.Inch
	wt, err := WriterTo(p, w, h, "png")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// vgimg's default is 96 dots per inch.
	wantH := int((h + Height(p)).Dots(96) + 0.5)
	if b := img.Bounds(); b.Dx() != 384 || b.Dy() != wantH {
		t.Errorf("image %dx%d, want 384x%d", b.Dx(), b.Dy(), wantH)
	}
	if _, err := WriterTo(p, w, h, "nonsense"); err == nil {
		t.Error("an unknown format gave no error")
	}
}
