package grad

import (
	"math"
	"slices"
)

// noParamGrads refuses gradients with respect to inputs other than the first (weights,
// biases), which a classifier's input never reaches.
func noParamGrads(b *builder, c *ctx) error {
	for i := 1; i < len(c.in); i++ {
		if b.wants(c, i) {
			return c.errorf("input %q depends on the differentiated input; only the gradient with respect to the data input is supported", c.in[i].name)
		}
	}
	return nil
}

// transposeOut returns, for a stride-1 convolution's gradient, its weights flipped
// in space with input and output channels swapped within each group: the gradient of
// a convolution with W is the convolution of the output gradient with these weights.
func flippedWeights(w *Tensor, g int) *Tensor {
	m, cg, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	mg := m / g
	out := newTensor(w.Type, []int{cg * g, mg, kh, kw})
	for o := range m {
		gi, oi := o/mg, o%mg
		for ci := range cg {
			c := gi*cg + ci
			for a := range kh {
				for b := range kw {
					out.F[((c*mg+oi)*kh+(kh-1-a))*kw+(kw-1-b)] = w.F[((o*cg+ci)*kh+a)*kw+b]
				}
			}
		}
	}
	return out
}

// adjointPads returns the end padding and output padding for which a ConvTranspose
// of an [out]-sized input with window w gives exactly w.in: windows that reach past
// the input (ceil_mode) are cropped at the end, rows no window reaches (floor
// rounding) are added as output padding.
func adjointPads(w window) (pe, op [2]int64) {
	for a := range 2 {
		ext := (w.out[a]-1)*w.s[a] + (w.k[a]-1)*w.d[a] + 1 - w.pb[a]
		if ext >= w.in[a] {
			pe[a] = ext - w.in[a]
		} else {
			op[a] = w.in[a] - ext
		}
	}
	return pe, op
}

// flipMinChannels is the number of gradient channels (the convolution's input
// channels) from which a same-padded stride-1 convolution's gradient is written as a
// Conv with flipped weights rather than a ConvTranspose. ONNX Runtime 1.24 on one
// thread (BenchmarkGradient, CPU time per batch of 16): with mnist-resnet-norm's
// 32-channel same-padded layers flipped, its gradient graph takes 14.5-15.0 ms
// against 16.3 with ConvTranspose; flipping mnist-lenet's first layer (16 channels
// back to 1) or its valid-padded second (the flipped form is a full convolution, its
// input mostly zero border) made its graph slower, 5.0 ms against 3.1 and 4.3 against
// 3.1.
const flipMinChannels = 8

// vjpConv: the input gradient of a convolution is the transposed convolution with the
// same weights. For stride 1, constant weights, at least flipMinChannels channels and
// "same" padding (the output as large as the input) it is written as a convolution
// with the flipped weights instead.
func vjpConv(b *builder, c *ctx, dy []string) ([]string, error) {
	if err := noParamGrads(b, c); err != nil {
		return nil, err
	}
	if !b.wants(c, 0) {
		return []string{""}, nil
	}
	w, g, err := convWindow(c)
	if err != nil {
		return nil, err
	}
	var pb, pe [2]int64
	flip := c.in[1].k != nil && c.in[0].shape[1].n >= flipMinChannels
	for a := range 2 {
		pb[a] = (w.k[a]-1)*w.d[a] - w.pb[a]
		pe[a] = (w.k[a]-1)*w.d[a] - w.pe[a]
		flip = flip && w.s[a] == 1 && pb[a] >= 0 && pe[a] >= 0 && w.out[a] == w.in[a]
	}
	if flip {
		wf := b.constant(flippedWeights(c.in[1].k, int(g)))
		return []string{b.op("Conv", dy[0], wf, aint2("kernel_shape", w.k), apads(pb, pe),
			aint2("dilations", w.d), ai("group", g)), "", ""}, nil
	}
	pe2, op := adjointPads(w)
	return []string{b.op("ConvTranspose", dy[0], c.in[1].name, aint2("kernel_shape", w.k), aint2("strides", w.s),
		apads(w.pb, pe2), aint2("dilations", w.d), ai("group", g), aint2("output_padding", op)), "", ""}, nil
}

