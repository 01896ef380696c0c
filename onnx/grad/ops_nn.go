package grad

import (
	"math"
	"slices"
)

// window is the geometry of a 2-D convolution or pooling: per spatial axis (H, W)
// the kernel size, stride, dilation, padding at the beginning and end, and the sizes
// of the input and output.
type window struct {
	k, s, d, pb, pe, in, out [2]int64
}

// spatial returns the static spatial sizes of a 4-D [N, C, H, W] value.
func spatial(c *ctx, v *value) ([2]int64, error) {
	if len(v.shape) != 4 {
		return [2]int64{}, c.errorf("input %q has shape %v; only 2-D images ([N, C, H, W]) are supported", v.name, v.shape)
	}
	if !v.shape[2].static() || !v.shape[3].static() {
		return [2]int64{}, c.errorf("input %q has symbolic spatial dimensions %v", v.name, v.shape)
	}
	return [2]int64{v.shape[2].n, v.shape[3].n}, nil
}

func pair(c *ctx, name string, v []int64, def int64) ([2]int64, error) {
	switch len(v) {
	case 0:
		return [2]int64{def, def}, nil
	case 2:
		return [2]int64{v[0], v[1]}, nil
	}
	return [2]int64{}, c.errorf("%s %v: want 2 values for a 2-D operator", name, v)
}

// windowOf reads the kernel, strides, dilations and padding (explicit or auto_pad) of
// a Conv or pooling node over an input of spatial size in, and computes the output
// size (ceil rounding when ceil is set).
func windowOf(c *ctx, in, kernel [2]int64, ceil bool) (window, error) {
	w := window{k: kernel, in: in}
	var err error
	if w.s, err = pair(c, "strides", c.n.ints("strides", nil), 1); err != nil {
		return w, err
	}
	if w.d, err = pair(c, "dilations", c.n.ints("dilations", nil), 1); err != nil {
		return w, err
	}
	pads := c.n.ints("pads", nil)
	switch len(pads) {
	case 0:
	case 4:
		w.pb, w.pe = [2]int64{pads[0], pads[1]}, [2]int64{pads[2], pads[3]}
	default:
		return w, c.errorf("pads %v: want 4 values", pads)
	}
	for a := range 2 {
		if w.k[a] <= 0 || w.s[a] <= 0 || w.d[a] <= 0 || w.pb[a] < 0 || w.pe[a] < 0 {
			return w, c.errorf("bad kernel %v, strides %v, dilations %v or pads %v", w.k, w.s, w.d, pads)
		}
	}
	span := func(a int) int64 { return (w.k[a]-1)*w.d[a] + 1 }
	switch ap := c.n.s("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
	case "VALID":
		w.pb, w.pe = [2]int64{}, [2]int64{}
	case "SAME_UPPER", "SAME_LOWER":
		for a := range 2 {
			out := (in[a] + w.s[a] - 1) / w.s[a]
			total := max(0, (out-1)*w.s[a]+span(a)-in[a])
			small, big := total/2, total-total/2
			if ap == "SAME_UPPER" {
				w.pb[a], w.pe[a] = small, big
			} else {
				w.pb[a], w.pe[a] = big, small
			}
		}
	default:
		return w, c.errorf("auto_pad %q is not supported", ap)
	}
	for a := range 2 {
		num := in[a] + w.pb[a] + w.pe[a] - span(a)
		if num < 0 {
			return w, c.errorf("kernel %v larger than the padded input %v", w.k, in)
		}
		if ceil {
			w.out[a] = (num+w.s[a]-1)/w.s[a] + 1
			// ONNX Runtime's kernels, as PyTorch, drop a last window that would
			// start past the input and its left padding; ONNX's shape inference,
			// which ONNX Runtime also runs when it loads a graph, keeps it. A
			// gradient graph written with either size fails to load.
			if (w.out[a]-1)*w.s[a] >= in[a]+w.pb[a] {
				return w, c.errorf("ceil_mode with a last window that starts past the input (size %d, kernel %d, stride %d, pads %d+%d): ONNX Runtime's kernel and its shape inference disagree on the output size; not supported",
					in[a], w.k[a], w.s[a], w.pb[a], w.pe[a])
			}
		} else {
			w.out[a] = num/w.s[a] + 1
		}
	}
	return w, nil
}

