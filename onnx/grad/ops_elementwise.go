package grad

import (
	"math"
)

// bcastIndex returns, for each element of a tensor of shape out, the index of the
// element of a tensor of shape in that numpy broadcasting maps onto it.
func bcastIndex(out, in []int) []int {
	r := len(out)
	strides := make([]int, r)
	s := 1
	for i := len(in) - 1; i >= 0; i-- {
		if in[i] != 1 {
			strides[r-len(in)+i] = s
		}
		s *= in[i]
	}
	idx := make([]int, numel(out))
	cnt := make([]int, r)
	off := 0
	for i := range idx {
		idx[i] = off
		for d := r - 1; d >= 0; d-- {
			cnt[d]++
			off += strides[d]
			if cnt[d] < out[d] {
				break
			}
			off -= strides[d] * cnt[d]
			cnt[d] = 0
		}
	}
	return idx
}

// unary registers an elementwise operator on floats with its derivative, given as
// ONNX ops by grad(b, x, y, dy).
func unary(name string, f func(n *node, x float64) float64, grad func(b *builder, c *ctx, x, y, dy string) string) {
	register(name, &opDef{
		infer: func(c *ctx) error {
			if err := needFloat(c, 0); err != nil {
				return err
			}
			return sameAs(c)
		},
		eval: func(c *ctx) error {
			x := c.in[0].k
			t := newTensor(x.Type, x.Shape)
			for i, v := range x.F {
				t.F[i] = f(c.n, v)
			}
			c.setK(0, t.round())
			return nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			return []string{grad(b, c, c.in[0].name, c.n.out[0], dy[0])}, nil
		},
	})
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func init() {
	unary("Relu", func(_ *node, x float64) float64 { return math.Max(x, 0) },
		func(b *builder, c *ctx, x, y, dy string) string {
			// PyTorch's derivative at exactly 0 is 0.
			return b.where(b.op("Greater", x, b.zeroLike(x)), dy, b.zeroLike(dy))
		})
	unary("LeakyRelu", func(n *node, x float64) float64 {
		if x >= 0 {
			return x
		}
		return n.f("alpha", 0.01) * x
	}, func(b *builder, c *ctx, x, y, dy string) string {
		return b.where(b.op("Greater", x, b.zeroLike(x)), dy, b.scale(dy, c.n.f("alpha", 0.01)))
	})
	unary("Elu", func(n *node, x float64) float64 {
		if x > 0 {
			return x
		}
		return n.f("alpha", 1) * math.Expm1(x)
	}, func(b *builder, c *ctx, x, y, dy string) string {
		// For x <= 0 the derivative alpha*exp(x) is y + alpha.
		alpha := c.n.f("alpha", 1)
		return b.where(b.op("Greater", x, b.zeroLike(x)), dy, b.mul(dy, b.add(y, b.scalarLike(y, alpha))))
	})
	unary("Sigmoid", func(_ *node, x float64) float64 { return sigmoid(x) },
		func(b *builder, c *ctx, x, y, dy string) string {
			return b.mul(dy, b.mul(y, b.sub(b.scalarLike(y, 1), y)))
		})
	unary("Tanh", func(_ *node, x float64) float64 { return math.Tanh(x) },
		func(b *builder, c *ctx, x, y, dy string) string {
			return b.mul(dy, b.sub(b.scalarLike(y, 1), b.mul(y, y)))
		})
	unary("Exp", func(_ *node, x float64) float64 { return math.Exp(x) },
		func(b *builder, c *ctx, x, y, dy string) string { return b.mul(dy, y) })
	unary("Log", func(_ *node, x float64) float64 { return math.Log(x) },
		func(b *builder, c *ctx, x, y, dy string) string { return b.div(dy, x) })
	unary("Sqrt", func(_ *node, x float64) float64 { return math.Sqrt(x) },
		func(b *builder, c *ctx, x, y, dy string) string { return b.div(dy, b.scale(y, 2)) })
	unary("Neg", func(_ *node, x float64) float64 { return -x },
		func(b *builder, c *ctx, x, y, dy string) string { return b.op("Neg", dy) })
	unary("Abs", func(_ *node, x float64) float64 { return math.Abs(x) },
		func(b *builder, c *ctx, x, y, dy string) string { return b.mul(dy, b.op("Sign", x)) })
	unary("Sign", func(_ *node, x float64) float64 {
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return 0
	}, func(b *builder, c *ctx, x, y, dy string) string { return b.zeroLike(x) })
	unary("Softplus", func(_ *node, x float64) float64 {
		if x > 0 {
			return x + math.Log1p(math.Exp(-x))
		}
		return math.Log1p(math.Exp(x))
	}, func(b *builder, c *ctx, x, y, dy string) string { return b.mul(dy, b.op("Sigmoid", x)) })

	unary("Erf", func(_ *node, x float64) float64 { return math.Erf(x) },
		func(b *builder, c *ctx, x, y, dy string) string {
			// d erf(x)/dx = 2/sqrt(pi) * exp(-x^2).
			return b.mul(dy, b.scale(b.op("Exp", b.op("Neg", b.mul(x, x))), 2/math.Sqrt(math.Pi)))
		})
	unary("Reciprocal", func(_ *node, x float64) float64 { return 1 / x },
		func(b *builder, c *ctx, x, y, dy string) string { return b.op("Neg", b.mul(dy, b.mul(y, y))) })
	// HardSigmoid: max(0, min(1, alpha*x + beta)); its derivative is alpha strictly
	// inside the ramp, as PyTorch's.
	unary("HardSigmoid", func(n *node, x float64) float64 {
		return math.Max(0, math.Min(1, n.f("alpha", 0.2)*x+n.f("beta", 0.5)))
	}, func(b *builder, c *ctx, x, y, dy string) string {
		alpha, beta := c.n.f("alpha", 0.2), c.n.f("beta", 0.5)
		t := b.add(b.scale(x, alpha), b.scalarLike(x, beta))
		ramp := b.op("And", b.op("Greater", t, b.zeroLike(t)), b.op("Less", t, b.scalarLike(t, 1)))
		return b.where(ramp, b.scale(dy, alpha), b.zeroLike(dy))
	})
	// HardSwish (opset 14): x * HardSigmoid(x) with alpha 1/6 and beta 0.5; its
	// derivative is 0 below -3, x/3 + 1/2 up to 3, 1 above (PyTorch's).
	unary("HardSwish", func(_ *node, x float64) float64 {
		return x * math.Max(0, math.Min(1, x/6+0.5))
	}, func(b *builder, c *ctx, x, y, dy string) string {
		mid := b.add(b.scale(x, 1.0/3), b.scalarLike(x, 0.5))
		d := b.where(b.op("Less", x, b.scalarLike(x, -3)), b.zeroLike(x),
			b.where(b.op("Greater", x, b.scalarLike(x, 3)), b.scalarLike(x, 1), mid))
		return b.mul(dy, d)
	})

	passThrough := func(b *builder, c *ctx, dy []string) ([]string, error) { return []string{dy[0]}, nil }
	register("Identity", &opDef{
		infer: sameAs,
		eval:  func(c *ctx) error { c.setK(0, c.in[0].k); return nil },
		sym: func(c *ctx) (bool, error) {
			d, ok := c.in[0].dims()
			if ok {
				c.setSym(0, d, len(c.in[0].shape) == 0)
			}
			return ok, nil
		},
		vjp: passThrough,
	})
	// Dropout is the identity in inference; its mask output, when asked for, is all
	// true. A training_mode input that is true (opset 12+) is refused: the gradient
	// graph describes the model in inference.
	register("Dropout", &opDef{
		infer: func(c *ctx) error {
			if t := c.input(2); t != nil {
				v, ok := t.constInts()
				if !ok {
					return c.errorf("training_mode must be a constant")
				}
				if len(v) > 0 && v[0] != 0 {
					return c.errorf("training_mode is true; only inference graphs are supported")
				}
			}
			c.set(0, c.in[0].typ, c.in[0].shape)
			if len(c.n.out) > 1 {
				c.set(1, tBool, c.in[0].shape)
			}
			return nil
		},
		eval: func(c *ctx) error {
			c.setK(0, c.in[0].k)
			if len(c.n.out) > 1 {
				m := newTensor(tBool, c.in[0].k.Shape)
				for i := range m.I {
					m.I[i] = 1
				}
				c.setK(1, m)
			}
			return nil
		},
		vjp:         passThrough,
		paramInputs: []int{1, 2},
	})
	register("Cast", &opDef{
		infer: func(c *ctx) error {
			c.set(0, int32(c.n.i("to", 0)), c.in[0].shape)
			if !isFloat(c.out[0].typ) && !isInt(c.out[0].typ) {
				return c.errorf("cast to %s is not supported", typeName(c.out[0].typ))
			}
			return nil
		},
		eval: func(c *ctx) error {
			x, to := c.in[0].k, int32(c.n.i("to", 0))
			t := newTensor(to, x.Shape)
			for i := range x.len() {
				v := x.at(i)
				if isFloat(to) {
					t.F[i] = v
				} else if isFloat(x.Type) {
					t.I[i] = castInt(to, int64(v))
				} else {
					t.I[i] = castInt(to, x.I[i])
				}
			}
			c.setK(0, t.round())
			return nil
		},
		sym: func(c *ctx) (bool, error) {
			d, ok := c.in[0].dims()
			if !ok || (c.n.i("to", 0) != int64(tInt64) && c.n.i("to", 0) != int64(tInt32)) {
				return false, nil
			}
			c.setSym(0, d, len(c.in[0].shape) == 0)
			c.out[0].typ = int32(c.n.i("to", 0))
			return true, nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			if !isFloat(c.in[0].typ) {
				return []string{""}, nil
			}
			return []string{b.op("Cast", dy[0], ai("to", int64(c.in[0].typ)))}, nil
		},
	})
	register("Not", &opDef{
		infer: func(c *ctx) error { c.set(0, tBool, c.in[0].shape); return nil },
		eval: func(c *ctx) error {
			t := newTensor(tBool, c.in[0].k.Shape)
			for i, v := range c.in[0].k.I {
				t.I[i] = 1 - castInt(tBool, v)
			}
			c.setK(0, t)
			return nil
		},
	})

	// Binary operators with numpy broadcasting.
	arith := func(name string, f func(a, b float64) float64, fi func(a, b int64) int64, vjp func(b *builder, c *ctx, dy []string) ([]string, error)) {
		register(name, &opDef{
			infer: func(c *ctx) error {
				a, b := c.in[0], c.in[1]
				if a.typ != b.typ {
					return c.errorf("inputs of types %s and %s", typeName(a.typ), typeName(b.typ))
				}
				s, err := broadcast(a.shape, b.shape)
				if err != nil {
					return c.errorf("%v", err)
				}
				c.set(0, a.typ, s)
				return nil
			},
			eval: func(c *ctx) error {
				a, b := c.in[0].k, c.in[1].k
				s, err := broadcast(staticShape(a.Shape), staticShape(b.Shape))
				if err != nil {
					return c.errorf("%v", err)
				}
				out := s.ints()
				ia, ib := bcastIndex(out, a.Shape), bcastIndex(out, b.Shape)
				t := newTensor(a.Type, out)
				for i := range ia {
					if isFloat(a.Type) {
						t.F[i] = f(a.F[ia[i]], b.F[ib[i]])
					} else {
						if fi == nil {
							return c.errorf("integer inputs are not supported")
						}
						t.I[i] = castInt(a.Type, fi(a.I[ia[i]], b.I[ib[i]]))
					}
				}
				c.setK(0, t.round())
				return nil
			},
			sym: func(c *ctx) (bool, error) {
				// Shape arithmetic: dims times, plus, minus or divided by dims,
				// elementwise, with scalars broadcast.
				da, oka := c.in[0].dims()
				db, okb := c.in[1].dims()
				if !oka || !okb || len(c.in[0].shape) > 1 || len(c.in[1].shape) > 1 {
					return false, nil
				}
				n := max(len(da), len(db))
				if (len(da) != n && len(da) != 1) || (len(db) != n && len(db) != 1) {
					return false, nil
				}
				out := make([]dim, n)
				for i := range out {
					x, y := da[min(i, len(da)-1)], db[min(i, len(db)-1)]
					var ok bool
					switch name {
					case "Mul":
						out[i], ok = mulDim(x, y), true
					case "Div":
						out[i], ok = divDim(x, y)
					case "Add":
						out[i], ok = addDim(x, y)
					case "Sub":
						out[i], ok = addDim(x, dim{n: -y.n, sym: y.sym})
						ok = ok && y.static()
					}
					if !ok {
						return false, nil
					}
				}
				c.setSym(0, out, len(c.in[0].shape) == 0 && len(c.in[1].shape) == 0)
				return true, nil
			},
			vjp: vjp,
		})
	}
	arith("Add", func(a, b float64) float64 { return a + b }, func(a, b int64) int64 { return a + b },
		func(b *builder, c *ctx, dy []string) ([]string, error) {
			return []string{b.unbroadcastIf(c, 0, dy[0]), b.unbroadcastIf(c, 1, dy[0])}, nil
		})
	arith("Sub", func(a, b float64) float64 { return a - b }, func(a, b int64) int64 { return a - b },
		func(b *builder, c *ctx, dy []string) ([]string, error) {
			g1 := ""
			if b.wants(c, 1) {
				g1 = b.unbroadcast(b.op("Neg", dy[0]), c.in[1].shape)
			}
			return []string{b.unbroadcastIf(c, 0, dy[0]), g1}, nil
		})
	arith("Mul", func(a, b float64) float64 { return a * b }, func(a, b int64) int64 { return a * b },
		func(b *builder, c *ctx, dy []string) ([]string, error) {
			x, y := c.in[0].name, c.in[1].name
			g := []string{"", ""}
			if b.wants(c, 0) {
				g[0] = b.unbroadcast(b.mul(dy[0], y), c.in[0].shape)
			}
			if b.wants(c, 1) {
				g[1] = b.unbroadcast(b.mul(dy[0], x), c.in[1].shape)
			}
			return g, nil
		})
	arith("Div", func(a, b float64) float64 { return a / b }, func(a, b int64) int64 {
		if b == 0 {
			return 0
		}
		return a / b
	}, func(b *builder, c *ctx, dy []string) ([]string, error) {
		y := c.in[1].name
		g := []string{"", ""}
		if b.wants(c, 0) {
			g[0] = b.unbroadcast(b.div(dy[0], y), c.in[0].shape)
		}
		if b.wants(c, 1) {
			// d(a/b)/db = -(a/b)/b.
			g[1] = b.unbroadcast(b.op("Neg", b.div(b.mul(dy[0], c.n.out[0]), y)), c.in[1].shape)
		}
		return g, nil
	})
	arith("Pow", math.Pow, nil, func(b *builder, c *ctx, dy []string) ([]string, error) {
		x, p := c.in[0].name, c.in[1].name
		g := []string{"", ""}
		if b.wants(c, 0) {
			// d(x^p)/dx = p*x^(p-1).
			g[0] = b.unbroadcast(b.mul(dy[0], b.mul(p, b.op("Pow", x, b.sub(p, b.scalarLike(p, 1))))), c.in[0].shape)
		}
		if b.wants(c, 1) {
			g[1] = b.unbroadcast(b.mul(dy[0], b.mul(c.n.out[0], b.op("Log", x))), c.in[1].shape)
		}
		return g, nil
	})
	arith("Mod", nil, func(a, b int64) int64 {
		if b == 0 {
			return 0
		}
		m := a % b
		if m != 0 && (m < 0) != (b < 0) {
			m += b // fmod=0: the sign of the divisor, as Python's %
		}
		return m
	}, nil)
	ops["Mod"].sym = nil

	compare := func(name string, f func(a, b float64) bool) {
		register(name, &opDef{
			infer: func(c *ctx) error {
				s, err := broadcast(c.in[0].shape, c.in[1].shape)
				if err != nil {
					return c.errorf("%v", err)
				}
				c.set(0, tBool, s)
				return nil
			},
			eval: func(c *ctx) error {
				a, b := c.in[0].k, c.in[1].k
				s, _ := broadcast(staticShape(a.Shape), staticShape(b.Shape))
				out := s.ints()
				ia, ib := bcastIndex(out, a.Shape), bcastIndex(out, b.Shape)
				t := newTensor(tBool, out)
				for i := range ia {
					if f(a.at(ia[i]), b.at(ib[i])) {
						t.I[i] = 1
					}
				}
				c.setK(0, t)
				return nil
			},
		})
	}
	compare("Equal", func(a, b float64) bool { return a == b })
	compare("Greater", func(a, b float64) bool { return a > b })
	compare("Less", func(a, b float64) bool { return a < b })
	compare("GreaterOrEqual", func(a, b float64) bool { return a >= b })
	compare("LessOrEqual", func(a, b float64) bool { return a <= b })
	compare("And", func(a, b float64) bool { return a != 0 && b != 0 })
	compare("Or", func(a, b float64) bool { return a != 0 || b != 0 })

	register("Where", &opDef{
		infer: func(c *ctx) error {
			s, err := broadcast(c.in[0].shape, c.in[1].shape, c.in[2].shape)
			if err != nil {
				return c.errorf("%v", err)
			}
			c.set(0, c.in[1].typ, s)
			return nil
		},
		eval: func(c *ctx) error {
			cond, x, y := c.in[0].k, c.in[1].k, c.in[2].k
			s, _ := broadcast(staticShape(cond.Shape), staticShape(x.Shape), staticShape(y.Shape))
			out := s.ints()
			ic, ix, iy := bcastIndex(out, cond.Shape), bcastIndex(out, x.Shape), bcastIndex(out, y.Shape)
			t := newTensor(x.Type, out)
			for i := range ic {
				src, j := y, iy[i]
				if cond.I[ic[i]] != 0 {
					src, j = x, ix[i]
				}
				if isFloat(t.Type) {
					t.F[i] = src.F[j]
				} else {
					t.I[i] = src.I[j]
				}
			}
			c.setK(0, t)
			return nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			g := []string{"", "", ""}
			zero := b.zeroLike(dy[0])
			if b.wants(c, 1) {
				g[1] = b.unbroadcast(b.where(c.in[0].name, dy[0], zero), c.in[1].shape)
			}
			if b.wants(c, 2) {
				g[2] = b.unbroadcast(b.where(c.in[0].name, zero, dy[0]), c.in[2].shape)
			}
			return g, nil
		},
		paramInputs: []int{0},
	})

	register("Sum", &opDef{
		infer: func(c *ctx) error {
			var shapes []shape
			for _, v := range c.in {
				if v.typ != c.in[0].typ {
					return c.errorf("inputs of types %s and %s", typeName(c.in[0].typ), typeName(v.typ))
				}
				shapes = append(shapes, v.shape)
			}
			s, err := broadcast(shapes...)
			if err != nil {
				return c.errorf("%v", err)
			}
			c.set(0, c.in[0].typ, s)
			return nil
		},
		eval: func(c *ctx) error {
			acc := c.in[0]
			for _, v := range c.in[1:] {
				sub := &ctx{n: &node{op: "Add", name: c.n.name}, opset: c.opset, in: []*value{acc, v}}
				if err := ops["Add"].eval(sub); err != nil {
					return err
				}
				acc = sub.out[0]
			}
			c.setK(0, acc.k)
			return nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			g := make([]string, len(c.in))
			for i := range c.in {
				g[i] = b.unbroadcastIf(c, i, dy[0])
			}
			return g, nil
		},
	})

	// PRelu: y = x for x > 0, slope*x otherwise; slope broadcasts to x.
	register("PRelu", &opDef{
		infer: func(c *ctx) error {
			if err := needFloat(c, 0, 1); err != nil {
				return err
			}
			if s, err := broadcast(c.in[0].shape, c.in[1].shape); err != nil || !s.equal(c.in[0].shape) {
				return c.errorf("slope of shape %v does not broadcast to the input's %v", c.in[1].shape, c.in[0].shape)
			}
			return sameAs(c)
		},
		eval: func(c *ctx) error {
			x, s := c.in[0].k, c.in[1].k
			is := bcastIndex(x.Shape, s.Shape)
			t := newTensor(x.Type, x.Shape)
			for i, v := range x.F {
				if v < 0 {
					v *= s.F[is[i]]
				}
				t.F[i] = v
			}
			c.setK(0, t.round())
			return nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			if b.wants(c, 1) {
				return nil, c.errorf("the gradient with respect to the slope is not supported (it depends on the input)")
			}
			x := c.in[0].name
			return []string{b.where(b.op("Greater", x, b.zeroLike(x)), dy[0], b.mul(dy[0], c.in[1].name)), ""}, nil
		},
	})

	// Clip (opset 11+): min and max are optional scalar inputs. Its derivative is 1
	// where min <= x <= max (torch.clamp's), 0 elsewhere.
	register("Clip", &opDef{
		infer: func(c *ctx) error {
			if c.opset < 11 && (c.n.has("min") || c.n.has("max")) {
				return c.errorf("opset %d Clip with attributes is not supported", c.opset)
			}
			for i := 1; i < 3; i++ {
				if v := c.input(i); v != nil && (len(v.shape) > 1 || v.shape.size() != fixed(1)) {
					return c.errorf("bound %q has shape %v; want a scalar", v.name, v.shape)
				}
			}
			return sameAs(c)
		},
		eval: func(c *ctx) error {
			x := c.in[0].k
			lo, hi := math.Inf(-1), math.Inf(1)
			if v := c.input(1); v != nil {
				lo = v.k.at(0)
			}
			if v := c.input(2); v != nil {
				hi = v.k.at(0)
			}
			t := newTensor(x.Type, x.Shape)
			for i := range x.len() {
				v := math.Min(math.Max(x.at(i), lo), hi)
				if isFloat(t.Type) {
					t.F[i] = v
				} else {
					t.I[i] = int64(v)
				}
			}
			c.setK(0, t)
			return nil
		},
		vjp: func(b *builder, c *ctx, dy []string) ([]string, error) {
			if b.wants(c, 1) || b.wants(c, 2) {
				return nil, c.errorf("bounds that depend on the input are not supported")
			}
			x := c.in[0].name
			var out string
			for i, cmp := range []string{"Less", "Greater"} {
				if v := c.input(i + 1); v != nil {
					m := b.op(cmp, x, v.name)
					if out == "" {
						out = m
					} else {
						out = b.op("Or", out, m)
					}
				}
			}
			if out == "" {
				return []string{dy[0], "", ""}, nil
			}
			return []string{b.where(out, b.zeroLike(dy[0]), dy[0]), "", ""}, nil
		},
	})
}
