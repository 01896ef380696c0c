package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/internal/naive"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convCases cover every (kernel, stride, padding) of Table 9's encoders and decoders
// plus odd shapes: non-square inputs, padding wider than the stride, stride > kernel.
var convCases = []struct {
	cin, h, w, cout, k, s, p int
}{
	{1, 28, 28, 3, 5, 2, 2}, // MNIST encoder
	{4, 4, 4, 3, 4, 1, 1},   // MNIST last encoder conv
	{3, 4, 4, 2, 4, 1, 0},   // traffic/SVHN last encoder conv
	{2, 7, 5, 3, 3, 1, 1},
	{2, 6, 9, 2, 3, 3, 0},
	{1, 5, 5, 2, 2, 3, 0},
	{2, 8, 8, 3, 3, 2, 2},
	{3, 5, 4, 2, 1, 1, 0},
}

// convTCases are transposed convolutions (input c x h x w -> cout channels): every
// decoder layer shape of Table 9 and a few more.
var convTCases = []struct {
	cin, h, w, cout, k, s, p int
}{
	{3, 1, 1, 4, 4, 1, 0}, // 1 -> 4 (all decoders' first layer)
	{3, 4, 4, 2, 5, 2, 0}, // MNIST 4 -> 11
	{2, 11, 11, 2, 5, 2, 0},
	{2, 25, 25, 2, 4, 1, 0}, // MNIST 25 -> 28
	{3, 4, 4, 2, 4, 2, 1},   // traffic/SVHN 4 -> 8
	{2, 16, 16, 3, 1, 1, 0}, // 1x1 output layer
	{2, 3, 5, 2, 3, 2, 1},
	{1, 4, 3, 2, 2, 3, 0},
}

func randSlice(rng *rand.Rand, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = rng.Float64()*2 - 1
	}
	return out
}

func TestConvForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range convCases {
		name := fmt.Sprintf("%+v", c)
		g := newGeometry(c.cin, c.h, c.w, c.k, c.s, c.p)
		const batch = 2
		x := randSlice(rng, batch*c.cin*c.h*c.w)
		w := randSlice(rng, c.cout*c.cin*c.k*c.k)
		y := make([]float64, batch*c.cout*g.Ho*g.Wo)
		convForward(g, c.cout, batch, (&colCache[float64]{}).get(g, batch, x), w, y)
		for b := 0; b < batch; b++ {
			img := naive.Image{C: c.cin, H: c.h, W: c.w, Data: x[b*g.imageSize : (b+1)*g.imageSize]}
			want := naive.Conv2d(img, w, c.cout, c.k, c.s, c.p)
			if want.H != g.Ho || want.W != g.Wo {
				t.Fatalf("%s: output %dx%d, naive %dx%d", name, g.Ho, g.Wo, want.H, want.W)
			}
			for i, v := range want.Data {
				if got := y[b*len(want.Data)+i]; math.Abs(got-v) > 1e-12 {
					t.Fatalf("%s: conv(x)[%d,%d] = %v, naive %v", name, b, i, got, v)
				}
			}
		}
	}
}

func TestConvTransposeForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range convTCases {
		name := fmt.Sprintf("%+v", c)
		ho, wo := (c.h-1)*c.s-2*c.p+c.k, (c.w-1)*c.s-2*c.p+c.k
		g := newGeometry(c.cout, ho, wo, c.k, c.s, c.p)
		if g.Ho != c.h || g.Wo != c.w {
			t.Fatalf("%s: geometry does not invert", name)
		}
		const batch = 2
		x := randSlice(rng, batch*c.cin*c.h*c.w)
		w := randSlice(rng, c.cin*c.cout*c.k*c.k)
		y := make([]float64, batch*c.cout*ho*wo)
		convBackwardData(g, c.cin, batch, x, w, y, &scratch[float64]{})
		for b := 0; b < batch; b++ {
			img := naive.Image{C: c.cin, H: c.h, W: c.w, Data: x[b*c.cin*c.h*c.w : (b+1)*c.cin*c.h*c.w]}
			want := naive.ConvTranspose2d(img, w, c.cout, c.k, c.s, c.p)
			if want.H != ho || want.W != wo {
				t.Fatalf("%s: output %dx%d, naive %dx%d", name, ho, wo, want.H, want.W)
			}
			for i, v := range want.Data {
				if got := y[b*len(want.Data)+i]; math.Abs(got-v) > 1e-12 {
					t.Fatalf("%s: convT(x)[%d,%d] = %v, naive %v", name, b, i, got, v)
				}
			}
		}
	}
}