// convWindow reads a Conv node: the window, the groups, and the output channels.
func convWindow(c *ctx) (window, int64, error) {
	x, wt := c.in[0], c.in[1]
	in, err := spatial(c, x)
	if err != nil {
		return window{}, 0, err
	}
	if len(wt.shape) != 4 || !wt.shape.static() {
		return window{}, 0, c.errorf("weights of shape %v; want static [M, C/group, kH, kW]", wt.shape)
	}
	g := c.n.i("group", 1)
	ws := wt.shape.ints()
	if g <= 0 || x.shape[1] != fixed(int64(ws[1])*g) || int64(ws[0])%g != 0 {
		return window{}, 0, c.errorf("input %v, weights %v and group %d do not match", x.shape, wt.shape, g)
	}
	if b := c.input(2); b != nil && !b.shape.equal(shape{fixed(int64(ws[0]))}) {
		return window{}, 0, c.errorf("bias of shape %v; want [%d]", b.shape, ws[0])
	}
	k := [2]int64{int64(ws[2]), int64(ws[3])}
	if ks := c.n.ints("kernel_shape", nil); ks != nil && (len(ks) != 2 || ks[0] != k[0] || ks[1] != k[1]) {
		return window{}, 0, c.errorf("kernel_shape %v differs from the weights' %v", ks, k)
	}
	w, err := windowOf(c, in, k, false)
	return w, g, err
}

// convTransposeWindow reads a ConvTranspose node. The window is that of the Conv
// whose adjoint it is: in is the ConvTranspose's output size, out its input size.
func convTransposeWindow(c *ctx) (window, int64, [2]int64, error) {
	x, wt := c.in[0], c.in[1]
	in, err := spatial(c, x)
	if err != nil {
		return window{}, 0, [2]int64{}, err
	}
	g := c.n.i("group", 1)
	if len(wt.shape) != 4 || !wt.shape.static() || g <= 0 || x.shape[1] != wt.shape[0] || wt.shape[0].n%g != 0 {
		return window{}, 0, [2]int64{}, c.errorf("input %v, weights %v and group %d do not match", x.shape, wt.shape, g)
	}
	if b := c.input(2); b != nil && !b.shape.equal(shape{fixed(wt.shape[1].n * g)}) {
		return window{}, 0, [2]int64{}, c.errorf("bias of shape %v; want [%d]", b.shape, wt.shape[1].n*g)
	}
	if c.n.has("output_shape") {
		return window{}, 0, [2]int64{}, c.errorf("output_shape is not supported; export with explicit pads and output_padding")
	}
	if ap := c.n.s("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "" && ap != "VALID" {
		return window{}, 0, [2]int64{}, c.errorf("auto_pad %q is not supported; export with explicit pads", ap)
	}
	ws := wt.shape.ints()
	w := window{k: [2]int64{int64(ws[2]), int64(ws[3])}, out: in}
	if w.s, err = pair(c, "strides", c.n.ints("strides", nil), 1); err != nil {
		return w, 0, [2]int64{}, err
	}
	if w.d, err = pair(c, "dilations", c.n.ints("dilations", nil), 1); err != nil {
		return w, 0, [2]int64{}, err
	}
	op, err := pair(c, "output_padding", c.n.ints("output_padding", nil), 0)
	if err != nil {
		return w, 0, [2]int64{}, err
	}
	if p := c.n.ints("pads", nil); len(p) == 4 && c.n.s("auto_pad", "NOTSET") != "VALID" {
		w.pb, w.pe = [2]int64{p[0], p[1]}, [2]int64{p[2], p[3]}
	} else if len(p) != 0 && len(p) != 4 {
		return w, 0, [2]int64{}, c.errorf("pads %v: want 4 values", p)
	}
	for a := range 2 {
		w.in[a] = w.s[a]*(in[a]-1) + op[a] + (w.k[a]-1)*w.d[a] + 1 - w.pb[a] - w.pe[a]
		if w.in[a] <= 0 {
			return w, 0, [2]int64{}, c.errorf("output size %v is not positive", w.in)
		}
	}
	return w, g, op, nil
}

