package adapt_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// tinyModel is a linear classifier on images of one declared input shape: Flatten,
// Gemm (weights W [pixels, K] and bias B from a seeded source), then a head: "" for
// logits, "softmax", "sigmoid", or "softmax+" (a Softmax whose output a second graph
// output reads too).
type tinyModel struct {
	onnx []byte
	w, b []float32
	k    int
}

func newTiny(t *testing.T, shape []onnx.Dim, k int, head string, seed uint64) tinyModel {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 7))
	p := 1
	for _, d := range shape[1:] {
		p *= int(d.Size)
	}
	m := tinyModel{w: make([]float32, p*k), b: make([]float32, k), k: k}
	for i := range m.w {
		m.w[i] = float32(rnd.NormFloat64() * 0.3)
	}
	for i := range m.b {
		m.b[i] = float32(rnd.NormFloat64())
	}
	g := onnx.NewGraph("tiny")
	x := g.Input("image", shape...)
	flat := g.Op("Flatten", []string{x}, onnx.IntAttr("axis", 1))
	z := g.Op("Gemm", []string{flat, g.Initializer("W", []int{p, k}, m.w), g.Initializer("B", []int{k}, m.b)})
	out := onnx.Shape("batch", k)
	switch head {
	case "":
		g.Output("scores", z, out...)
	case "softmax":
		g.Output("scores", g.Op("Softmax", []string{z}, onnx.IntAttr("axis", 1)), out...)
	case "sigmoid":
		g.Output("scores", g.Op("Sigmoid", []string{z}), out...)
	case "softmax+":
		s := g.Op("Softmax", []string{z})
		g.Output("scores", s, out...)
		g.Output("doubled", g.Op("Mul", []string{s, g.Scalar(2)}), out...)
	}
	b, err := (&onnx.Model{Graph: g}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m.onnx = b
	return m
}

// want computes the adapted model's output in float64 from its definition: pixels x
// (N,C,H,W) in [0,1] mapped to lo + (hi-lo)x, normalised per channel, laid out as the
// model takes them, through the linear layer and the head, and the log of
// probabilities.
func (m tinyModel) want(x []float64, n, c, h, w int, layout adapt.Layout, o adapt.Options, head string) []float64 {
	lo, hi := 0.0, 1.0
	if o.Bounds != nil {
		lo, hi = o.Bounds[0], o.Bounds[1]
	}
	pick := func(v []float64, i int, def float64) float64 {
		switch len(v) {
		case 0:
			return def
		case 1:
			return v[0]
		}
		return v[i]
	}
	p := c * h * w
	out := make([]float64, n*m.k)
	for b := range n {
		in := make([]float64, p)
		for ch := range c {
			for y := range h {
				for xx := range w {
					v := lo + (hi-lo)*x[b*p+(ch*h+y)*w+xx]
					v = (v - pick(o.Mean, ch, 0)) / pick(o.Std, ch, 1)
					j := (ch*h+y)*w + xx
					if layout == adapt.NHWC {
						j = (y*w+xx)*c + ch
					}
					in[j] = v
				}
			}
		}
		z := out[b*m.k : (b+1)*m.k]
		for k := range m.k {
			z[k] = float64(m.b[k])
			for j, v := range in {
				z[k] += v * float64(m.w[j*m.k+k])
			}
		}
		switch head {
		case "softmax", "softmax+":
			mx := math.Inf(-1)
			for _, v := range z {
				mx = math.Max(mx, v)
			}
			s := 0.0
			for _, v := range z {
				s += math.Exp(v - mx)
			}
			for k := range z {
				z[k] -= mx + math.Log(s)
			}
		case "sigmoid":
			for k := range z {
				z[k] = math.Log(1 / (1 + math.Exp(-z[k])))
			}
		}
	}
	return out
}