// vjpConvTranspose: the input gradient of a transposed convolution is the convolution
// with the same weights, strides, pads, dilations and groups.
func vjpConvTranspose(b *builder, c *ctx, dy []string) ([]string, error) {
	if err := noParamGrads(b, c); err != nil {
		return nil, err
	}
	if !b.wants(c, 0) {
		return []string{""}, nil
	}
	w, g, _, err := convTransposeWindow(c)
	if err != nil {
		return nil, err
	}
	gx := b.op("Conv", dy[0], c.in[1].name, aint2("kernel_shape", w.k), aint2("strides", w.s),
		apads(w.pb, w.pe), aint2("dilations", w.d), ai("group", g))
	if s := b.shapeOf(gx); b.err == nil && !s.equal(c.in[0].shape) {
		return nil, c.errorf("its gradient has shape %v, want %v (output_padding at least the stride is not supported)", s, c.in[0].shape)
	}
	return []string{gx, "", ""}, nil
}

// tiled reports whether a pooling window tiles its input: stride equal to the kernel,
// no dilation, so every element (of the padded input) is in exactly one window.
func (w window) tiled() bool {
	return w.s == w.k && w.d == [2]int64{1, 1}
}

// maxPoolIndices reports whether a MaxPool's gradient needs its Indices output: all
// but the tiled ones (see vjpMaxPool). ONNX Runtime computes MaxPool with indices in a
// generic kernel several times slower than its MaxPool.
func maxPoolIndices(c *ctx) bool {
	w, err := poolWindow(c)
	return err == nil && !w.tiled()
}

// vjpMaxPool routes each output's gradient to the input element its window took: the
// first maximum in the window's row-major order, as PyTorch and ONNX Runtime choose.
//
// Tiled windows (see tiled; 2x2 with stride 2 and the like) are written as an axis of
// their own, padded with the lowest value: an ArgMax over it marks the maximum,
// the output gradient goes there, and the axes are put back. Other windows use the
// indices MaxPool returns (the forward node is written with its Indices output). When
// they do not overlap, each input element has at most one window and the gradient is
// a scatter of the output gradient to the indices; otherwise the gradient of each of
// the kH*kW window positions is masked by whether the window took it, and a grouped
// transposed convolution with one-hot kernels adds them up where they came from.
func vjpMaxPool(b *builder, c *ctx, dy []string) ([]string, error) {
	w, err := poolWindow(c)
	if err != nil {
		return nil, err
	}
	x := c.in[0]
	if w.tiled() {
		return []string{b.maxPoolTiled(x, w, dy[0])}, nil
	}
	if len(c.n.out) < 2 || c.n.out[1] == "" {
		return nil, c.errorf("internal error: MaxPool written without its indices")
	}
	idx := c.n.out[1]
	overlap := false
	for a := range 2 {
		overlap = overlap || w.s[a] < (w.k[a]-1)*w.d[a]+1
	}
	if !overlap {
		zeros := b.zerosOf(x.name)
		flat := shape{x.shape.size()}
		out := b.op("ScatterElements", b.reshape(zeros, flat), b.reshape(idx, shape{b.shapeOf(idx).size()}),
			b.reshape(dy[0], shape{b.shapeOf(dy[0]).size()}), ai("axis", 0))
		return []string{b.reshape(out, x.shape)}, nil
	}
	ch := x.shape[1]
	if !ch.static() {
		return nil, c.errorf("symbolic channel count %v", ch)
	}
	H, W := w.in[0], w.in[1]
	K := w.k[0] * w.k[1]
	ho, wo := w.out[0], w.out[1]
	// pos[k, oh, ow] is the flat spatial index of window position k of output (oh, ow),
	// -1 in the padding.
	pos := newTensor(tInt64, []int{1, 1, int(K), int(ho), int(wo)})
	i := 0
	for a := range w.k[0] {
		for bb := range w.k[1] {
			for oh := range ho {
				for ow := range wo {
					h := oh*w.s[0] - w.pb[0] + a*w.d[0]
					ww := ow*w.s[1] - w.pb[1] + bb*w.d[1]
					pos.I[i] = -1
					if h >= 0 && h < H && ww >= 0 && ww < W {
						pos.I[i] = h*W + ww
					}
					i++
				}
			}
		}
	}
	one := newTensor(x.typ, []int{int(ch.n * K), 1, int(w.k[0]), int(w.k[1])})
	for cc := range ch.n {
		for k := range K {
			one.F[(cc*K+k)*K+k] = 1
		}
	}
	n := x.shape[0]
	sp := b.op("Mod", idx, b.constant(intTensor(nil, []int64{H * W})))
	mask := b.op("Equal", b.reshape(sp, shape{n, ch, fixed(1), fixed(ho), fixed(wo)}), b.constant(pos))
	g := b.where(mask, b.reshape(dy[0], shape{n, ch, fixed(1), fixed(ho), fixed(wo)}), b.zeroLike(dy[0]))
	g = b.reshape(g, shape{n, fixed(ch.n * K), fixed(ho), fixed(wo)})
	pe, op := adjointPads(w)
	return []string{b.op("ConvTranspose", g, b.constant(one), aint2("kernel_shape", w.k), aint2("strides", w.s),
		apads(w.pb, pe), aint2("dilations", w.d), ai("group", ch.n), aint2("output_padding", op))}, nil
}