// poolWindow reads a MaxPool or AveragePool node.
func poolWindow(c *ctx) (window, error) {
	in, err := spatial(c, c.in[0])
	if err != nil {
		return window{}, err
	}
	k, err := pair(c, "kernel_shape", c.n.ints("kernel_shape", nil), 0)
	if err != nil {
		return window{}, err
	}
	if c.n.op == "AveragePool" && c.n.has("dilations") {
		for _, d := range c.n.ints("dilations", nil) {
			if d != 1 {
				return window{}, c.errorf("dilations are not supported")
			}
		}
	}
	if c.n.i("storage_order", 0) != 0 {
		return window{}, c.errorf("storage_order 1 is not supported")
	}
	return windowOf(c, in, k, c.n.i("ceil_mode", 0) != 0)
}

// avgCounts returns, per output position of an AveragePool, the number its window's
// sum is divided by, as ONNX Runtime computes it: with count_include_pad the kernel's
// size, even for a window that ceil_mode lets reach past the padding; otherwise the
// number of the window's elements inside the input.
func avgCounts(w window, includePad bool) []float64 {
	cnt := make([]float64, w.out[0]*w.out[1])
	for oh := range w.out[0] {
		for ow := range w.out[1] {
			n := int64(1)
			for a, o := range [2]int64{oh, ow} {
				s := o*w.s[a] - w.pb[a]
				e := s + w.k[a]
				if !includePad {
					s, e = max(s, 0), min(e, w.in[a])
				}
				n *= e - s
			}
			cnt[oh*w.out[1]+ow] = float64(n)
		}
	}
	return cnt
}

// softmaxAxes returns the axes a Softmax or LogSoftmax normalises over: before opset
// 13 the input is seen as 2-D, [before axis, from axis on] (default axis 1); from 13
// only the axis (default -1).
func softmaxAxes(c *ctx, r int) ([]int, error) {
	def := int64(-1)
	if c.opset < 13 {
		def = 1
	}
	a, err := normAxis(c.n.i("axis", def), r)
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	if c.opset >= 13 {
		return []int{a}, nil
	}
	var axes []int
	for i := a; i < r; i++ {
		axes = append(axes, i)
	}
	return axes, nil
}

// reduceAxes returns the axes of a Reduce* node (attribute, or input 1 when
// fromInput) and keepdims; nil axes mean all (or none with noop_with_empty_axes).
func reduceAxes(c *ctx, fromInput bool) ([]int, bool, error) {
	r := len(c.in[0].shape)
	var axes []int64
	var err error
	if fromInput {
		axes, err = c.constIntsInput(1, "axes")
		if err != nil {
			return nil, false, err
		}
	} else {
		axes = c.n.ints("axes", nil)
	}
	keep := c.n.i("keepdims", 1) != 0
	if len(axes) == 0 {
		if fromInput && c.n.i("noop_with_empty_axes", 0) != 0 {
			return []int{}, keep, nil
		}
		out := make([]int, r)
		for i := range out {
			out[i] = i
		}
		return out, keep, nil
	}
	ax, err := normAxes(axes, r)
	if err != nil {
		return nil, false, c.errorf("%v", err)
	}
	return ax, keep, nil
}

func reducedShape(in shape, axes []int, keep bool) shape {
	var out shape
	for i, d := range in {
		switch {
		case !slices.Contains(axes, i):
			out = append(out, d)
		case keep:
			out = append(out, fixed(1))
		}
	}
	return out
}

// reduceTensor folds x over axes with f, starting from init; the result has the
// keepdims shape.
func reduceTensor(x *Tensor, axes []int, init float64, f func(acc, v float64) float64) *Tensor {
	out := slices.Clone(x.Shape)
	for _, a := range axes {
		out[a] = 1
	}
	t := newTensor(x.Type, out)
	for i := range t.F {
		t.F[i] = init
	}
	idx := bcastIndex(x.Shape, out)
	for i, j := range idx {
		t.F[j] = f(t.F[j], x.F[i])
	}
	return t
}