// TestAdapt: the adapted model, run by onnx/grad's float64 evaluator on NCHW pixels
// in [0,1], gives what the model's definition gives on the pixels mapped by hand to
// its bounds, preprocessing and layout, and the log of its probabilities, within
// 1e-5 of the largest score (the added constants are float32: (hi-lo)/std carries a
// relative rounding of 6e-8 into each of 90 products). Every adapted model passes the
// ONNX checker.
func TestAdapt(t *testing.T) {
	nchw := onnx.Shape("batch", 3, 5, 6)
	nhwc := onnx.Shape("batch", 5, 6, 3)
	var written []string
	dir := t.TempDir()
	for _, test := range []struct {
		name    string
		shape   []onnx.Dim
		head    string
		opt     adapt.Options
		layout  adapt.Layout
		changed bool
		nodes   string // the adapted graph's operators, in order
	}{
		{"nchw logits as is", nchw, "", adapt.Options{}, adapt.NCHW, false, "Flatten Gemm"},
		{"layout given", nchw, "", adapt.Options{Layout: adapt.NCHW}, adapt.NCHW, false, "Flatten Gemm"},
		{"nhwc from the shape", nhwc, "", adapt.Options{}, adapt.NHWC, true, "Transpose Flatten Gemm"},
		{"bounds 0-255", nchw, "", adapt.Options{Bounds: []float64{0, 255}}, adapt.NCHW, true, "Mul Flatten Gemm"},
		{"bounds -1..1", nchw, "", adapt.Options{Bounds: []float64{-1, 1}}, adapt.NCHW, true, "Mul Add Flatten Gemm"},
		{"mean std per channel nhwc", nhwc, "", adapt.Options{Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}},
			adapt.NHWC, true, "Mul Add Transpose Flatten Gemm"},
		{"one mean, bounds", nchw, "", adapt.Options{Bounds: []float64{0, 255}, Mean: []float64{127.5}, Std: []float64{64}}, adapt.NCHW, true, "Mul Add Flatten Gemm"},
		{"softmax to logsoftmax", nchw, "softmax", adapt.Options{Kind: grad.Probabilities}, adapt.NCHW, true, "Flatten Gemm LogSoftmax"},
		{"sigmoid probabilities: log", nhwc, "sigmoid", adapt.Options{Kind: grad.Probabilities}, adapt.NHWC, true, "Transpose Flatten Gemm Sigmoid Log"},
		{"softmax read twice", nchw, "softmax+", adapt.Options{Output: "scores", Kind: grad.Probabilities}, adapt.NCHW, true, "Flatten Gemm Softmax Mul LogSoftmax"},
		{"log-probabilities as is", nchw, "softmax", adapt.Options{Kind: grad.LogProbabilities}, adapt.NCHW, false, "Flatten Gemm Softmax"},
	} {
		t.Run(test.name, func(t *testing.T) {
			m := newTiny(t, test.shape, 4, test.head, 1)
			a, err := adapt.Adapt(m.onnx, test.opt)
			if err != nil {
				t.Fatal(err)
			}
			if a.Changed != test.changed || a.Changed != !bytes.Equal(a.ONNX, m.onnx) {
				t.Errorf("Changed = %v (bytes equal %v), want %v", a.Changed, bytes.Equal(a.ONNX, m.onnx), test.changed)
			}
			if a.C != 3 || a.H != 5 || a.W != 6 || a.Classes != 4 || a.Batch != 0 || a.Layout != test.layout {
				t.Errorf("shape %dx%dx%d, %d classes, batch %d, layout %s; want 3x5x6, 4, 0, %s", a.C, a.H, a.W, a.Classes, a.Batch, a.Layout, test.layout)
			}
			info, err := onnx.Decode(a.ONNX)
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Outputs) != 1 || info.Outputs[0].Name != a.Output || len(info.Inputs) != 1 || info.Inputs[0].Name != "image" {
				t.Errorf("inputs %v, outputs %v; want image and %s alone", info.Inputs, info.Outputs, a.Output)
			}
			if got := opsOf(t, a.ONNX); got != test.nodes {
				t.Errorf("operators %q, want %q", got, test.nodes)
			}
			const n = 3
			rnd := rand.New(rand.NewPCG(2, 2))
			x := make([]float64, n*3*5*6)
			for i := range x {
				x[i] = float64(float32(rnd.Float64()))
			}
			got, err := grad.Evaluate(a.ONNX, map[string]*grad.Tensor{"image": {Type: grad.Float64, Shape: []int{n, 3, 5, 6}, F: x}})
			if err != nil {
				t.Fatal(err)
			}
			want := m.want(x, n, 3, 5, 6, test.layout, test.opt, test.head)
			if test.opt.Kind != grad.Probabilities {
				// Only probabilities change their meaning.
				want = m.want(x, n, 3, 5, 6, test.layout, test.opt, "")
				if test.head == "softmax" {
					want = m.want(x, n, 3, 5, 6, test.layout, test.opt, "softmax")
					for i := range want {
						want[i] = math.Exp(want[i])
					}
				}
			}
			z := got[a.Output].F
			scale := 0.0
			for _, v := range want {
				scale = math.Max(scale, math.Abs(v))
			}
			for i := range want {
				if d := math.Abs(z[i]-want[i]) / scale; d > 1e-5 {
					t.Errorf("score %d = %.9g, want %.9g (%.2g of the largest)", i, z[i], want[i], d)
				}
			}
			path := filepath.Join(dir, strings.ReplaceAll(test.name, " ", "_")+".onnx")
			if err := os.WriteFile(path, a.ONNX, 0o644); err != nil {
				t.Fatal(err)
			}
			written = append(written, path)
		})
	}
	testenv.OnnxCheck(t, written)
}

// opsOf lists a model's operators in node order.
func opsOf(t *testing.T, model []byte) string {
	t.Helper()
	var p onnxpb.ModelProto
	if err := proto.Unmarshal(model, &p); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range p.Graph.Node {
		ops = append(ops, n.OpType)
	}
	return strings.Join(ops, " ")
}

