package grad

import (
	"fmt"
	"slices"
	"strings"
)

// dim is a tensor dimension known at build time up to the symbolic dimensions of the
// graph's inputs (the batch): n times the product of the symbols in sym. Exporters
// compute reshape targets from the input's shape at run time (Shape, Gather, Concat);
// tracking dimensions as such products lets those chains fold to constants whose only
// unknown is the batch, which Reshape can take as 0 (copy) or -1 (infer).
type dim struct {
	n   int64
	sym string // "" for a static dimension; else sorted symbol names joined by "*"
}

func fixed(n int64) dim { return dim{n: n} }

func (d dim) static() bool { return d.sym == "" }

func (d dim) String() string {
	switch {
	case d.sym == "":
		return fmt.Sprint(d.n)
	case d.n == 1:
		return d.sym
	}
	return fmt.Sprintf("%d*%s", d.n, d.sym)
}

func syms(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "*")
}

func mulDim(a, b dim) dim {
	s := append(syms(a.sym), syms(b.sym)...)
	slices.Sort(s)
	return dim{n: a.n * b.n, sym: strings.Join(s, "*")}
}

// divDim divides a by b when the quotient is again a dim.
func divDim(a, b dim) (dim, bool) {
	if b.n == 0 || a.n%b.n != 0 {
		return dim{}, false
	}
	s := syms(a.sym)
	for _, x := range syms(b.sym) {
		i := slices.Index(s, x)
		if i < 0 {
			return dim{}, false
		}
		s = slices.Delete(s, i, i+1)
	}
	return dim{n: a.n / b.n, sym: strings.Join(s, "*")}, true
}

func addDim(a, b dim) (dim, bool) {
	switch {
	case a.static() && b.static():
		return fixed(a.n + b.n), true
	case b.static() && b.n == 0:
		return a, true
	case a.static() && a.n == 0:
		return b, true
	case a.sym == b.sym:
		return dim{n: a.n + b.n, sym: a.sym}, true
	}
	return dim{}, false
}

type shape []dim

func staticShape(s []int) shape {
	out := make(shape, len(s))
	for i, d := range s {
		out[i] = fixed(int64(d))
	}
	return out
}

func (s shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (s shape) static() bool {
	for _, d := range s {
		if !d.static() {
			return false
		}
	}
	return true
}

// ints returns the sizes of a static shape.
func (s shape) ints() []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d.n)
	}
	return out
}

func (s shape) size() dim {
	p := fixed(1)
	for _, d := range s {
		p = mulDim(p, d)
	}
	return p
}

func (s shape) equal(t shape) bool { return slices.Equal(s, t) }

// broadcast returns the shape of a multidirectional (numpy) broadcast of the shapes.
func broadcast(shapes ...shape) (shape, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make(shape, r)
	for i := range out {
		out[i] = fixed(1)
	}
	for _, s := range shapes {
		off := r - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case d == o || d == fixed(1):
			case o == fixed(1):
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
			}
		}
	}
	return out, nil
}

// normAxis turns a possibly negative axis into one in [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(a), nil
}

func normAxes(axes []int64, rank int) ([]int, error) {
	out := make([]int, len(axes))
	for i, a := range axes {
		n, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out[:i], n) {
			return nil, fmt.Errorf("axis %d repeated in %v", a, axes)
		}
		out[i] = n
	}
	return out, nil
}