// gemmDims returns M, K, N of a Gemm.
func gemmDims(c *ctx) (m, k, n dim, err error) {
	a, b := c.in[0].shape, c.in[1].shape
	if len(a) != 2 || len(b) != 2 {
		return m, k, n, c.errorf("inputs of shapes %v and %v; Gemm takes matrices", a, b)
	}
	m, k = a[0], a[1]
	if c.n.i("transA", 0) != 0 {
		m, k = k, m
	}
	k2, n := b[0], b[1]
	if c.n.i("transB", 0) != 0 {
		k2, n = n, k2
	}
	if k != k2 {
		return m, k, n, c.errorf("inputs of shapes %v and %v do not multiply", a, b)
	}
	return m, k, n, nil
}

// matmulShape returns the output shape of a numpy matmul.
func matmulShape(c *ctx, a, b shape) (shape, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, c.errorf("scalar operand")
	}
	a2, b2 := a, b
	if len(a) == 1 {
		a2 = shape{fixed(1), a[0]}
	}
	if len(b) == 1 {
		b2 = shape{b[0], fixed(1)}
	}
	if a2[len(a2)-1] != b2[len(b2)-2] {
		return nil, c.errorf("inputs of shapes %v and %v do not multiply", a, b)
	}
	batch, err := broadcast(a2[:len(a2)-2], b2[:len(b2)-2])
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	out := slices.Clone(batch)
	if len(a) > 1 {
		out = append(out, a2[len(a2)-2])
	}
	if len(b) > 1 {
		out = append(out, b2[len(b2)-1])
	}
	return out, nil
}

// matmul computes a numpy matmul of constant tensors.
func matmul(a, b *Tensor) *Tensor {
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	bat, _ := broadcast(staticShape(as[:len(as)-2]), staticShape(bs[:len(bs)-2]))
	batch := bat.ints()
	ia := bcastIndex(batch, as[:len(as)-2])
	ib := bcastIndex(batch, bs[:len(bs)-2])
	out := newTensor(a.Type, append(slices.Clone(batch), m, n))
	for p := range ia {
		ao, bo, oo := ia[p]*m*k, ib[p]*k*n, p*m*n
		for i := range m {
			for j := range n {
				s := 0.0
				for l := range k {
					s += a.F[ao+i*k+l] * b.F[bo+l*n+j]
				}
				out.F[oo+i*n+j] = s
			}
		}
	}
	var shape []int
	shape = append(shape, batch...)
	if len(a.Shape) > 1 {
		shape = append(shape, m)
	}
	if len(b.Shape) > 1 {
		shape = append(shape, n)
	}
	out.Shape = shape
	return out.round()
}