// vjpAveragePool spreads each output's gradient, divided by its window's count, over
// the window: a grouped transposed convolution with kernels of ones.
func vjpAveragePool(b *builder, c *ctx, dy []string) ([]string, error) {
	w, err := poolWindow(c)
	if err != nil {
		return nil, err
	}
	x := c.in[0]
	ch := x.shape[1]
	if !ch.static() {
		return nil, c.errorf("symbolic channel count %v", ch)
	}
	cnt := avgCounts(w, c.n.i("count_include_pad", 0) != 0)
	inv := make([]float64, len(cnt))
	uniform := true
	for i, n := range cnt {
		inv[i] = 1 / n
		uniform = uniform && n == cnt[0]
	}
	var g string
	if uniform {
		g = b.scale(dy[0], inv[0])
	} else {
		g = b.mul(dy[0], b.constF(x.typ, []int{1, 1, int(w.out[0]), int(w.out[1])}, inv))
	}
	ones := newTensor(x.typ, []int{int(ch.n), 1, int(w.k[0]), int(w.k[1])})
	for i := range ones.F {
		ones.F[i] = 1
	}
	pe, op := adjointPads(w)
	return []string{b.op("ConvTranspose", g, b.constant(ones), aint2("kernel_shape", w.k), aint2("strides", w.s),
		apads(w.pb, pe), ai("group", ch.n), aint2("output_padding", op))}, nil
}

// vjpGemm: for Y = alpha*op(A)*op(B) + beta*C, dop(A) = alpha*dY*op(B)^T and
// dop(B) = alpha*op(A)^T*dY, each written as one Gemm whose transposition flags
// undo op; dC = beta*dY summed over C's broadcast axes.
func vjpGemm(b *builder, c *ctx, dy []string) ([]string, error) {
	ta, tb := c.n.i("transA", 0), c.n.i("transB", 0)
	alpha, beta := c.n.f("alpha", 1), c.n.f("beta", 1)
	A, B := c.in[0].name, c.in[1].name
	g := []string{"", "", ""}
	al := aflt("alpha", alpha)
	if b.wants(c, 0) {
		if ta == 0 {
			g[0] = b.op("Gemm", dy[0], B, al, ai("transB", 1-tb))
		} else {
			g[0] = b.op("Gemm", B, dy[0], al, ai("transA", tb), ai("transB", 1))
		}
	}
	if b.wants(c, 1) {
		if tb == 0 {
			g[1] = b.op("Gemm", A, dy[0], al, ai("transA", 1-ta))
		} else {
			g[1] = b.op("Gemm", dy[0], A, al, ai("transA", 1), ai("transB", ta))
		}
	}
	if b.wants(c, 2) {
		d := dy[0]
		if beta != 1 {
			d = b.scale(d, beta)
		}
		g[2] = b.unbroadcast(d, c.in[2].shape)
	}
	return g, nil
}

// swapLast transposes the last two axes.
func (b *builder) swapLast(x string) string {
	r := len(b.shapeOf(x))
	perm := make([]int64, r)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[r-1], perm[r-2] = perm[r-2], perm[r-1]
	return b.op("Transpose", x, aints("perm", perm...))
}

