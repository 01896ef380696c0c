package grad_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/onnx/internal/onnxpb"
	"github.com/eabs/eabs/runtime/ort"
)

// lossOf is the per-sample loss a gradient graph computes, written independently in
// Go: the reference the central differences take.
func lossOf(l grad.Loss, z []float64, k int, label, target []int64, cot []float64) float64 {
	total := 0.0
	for b := range len(z) / k {
		row := z[b*k : (b+1)*k]
		switch l {
		case grad.Cotangent:
			for i, v := range row {
				total += cot[b*k+i] * v
			}
		case grad.CrossEntropy:
			m := slices.Max(row)
			s := 0.0
			for _, v := range row {
				s += math.Exp(v - m)
			}
			total += m + math.Log(s) - row[label[b]]
		case grad.Margin:
			best := math.Inf(-1)
			for j, v := range row {
				if j != int(label[b]) {
					best = math.Max(best, v)
				}
			}
			total += row[label[b]] - best
		case grad.LogitDiff:
			total += row[label[b]] - row[target[b]]
		}
	}
	return total
}

// fdCheck compares a gradient with central differences of f (step h) at coords,
// skipping kinks (where the one-sided differences disagree by more than kink of the
// gradient's scale). The scale is the largest component of either, but at least 0.01:
// where the exact gradient vanishes (a mean over a softmax axis is constant) float32
// leaves residues of cancelled O(1) terms, a few times 1e-7. It returns the largest
// difference relative to the scale and how many coordinates were checked.
func fdCheck(f func(x []float64) float64, x, g []float64, coords []int, h, kink float64) (worst float64, checked int, scale float64) {
	f0 := f(x)
	fd := make([]float64, len(coords))
	var fwd, bwd []float64
	for j, i := range coords {
		xp, xm := slices.Clone(x), slices.Clone(x)
		xp[i] += h
		xm[i] -= h
		fp, fm := f(xp), f(xm)
		fd[j] = (fp - fm) / (2 * h)
		fwd, bwd = append(fwd, (fp-f0)/h), append(bwd, (f0-fm)/h)
	}
	scale = 1e-2
	for j, i := range coords {
		scale = math.Max(scale, math.Max(math.Abs(fd[j]), math.Abs(g[i])))
	}
	for j, i := range coords {
		if math.Abs(fwd[j]-bwd[j]) > kink*scale {
			continue
		}
		checked++
		worst = math.Max(worst, math.Abs(g[i]-fd[j])/scale)
	}
	return worst, checked, scale
}