func init() {
	register("Conv", &opDef{
		infer: func(c *ctx) error {
			if err := needFloat(c, 0, 1, 2); err != nil {
				return err
			}
			w, _, err := convWindow(c)
			if err != nil {
				return err
			}
			c.set(0, c.in[0].typ, shape{c.in[0].shape[0], c.in[1].shape[0], fixed(w.out[0]), fixed(w.out[1])})
			return nil
		},
		eval: func(c *ctx) error {
			w, g, err := convWindow(c)
			if err != nil {
				return err
			}
			x, wt := c.in[0].k, c.in[1].k
			nb, cin, m := x.Shape[0], x.Shape[1], wt.Shape[0]
			cg, mg := cin/int(g), m/int(g)
			out := newTensor(x.Type, []int{nb, m, int(w.out[0]), int(w.out[1])})
			H, W := int(w.in[0]), int(w.in[1])
			kh, kw := int(w.k[0]), int(w.k[1])
			i := 0
			for n := range nb {
				for o := range m {
					gi := o / mg
					bias := 0.0
					if v := c.input(2); v != nil {
						bias = v.k.F[o]
					}
					for oh := range int(w.out[0]) {
						for ow := range int(w.out[1]) {
							s := bias
							for ci := range cg {
								ch := gi*cg + ci
								for a := range kh {
									h := oh*int(w.s[0]) - int(w.pb[0]) + a*int(w.d[0])
									if h < 0 || h >= H {
										continue
									}
									for b := range kw {
										ww := ow*int(w.s[1]) - int(w.pb[1]) + b*int(w.d[1])
										if ww < 0 || ww >= W {
											continue
										}
										s += x.F[((n*cin+ch)*H+h)*W+ww] * wt.F[((o*cg+ci)*kh+a)*kw+b]
									}
								}
							}
							out.F[i] = s
							i++
						}
					}
				}
			}
			c.setK(0, out.round())
			return nil
		},
		vjp: vjpConv,
	})

	register("ConvTranspose", &opDef{
		infer: func(c *ctx) error {
			if err := needFloat(c, 0, 1, 2); err != nil {
				return err
			}
			w, g, _, err := convTransposeWindow(c)
			if err != nil {
				return err
			}
			c.set(0, c.in[0].typ, shape{c.in[0].shape[0], fixed(c.in[1].shape[1].n * g), fixed(w.in[0]), fixed(w.in[1])})
			return nil
		},
		eval: func(c *ctx) error {
			w, g, _, err := convTransposeWindow(c)
			if err != nil {
				return err
			}
			x, wt := c.in[0].k, c.in[1].k
			nb, cin, mg := x.Shape[0], x.Shape[1], wt.Shape[1]
			cg, m := cin/int(g), mg*int(g)
			H, W := int(w.in[0]), int(w.in[1])
			Hi, Wi := x.Shape[2], x.Shape[3]
			kh, kw := int(w.k[0]), int(w.k[1])
			out := newTensor(x.Type, []int{nb, m, H, W})
			for n := range nb {
				for o := range m {
					gi, oi := o/mg, o%mg
					if v := c.input(2); v != nil {
						for p := range H * W {
							out.F[(n*m+o)*H*W+p] = v.k.F[o]
						}
					}
					for ci := range cg {
						ch := gi*cg + ci
						for ih := range Hi {
							for iw := range Wi {
								xv := x.F[((n*cin+ch)*Hi+ih)*Wi+iw]
								for a := range kh {
									h := ih*int(w.s[0]) - int(w.pb[0]) + a*int(w.d[0])
									if h < 0 || h >= H {
										continue
									}
									for b := range kw {
										ww := iw*int(w.s[1]) - int(w.pb[1]) + b*int(w.d[1])
										if ww < 0 || ww >= W {
											continue
										}
										out.F[((n*m+o)*H+h)*W+ww] += xv * wt.F[((ch*mg+oi)*kh+a)*kw+b]
									}
								}
							}
						}
					}
				}
			}
			c.setK(0, out.round())
			return nil
		},
		vjp: vjpConvTranspose,
	})

	register("MaxPool", &opDef{
		infer: func(c *ctx) error {
			if err := needFloat(c, 0); err != nil {
				return err
			}
			w, err := poolWindow(c)
			if err != nil {
				return err
			}
			s := shape{c.in[0].shape[0], c.in[0].shape[1], fixed(w.out[0]), fixed(w.out[1])}
			c.set(0, c.in[0].typ, s)
			if len(c.n.out) > 1 {
				c.set(1, tInt64, s)
			}
			return nil
		},
		eval: func(c *ctx) error {
			w, err := poolWindow(c)
			if err != nil {
				return err
			}
			x := c.in[0].k
			nc := x.Shape[0] * x.Shape[1]
			H, W := int(w.in[0]), int(w.in[1])
			os := []int{x.Shape[0], x.Shape[1], int(w.out[0]), int(w.out[1])}
			y, idx := newTensor(x.Type, os), newTensor(tInt64, os)
			i := 0
			for p := range nc {
				for oh := range int(w.out[0]) {
					for ow := range int(w.out[1]) {
						best, at := math.Inf(-1), int64(-1)
						for a := range int(w.k[0]) {
							h := oh*int(w.s[0]) - int(w.pb[0]) + a*int(w.d[0])
							if h < 0 || h >= H {
								continue
							}
							for b := range int(w.k[1]) {
								ww := ow*int(w.s[1]) - int(w.pb[1]) + b*int(w.d[1])
								if ww < 0 || ww >= W {
									continue
								}
								j := (p*H+h)*W + ww
								if v := x.F[j]; v > best {
									best, at = v, int64(j)
								}
							}
						}
						y.F[i], idx.I[i] = best, at
						i++
					}
				}
			}
			c.setK(0, y)
			if len(c.n.out) > 1 {
				c.setK(1, idx)
			}
			return nil
		},
		vjp: vjpMaxPool,
	})

	register("AveragePool", &opDef{
		infer: func(c *ctx) error {
			if err := needFloat(c, 0); err != nil {
				return err
			}
			w, err := poolWindow(c)
			if err != nil {
				return err
			}
			c.set(0, c.in[0].typ, shape{c.in[0].shape[0], c.in[0].shape[1], fixed(w.out[0]), fixed(w.out[1])})
			return nil
		},
		eval: func(c *ctx) error {
			w, err := poolWindow(c)
			if err != nil {
				return err
			}
			x := c.in[0].k
			cnt := avgCounts(w, c.n.i("count_include_pad", 0) != 0)
			nc := x.Shape[0] * x.Shape[1]
			H, W := int(w.in[0]), int(w.in[1])
			y := newTensor(x.Type, []int{x.Shape[0], x.Shape[1], int(w.out[0]), int(w.out[1])})
			i := 0
			for p := range nc {
				for oh := range int(w.out[0]) {
					for ow := range int(w.out[1]) {
						s := 0.0
						for a := range int(w.k[0]) {
							h := oh*int(w.s[0]) - int(w.pb[0]) + a
							for b := range int(w.k[1]) {
								ww := ow*int(w.s[1]) - int(w.pb[1]) + b
								if h >= 0 && h < H && ww >= 0 && ww < W {
									s += x.F[(p*H+h)*W+ww]
								}
							}
						}
						y.F[i] = s / cnt[oh*int(w.out[1])+ow]
						i++
					}
				}
			}
			c.setK(0, y.round())
			return nil
		},
		vjp: vjpAveragePool,
	})

	register("GlobalAveragePool", &opDef{
		infer: func(c *ctx) error {
			in := c.in[0].shape
			if len(in) < 3 || !in[2:].static() {
				return c.errorf("input of shape %v; want [N, C, static spatial dimensions]", in)
			}
			out := slices.Clone(in)
			for i := 2; i < len(out); i++ {
				out[i] = fixed(1)
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: func(c *ctx) error {
			x := c.in[0].k
			axes := []int{}
			for i := 2; i < len(x.Shape); i++ {
				axes = append(axes, i)
			}
			n := float64(numel(x.Shape[2:]))
			t := reduceTensor(x, axes, 0, func(a, v float64) float64 { return a + v })
			for i := range t.F {
				t.F[i] /= n
			}
			c.setK(0, t.round())
			return nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			in := c.in[0].shape
			s := make([]int, len(in))
			for i := range s {
				s[i] = 1
				if i >= 2 {
					s[i] = int(in[i].n)
				}
			}
			n := float64(numel(s))
			fill := make([]float64, numel(s))
			for i := range fill {
				fill[i] = 1 / n
			}
			return []string{b.mul(dy[0], b.constF(c.in[0].typ, s, fill))}, nil
		},
	})

	reduce := func(name string, inputFrom int, init float64, f func(a, v float64) float64, post func(t *Tensor, n float64)) {
		register(name, &opDef{
			infer: func(c *ctx) error {
				axes, keep, err := reduceAxes(c, c.opset >= inputFrom)
				if err != nil {
					return err
				}
				typ := c.in[0].typ
				if name == "ArgMax" {
					typ = tInt64
				}
				c.set(0, typ, reducedShape(c.in[0].shape, axes, keep))
				return nil
			},
			eval: func(c *ctx) error {
				if err := needFloat(c, 0); err != nil {
					return err
				}
				axes, keep, err := reduceAxes(c, c.opset >= inputFrom)
				if err != nil {
					return err
				}
				x := c.in[0].k
				t := reduceTensor(x, axes, init, f)
				n := 1.0
				for _, a := range axes {
					n *= float64(x.Shape[a])
				}
				post(t, n)
				t.Shape = reducedShape(staticShape(x.Shape), axes, keep).ints()
				c.setK(0, t.round())
				return nil
			},
		})
	}
	sum := func(a, v float64) float64 { return a + v }
	reduce("ReduceSum", 13, 0, sum, func(*Tensor, float64) {})
	reduce("ReduceMean", 18, 0, sum, func(t *Tensor, n float64) {
		for i := range t.F {
			t.F[i] /= n
		}
	})
	reduce("ReduceMax", 18, math.Inf(-1), math.Max, func(*Tensor, float64) {})
	ops["ReduceSum"].vjp = vjpReduce(13)
	ops["ReduceMean"].vjp = vjpReduce(18)
	ops["ReduceSum"].paramInputs = []int{1}
	ops["ReduceMean"].paramInputs = []int{1}

	register("ArgMax", &opDef{
		infer: func(c *ctx) error {
			r := len(c.in[0].shape)
			a, err := normAxis(c.n.i("axis", 0), r)
			if err != nil {
				return c.errorf("%v", err)
			}
			c.set(0, tInt64, reducedShape(c.in[0].shape, []int{a}, c.n.i("keepdims", 1) != 0))
			return nil
		},
		eval: func(c *ctx) error {
			x := c.in[0].k
			a, _ := normAxis(c.n.i("axis", 0), len(x.Shape))
			last := c.n.i("select_last_index", 0) != 0
			out := slices.Clone(x.Shape)
			out[a] = 1
			t := newTensor(tInt64, out)
			best := make([]float64, len(t.I))
			for i := range best {
				best[i] = math.Inf(-1)
			}
			st := stridesOf(x.Shape)
			idx := bcastIndex(x.Shape, out)
			for i, j := range idx {
				pos := int64(i / st[a] % x.Shape[a])
				if v := x.F[i]; v > best[j] || (last && v == best[j]) {
					best[j], t.I[j] = v, pos
				}
			}
			t.Shape = reducedShape(staticShape(x.Shape), []int{a}, c.n.i("keepdims", 1) != 0).ints()
			c.setK(0, t)
			return nil
		},
	})

	softmax := func(name string, log bool) {
		register(name, &opDef{
			infer: func(c *ctx) error {
				if err := needFloat(c, 0); err != nil {
					return err
				}
				if _, err := softmaxAxes(c, len(c.in[0].shape)); err != nil {
					return err
				}
				return sameAs(c)
			},
			eval: func(c *ctx) error {
				x := c.in[0].k
				axes, _ := softmaxAxes(c, len(x.Shape))
				m := reduceTensor(x, axes, math.Inf(-1), math.Max)
				idx := bcastIndex(x.Shape, m.Shape)
				e := newTensor(x.Type, x.Shape)
				for i, j := range idx {
					e.F[i] = math.Exp(x.F[i] - m.F[j])
				}
				s := reduceTensor(e, axes, 0, func(a, v float64) float64 { return a + v })
				t := newTensor(x.Type, x.Shape)
				for i, j := range idx {
					if log {
						t.F[i] = x.F[i] - m.F[j] - math.Log(s.F[j])
					} else {
						t.F[i] = e.F[i] / s.F[j]
					}
				}
				c.setK(0, t.round())
				return nil
			},
			vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
				axes, _ := softmaxAxes(c, len(c.in[0].shape))
				y := c.n.out[0]
				if log {
					// y = x - logsumexp(x): dx = dy - softmax(x) * sum(dy).
					return []string{b.sub(dy[0], b.mul(b.op("Exp", y), b.reduceSum(dy[0], axes, true)))}, nil
				}
				// dx = y * (dy - sum(dy * y)).
				return []string{b.mul(y, b.sub(dy[0], b.reduceSum(b.mul(dy[0], y), axes, true)))}, nil
			},
		})
	}
	softmax("Softmax", false)
	softmax("LogSoftmax", true)

	register("Gemm", &opDef{
		infer: func(c *ctx) error {
			if err := needFloat(c, 0, 1, 2); err != nil {
				return err
			}
			m, _, n, err := gemmDims(c)
			if err != nil {
				return err
			}
			out := shape{m, n}
			if v := c.input(2); v != nil {
				if s, err := broadcast(v.shape, out); err != nil || !s.equal(out) {
					return c.errorf("C of shape %v does not broadcast to %v", v.shape, out)
				}
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: func(c *ctx) error {
			a, b := c.in[0].k, c.in[1].k
			if c.n.i("transA", 0) != 0 {
				a = transpose(a, []int{1, 0})
			}
			if c.n.i("transB", 0) != 0 {
				b = transpose(b, []int{1, 0})
			}
			t := matmul(a, b)
			alpha, beta := c.n.f("alpha", 1), c.n.f("beta", 1)
			var ic []int
			if v := c.input(2); v != nil {
				ic = bcastIndex(t.Shape, v.k.Shape)
			}
			for i := range t.F {
				t.F[i] *= alpha
				if ic != nil {
					t.F[i] += beta * c.in[2].k.F[ic[i]]
				}
			}
			c.setK(0, t.round())
			return nil
		},
		vjp: vjpGemm,
	})

	register("MatMul", &opDef{
		infer: func(c *ctx) error {
			if err := needFloat(c, 0, 1); err != nil {
				return err
			}
			s, err := matmulShape(c, c.in[0].shape, c.in[1].shape)
			if err != nil {
				return err
			}
			c.set(0, c.in[0].typ, s)
			return nil
		},
		eval: func(c *ctx) error {
			c.setK(0, matmul(c.in[0].k, c.in[1].k))
			return nil
		},
		vjp: vjpMatMul,
	})

	// BatchNormalization in inference: y = (x - mean) / sqrt(var + epsilon) * scale + B,
	// per channel (axis 1).
	register("BatchNormalization", &opDef{
		infer: func(c *ctx) error {
			if err := needFloat(c, 0, 1, 2, 3, 4); err != nil {
				return err
			}
			if c.n.i("training_mode", 0) != 0 || len(c.n.out) > 1 {
				return c.errorf("training mode (batch statistics) is not supported; export the model in eval mode")
			}
			x := c.in[0].shape
			if len(x) < 2 {
				return c.errorf("input of shape %v", x)
			}
			for i := 1; i < 5; i++ {
				if v := c.input(i); v == nil || !v.shape.equal(shape{x[1]}) {
					return c.errorf("parameter %d does not have shape [%v]", i, x[1])
				}
			}
			return sameAs(c)
		},
		eval: func(c *ctx) error {
			x := c.in[0].k
			eps := c.n.f("epsilon", 1e-5)
			inner := numel(x.Shape[2:])
			ch := x.Shape[1]
			t := newTensor(x.Type, x.Shape)
			for i, v := range x.F {
				k := i / inner % ch
				sc, b, m, va := c.in[1].k.F[k], c.in[2].k.F[k], c.in[3].k.F[k], c.in[4].k.F[k]
				t.F[i] = (v-m)/math.Sqrt(va+eps)*sc + b
			}
			c.setK(0, t.round())
			return nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			for i := 1; i < 5; i++ {
				if b.wants(c, i) {
					return nil, c.errorf("parameters that depend on the input are not supported")
				}
			}
			x := c.in[0].shape
			cs := make(shape, len(x)-1)
			cs[0] = x[1]
			for i := 1; i < len(cs); i++ {
				cs[i] = fixed(1)
			}
			eps := c.n.f("epsilon", 1e-5)
			scale := b.div(c.in[1].name, b.op("Sqrt", b.add(c.in[4].name, b.scalarLike(c.in[4].name, eps))))
			return []string{b.mul(dy[0], b.reshape(scale, cs)), "", "", "", ""}, nil
		},
	})
}
