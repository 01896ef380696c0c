package grad

import (
	"math"
	"slices"
)

func stridesOf(s []int) []int {
	st := make([]int, len(s))
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= s[i]
	}
	return st
}

// gatherAxis copies, for every index along one axis of x, the slab x[..., i, ...] into
// a tensor whose axis takes the given indices (in bounds).
func gatherAxis(x *Tensor, axis int, idx []int) *Tensor {
	out := slices.Clone(x.Shape)
	out[axis] = len(idx)
	t := newTensor(x.Type, out)
	outer := numel(x.Shape[:axis])
	inner := numel(x.Shape[axis+1:])
	o := 0
	for a := 0; a < outer; a++ {
		for _, i := range idx {
			src := (a*x.Shape[axis] + i) * inner
			if isFloat(x.Type) {
				copy(t.F[o:o+inner], x.F[src:src+inner])
			} else {
				copy(t.I[o:o+inner], x.I[src:src+inner])
			}
			o += inner
		}
	}
	return t
}

func reshaped(x *Tensor, s []int) *Tensor {
	return &Tensor{Type: x.Type, Shape: slices.Clone(s), F: x.F, I: x.I}
}

// axesParam returns a node's axes, from its attribute (before opset 13, or always for
// operators that kept it) or from input i.
func axesParam(c *ctx, i int, inputFrom int) ([]int64, bool, error) {
	if c.opset >= inputFrom {
		v := c.input(i)
		if v == nil {
			return nil, false, nil
		}
		x, err := c.constIntsInput(i, "axes")
		return x, true, err
	}
	if !c.n.has("axes") {
		return nil, false, nil
	}
	return c.n.ints("axes", nil), true, nil
}

// reshapeTarget resolves a Reshape target (0 copies the input's dimension unless
// allowzero, -1 takes what is left) against the input's shape.
func reshapeTarget(c *ctx, in shape, t []dim, allowZero bool) (shape, error) {
	out := make(shape, len(t))
	infer := -1
	known := fixed(1)
	for i, d := range t {
		switch {
		case d == fixed(0) && !allowZero:
			if i >= len(in) {
				return nil, c.errorf("target %v copies dimension %d of a rank-%d input", t, i, len(in))
			}
			out[i] = in[i]
		case d == fixed(-1):
			if infer >= 0 {
				return nil, c.errorf("target %v has two -1 entries", t)
			}
			infer = i
			continue
		case d.static() && d.n < 0:
			return nil, c.errorf("target %v has a negative dimension", t)
		default:
			out[i] = d
		}
		known = mulDim(known, out[i])
	}
	total := in.size()
	if infer >= 0 {
		q, ok := divDim(total, known)
		if !ok {
			return nil, c.errorf("cannot reshape %v to %v", in, t)
		}
		out[infer] = q
	} else if known != total {
		return nil, c.errorf("cannot reshape %v (%v elements) to %v", in, total, t)
	}
	return out, nil
}

// padsParam returns the pads of a Pad node (an input since opset 11).
func padsParam(c *ctx) ([]int64, error) {
	if c.opset < 11 {
		return c.n.ints("pads", nil), nil
	}
	return c.constIntsInput(1, "pads")
}

