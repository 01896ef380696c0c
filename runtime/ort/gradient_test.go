package ort

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eabs/eabs/internal/onnxfixtures"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/runtime"
)

// differentiable is attack.Differentiable (not imported: attack sits above runtimes).
type differentiable interface {
	runtime.Classifier
	LogitsVJP(x []float32, batch int, cot func(logits []float32) []float32) (logits, grad []float32, err error)
}

// openPlainGrad opens a plain ONNX classifier with gradients through runtime.OpenClassifier,
// as eval does.
func openPlainGrad(t *testing.T, path string, o adapt.Options) differentiable {
	t.Helper()
	src := &runtime.Source{Arg: path, Path: path, ONNX: path, Adapt: o}
	c, err := runtime.OpenClassifier(Engine, src, runtime.Options{Threads: 1, Gradients: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	d, ok := c.(differentiable)
	if !ok {
		t.Fatalf("%T has no LogitsVJP", c)
	}
	return d
}

// ceCotangent is d CE / d scores for logits (softmax - onehot) and for log-probabilities
// (-onehot: CE = -log p[label]), in float64. The label's entry p - 1 is written as minus
// the sum of the other probabilities: rounded to float32 first, p - 1 keeps no digit
// once p is within 6e-8 of 1 (as the attacks' losses do).
func ceCotangent(z []float32, labels []int, k int, logProbs bool) []float32 {
	v := make([]float32, len(z))
	for b, y := range labels {
		row := z[b*k : (b+1)*k]
		if !logProbs {
			m := math.Inf(-1)
			for _, s := range row {
				m = math.Max(m, float64(s))
			}
			sum := 0.0
			for _, s := range row {
				sum += math.Exp(float64(s) - m)
			}
			others := 0.0
			for j, s := range row {
				if j != y {
					p := math.Exp(float64(s)-m) / sum
					v[b*k+j] = float32(p)
					others += p
				}
			}
			v[b*k+y] = float32(-others)
			continue
		}
		v[b*k+y] = -1
	}
	return v
}

func maxAbs64(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// TestGradClassifierFixtures: every PyTorch-exported classifier of ../shared/onnx-models,
// opened as eval opens a plain .onnx with gradients (adapted to NCHW pixels, the log of
// probabilities), returns PyTorch's outputs within 1e-4 of the largest and, for the
// cotangent of the cross-entropy, PyTorch's float64 autograd gradient within 1e-3 of
// its largest component, for the 16 inputs in one call: a fixed-batch model runs them
// one by one, a dynamic one at once.
func TestGradClassifierFixtures(t *testing.T) {
	initORT(t)
	for _, f := range onnxfixtures.Load(t) {
		t.Run(f.Name, func(t *testing.T) {
			probs := f.Output == "probabilities"
			var o adapt.Options
			if probs {
				o.Kind = grad.Probabilities
			}
			c := openPlainGrad(t, f.Path, o)
			k, p, n := c.Classes(), f.Pixels(), len(f.Inputs)
			if k != len(f.Outputs[0]) {
				t.Fatalf("Classes() = %d, want %d", k, len(f.Outputs[0]))
			}
			var x []float32
			for _, in := range f.Inputs {
				x = append(x, in...)
			}
			z, g, err := c.LogitsVJP(x, n, func(z []float32) []float32 { return ceCotangent(z, f.Labels, k, probs) })
			if err != nil {
				t.Fatal(err)
			}
			var worstZ, worstG float64
			for i := range n {
				want := f.Outputs[i]
				if probs {
					want = make([]float64, k)
					for j, v := range f.Outputs[i] {
						want[j] = math.Log(v)
					}
				}
				scale := maxAbs64(want)
				for j, w := range want {
					d := math.Abs(float64(z[i*k+j])-w) / scale
					worstZ = math.Max(worstZ, d)
					if d > 1e-4 {
						t.Errorf("input %d score %d = %v, PyTorch %v (%.2g of the largest)", i, j, z[i*k+j], w, d)
					}
				}
				gs := maxAbs64(f.GradCE[i])
				for j, w := range f.GradCE[i] {
					d := math.Abs(float64(g[i*p+j])-w) / gs
					worstG = math.Max(worstG, d)
					if d > 1e-3 {
						t.Errorf("input %d gradient %d = %v, PyTorch %v (%.2g of the largest)", i, j, g[i*p+j], w, d)
						break
					}
				}
			}
			t.Logf("largest differences from PyTorch: scores %.2g, gradients %.2g of the largest", worstZ, worstG)
		})
	}
}

// TestGradClassifierPreprocessing: bounds and mean/std written into the graph make the
// model see lo + (hi-lo)x normalised, and the gradient with respect to the pixels is
// the chain rule's: for bounds [-1,1], mean 0.2 and std 0.5 the model sees
// 4x - 2.4, so its scores equal the unadapted model's at 4x - 2.4 (1e-5 of the
// largest) and its gradient is 4 times that model's gradient there (1e-4 of the
// largest).
func TestGradClassifierPreprocessing(t *testing.T) {
	initORT(t)
	f := onnxfixtures.Get(t, "mnist-lenet")
	adapted := openPlainGrad(t, f.Path, adapt.Options{Bounds: []float64{-1, 1}, Mean: []float64{0.2}, Std: []float64{0.5}})
	plain := openPlainGrad(t, f.Path, adapt.Options{})
	n, p, k := 5, f.Pixels(), 10
	var x, xm []float32
	for _, in := range f.Inputs[:n] {
		x = append(x, in...)
	}
	for _, v := range x {
		xm = append(xm, 4*v-2.4)
	}
	rnd := rand.New(rand.NewPCG(3, 3))
	v := make([]float32, n*k)
	for i := range v {
		v[i] = float32(rnd.NormFloat64())
	}
	cot := func([]float32) []float32 { return v }
	za, ga, err := adapted.LogitsVJP(x, n, cot)
	if err != nil {
		t.Fatal(err)
	}
	zp, gp, err := plain.LogitsVJP(xm, n, cot)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		zs, gs := 0.0, 0.0
		for j := range k {
			zs = math.Max(zs, math.Abs(float64(zp[i*k+j])))
		}
		for j := range p {
			gs = math.Max(gs, math.Abs(4*float64(gp[i*p+j])))
		}
		for j := range k {
			if d := math.Abs(float64(za[i*k+j]-zp[i*k+j])) / zs; d > 1e-5 {
				t.Errorf("image %d score %d: adapted %v, at 4x-2.4 %v", i, j, za[i*k+j], zp[i*k+j])
			}
		}
		for j := range p {
			if d := math.Abs(float64(ga[i*p+j])-4*float64(gp[i*p+j])) / gs; d > 1e-4 {
				t.Errorf("image %d gradient %d: adapted %v, 4 x the gradient at 4x-2.4 %v", i, j, ga[i*p+j], 4*gp[i*p+j])
				break
			}
		}
	}
}

// TestGradClassifierRefused: a graph the differentiator cannot take opens without
// gradients (for gradient-free attacks) and with them gives an error naming the
// operator and node: one it does not know (Floor), one it knows but cannot
// differentiate on the input's path (Mod). A cotangent of the wrong length is an
// error too.
func TestGradClassifierRefused(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	write := func(op string) string {
		g := onnx.NewGraph(op)
		x := g.Input("x", onnx.Shape("N", 1, 6, 6)...)
		w := make([]float32, 108)
		for i := range w {
			w[i] = float32(i%7) / 7
		}
		z := g.Op("Gemm", []string{g.Op("Flatten", []string{x}), g.Initializer("W", []int{36, 3}, w)})
		switch op {
		case "Floor":
			z = g.Op("Floor", []string{z})
		case "Mod":
			z = g.Op("Mod", []string{z, g.Scalar(2)}, onnx.IntAttr("fmod", 1))
		}
		g.Output("scores", z, onnx.Shape("N", 3)...)
		path := filepath.Join(dir, op+".onnx")
		if err := (&onnx.Model{Graph: g}).WriteFile(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, test := range []struct{ op, want string }{
		{"Floor", `unsupported operator: Floor (node "node_`},
		{"Mod", `Mod node "node_`},
	} {
		path := write(test.op)
		src := &runtime.Source{Arg: path, Path: path, ONNX: path}
		c, err := runtime.OpenClassifier(Engine, src, runtime.Options{Threads: 1})
		if err != nil {
			t.Fatalf("%s without gradients: %v", test.op, err)
		}
		if _, err := c.Logits(make([]float32, 2*36), 2); err != nil {
			t.Errorf("%s: Logits: %v", test.op, err)
		}
		c.Close()
		_, err = runtime.OpenClassifier(Engine, src, runtime.Options{Threads: 1, Gradients: true})
		if err == nil || !strings.Contains(err.Error(), test.want) || !strings.Contains(err.Error(), "no input gradients") {
			t.Errorf("%s with gradients: error %v, want one containing %q", test.op, err, test.want)
		}
		if _, err := src.GradientGraph(); err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: GradientGraph: error %v, want one containing %q", test.op, err, test.want)
		}
	}
	c := openPlainGrad(t, write("Gemm"), adapt.Options{})
	_, _, err := c.LogitsVJP(make([]float32, 36), 1, func(z []float32) []float32 { return z[:1] })
	if err == nil || !strings.Contains(err.Error(), "cotangent has 1 values, want 3") {
		t.Errorf("short cotangent: error %v", err)
	}
}