// TestRandomGraphs is the property test: 140 random graphs of the supported
// operators (seeded; opsets 11 to 17 in turn, in each opset's operator forms; the
// four losses), each differentiated by Build and run by ONNX Runtime, against
// central differences.
//
// In float32 ONNX Runtime computes the gradient and Evaluate (float64) the
// differences, with step 1e-6, whose truncation and rounding errors are below 1e-8 of
// the gradient's scale: what is measured is ONNX Runtime's float32 rounding through
// graphs of up to a dozen operators, at most 7e-6 of the scale over these seeds; the
// tolerance is 1e-4 (a wrong derivative is off by a sizeable fraction). Graphs whose
// operators all have float64 kernels in ONNX Runtime (about a third) are also built in
// float64 and their gradients checked against central differences (step 1e-5) of the
// gradient graph's own loss output, with no Go evaluator involved: at most 9e-9 of the
// scale, tolerance 1e-6. Evaluate's outputs must match ONNX Runtime's (1e-4 of the
// largest in float32, 1e-9 in float64), and the graph's loss the loss written in Go
// (lossOf) of Evaluate's outputs. Points where the one-sided differences
// disagree (a kink: a ReLU at 0, tied maxima) are skipped; fewer than 80% of the
// coordinates checked fails the graph.
func TestRandomGraphs(t *testing.T) {
	initORT(t)
	n := 140
	if testing.Short() {
		n = 35
	}
	keep, written = t.TempDir(), nil
	defer func() {
		keep = ""
		// Every gradient graph is a valid ONNX model of its opset, in that opset's
		// operator forms (the checker knows each operator's schema by version).
		testenv.OnnxCheck(t, written)
	}()
	var worst32, worst64 float64
	seen := map[string]int{}
	opsets := map[int]int{}
	doubles := 0
	for i := range n {
		seed := uint64(i)
		opset := 11 + i%7
		rnd := rand.New(rand.NewPCG(seed, 1))
		steps := 2 + rnd.IntN(5)
		model, used, shape := randomGraph(seed, opset, tFloat, steps)
		for _, op := range used {
			seen[op]++
		}
		opsets[opset]++
		r32, err := grad.Build(model, grad.Options{Loss: grad.Cotangent})
		if err != nil {
			t.Fatalf("graph %d (opset %d, ops %v): %v", i, opset, used, err)
		}
		// The output's shape decides the loss: a [batch, classes] output gets one of
		// the classifier losses half of the time.
		probe, err := grad.Evaluate(model, map[string]*grad.Tensor{"x": randomInput(rnd, shape)})
		if err != nil {
			t.Fatalf("graph %d: Evaluate: %v", i, err)
		}
		var z *grad.Tensor
		for _, v := range probe {
			z = v
		}
		loss := grad.Cotangent
		if len(z.Shape) == 2 && z.Shape[1] >= 2 && rnd.IntN(2) == 0 {
			loss = []grad.Loss{grad.CrossEntropy, grad.Margin, grad.LogitDiff}[rnd.IntN(3)]
			if r32, err = grad.Build(model, grad.Options{Loss: loss}); err != nil {
				t.Fatalf("graph %d (opset %d, ops %v), %s: %v", i, opset, used, loss, err)
			}
		}
		seen["loss "+string(loss)]++
		x := randomInput(rnd, shape)
		k := z.Shape[len(z.Shape)-1]
		if len(z.Shape) != 2 {
			k = len(z.F) / batch
		}
		cot := &grad.Tensor{Type: tDouble, Shape: z.Shape, F: make([]float64, len(z.F))}
		for j := range cot.F {
			cot.F[j] = rnd.NormFloat64()
		}
		label, target := make([]int64, batch), make([]int64, batch)
		for b := range batch {
			label[b] = int64(rnd.IntN(k))
			target[b] = int64((int(label[b]) + 1 + rnd.IntN(k-1+boolInt(k == 1))) % k)
		}
		coords := rnd.Perm(len(x.F))[:min(len(x.F), 64)]

		// float32: ONNX Runtime against Evaluate.
		s := openGrad(t, r32, fmt.Sprintf("graph %d (opset %d, ops %v):", i, opset, used))
		out := runGrad(t, s, r32, x, cot, label, target, tFloat)
		ref := func(xv []float64) []float64 {
			o, err := grad.Evaluate(model, map[string]*grad.Tensor{"x": {Type: tDouble, Shape: x.Shape, F: xv}})
			if err != nil {
				t.Fatal(err)
			}
			return o[r32.Outputs[0]].F
		}
		zf := ref(x.F)
		if d := maxDiff64(out[0], zf) / math.Max(maxAbs(zf), 1e-3); d > 1e-4 {
			t.Errorf("graph %d (opset %d, ops %v): ONNX Runtime's outputs differ from Evaluate's by %.3g of the largest", i, opset, used, d)
		}
		lossSum := 0.0
		for _, v := range out[1] {
			lossSum += v
		}
		if want := lossOf(loss, zf, k, label, target, cot.F); math.Abs(lossSum-want) > 1e-4*math.Max(1, math.Abs(want)) {
			t.Errorf("graph %d (%s): the graph's losses sum to %.7g, Evaluate's outputs give %.7g", i, loss, lossSum, want)
		}
		f := func(xv []float64) float64 { return lossOf(loss, ref(xv), k, label, target, cot.F) }
		w, checked, scale := fdCheck(f, x.F, out[2], coords, 1e-6, 1e-4)
		worst32 = math.Max(worst32, w)
		if w > 1e-5 {
			t.Logf("graph %d (opset %d, %s, ops %v): float32 gradient error %.2g of the scale %.3g", i, opset, loss, used, w, scale)
		}
		if w > 1e-4 || checked < len(coords)*4/5 {
			t.Errorf("graph %d (opset %d, %s, ops %v): float32 gradient differs from central differences by %.3g of its scale on %d of %d coordinates",
				i, opset, loss, used, w, checked, len(coords))
		}

		// float64 where ONNX Runtime has the kernels: no Go evaluator involved.
		if slices.ContainsFunc(used, func(op string) bool { return slices.Contains(noDouble, op) || (op == "Clip" && opset < 12) }) {
			continue
		}
		doubles++
		model64, _, _ := randomGraph(seed, opset, tDouble, steps)
		r64, err := grad.Build(model64, grad.Options{Loss: loss})
		if err != nil {
			t.Fatalf("graph %d in float64: %v", i, err)
		}
		s64 := openGrad(t, r64, fmt.Sprintf("graph %d in float64 (opset %d, ops %v):", i, opset, used))
		out64 := runGrad(t, s64, r64, x, cot, label, target, tDouble)
		f64 := func(xv []float64) float64 {
			o := runGrad(t, s64, r64, &grad.Tensor{Type: tDouble, Shape: x.Shape, F: xv}, cot, label, target, tDouble)
			sum := 0.0
			for _, v := range o[1] {
				sum += v
			}
			return sum
		}
		w, checked, _ = fdCheck(f64, x.F, out64[2], coords, 1e-5, 1e-4)
		worst64 = math.Max(worst64, w)
		if w > 1e-6 || checked < len(coords)*4/5 {
			t.Errorf("graph %d (opset %d, %s, ops %v): float64 gradient differs from central differences by %.3g of its scale on %d of %d coordinates",
				i, opset, loss, used, w, checked, len(coords))
		}
		if d := maxDiff64(out64[0], zf) / math.Max(maxAbs(zf), 1e-3); d > 1e-9 {
			t.Errorf("graph %d: float64 outputs of ONNX Runtime and Evaluate differ by %.3g of the largest", i, d)
		}
	}
	t.Logf("%d graphs (%d also in float64): largest gradient error %.2g (float32), %.2g (float64) of the scale", n, doubles, worst32, worst64)
	t.Logf("operators and losses used: %v; opsets %v", seen, opsets)
	if n < 100 {
		return
	}
	// The generator must have exercised every operator the issue lists, and every
	// loss, or this test proves less than it says.
	for _, op := range []string{"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Elu",
		"Sigmoid", "Tanh", "Softmax", "LogSoftmax", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "BatchNormalization",
		"Flatten", "Reshape", "Transpose", "Concat", "Pad", "Clip", "Identity", "Dropout", "Constant", "Split", "Slice", "Squeeze",
		"Unsqueeze", "Shape", "Gather", "Cast", "Expand", "ReduceSum", "Sum", "Where", "PRelu", "Softplus", "Exp", "Log", "Sqrt", "Pow",
		"Abs", "Neg", "Erf", "HardSigmoid", "HardSwish", "Reciprocal", "loss cotangent", "loss cross-entropy", "loss margin", "loss logit-diff"} {
		if seen[op] < 3 {
			t.Errorf("%s appears %d times in the random graphs; the generator should use it at least 3 times", op, seen[op])
		}
	}
	if doubles < 10 {
		t.Errorf("only %d graphs were checked in float64", doubles)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func randomInput(rnd *rand.Rand, shape []int) *grad.Tensor {
	x := &grad.Tensor{Type: tDouble, Shape: shape, F: make([]float64, prod(shape))}
	for j := range x.F {
		// float32-representable, so both precisions see the same point.
		x.F[j] = float64(float32(rnd.NormFloat64()))
	}
	return x
}

// runGrad runs a gradient graph in the element type typ and returns its outputs as
// float64: the model's output, the loss, the gradient.
func runGrad(t *testing.T, s *ort.Session, r *grad.Result, x *grad.Tensor, cot *grad.Tensor, label, target []int64, typ int32) [][]float64 {
	t.Helper()
	floatIn := func(shape []int64, v []float64) ort.Tensor {
		if typ == tDouble {
			return ort.Tensor{Shape: shape, Float64: v}
		}
		d := make([]float32, len(v))
		for i, f := range v {
			d[i] = float32(f)
		}
		return ort.Tensor{Shape: shape, Data: d}
	}
	xs := make([]int64, len(x.Shape))
	for i, d := range x.Shape {
		xs[i] = int64(d)
	}
	in := []ort.Tensor{floatIn(xs, x.F)}
	switch {
	case r.Cotangent != "":
		cs := make([]int64, len(cot.Shape))
		for i, d := range cot.Shape {
			cs[i] = int64(d)
		}
		in = append(in, floatIn(cs, cot.F))
	case r.Target != "":
		in = append(in, ort.Tensor{Shape: []int64{batch}, Int64: label}, ort.Tensor{Shape: []int64{batch}, Int64: target})
	default:
		in = append(in, ort.Tensor{Shape: []int64{batch}, Int64: label})
	}
	out, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(out))
	for i, o := range out {
		if o.Float64 != nil {
			res[i] = o.Float64
			continue
		}
		res[i] = make([]float64, len(o.Data))
		for j, v := range o.Data {
			res[i][j] = float64(v)
		}
	}
	return res
}

func maxDiff64(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// checkModel differentiates a model with a random cotangent and checks, on every
// input coordinate, ONNX Runtime's float32 gradient against central differences of
// Evaluate, as TestRandomGraphs does.
func checkModel(t *testing.T, model []byte, shape []int, rnd *rand.Rand) float64 {
	t.Helper()
	r, err := grad.Build(model, grad.Options{Loss: grad.Cotangent})
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(rnd, shape)
	eval := func(xv []float64) *grad.Tensor {
		o, err := grad.Evaluate(model, map[string]*grad.Tensor{"x": {Type: tDouble, Shape: shape, F: xv}})
		if err != nil {
			t.Fatal(err)
		}
		return o[r.Outputs[0]]
	}
	z := eval(x.F)
	cot := &grad.Tensor{Type: tDouble, Shape: z.Shape, F: make([]float64, len(z.F))}
	for j := range cot.F {
		cot.F[j] = rnd.NormFloat64()
	}
	out := runGrad(t, openGrad(t, r), r, x, cot, nil, nil, tFloat)
	if d := maxDiff64(out[0], z.F) / math.Max(maxAbs(z.F), 1e-3); d > 1e-4 {
		t.Errorf("ONNX Runtime's outputs differ from Evaluate's by %.3g of the largest", d)
	}
	f := func(xv []float64) float64 { return lossOf(grad.Cotangent, eval(xv).F, 1, nil, nil, cot.F) }
	coords := make([]int, len(x.F))
	for i := range coords {
		coords[i] = i
	}
	w, checked, _ := fdCheck(f, x.F, out[2], coords, 1e-6, 1e-4)
	if w > 1e-4 || checked < len(coords)*4/5 {
		t.Errorf("gradient differs from central differences by %.3g of its scale on %d of %d coordinates", w, checked, len(coords))
	}
	return w
}

// TestOperatorForms runs each way a gradient rule writes its operators, which random
// graphs reach only by chance: MaxPool tiled (with padding on negative values, where
// a padded element must never win, and with floor rounding dropping rows), with gaps
// (scatter) and overlapping (one-hot ConvTranspose); Conv as a flipped Conv (8
// channels or more) or a ConvTranspose (fewer, strided, dilated, grouped,
// asymmetric pads); AveragePool with count_include_pad at the end padding.
func TestOperatorForms(t *testing.T) {
	initORT(t)
	pool := func(op string, neg bool, attrs ...*onnxpb.AttributeProto) func(g *gen) string {
		return func(g *gen) string {
			in := "x"
			if neg {
				in = g.node("Sub", []string{g.node("Neg", []string{g.node("Abs", []string{"x"})}), g.scalar(0.1)})
			}
			return g.node(op, []string{in}, attrs...)
		}
	}
	k := func(a, b int64) *onnxpb.AttributeProto { return attrInts("kernel_shape", a, b) }
	s := func(a, b int64) *onnxpb.AttributeProto { return attrInts("strides", a, b) }
	p := func(v ...int64) *onnxpb.AttributeProto { return attrInts("pads", v...) }
	conv := func(m, cg, kk int, attrs ...*onnxpb.AttributeProto) func(g *gen) string {
		return func(g *gen) string {
			return g.node("Conv", []string{"x", g.floats([]int{m, cg, kk, kk}, -0.6, 0.6), g.floats([]int{m}, -0.3, 0.3)}, attrs...)
		}
	}
	for _, test := range []struct {
		name  string
		shape []int
		build func(g *gen) string
	}{
		{"maxpool tiled", []int{batch, 2, 6, 6}, pool("MaxPool", false, k(2, 2), s(2, 2))},
		{"maxpool tiled padded negative", []int{batch, 2, 5, 5}, pool("MaxPool", true, k(2, 2), s(2, 2), p(1, 1, 0, 0))},
		{"maxpool tiled ceil negative", []int{batch, 2, 5, 7}, pool("MaxPool", true, k(2, 3), s(2, 3), attrI("ceil_mode", 1))},
		{"maxpool tiled floor drops rows", []int{batch, 1, 7, 8}, pool("MaxPool", false, k(3, 3), s(3, 3))},
		{"maxpool gaps", []int{batch, 2, 7, 7}, pool("MaxPool", false, k(2, 2), s(3, 3))},
		{"maxpool overlapping padded", []int{batch, 2, 7, 7}, pool("MaxPool", true, k(3, 3), s(2, 2), p(1, 1, 1, 1))},
		{"maxpool dilated", []int{batch, 1, 7, 7}, pool("MaxPool", false, k(2, 2), s(1, 1), attrInts("dilations", 2, 2))},
		{"avgpool padded count_include_pad", []int{batch, 2, 5, 5}, pool("AveragePool", false, k(3, 3), s(2, 2), p(0, 0, 2, 2), attrI("count_include_pad", 1))},
		{"avgpool padded exclude pad ceil", []int{batch, 2, 6, 6}, pool("AveragePool", false, k(3, 3), s(2, 2), p(1, 1, 1, 1), attrI("ceil_mode", 1))},
		{"conv flipped", []int{batch, 8, 5, 5}, conv(3, 8, 3, p(1, 0, 2, 1))},
		{"conv flipped grouped dilated", []int{batch, 8, 6, 6}, conv(4, 4, 2, p(1, 1, 1, 1), attrI("group", 2), attrInts("dilations", 2, 2))},
		{"conv transpose path narrow", []int{batch, 2, 5, 5}, conv(4, 2, 3, p(1, 1, 1, 1))},
		{"conv strided asymmetric", []int{batch, 8, 7, 6}, conv(3, 8, 3, s(2, 2), p(0, 1, 2, 0))},
		{"conv depthwise strided", []int{batch, 3, 6, 6}, conv(3, 1, 3, s(2, 1), attrI("group", 3), p(1, 1, 0, 0))},
		{"conv same upper", []int{batch, 2, 5, 6}, conv(2, 2, 2, s(2, 2), attrS("auto_pad", "SAME_UPPER"))},
	} {
		t.Run(test.name, func(t *testing.T) {
			w := checkModel(t, handModel(13, test.build, test.shape...), test.shape, rand.New(rand.NewPCG(3, 3)))
			t.Logf("gradient error %.2g of the scale", w)
		})
	}
}