// sliceParams returns, per axis of a rank-r input with the given static sizes, the
// start, the step and the number of elements a Slice takes (opset 10+: inputs).
func sliceParams(c *ctx, sizes shape) (start, step, count []int64, err error) {
	r := len(sizes)
	starts, err := c.constIntsInput(1, "starts")
	if err != nil {
		return nil, nil, nil, err
	}
	ends, err := c.constIntsInput(2, "ends")
	if err != nil {
		return nil, nil, nil, err
	}
	axes, err := c.constIntsInput(3, "axes")
	if err != nil {
		return nil, nil, nil, err
	}
	steps, err := c.constIntsInput(4, "steps")
	if err != nil {
		return nil, nil, nil, err
	}
	if c.opset < 10 {
		starts, ends, axes = c.n.ints("starts", nil), c.n.ints("ends", nil), c.n.ints("axes", nil)
	}
	if len(starts) != len(ends) {
		return nil, nil, nil, c.errorf("%d starts and %d ends", len(starts), len(ends))
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	ax, err := normAxes(axes, r)
	if err != nil || len(ax) != len(starts) || (steps != nil && len(steps) != len(starts)) {
		return nil, nil, nil, c.errorf("bad axes %v or steps %v for %d starts", axes, steps, len(starts))
	}
	start, step, count = make([]int64, r), make([]int64, r), make([]int64, r)
	for a := range r {
		step[a] = 1
		count[a] = -1 // whole axis
	}
	for i, a := range ax {
		if steps != nil {
			step[a] = steps[i]
		}
		if step[a] == 0 {
			return nil, nil, nil, c.errorf("step 0")
		}
		d := sizes[a]
		if !d.static() {
			if starts[i] == 0 && ends[i] >= math.MaxInt32 && step[a] == 1 {
				continue // the whole symbolic axis
			}
			return nil, nil, nil, c.errorf("slicing the symbolic axis %d (%v) is not supported", a, d)
		}
		n := d.n
		s, e := starts[i], ends[i]
		if s < 0 {
			s += n
		}
		if e < 0 {
			e += n
		}
		if step[a] > 0 {
			s, e = min(max(s, 0), n), min(max(e, 0), n)
			count[a] = max(0, (e-s+step[a]-1)/step[a])
		} else {
			s, e = min(max(s, -1), n-1), min(max(e, -1), n-1)
			count[a] = max(0, (s-e-step[a]-1)/(-step[a]))
		}
		start[a] = s
	}
	return start, step, count, nil
}

// constantAttr decodes the value of a Constant node.
func constantAttr(c *ctx) (*Tensor, error) {
	for name, a := range c.n.attr {
		switch name {
		case "value":
			if a.T == nil {
				return nil, c.errorf("value is not a tensor")
			}
			t, err := decodeTensor(a.T)
			if err != nil {
				return nil, c.errorf("%v", err)
			}
			return t, nil
		case "value_float":
			return floatTensor(tFloat, nil, []float64{float64(a.F)}), nil
		case "value_floats":
			f := make([]float64, len(a.Floats))
			for i, v := range a.Floats {
				f[i] = float64(v)
			}
			return floatTensor(tFloat, []int{len(f)}, f), nil
		case "value_int":
			return intTensor(nil, []int64{a.I}), nil
		case "value_ints":
			return intTensor([]int{len(a.Ints)}, slices.Clone(a.Ints)), nil
		default:
			return nil, c.errorf("attribute %q is not supported", name)
		}
	}
	return nil, c.errorf("no value")
}

func init() {
	register("Constant", &opDef{
		infer: func(c *ctx) error { return ops["Constant"].eval(c) },
		eval: func(c *ctx) error {
			t, err := constantAttr(c)
			if err != nil {
				return err
			}
			c.setK(0, t)
			return nil
		},
	})

	// Shape (opset 15 adds start and end).
	register("Shape", &opDef{
		infer: func(c *ctx) error {
			d := shapeSlice(c)
			c.set(0, tInt64, shape{fixed(int64(len(d)))})
			return nil
		},
		sym: func(c *ctx) (bool, error) {
			c.setSym(0, shapeSlice(c), false)
			return true, nil
		},
	})
	register("Size", &opDef{
		infer: func(c *ctx) error { c.set(0, tInt64, shape{}); return nil },
		sym: func(c *ctx) (bool, error) {
			c.setSym(0, []dim{c.in[0].shape.size()}, true)
			return true, nil
		},
	})

	register("ConstantOfShape", &opDef{
		infer: func(c *ctx) error {
			d, ok := c.in[0].dims()
			if !ok {
				return c.errorf("its shape is computed at run time from values the builder cannot follow")
			}
			typ := tFloat
			if a, ok := c.n.attr["value"]; ok {
				if a.T == nil {
					return c.errorf("value is not a tensor")
				}
				typ = a.T.DataType
			}
			for _, x := range d {
				if x.static() && x.n < 0 {
					return c.errorf("negative dimension in shape %v", d)
				}
			}
			c.set(0, typ, shape(d))
			return nil
		},
		eval: func(c *ctx) error {
			s := c.in[0].k.I
			fill := floatTensor(tFloat, []int{1}, []float64{0})
			if a, ok := c.n.attr["value"]; ok {
				t, err := decodeTensor(a.T)
				if err != nil || t.len() != 1 {
					return c.errorf("bad value attribute")
				}
				fill = t
			}
			sh := make([]int, len(s))
			for i, v := range s {
				sh[i] = int(v)
			}
			t := newTensor(fill.Type, sh)
			for i := range t.len() {
				if isFloat(t.Type) {
					t.F[i] = fill.F[0]
				} else {
					t.I[i] = fill.I[0]
				}
			}
			c.setK(0, t)
			return nil
		},
	})

	register("Range", &opDef{
		infer: func(c *ctx) error {
			for i := range 3 {
				if c.in[i].k == nil || c.in[i].k.len() != 1 {
					return c.errorf("start, limit and delta must be scalars known before the graph runs")
				}
			}
			if c.in[2].k.at(0) == 0 {
				return c.errorf("delta 0")
			}
			return ops["Range"].eval(c)
		},
		eval: func(c *ctx) error {
			s, l, d := c.in[0].k.at(0), c.in[1].k.at(0), c.in[2].k.at(0)
			n := max(0, int(math.Ceil((l-s)/d)))
			t := newTensor(c.in[0].typ, []int{n})
			for i := range n {
				if isFloat(t.Type) {
					t.F[i] = s + float64(i)*d
				} else {
					t.I[i] = int64(s + float64(i)*d)
				}
			}
			c.setK(0, t)
			return nil
		},
	})

	register("Gather", &opDef{
		infer: func(c *ctx) error {
			x, idx := c.in[0], c.in[1]
			axis, err := normAxis(c.n.i("axis", 0), len(x.shape))
			if err != nil {
				return c.errorf("%v", err)
			}
			s := slices.Concat(x.shape[:axis], idx.shape, x.shape[axis+1:])
			c.set(0, x.typ, s)
			return nil
		},
		eval: func(c *ctx) error {
			x, idx := c.in[0].k, c.in[1].k
			axis, _ := normAxis(c.n.i("axis", 0), len(x.Shape))
			is := make([]int, idx.len())
			for i, v := range idx.ints() {
				if v < 0 {
					v += int64(x.Shape[axis])
				}
				if v < 0 || v >= int64(x.Shape[axis]) {
					return c.errorf("index %d out of range for axis of size %d", idx.ints()[i], x.Shape[axis])
				}
				is[i] = int(v)
			}
			t := gatherAxis(x, axis, is)
			c.setK(0, reshaped(t, slices.Concat(x.Shape[:axis], idx.Shape, x.Shape[axis+1:])))
			return nil
		},
		sym: func(c *ctx) (bool, error) {
			d, ok := c.in[0].dims()
			idx, oki := c.in[1].constInts()
			if !ok || !oki || len(c.in[0].shape) != 1 {
				return false, nil
			}
			out := make([]dim, len(idx))
			for i, v := range idx {
				if v < 0 {
					v += int64(len(d))
				}
				if v < 0 || v >= int64(len(d)) {
					return false, c.errorf("index %d out of range for %d elements", idx[i], len(d))
				}
				out[i] = d[v]
			}
			c.setSym(0, out, len(c.in[1].shape) == 0)
			return true, nil
		},
		paramInputs: []int{1},
	})

	register("Unsqueeze", &opDef{
		infer: func(c *ctx) error {
			axes, ok, err := axesParam(c, 1, 13)
			if err != nil {
				return err
			}
			if !ok {
				return c.errorf("no axes")
			}
			r := len(c.in[0].shape) + len(axes)
			ax, err := normAxes(axes, r)
			if err != nil {
				return c.errorf("%v", err)
			}
			out := make(shape, 0, r)
			rest := c.in[0].shape
			for i := range r {
				if slices.Contains(ax, i) {
					out = append(out, fixed(1))
				} else {
					out = append(out, rest[0])
					rest = rest[1:]
				}
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: evalReshapeLike("Unsqueeze"),
		sym:  symReshapeLike("Unsqueeze"),
		vjp:  vjpReshapeBack,
	})
	register("Squeeze", &opDef{
		infer: func(c *ctx) error {
			axes, ok, err := axesParam(c, 1, 13)
			if err != nil {
				return err
			}
			in := c.in[0].shape
			var ax []int
			if ok {
				if ax, err = normAxes(axes, len(in)); err != nil {
					return c.errorf("%v", err)
				}
			} else {
				for i, d := range in {
					if d == fixed(1) {
						ax = append(ax, i)
					} else if !d.static() {
						return c.errorf("squeezing without axes an input of symbolic shape %v", in)
					}
				}
			}
			var out shape
			for i, d := range in {
				if slices.Contains(ax, i) {
					if d != fixed(1) {
						return c.errorf("cannot squeeze axis %d of shape %v", i, in)
					}
					continue
				}
				out = append(out, d)
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: evalReshapeLike("Squeeze"),
		sym:  symReshapeLike("Squeeze"),
		vjp:  vjpReshapeBack,
	})
	register("Flatten", &opDef{
		infer: func(c *ctx) error {
			in := c.in[0].shape
			axis := c.n.i("axis", 1)
			if axis < 0 {
				axis += int64(len(in))
			}
			if axis < 0 || axis > int64(len(in)) {
				return c.errorf("axis %d out of range for rank %d", c.n.i("axis", 1), len(in))
			}
			c.set(0, c.in[0].typ, shape{in[:axis].size(), in[axis:].size()})
			return nil
		},
		eval: evalReshapeLike("Flatten"),
		vjp:  vjpReshapeBack,
	})
	register("Reshape", &opDef{
		infer: func(c *ctx) error {
			t, ok := c.in[1].dims()
			if !ok {
				return c.errorf("its target shape (input %q) is computed at run time from values the builder cannot follow", c.in[1].name)
			}
			out, err := reshapeTarget(c, c.in[0].shape, t, c.n.i("allowzero", 0) != 0)
			if err != nil {
				return err
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: evalReshapeLike("Reshape"),
		sym:  symReshapeLike("Reshape"),
		vjp:  vjpReshapeBack,
	})
	ops["Unsqueeze"].paramInputs = []int{1}
	ops["Squeeze"].paramInputs = []int{1}
	ops["Reshape"].paramInputs = []int{1}

	register("Transpose", &opDef{
		infer: func(c *ctx) error {
			in := c.in[0].shape
			perm, err := transposePerm(c, len(in))
			if err != nil {
				return err
			}
			out := make(shape, len(in))
			for i, p := range perm {
				out[i] = in[p]
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: func(c *ctx) error {
			x := c.in[0].k
			perm, err := transposePerm(c, len(x.Shape))
			if err != nil {
				return err
			}
			c.setK(0, transpose(x, perm))
			return nil
		},
		sym: func(c *ctx) (bool, error) {
			d, ok := c.in[0].dims()
			if !ok || len(c.in[0].shape) > 1 {
				return false, nil
			}
			c.setSym(0, d, len(c.in[0].shape) == 0)
			return true, nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			perm, _ := transposePerm(c, len(c.in[0].shape))
			inv := make([]int64, len(perm))
			for i, p := range perm {
				inv[p] = int64(i)
			}
			return []string{b.op("Transpose", dy[0], aints("perm", inv...))}, nil
		},
	})

	register("Concat", &opDef{
		infer: func(c *ctx) error {
			r := len(c.in[0].shape)
			axis, err := normAxis(c.n.i("axis", 0), r)
			if err != nil {
				return c.errorf("%v", err)
			}
			out := slices.Clone(c.in[0].shape)
			for _, v := range c.in[1:] {
				if len(v.shape) != r || v.typ != c.in[0].typ {
					return c.errorf("inputs of shapes %v and %v", c.in[0].shape, v.shape)
				}
				for i := range r {
					if i != axis && v.shape[i] != out[i] {
						return c.errorf("inputs of shapes %v and %v", c.in[0].shape, v.shape)
					}
				}
				var ok bool
				if out[axis], ok = addDim(out[axis], v.shape[axis]); !ok {
					return c.errorf("concatenating symbolic sizes along axis %d", axis)
				}
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: func(c *ctx) error {
			r := len(c.in[0].k.Shape)
			axis, _ := normAxis(c.n.i("axis", 0), r)
			out := slices.Clone(c.in[0].k.Shape)
			out[axis] = 0
			for _, v := range c.in {
				out[axis] += v.k.Shape[axis]
			}
			t := newTensor(c.in[0].typ, out)
			outer := numel(out[:axis])
			o := 0
			for a := 0; a < outer; a++ {
				for _, v := range c.in {
					n := numel(v.k.Shape[axis:])
					src := a * n
					if isFloat(t.Type) {
						copy(t.F[o:], v.k.F[src:src+n])
					} else {
						copy(t.I[o:], v.k.I[src:src+n])
					}
					o += n
				}
			}
			c.setK(0, t)
			return nil
		},
		sym: func(c *ctx) (bool, error) {
			var out []dim
			for _, v := range c.in {
				d, ok := v.dims()
				if !ok || len(v.shape) != 1 {
					return false, nil
				}
				out = append(out, d...)
			}
			c.setSym(0, out, false)
			return true, nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			axis, _ := normAxis(c.n.i("axis", 0), len(c.in[0].shape))
			g := make([]string, len(c.in))
			off := int64(0)
			for i, v := range c.in {
				d := v.shape[axis]
				if !d.static() {
					if len(c.in) > 1 {
						return nil, c.errorf("the gradient of a concatenation along the symbolic axis %d is not supported", axis)
					}
					g[i] = dy[0]
					continue
				}
				if b.wants(c, i) {
					g[i] = b.op("Slice", dy[0], b.ints(off), b.ints(off+d.n), b.ints(int64(axis)))
				}
				off += d.n
			}
			return g, nil
		},
	})

	register("Split", &opDef{
		infer: func(c *ctx) error {
			sizes, axis, err := splitParams(c)
			if err != nil {
				return err
			}
			for i, n := range sizes {
				s := slices.Clone(c.in[0].shape)
				s[axis] = fixed(n)
				c.set(i, c.in[0].typ, s)
			}
			return nil
		},
		eval: func(c *ctx) error {
			sizes, axis, err := splitParams(c)
			if err != nil {
				return err
			}
			off := 0
			for i, n := range sizes {
				idx := make([]int, n)
				for j := range idx {
					idx[j] = off + j
				}
				off += int(n)
				c.setK(i, gatherAxis(c.in[0].k, axis, idx))
			}
			return nil
		},
		sym: func(c *ctx) (bool, error) {
			d, ok := c.in[0].dims()
			if !ok || len(c.in[0].shape) != 1 {
				return false, nil
			}
			sizes, _, err := splitParams(c)
			if err != nil {
				return false, err
			}
			off := 0
			for i, n := range sizes {
				c.setSym(i, d[off:off+int(n)], false)
				off += int(n)
			}
			return true, nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			_, axis, _ := splitParams(c)
			parts := make([]any, len(dy))
			for i, g := range dy {
				if g == "" {
					g = b.zerosOf(c.n.out[i])
				}
				parts[i] = g
			}
			parts = append(parts, ai("axis", int64(axis)))
			return []string{b.op("Concat", parts...), ""}, nil
		},
		paramInputs: []int{1},
	})

	register("Slice", &opDef{
		infer: func(c *ctx) error {
			in := c.in[0].shape
			_, _, count, err := sliceParams(c, in)
			if err != nil {
				return err
			}
			out := slices.Clone(in)
			for a, n := range count {
				if n >= 0 {
					out[a] = fixed(n)
				}
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: func(c *ctx) error {
			x := c.in[0].k
			start, step, count, err := sliceParams(c, staticShape(x.Shape))
			if err != nil {
				return err
			}
			t := x
			for a := range x.Shape {
				if count[a] < 0 {
					continue
				}
				idx := make([]int, count[a])
				for j := range idx {
					idx[j] = int(start[a] + int64(j)*step[a])
				}
				t = gatherAxis(t, a, idx)
			}
			c.setK(0, t)
			return nil
		},
		sym: func(c *ctx) (bool, error) {
			d, ok := c.in[0].dims()
			if !ok || len(c.in[0].shape) != 1 {
				return false, nil
			}
			start, step, count, err := sliceParams(c, c.in[0].shape)
			if err != nil {
				return false, err
			}
			var out []dim
			for j := int64(0); j < count[0]; j++ {
				out = append(out, d[start[0]+j*step[0]])
			}
			if count[0] < 0 {
				out = d
			}
			c.setSym(0, out, false)
			return true, nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			in := c.in[0].shape
			start, step, count, _ := sliceParams(c, in)
			pads := make([]int64, 2*len(in))
			for a := range in {
				if count[a] < 0 {
					continue
				}
				if step[a] != 1 {
					return nil, c.errorf("the gradient of a slice with step %d is not supported", step[a])
				}
				pads[a] = start[a]
				pads[len(in)+a] = in[a].n - start[a] - count[a]
			}
			return []string{b.pad(dy[0], pads), "", "", "", ""}, nil
		},
		paramInputs: []int{1, 2, 3, 4},
	})

	register("Pad", &opDef{
		infer: func(c *ctx) error {
			pads, err := padsParam(c)
			if err != nil {
				return err
			}
			in := c.in[0].shape
			if len(pads) != 2*len(in) {
				return c.errorf("%d pads for rank %d", len(pads), len(in))
			}
			if c.opset >= 18 && c.input(3) != nil {
				return c.errorf("the axes input is not supported")
			}
			out := slices.Clone(in)
			for a := range in {
				var ok bool
				if out[a], ok = addDim(in[a], fixed(pads[a]+pads[len(in)+a])); !ok {
					return c.errorf("padding the symbolic axis %d", a)
				}
			}
			switch m := c.n.s("mode", "constant"); m {
			case "constant", "reflect", "edge":
			default:
				return c.errorf("mode %q is not supported", m)
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: func(c *ctx) error {
			x := c.in[0].k
			pads, _ := padsParam(c)
			fill := 0.0
			if c.opset < 11 {
				fill = c.n.f("value", 0)
			} else if v := c.input(2); v != nil && v.k.len() > 0 {
				fill = v.k.at(0)
			}
			c.setK(0, padTensor(x, pads, c.n.s("mode", "constant"), fill))
			return nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			if m := c.n.s("mode", "constant"); m != "constant" {
				return nil, c.errorf("the gradient of mode %q is not supported (constant is)", m)
			}
			if b.wants(c, 2) {
				return nil, c.errorf("a padding value that depends on the input is not supported")
			}
			pads, _ := padsParam(c)
			neg := make([]int64, len(pads))
			for i, p := range pads {
				neg[i] = -p
			}
			return []string{b.pad(dy[0], neg), "", ""}, nil
		},
		paramInputs: []int{1, 2, 3},
	})

	register("Expand", &opDef{
		infer: func(c *ctx) error {
			t, ok := c.in[1].dims()
			if !ok {
				return c.errorf("its shape (input %q) is computed at run time from values the builder cannot follow", c.in[1].name)
			}
			out, err := broadcast(c.in[0].shape, shape(t))
			if err != nil {
				return c.errorf("%v", err)
			}
			c.set(0, c.in[0].typ, out)
			return nil
		},
		eval: func(c *ctx) error {
			x := c.in[0].k
			s, err := broadcast(staticShape(x.Shape), staticShape(intsToInts(c.in[1].k.I)))
			if err != nil {
				return c.errorf("%v", err)
			}
			out := s.ints()
			idx := bcastIndex(out, x.Shape)
			t := newTensor(x.Type, out)
			for i, j := range idx {
				if isFloat(t.Type) {
					t.F[i] = x.F[j]
				} else {
					t.I[i] = x.I[j]
				}
			}
			c.setK(0, t)
			return nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			return []string{b.unbroadcast(dy[0], c.in[0].shape), ""}, nil
		},
		paramInputs: []int{1},
	})
}

func intsToInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// shapeSlice is the output of Shape: the input's dimensions from start to end
// (attributes since opset 15).
func shapeSlice(c *ctx) []dim {
	d := c.in[0].shape
	r := int64(len(d))
	s, e := c.n.i("start", 0), c.n.i("end", r)
	if s < 0 {
		s += r
	}
	if e < 0 {
		e += r
	}
	s, e = min(max(s, 0), r), min(max(e, 0), r)
	if e < s {
		e = s
	}
	return slices.Clone([]dim(d[s:e]))
}

func transposePerm(c *ctx, r int) ([]int, error) {
	p := c.n.ints("perm", nil)
	if p == nil {
		out := make([]int, r)
		for i := range out {
			out[i] = r - 1 - i
		}
		return out, nil
	}
	out, err := normAxes(p, r)
	if err != nil || len(out) != r {
		return nil, c.errorf("bad perm %v for rank %d", p, r)
	}
	return out, nil
}

func transpose(x *Tensor, perm []int) *Tensor {
	out := make([]int, len(perm))
	for i, p := range perm {
		out[i] = x.Shape[p]
	}
	st := stridesOf(x.Shape)
	t := newTensor(x.Type, out)
	cnt := make([]int, len(out))
	for i := range t.len() {
		src := 0
		for d, c := range cnt {
			src += c * st[perm[d]]
		}
		if isFloat(t.Type) {
			t.F[i] = x.F[src]
		} else {
			t.I[i] = x.I[src]
		}
		for d := len(out) - 1; d >= 0; d-- {
			cnt[d]++
			if cnt[d] < out[d] {
				break
			}
			cnt[d] = 0
		}
	}
	return t
}

// splitParams returns the sizes of a Split's outputs and its axis: an attribute
// before opset 13, an optional input from 13, equal parts when absent.
func splitParams(c *ctx) ([]int64, int, error) {
	in := c.in[0].shape
	axis, err := normAxis(c.n.i("axis", 0), len(in))
	if err != nil {
		return nil, 0, c.errorf("%v", err)
	}
	var sizes []int64
	if c.opset < 13 {
		sizes = c.n.ints("split", nil)
	} else if sizes, err = c.constIntsInput(1, "split"); err != nil {
		return nil, 0, err
	}
	if c.opset >= 18 && c.n.has("num_outputs") {
		return nil, 0, c.errorf("num_outputs is not supported")
	}
	d := in[axis]
	if !d.static() {
		return nil, 0, c.errorf("splitting the symbolic axis %d", axis)
	}
	if sizes == nil {
		k := int64(len(c.n.out))
		if d.n%k != 0 {
			return nil, 0, c.errorf("axis of size %d does not split into %d equal parts", d.n, k)
		}
		for range k {
			sizes = append(sizes, d.n/k)
		}
	}
	var sum int64
	for _, s := range sizes {
		sum += s
	}
	if sum != d.n || len(sizes) != len(c.n.out) {
		return nil, 0, c.errorf("split %v of an axis of size %d into %d outputs", sizes, d.n, len(c.n.out))
	}
	return sizes, axis, nil
}

// evalReshapeLike evaluates the operators that only change a tensor's shape: the
// output's shape, from infer, is all they need.
func evalReshapeLike(op string) func(c *ctx) error {
	return func(c *ctx) error {
		if err := ops[op].infer(c); err != nil {
			return err
		}
		c.setK(0, reshaped(c.in[0].k, c.out[0].shape.ints()))
		return nil
	}
}

// symReshapeLike gives shape-only operators on symbolic integer vectors: the elements
// stay, the rank goes between 0 and 1.
func symReshapeLike(op string) func(c *ctx) (bool, error) {
	return func(c *ctx) (bool, error) {
		d, ok := c.in[0].dims()
		if !ok {
			return false, nil
		}
		if err := ops[op].infer(c); err != nil {
			return false, err
		}
		if len(c.out[0].shape) > 1 {
			return false, nil
		}
		c.setSym(0, d, len(c.out[0].shape) == 0)
		return true, nil
	}
}

func vjpReshapeBack(b *builder, c *ctx, dy []string) ([]string, error) {
	g := make([]string, len(c.in))
	g[0] = b.reshape(dy[0], c.in[0].shape)
	return g, nil
}

// padTensor pads x by pads (begins then ends, negative values crop) in the given
// mode, as ONNX Pad.
func padTensor(x *Tensor, pads []int64, mode string, fill float64) *Tensor {
	r := len(x.Shape)
	out := make([]int, r)
	for a := range r {
		out[a] = x.Shape[a] + int(pads[a]+pads[r+a])
	}
	t := newTensor(x.Type, out)
	st := stridesOf(x.Shape)
	cnt := make([]int, r)
	for i := range t.len() {
		src, inside := 0, true
		for a, c := range cnt {
			j := c - int(pads[a])
			n := x.Shape[a]
			if j < 0 || j >= n {
				switch mode {
				case "edge":
					j = min(max(j, 0), n-1)
				case "reflect":
					for j < 0 || j >= n {
						if j < 0 {
							j = -j
						}
						if j >= n {
							j = 2*(n-1) - j
						}
					}
				default:
					inside = false
				}
			}
			src += j * st[a]
		}
		v := fill
		if inside {
			v = x.at(src)
		}
		if isFloat(t.Type) {
			t.F[i] = v
		} else {
			t.I[i] = int64(v)
		}
		for a := r - 1; a >= 0; a-- {
			cnt[a]++
			if cnt[a] < out[a] {
				break
			}
			cnt[a] = 0
		}
	}
	return t
}

func init() {
	// ScatterElements is written only by gradients (MaxPool's). Duplicate indices keep
	// the last update, which MaxPool's gradients never write.
	register("ScatterElements", &opDef{
		infer: sameAs,
		eval: func(c *ctx) error {
			data, idx, upd := c.in[0].k, c.in[1].k, c.in[2].k
			axis, err := normAxis(c.n.i("axis", 0), len(data.Shape))
			if err != nil || !isFloat(data.Type) || len(idx.Shape) != len(data.Shape) {
				return c.errorf("bad scatter of %v by indices %v", data.Shape, idx.Shape)
			}
			t := &Tensor{Type: data.Type, Shape: data.Shape, F: slices.Clone(data.F)}
			dst, src := stridesOf(data.Shape), stridesOf(idx.Shape)
			for p, j := range idx.I {
				if j < 0 {
					j += int64(data.Shape[axis])
				}
				if j < 0 || j >= int64(data.Shape[axis]) {
					return c.errorf("index %d out of range", idx.I[p])
				}
				o := 0
				for a := range idx.Shape {
					co := p / src[a] % idx.Shape[a]
					if a == axis {
						co = int(j)
					}
					o += co * dst[a]
				}
				t.F[o] = upd.F[p]
			}
			c.setK(0, t)
			return nil
		},
	})
}
