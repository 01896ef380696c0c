package graph

import (
	"fmt"
	"math"
	"sync/atomic"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ---- convolutions ----------------------------------------------------------------

type convMode int

const (
	convFwd  convMode = iota // y = conv(x, w)
	convAdj                  // y = conv^T(x, w): transposed convolution, conv's input-gradient
	convFilt                 // dw = gradient of conv(image, w) in w given dy
	// convAdjGrad is both gradients of a transposed convolution in one pass over the
	// output gradient's columns: inputs (output gradient, w, layer input), output the
	// input gradient; the filter gradient waits in fused for convFusedFilt.
	convAdjGrad
	convFusedFilt // dw from the convAdjGrad run whose output is its input
)

// convKernel is a 2-D convolution in one of its roles sharing one geometry: the
// convolution, its adjoint (which is the transposed convolution) and its filter
// gradient. A convolution's input-gradient is its adjoint and vice versa, so the same
// kernels serve both Conv and ConvTranspose layers.
type convKernel[T float32 | float64] struct {
	mode convMode
	g    geometry // the convolution's image side: C x H x W, window K, stride S, pad P
	o    int      // channels on the convolution's output side
	sc   *scratch[T]
	part *scratch[T]
	cols *colCache[T]
	// primary marks the layer's forward kernel, whose runs start a new generation
	// of the column cache; its gradient kernels (made by with) share the cache.
	primary bool
	// keepCols is set on a convolution whose filter gradient is in the graph: its
	// forward pass then keeps the batch's columns for the gradient.
	keepCols bool
	fused    *[]T // the filter gradient convAdjGrad leaves for convFusedFilt
}

func newConvKernel[T float32 | float64](mode convMode, g geometry, o int) *convKernel[T] {
	return &convKernel[T]{mode: mode, g: g, o: o, sc: &scratch[T]{}, part: &scratch[T]{}, cols: &colCache[T]{}, primary: true, fused: new([]T)}
}

func (k *convKernel[T]) with(mode convMode) *convKernel[T] {
	c := *k
	c.mode, c.primary = mode, false
	return &c
}

func (k *convKernel[T]) String() string {
	name := [...]string{"Conv", "ConvT", "ConvFilterGrad", "ConvTGrads", "ConvTFilterGrad"}[k.mode]
	g := k.g
	return fmt.Sprintf("%s(img %dx%dx%d, out %dx%dx%d, k%d s%d p%d)", name, g.C, g.H, g.W, k.o, g.Ho, g.Wo, g.K, g.S, g.P)
}

func (k *convKernel[T]) dims() ([]int, int) {
	switch k.mode {
	case convAdjGrad:
		return []int{4, 4, 4}, 4
	case convFusedFilt:
		return []int{4}, 4
	}
	return []int{4, 4}, 4
}

func (k *convKernel[T]) imageShape(b int) tensor.Shape { return tensor.Shape{b, k.g.C, k.g.H, k.g.W} }
func (k *convKernel[T]) outSide(b int) tensor.Shape    { return tensor.Shape{b, k.o, k.g.Ho, k.g.Wo} }
func (k *convKernel[T]) filterShape() tensor.Shape {
	return tensor.Shape{k.o, k.g.C, k.g.K, k.g.K}
}

func (k *convKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	want, _ := k.dims()
	if len(in) != len(want) {
		return nil, fmt.Errorf("graph: %v: want %d inputs, got %v", k, len(want), in)
	}
	for _, s := range in {
		if len(s) != 4 {
			return nil, fmt.Errorf("graph: %v: want 4-d inputs, got %v", k, in)
		}
	}
	b := in[0][0]
	check := func(got, want tensor.Shape, what string) error {
		if !got.Eq(want) {
			return fmt.Errorf("graph: %v: %s has shape %v, want %v", k, what, got, want)
		}
		return nil
	}
	switch k.mode {
	case convFwd:
		if err := check(in[0], k.imageShape(b), "input"); err != nil {
			return nil, err
		}
		return k.outSide(b), check(in[1], k.filterShape(), "filter")
	case convAdj:
		if err := check(in[0], k.outSide(b), "input"); err != nil {
			return nil, err
		}
		return k.imageShape(b), check(in[1], k.filterShape(), "filter")
	case convAdjGrad:
		if err := check(in[0], k.imageShape(b), "output gradient"); err != nil {
			return nil, err
		}
		if err := check(in[1], k.filterShape(), "filter"); err != nil {
			return nil, err
		}
		return k.outSide(b), check(in[2], k.outSide(b), "layer input")
	case convFusedFilt:
		return k.filterShape(), check(in[0], k.outSide(b), "input gradient")
	default:
		if err := check(in[0], k.imageShape(b), "image"); err != nil {
			return nil, err
		}
		return k.filterShape(), check(in[1], k.outSide(b), "output gradient")
	}
}

func (k *convKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	b := shapes[0][0]
	if k.primary {
		k.cols.bump()
	}
	switch k.mode {
	case convFwd:
		if k.keepCols {
			convForward(k.g, k.o, b, k.cols.get(k.g, b, in[0]), in[1], out, k.sc)
		} else {
			convFromImage(k.g, k.o, b, in[0], in[1], out, k.sc)
		}
	case convAdj:
		convBackwardData(k.g, k.o, b, in[0], in[1], out, k.sc)
	case convFilt:
		if k.keepCols {
			convBackwardFilter(k.g, k.o, b, k.cols.get(k.g, b, in[0]), in[1], out, k.part)
		} else {
			convGrads(k.g, k.o, b, in[0], nil, in[1], nil, out, k.sc, k.part)
		}
	case convAdjGrad:
		if len(*k.fused) != k.o*k.g.colRows {
			*k.fused = make([]T, k.o*k.g.colRows)
		}
		convGrads(k.g, k.o, b, in[0], in[1], in[2], out, *k.fused, k.sc, k.part)
	case convFusedFilt:
		// Its input is convAdjGrad's output, so that kernel has run in this run.
		copy(out, *k.fused)
	}
	return nil
}

func (k *convKernel[T]) diff(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	x, w := inputs[0], inputs[1]
	out := make(G.Nodes, 2)
	var err error
	switch k.mode {
	case convFwd:
		if need[1] && k.primary {
			k.keepCols = true // before with: the filter kernel reads the same columns
		}
		if need[0] {
			if out[0], err = apply[T](k.with(convAdj), nil, grad, w); err != nil {
				return nil, err
			}
		}
		if need[1] {
			out[1], err = apply[T](k.with(convFilt), nil, x, grad)
		}
	case convAdj:
		switch {
		case need[0] && need[1]:
			if out[0], err = apply[T](k.with(convAdjGrad), nil, grad, w, x); err != nil {
				return nil, err
			}
			out[1], err = apply[T](k.with(convFusedFilt), nil, out[0])
		case need[0]:
			out[0], err = apply[T](k.with(convFwd), nil, grad, w)
		case need[1]:
			out[1], err = apply[T](k.with(convFilt), nil, grad, x)
		}
	default:
		return nil, fmt.Errorf("graph: %v has no gradient", k)
	}
	return out, err
}

// ---- per-channel bias and channel sums ----------------------------------------------

// biasKernel adds b[c] along axis 1 of a 2-d (B, C) or 4-d (B, C, H, W) input.
type biasKernel[T float32 | float64] struct{ nd int }

func (k biasKernel[T]) String() string     { return fmt.Sprintf("Bias%dd", k.nd) }
func (k biasKernel[T]) dims() ([]int, int) { return []int{k.nd, 1}, k.nd }
func (k biasKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) < 2 || len(in[1]) != 1 || in[0][1] != in[1][0] {
		return nil, fmt.Errorf("graph: %v: input %v and bias %v do not match", k, in[0], in[1])
	}
	return in[0].Clone(), nil
}
func (k biasKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	x, b := in[0], in[1]
	c := shapes[0][1]
	inner := shapes[0].TotalSize() / (shapes[0][0] * c)
	for i := range x {
		out[i] = x[i] + b[(i/inner)%c]
	}
	return nil
}
func (k biasKernel[T]) diff(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	out := make(G.Nodes, 2)
	if need[0] {
		out[0] = grad
	}
	if need[1] {
		var err error
		if out[1], err = apply[T](chanSumKernel[T]{k.nd}, nil, grad); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// chanSumKernel sums over every axis but axis 1.
type chanSumKernel[T float32 | float64] struct{ nd int }

func (k chanSumKernel[T]) String() string     { return fmt.Sprintf("ChanSum%dd", k.nd) }
func (k chanSumKernel[T]) dims() ([]int, int) { return []int{k.nd}, 1 }
func (k chanSumKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return tensor.Shape{in[0][1]}, nil
}
func (k chanSumKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	c := shapes[0][1]
	inner := shapes[0].TotalSize() / (shapes[0][0] * c)
	clear(out)
	x := in[0]
	for i := 0; i < len(x); i += inner {
		ch := (i / inner) % c
		var s T
		for _, v := range x[i : i+inner] {
			s += v
		}
		out[ch] += s
	}
	return nil
}

// ---- the decoders' output layer ------------------------------------------------------

// biasSigmoidKernel is a decoder's last step, sigmoid(x + b[c]) with b along axis 1 of
// (B, C, H, W), in one pass spread over the threads; Gorgonia's own Sigmoid ran on one
// thread and copied its input first. It computes exactly what the Bias and Gorgonia
// Sigmoid nodes it replaces computed (sigmoid below), and its gradient what
// Gorgonia's did (biasSigmoidGradKernel), so results are unchanged bit for bit.
type biasSigmoidKernel[T float32 | float64] struct{}

func (biasSigmoidKernel[T]) String() string     { return "BiasSigmoid4d" }
func (biasSigmoidKernel[T]) dims() ([]int, int) { return []int{4, 1}, 4 }
func (k biasSigmoidKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return biasKernel[T]{4}.outShape(in)
}
func (biasSigmoidKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	x, b := in[0], in[1]
	c, inner := shapes[0][1], shapes[0].TotalSize()/(shapes[0][0]*shapes[0][1])
	parallelLarge(len(out), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = sigmoid(x[i] + b[(i/inner)%c])
		}
	})
	return nil
}
func (biasSigmoidKernel[T]) diff(inputs G.Nodes, output, grad *G.Node, need []bool) (G.Nodes, error) {
	out := make(G.Nodes, 2)
	d, err := apply[T](biasSigmoidGradKernel[T]{}, nil, inputs[0], inputs[1], output, grad)
	if err != nil {
		return nil, err
	}
	if need[0] {
		out[0] = d
	}
	if need[1] {
		if out[1], err = apply[T](chanSumKernel[T]{4}, nil, d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// biasSigmoidGradKernel is the gradient of biasSigmoidKernel with respect to its
// pre-activation a = x + b[c], (y * sigmoid(-a)) * g: Gorgonia's sigmoid derivative
// y * (1 - y) * g, whose 1 - y its graph stabilisation rewrites as sigmoid(-a).
// Inputs: x, b, the output y, its gradient g.
type biasSigmoidGradKernel[T float32 | float64] struct{}

func (biasSigmoidGradKernel[T]) String() string     { return "BiasSigmoid4dGrad" }
func (biasSigmoidGradKernel[T]) dims() ([]int, int) { return []int{4, 1, 4, 4}, 4 }
func (biasSigmoidGradKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (biasSigmoidGradKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	x, b, y, g := in[0], in[1], in[2], in[3]
	c, inner := shapes[0][1], shapes[0].TotalSize()/(shapes[0][0]*shapes[0][1])
	parallelLarge(len(out), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = y[i] * sigmoid(-(x[i] + b[(i/inner)%c])) * g[i]
		}
	})
	return nil
}

// sigmoid is 1/(1+exp(-x)) as Gorgonia computes it (gorgonia.org/gorgonia
// math_nooptim.go, _sigmoidf32 and _sigmoidf64): exp in float64, and the tails
// clamped to 0 and 1.
func sigmoid[T float32 | float64](x T) T {
	if _, ok := any(x).(float32); ok {
		if x < -88 {
			return 0
		}
		if x > 15 {
			return 1
		}
		return T(float32(1.0 / (1.0 + math.Exp(float64(-x)))))
	}
	if x < -709 {
		return 0
	}
	if x > 19 {
		return 1
	}
	return T(1.0 / (1.0 + math.Exp(float64(-x))))
}

// ---- activations ---------------------------------------------------------------------

// actKernel is LeakyReLU with the given slope (ReLU when slope is 0). The derivative at
// exactly 0 is the slope, as in the exported ONNX graphs (mask = x > 0).
type actKernel[T float32 | float64] struct {
	slope float64
	nd    int
}

func (k actKernel[T]) String() string     { return fmt.Sprintf("LeakyReLU%dd(%g)", k.nd, k.slope) }
func (k actKernel[T]) dims() ([]int, int) { return []int{k.nd}, k.nd }
func (k actKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (k actKernel[T]) forward(in [][]T, _ []tensor.Shape, out []T) error {
	f := leakyFactors[T](k.slope)
	parallelLarge(len(out), func(lo, hi int) {
		o := out[lo:hi]
		for i, v := range in[0][lo:hi] {
			o[i] = v * f[positive(v)]
		}
	})
	return nil
}
func (k actKernel[T]) diff(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	n, err := apply[T](actGradKernel[T]{k.slope, k.nd}, nil, inputs[0], grad)
	return G.Nodes{n}, err
}

type actGradKernel[T float32 | float64] struct {
	slope float64
	nd    int
}

func (k actGradKernel[T]) String() string     { return fmt.Sprintf("LeakyReLUGrad%dd(%g)", k.nd, k.slope) }
func (k actGradKernel[T]) dims() ([]int, int) { return []int{k.nd, k.nd}, k.nd }
func (k actGradKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (k actGradKernel[T]) forward(in [][]T, _ []tensor.Shape, out []T) error {
	f := leakyFactors[T](k.slope)
	x, dy := in[0], in[1]
	parallelLarge(len(out), func(lo, hi int) {
		o, g := out[lo:hi], dy[lo:hi]
		for i, v := range x[lo:hi] {
			o[i] = g[i] * f[positive(v)]
		}
	})
	return nil
}

// ---- BatchNorm -------------------------------------------------------------------------

var bnIDs atomic.Int64

// bnKernel is BatchNorm over (B, C, H, W) fused with the LeakyReLU (slope; ReLU when 0)
// that follows every BatchNorm of the architecture, saving a pass over the largest
// activations. In training it normalises with the batch's statistics and folds them
// into the running ones (which live in the model's weights); in evaluation it uses the
// running statistics. The statistics of the last forward pass stay in the kernel for
// its gradient kernels.
type bnKernel[T float32 | float64] struct {
	id       int64
	train    bool
	slope    float64
	update   *bool // fold batch statistics into the running ones (training only)
	runMean  []T
	runVar   []T
	mean     []T // statistics of the last forward pass
	invStd   []T
	channels int
}

func newBN[T float32 | float64](train bool, update *bool, runMean, runVar []T, slope float64) *bnKernel[T] {
	c := len(runMean)
	return &bnKernel[T]{id: bnIDs.Add(1), train: train, slope: slope, update: update, runMean: runMean, runVar: runVar,
		mean: make([]T, c), invStd: make([]T, c), channels: c}
}

func (k *bnKernel[T]) String() string {
	return fmt.Sprintf("BatchNormLeakyReLU#%d(train=%v, slope=%g)", k.id, k.train, k.slope)
}
func (k *bnKernel[T]) dims() ([]int, int) { return []int{4, 1, 1}, 4 }
func (k *bnKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if in[0][1] != k.channels || in[1][0] != k.channels || in[2][0] != k.channels {
		return nil, fmt.Errorf("graph: %v: input %v, scale %v, shift %v for %d channels", k, in[0], in[1], in[2], k.channels)
	}
	return in[0].Clone(), nil
}

func (k *bnKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	x, gamma, beta := in[0], in[1], in[2]
	b, c := shapes[0][0], shapes[0][1]
	hw := shapes[0].TotalSize() / (b * c)
	n := b * hw
	perChannel(len(x), c, func(ch int) {
		if k.train {
			// One pass for both moments, in float64 and shifted by the channel's
			// first value so that a mean far from zero costs no precision.
			// Each row (one image's channel) is summed in T with two accumulators
			// each, the rows' sums in float64.
			shiftT := x[ch*hw]
			shift := float64(shiftT)
			var s, ss float64
			for i := 0; i < b; i++ {
				rs, rq := shiftedMoments(x[(i*c+ch)*hw:(i*c+ch+1)*hw], shiftT)
				s += float64(rs)
				ss += float64(rq)
			}
			md := s / float64(n)
			mean := shift + md
			ssd := max(ss-s*md, 0) // sum of squared deviations from the mean
			vr := ssd / float64(n)
			k.mean[ch] = T(mean)
			k.invStd[ch] = T(1 / math.Sqrt(vr+bnEpsilon))
			if k.update != nil && *k.update {
				unbiased := vr
				if n > 1 {
					unbiased = ssd / float64(n-1)
				}
				k.runMean[ch] = T((1-bnMomentum)*float64(k.runMean[ch]) + bnMomentum*mean)
				k.runVar[ch] = T((1-bnMomentum)*float64(k.runVar[ch]) + bnMomentum*unbiased)
			}
		} else {
			k.mean[ch] = k.runMean[ch]
			k.invStd[ch] = T(1 / math.Sqrt(float64(k.runVar[ch])+bnEpsilon))
		}
		sc := gamma[ch] * k.invStd[ch]
		sh := beta[ch] - k.mean[ch]*sc
		f := leakyFactors[T](k.slope)
		for i := 0; i < b; i++ {
			lo, hi := (i*c+ch)*hw, (i*c+ch+1)*hw
			bnActRow(out[lo:hi], x[lo:hi], sc, sh, f)
		}
	})
	return nil
}

// The row loops of the BatchNorm kernels are functions of their own, kept out of the
// per-channel closures (go:noinline): inlined there, the compiler kept the loop
// counter and slice bases on the stack (too many live values), reloading them every
// element. The arithmetic is the same, in the same order.

// shiftedMoments returns the sum of row[j]-shift and of its squares, each over two
// accumulators (even and odd j) added at the end.
//
//go:noinline
func shiftedMoments[T Float](row []T, shift T) (s, q T) {
	var s0, s1, q0, q1 T
	j := 0
	for ; j+1 < len(row); j += 2 {
		d0, d1 := row[j]-shift, row[j+1]-shift
		s0 += d0
		s1 += d1
		q0 += d0 * d0
		q1 += d1 * d1
	}
	if j < len(row) {
		d := row[j] - shift
		s0 += d
		q0 += d * d
	}
	return s0 + s1, q0 + q1
}

// bnActRow sets o = act(x*sc + sh), act the LeakyReLU of factors f.
//
//go:noinline
func bnActRow[T Float](o, xs []T, sc, sh T, f [2]T) {
	o = o[:len(xs)]
	if o32, ok := f32(o); ok && useAVX2 && len(xs) >= 8 {
		x32, _ := f32(xs)
		bnActRowAVX2(&o32[0], &x32[0], len(xs), float32(sc), float32(sh), float32(f[0]), float32(f[1]))
		m := len(xs) &^ 7 // the AVX2 loop's share
		o, xs = o[m:], xs[m:]
	}
	for j, v := range xs {
		y := v*sc + sh
		o[j] = y * f[positive(y)]
	}
}

// perChannel runs f for every channel, spread over the threads when the tensor is
// large. A channel's statistics are summed by one goroutine in a fixed order, so they
// do not depend on the number of threads.
func perChannel(size, channels int, f func(ch int)) {
	if size < largeWork {
		for ch := 0; ch < channels; ch++ {
			f(ch)
		}
		return
	}
	spread(channels, func(_, ch int) { f(ch) })
}

// The gradient kernels of a BatchNorm fold in the activation's gradient: its mask is
// the sign of the fused output, which is the sign of the pre-activation for any slope
// >= 0, so no separate pass (and no activation-sized tensor) is spent on it. In
// training, one pass computes both per-channel sums that the three gradients need
// (bnSumsKernel), and the input gradient reads them instead of summing again.
func (k *bnKernel[T]) diff(inputs G.Nodes, output, grad *G.Node, need []bool) (G.Nodes, error) {
	x, gamma := inputs[0], inputs[1]
	out := make(G.Nodes, 3)
	var sums *G.Node
	var err error
	if need[1] || need[2] || (need[0] && k.train) {
		if sums, err = apply[T](bnSumsKernel[T]{k}, nil, x, output, grad); err != nil {
			return nil, err
		}
	}
	if need[0] {
		args := G.Nodes{x, gamma, output, grad}
		if k.train {
			args = append(args, sums)
		}
		if out[0], err = apply[T](bnGradXKernel[T]{k}, nil, args...); err != nil {
			return nil, err
		}
	}
	if need[1] {
		if out[1], err = apply[T](partKernel[T]{"dgamma", 0, k.channels}, nil, sums); err != nil {
			return nil, err
		}
	}
	if need[2] {
		if out[2], err = apply[T](partKernel[T]{"dbeta", k.channels, k.channels}, nil, sums); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// leakyFactors are a LeakyReLU's factors indexed by positive: the slope, then 1.
// Activations' signs are close to random, so the branch of an if costs a
// misprediction about every other element; a table lookup is 5-10 times faster.
func leakyFactors[T float32 | float64](slope float64) [2]T { return [2]T{T(slope), 1} }

// positive is 1 if v > 0, else 0 (a conditional move, not a branch).
func positive[T float32 | float64](v T) int {
	i := 0
	if v > 0 {
		i = 1
	}
	return i
}

// bnSumsKernel computes, per channel, sum(g*xhat) (the gradient of gamma) and sum(g)
// (the gradient of beta) where g is the output gradient through the activation; the
// output is (2*C): the first C values, then the second.
type bnSumsKernel[T float32 | float64] struct{ bn *bnKernel[T] }

func (k bnSumsKernel[T]) String() string     { return k.bn.String() + ".GradSums" }
func (k bnSumsKernel[T]) dims() ([]int, int) { return []int{4, 4, 4}, 1 }
func (k bnSumsKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return tensor.Shape{2 * in[0][1]}, nil
}
func (k bnSumsKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	x, y, dy := in[0], in[1], in[2]
	b, c := shapes[0][0], shapes[0][1]
	hw := shapes[0].TotalSize() / (b * c)
	f := leakyFactors[T](k.bn.slope)
	perChannel(len(x), c, func(ch int) {
		mean, inv := k.bn.mean[ch], k.bn.invStd[ch]
		var sdy, sdyx float64
		for i := 0; i < b; i++ {
			lo, hi := (i*c+ch)*hw, (i*c+ch+1)*hw
			s, sx := bnGradSumsRow(x[lo:hi], y[lo:hi], dy[lo:hi], mean, f)
			sdy += float64(s)
			sdyx += float64(sx)
		}
		out[ch] = T(sdyx * float64(inv))
		out[c+ch] = T(sdy)
	})
	return nil
}

// bnGradSumsRow returns, over one row, sum(g) and sum(g*(x-mean)) in T (at most H*W
// terms), g the output gradient through the activation (factors f, mask from the
// output y).
//
//go:noinline
func bnGradSumsRow[T Float](xs, ys, gs []T, mean T, f [2]T) (s, sx T) {
	ys, gs = ys[:len(xs)], gs[:len(xs)]
	for j, v := range xs {
		g := gs[j] * f[positive(ys[j])]
		s += g
		sx += g * (v - mean)
	}
	return s, sx
}

// partKernel copies n values from offset off of a vector.
type partKernel[T float32 | float64] struct {
	name   string
	off, n int
}

func (k partKernel[T]) String() string {
	return fmt.Sprintf("Part(%s, %d:%d)", k.name, k.off, k.off+k.n)
}
func (k partKernel[T]) dims() ([]int, int) { return []int{1}, 1 }
func (k partKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if in[0][0] < k.off+k.n {
		return nil, fmt.Errorf("graph: %v of a vector of %d", k, in[0][0])
	}
	return tensor.Shape{k.n}, nil
}
func (k partKernel[T]) forward(in [][]T, _ []tensor.Shape, out []T) error {
	copy(out, in[0][k.off:k.off+k.n])
	return nil
}

// bnGradXKernel is the input-gradient of a BatchNorm: with g the output gradient
// through the activation, in training
// dx = gamma*invStd*(g - mean(g) - xhat*mean(g*xhat)), in evaluation gamma*invStd*g.
// Inputs: x, gamma, the fused output, its gradient, and in training bnSumsKernel's sums.
type bnGradXKernel[T float32 | float64] struct{ bn *bnKernel[T] }

func (k bnGradXKernel[T]) String() string { return k.bn.String() + ".GradX" }
func (k bnGradXKernel[T]) dims() ([]int, int) {
	if k.bn.train {
		return []int{4, 1, 4, 4, 1}, 4
	}
	return []int{4, 1, 4, 4}, 4
}
func (k bnGradXKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (k bnGradXKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	x, gamma, y, dy := in[0], in[1], in[2], in[3]
	b, c := shapes[0][0], shapes[0][1]
	hw := shapes[0].TotalSize() / (b * c)
	n := float64(b * hw)
	f := leakyFactors[T](k.bn.slope)
	perChannel(len(x), c, func(ch int) {
		mean, inv := k.bn.mean[ch], k.bn.invStd[ch]
		scale := gamma[ch] * inv
		var mdy, mdyx T
		if k.bn.train {
			sums := in[4]
			// sums[ch] is sum(g*xhat) = sum(g*(x-mean))*inv.
			mdy, mdyx = T(float64(sums[c+ch])/n), T(float64(sums[ch])/n)
		}
		// dx = scale*(g - mdy - (x-mean)*inv*mdyx) = scale*g + a*(x-mean) + d
		a, d := -scale*inv*mdyx, -scale*mdy
		for i := 0; i < b; i++ {
			lo, hi := (i*c+ch)*hw, (i*c+ch+1)*hw
			bnGradXRow(out[lo:hi], x[lo:hi], y[lo:hi], dy[lo:hi], scale, mean, a, d, f)
		}
	})
	return nil
}

// bnGradXRow sets o = scale*g + a*(x-mean) + d over one row, g the output gradient gs
// through the activation (factors f, mask from the output ys).
//
//go:noinline
func bnGradXRow[T Float](o, xs, ys, gs []T, scale, mean, a, d T, f [2]T) {
	ys, gs, o = ys[:len(xs)], gs[:len(xs)], o[:len(xs)]
	if o32, ok := f32(o); ok && useAVX2 && len(xs) >= 8 {
		x32, _ := f32(xs)
		y32, _ := f32(ys)
		g32, _ := f32(gs)
		bnGradXRowAVX2(&o32[0], &x32[0], &y32[0], &g32[0], len(xs),
			float32(scale), float32(mean), float32(a), float32(d), float32(f[0]), float32(f[1]))
		m := len(xs) &^ 7 // the AVX2 loop's share
		o, xs, ys, gs = o[m:], xs[m:], ys[m:], gs[m:]
	}
	for j, v := range xs {
		o[j] = scale*gs[j]*f[positive(ys[j])] + a*(v-mean) + d
	}
}

// ---- loss terms ----------------------------------------------------------------------

// sqDistKernel is the per-sample squared L2 distance sum((x - r)^2) over all but axis 0.
type sqDistKernel[T float32 | float64] struct{ nd int }

func (k sqDistKernel[T]) String() string     { return fmt.Sprintf("SqDist%dd", k.nd) }
func (k sqDistKernel[T]) dims() ([]int, int) { return []int{k.nd, k.nd}, 1 }
func (k sqDistKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if !in[0].Eq(in[1]) {
		return nil, fmt.Errorf("graph: %v: shapes %v and %v differ", k, in[0], in[1])
	}
	return tensor.Shape{in[0][0]}, nil
}
func (k sqDistKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	x, r := in[0], in[1]
	per := len(x) / shapes[0][0]
	for b := range out {
		var s T
		rs := r[b*per : (b+1)*per]
		for j, v := range x[b*per : (b+1)*per] {
			d := v - rs[j]
			s += d * d
		}
		out[b] = s
	}
	return nil
}
func (k sqDistKernel[T]) diff(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	out := make(G.Nodes, 2)
	var err error
	if need[0] {
		if out[0], err = apply[T](sqDistGradKernel[T]{k.nd, 1}, nil, inputs[0], inputs[1], grad); err != nil {
			return nil, err
		}
	}
	if need[1] {
		out[1], err = apply[T](sqDistGradKernel[T]{k.nd, -1}, nil, inputs[0], inputs[1], grad)
	}
	return out, err
}

// sqDistGradKernel is sign*2*(x - r)*g[b].
type sqDistGradKernel[T float32 | float64] struct {
	nd   int
	sign float64
}

func (k sqDistGradKernel[T]) String() string {
	return fmt.Sprintf("SqDistGrad%dd(%g)", k.nd, k.sign)
}
func (k sqDistGradKernel[T]) dims() ([]int, int) { return []int{k.nd, k.nd, 1}, k.nd }
func (k sqDistGradKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (k sqDistGradKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	x, r, g := in[0], in[1], in[2]
	per := len(x) / shapes[0][0]
	for b, gb := range g {
		f := T(2*k.sign) * gb
		rs, o := r[b*per:(b+1)*per], out[b*per:(b+1)*per]
		for j, v := range x[b*per : (b+1)*per] {
			o[j] = f * (v - rs[j])
		}
	}
	return nil
}

// lseKernel is the row-wise log-sum-exp of a (B, K) matrix, computed stably as
// max + log(sum(exp(a - max))) (Gorgonia's LogSumExp is wrong, see GO-ML-NOTES).
type lseKernel[T float32 | float64] struct{}

func (lseKernel[T]) String() string     { return "LogSumExpRows" }
func (lseKernel[T]) dims() ([]int, int) { return []int{2}, 1 }
func (lseKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return tensor.Shape{in[0][0]}, nil
}
func (lseKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	k := shapes[0][1]
	for b := range out {
		out[b] = T(logSumExp(in[0][b*k : (b+1)*k]))
	}
	return nil
}
func (lseKernel[T]) diff(inputs G.Nodes, _, grad *G.Node, need []bool) (G.Nodes, error) {
	n, err := apply[T](lseGradKernel[T]{}, nil, inputs[0], grad)
	return G.Nodes{n}, err
}

func logSumExp[T float32 | float64](a []T) float64 {
	m := math.Inf(-1)
	for _, v := range a {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range a {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// lseGradKernel is softmax(a)*g[b].
type lseGradKernel[T float32 | float64] struct{}

func (lseGradKernel[T]) String() string     { return "LogSumExpRowsGrad" }
func (lseGradKernel[T]) dims() ([]int, int) { return []int{2, 1}, 2 }
func (lseGradKernel[T]) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (lseGradKernel[T]) forward(in [][]T, shapes []tensor.Shape, out []T) error {
	k := shapes[0][1]
	for b, g := range in[1] {
		row := in[0][b*k : (b+1)*k]
		l := logSumExp(row)
		for j, v := range row {
			out[b*k+j] = T(math.Exp(float64(v)-l)) * g
		}
	}
	return nil
}