// vjpMatMul: dA = dY*B^T and dB = A^T*dY on the last two axes, summed over the batch
// axes along which the operand was broadcast; 1-D operands are seen as a row (A) or a
// column (B), as numpy does.
func vjpMatMul(b *builder, c *ctx, dy []string) ([]string, error) {
	a, bb := c.in[0], c.in[1]
	a2, b2 := a.name, bb.name
	if len(a.shape) == 1 {
		a2 = b.reshape(a2, shape{fixed(1), a.shape[0]})
	}
	if len(bb.shape) == 1 {
		b2 = b.reshape(b2, shape{bb.shape[0], fixed(1)})
	}
	s, err := matmulShape(c, b.shapeOf(a2), b.shapeOf(b2))
	if err != nil {
		return nil, err
	}
	d := b.reshape(dy[0], s)
	g := []string{"", ""}
	if b.wants(c, 0) {
		g[0] = b.reshape(b.unbroadcast(b.op("MatMul", d, b.swapLast(b2)), b.shapeOf(a2)), a.shape)
	}
	if b.wants(c, 1) {
		g[1] = b.reshape(b.unbroadcast(b.op("MatMul", b.swapLast(a2), d), b.shapeOf(b2)), bb.shape)
	}
	return g, nil
}

// vjpReduce spreads the gradient of a ReduceSum (weight 1) or ReduceMean (weight 1/n)
// back over the reduced axes by broadcasting.
func vjpReduce(inputFrom int) func(b *builder, c *ctx, dy []string) ([]string, error) {
	return func(b *builder, c *ctx, dy []string) ([]string, error) {
		axes, keep, err := reduceAxes(c, c.opset >= inputFrom)
		if err != nil {
			return nil, err
		}
		x := c.in[0]
		g := dy[0]
		if !keep {
			g = b.reshape(g, reducedShape(x.shape, axes, true))
		}
		fill := make([]int, len(x.shape))
		n := 1.0
		for i, d := range x.shape {
			fill[i] = 1
			if slices.Contains(axes, i) {
				if !d.static() {
					return nil, c.errorf("reducing over the symbolic axis %d (%v) is not supported", i, d)
				}
				fill[i] = int(d.n)
				n *= float64(d.n)
			}
		}
		w := 1.0
		if c.n.op == "ReduceMean" {
			w = 1 / n
		}
		data := make([]float64, numel(fill))
		for i := range data {
			data[i] = w
		}
		return []string{b.mul(g, b.constF(x.typ, fill, data)), ""}, nil
	}
}

// maxPoolTiled is the gradient of a MaxPool whose windows tile the padded input.
func (b *builder) maxPoolTiled(x *value, w window, dy string) string {
	n, ch := x.shape[0], x.shape[1]
	kh, kw, ho, wo := w.k[0], w.k[1], w.out[0], w.out[1]
	// Pad (or crop, when floor rounding leaves rows out) to exactly the windows.
	pads := []int64{0, 0, w.pb[0], w.pb[1], 0, 0, ho*kh - w.in[0] - w.pb[0], wo*kw - w.in[1] - w.pb[1]}
	xp := b.padFill(x.name, pads, -math.MaxFloat32)
	win := b.reshape(xp, shape{n, ch, fixed(ho), fixed(kh), fixed(wo), fixed(kw)})
	win = b.op("Transpose", win, aints("perm", 0, 1, 2, 4, 3, 5))
	win = b.reshape(win, shape{n, ch, fixed(ho), fixed(wo), fixed(kh * kw)})
	first := b.op("ArgMax", win, ai("axis", 4), ai("keepdims", 1))
	g := b.op("ScatterElements", b.zerosOf(win), first, b.reshape(dy, shape{n, ch, fixed(ho), fixed(wo), fixed(1)}), ai("axis", 4))
	g = b.reshape(g, shape{n, ch, fixed(ho), fixed(wo), fixed(kh), fixed(kw)})
	g = b.op("Transpose", g, aints("perm", 0, 1, 2, 4, 3, 5))
	g = b.reshape(g, shape{n, ch, fixed(ho * kh), fixed(wo * kw)})
	neg := make([]int64, len(pads))
	for i, p := range pads {
		neg[i] = -p
	}
	return b.pad(g, neg)
}