// TestConvGradients checks the gradients Gorgonia derives through the custom kernels
// (input and filter, for both the convolution and the transposed convolution) against
// central finite differences of sum(r * layer(x, w)).
func TestConvGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	type cs struct{ cin, h, w, cout, k, s, p int }
	var all []struct {
		transposed bool
		c          cs
	}
	for _, c := range convCases {
		all = append(all, struct {
			transposed bool
			c          cs
		}{false, cs(c)})
	}
	for _, c := range convTCases {
		all = append(all, struct {
			transposed bool
			c          cs
		}{true, cs(c)})
	}
	for _, tc := range all {
		c := tc.c
		name := fmt.Sprintf("transposed=%v %+v", tc.transposed, c)
		const batch = 2
		var kern *convKernel[float64]
		var xShape, wShape tensor.Shape
		if tc.transposed {
			ho, wo := (c.h-1)*c.s-2*c.p+c.k, (c.w-1)*c.s-2*c.p+c.k
			kern = newConvKernel[float64](convAdj, newGeometry(c.cout, ho, wo, c.k, c.s, c.p), c.cin)
			xShape, wShape = tensor.Shape{batch, c.cin, c.h, c.w}, tensor.Shape{c.cin, c.cout, c.k, c.k}
		} else {
			kern = newConvKernel[float64](convFwd, newGeometry(c.cin, c.h, c.w, c.k, c.s, c.p), c.cout)
			xShape, wShape = tensor.Shape{batch, c.cin, c.h, c.w}, tensor.Shape{c.cout, c.cin, c.k, c.k}
		}
		gr := G.NewGraph()
		xv := tensor.New(tensor.WithShape(xShape...), tensor.WithBacking(randSlice(rng, xShape.TotalSize())))
		wv := tensor.New(tensor.WithShape(wShape...), tensor.WithBacking(randSlice(rng, wShape.TotalSize())))
		x := G.NodeFromAny(gr, xv, G.WithName("x"))
		w := G.NodeFromAny(gr, wv, G.WithName("w"))
		y, err := apply[float64](kern, nil, x, w)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := G.NodeFromAny(gr, tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(randSlice(rng, y.Shape().TotalSize()))), G.WithName("r"))
		cost := G.Must(G.Sum(G.Must(G.HadamardProd(y, r))))
		grads, err := G.Grad(cost, x, w)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vm := G.NewTapeMachine(gr)
		run := func() float64 {
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			defer vm.Reset()
			return cost.Value().Data().(float64)
		}
		run()
		got := [][]float64{append([]float64(nil), grads[0].Value().Data().([]float64)...), append([]float64(nil), grads[1].Value().Data().([]float64)...)}
		for i, v := range []*tensor.Dense{xv, wv} {
			d := v.Data().([]float64)
			for trial := 0; trial < 6; trial++ {
				j := rng.IntN(len(d))
				const h = 1e-6
				orig := d[j]
				d[j] = orig + h
				lp := run()
				d[j] = orig - h
				lm := run()
				d[j] = orig
				if fd := (lp - lm) / (2 * h); math.Abs(fd-got[i][j]) > 1e-6*math.Max(1, math.Abs(fd)) {
					t.Errorf("%s: d cost / d %s[%d] = %v, finite difference %v", name, []string{"x", "w"}[i], j, got[i][j], fd)
				}
			}
		}
		vm.Close()
	}
}