// TestAdaptErrors: options or models that do not fit are refused with an error naming
// the problem.
func TestAdaptErrors(t *testing.T) {
	nchw := onnx.Shape("batch", 3, 5, 6)
	model := newTiny(t, nchw, 4, "", 1).onnx
	build := func(f func(g *onnx.Graph)) []byte {
		g := onnx.NewGraph("bad")
		f(g)
		b, err := (&onnx.Model{Graph: g}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	twoIn := build(func(g *onnx.Graph) {
		a, b := g.Input("a", nchw...), g.Input("b", nchw...)
		g.Output("s", g.Op("Add", []string{a, b}), nchw...)
	})
	flat := build(func(g *onnx.Graph) {
		x := g.Input("x", onnx.Shape("batch", 784)...)
		g.Output("s", g.Op("Relu", []string{x}), onnx.Shape("batch", 784)...)
	})
	symbolic := build(func(g *onnx.Graph) {
		x := g.Input("x", onnx.Sym("batch"), onnx.Fixed(3), onnx.Sym("h"), onnx.Sym("w"))
		g.Output("s", g.Op("GlobalAveragePool", []string{x}), onnx.Shape("batch", 3, 1, 1)...)
	})
	square := newTiny(t, onnx.Shape("batch", 3, 3, 3), 4, "", 1).onnx
	wide := newTiny(t, onnx.Shape("batch", 8, 8, 8), 4, "", 1).onnx
	out3d := build(func(g *onnx.Graph) {
		x := g.Input("x", nchw...)
		g.Output("s", g.Op("ReduceMean", []string{x}, onnx.IntsAttr("axes", 3)), onnx.Shape("batch", 3, 5, 1)...)
	})
	one := newTiny(t, nchw, 1, "", 1).onnx
	twoOut := newTiny(t, nchw, 4, "softmax+", 1).onnx
	for _, test := range []struct {
		name  string
		model []byte
		opt   adapt.Options
		want  string
	}{
		{"not onnx", []byte("hello"), adapt.Options{}, "not an ONNX model"},
		{"two inputs", twoIn, adapt.Options{}, "has 2 inputs (a float [?,3,5,6], b float [?,3,5,6])"},
		{"flat input", flat, adapt.Options{}, `input "x" has shape [?,784]; an image input has 4 axes`},
		{"symbolic size", symbolic, adapt.Options{}, "image size must be fixed"},
		{"ambiguous layout", square, adapt.Options{}, "does not say its layout"},
		{"ambiguous large", wide, adapt.Options{}, "does not say its layout"},
		{"layout contradicts", model, adapt.Options{Layout: adapt.NHWC}, `layout NHWC contradicts input "image" of shape [?,3,5,6], which is NCHW`},
		{"mean channels", model, adapt.Options{Mean: []float64{0.5, 0.5}}, "mean has 2 values; the model's images have 3 channels"},
		{"std channels", model, adapt.Options{Std: []float64{1, 2, 3, 4}}, "std has 4 values"},
		{"no such output", model, adapt.Options{Output: "probs"}, `no output "probs" (its outputs: scores float [?,4])`},
		{"two outputs", twoOut, adapt.Options{}, "has 2 outputs"},
		{"3-d output", out3d, adapt.Options{}, `output "s" has shape [?,3,5,1]; a classifier's scores are 2-D`},
		{"one class", one, adapt.Options{}, "at least 2 classes"},
		{"bounds decreasing", model, adapt.Options{Bounds: []float64{1, 0}}, "bounds [1, 0]: want finite numbers lo < hi"},
		{"bounds equal", model, adapt.Options{Bounds: []float64{1, 1}}, "lo < hi"},
		{"bounds three", model, adapt.Options{Bounds: []float64{0, 1, 2}}, "want two numbers"},
		{"bounds inf", model, adapt.Options{Bounds: []float64{0, math.Inf(1)}}, "finite"},
		{"nan mean", model, adapt.Options{Mean: []float64{math.NaN()}}, "mean [NaN]: every value must be a finite number"},
		{"nan std", model, adapt.Options{Std: []float64{math.NaN()}}, "std [NaN]: every value must be a finite number > 0"},
		{"zero std", model, adapt.Options{Std: []float64{0.2, 0, 0.2}}, "> 0"},
		{"bad kind", model, adapt.Options{Kind: "scores"}, `output kind "scores"`},
		{"bad layout", model, adapt.Options{Layout: "CHW"}, `layout "CHW": want NCHW or NHWC`},
	} {
		t.Run(test.name, func(t *testing.T) {
			_, err := adapt.Adapt(test.model, test.opt)
			if err == nil || !strings.Contains(err.Error(), test.want) {
				t.Errorf("Adapt: error %v, want one containing %q", err, test.want)
			}
		})
	}
}

// TestParseLayout: names in any case; others refused.
func TestParseLayout(t *testing.T) {
	for in, want := range map[string]adapt.Layout{"nhwc": adapt.NHWC, "NCHW": adapt.NCHW, " nchw ": adapt.NCHW, "": ""} {
		if got, err := adapt.ParseLayout(in); err != nil || got != want {
			t.Errorf("ParseLayout(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := adapt.ParseLayout("channels_last"); err == nil {
		t.Error("ParseLayout(channels_last): no error")
	}
}
