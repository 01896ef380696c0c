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

// bnCase is one BatchNorm+LeakyReLU layer under test: cost = sum(r * act(bn(x))).
type bnCase struct {
	b, c, h, w int
	slope      float64
	train      bool
	offset     float64 // added to x: a channel mean far from zero
}

// bnProgram builds the layer over float64 values converted to T, runs it and returns
// the output, the cost's gradients in x, gamma and beta (as float64), and a rerun
// function for finite differences on the float64 slices it was given.
type bnRun struct {
	y, dx, dgamma, dbeta []float64
	cost                 func() float64
	close                func()
}

func runBN[T float32 | float64](t *testing.T, tc bnCase, x, gamma, beta, r, runMean, runVar []float64) bnRun {
	t.Helper()
	conv := func(v []float64) []T {
		out := make([]T, len(v))
		for i, f := range v {
			out[i] = T(f)
		}
		return out
	}
	xs, gs, bs := conv(x), conv(gamma), conv(beta)
	gr := G.NewGraph()
	xn := G.NodeFromAny(gr, tensor.New(tensor.WithShape(tc.b, tc.c, tc.h, tc.w), tensor.WithBacking(xs)), G.WithName("x"))
	gn := G.NodeFromAny(gr, tensor.New(tensor.WithShape(tc.c), tensor.WithBacking(gs)), G.WithName("gamma"))
	bn := G.NodeFromAny(gr, tensor.New(tensor.WithShape(tc.c), tensor.WithBacking(bs)), G.WithName("beta"))
	rn := G.NodeFromAny(gr, tensor.New(tensor.WithShape(tc.b, tc.c, tc.h, tc.w), tensor.WithBacking(conv(r))), G.WithName("r"))
	off := false
	k := newBN(tc.train, &off, conv(runMean), conv(runVar), tc.slope)
	y, err := apply[T](k, nil, xn, gn, bn)
	if err != nil {
		t.Fatal(err)
	}
	cost := G.Must(G.Sum(G.Must(G.HadamardProd(y, rn))))
	grads, err := G.Grad(cost, xn, gn, bn)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(gr)
	run := func() float64 {
		// The graph reads its own T copies: refresh them from the float64 slices.
		for i := range x {
			xs[i] = T(x[i])
		}
		for i := range gamma {
			gs[i], bs[i] = T(gamma[i]), T(beta[i])
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		defer vm.Reset()
		return float64(cost.Value().Data().(T))
	}
	run()
	to64 := func(n *G.Node) []float64 {
		d := n.Value().Data().([]T)
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	return bnRun{y: to64(y), dx: to64(grads[0]), dgamma: to64(grads[1]), dbeta: to64(grads[2]), cost: run, close: func() { vm.Close() }}
}

var bnCases = []bnCase{
	{3, 4, 5, 5, 0.2, true, 0},
	{2, 3, 4, 3, 0, true, 0}, // ReLU, as in the decoders
	{4, 2, 3, 3, 0.2, true, 50},
	{3, 4, 5, 5, 0.2, false, 0},
	{2, 3, 2, 2, 0, false, 1},
}

func bnInputs(rng *rand.Rand, tc bnCase) (x, gamma, beta, r, runMean, runVar []float64) {
	n := tc.b * tc.c * tc.h * tc.w
	x = randSlice(rng, n)
	for i := range x {
		x[i] = 2*x[i] + tc.offset
	}
	gamma, beta = randSlice(rng, tc.c), randSlice(rng, tc.c)
	for i := range gamma {
		gamma[i] += 1.5
	}
	r = randSlice(rng, n)
	runMean, runVar = randSlice(rng, tc.c), randSlice(rng, tc.c)
	for i := range runVar {
		runMean[i] += tc.offset
		runVar[i] = 1 + math.Abs(runVar[i])
	}
	return
}

// TestBatchNormFused checks the fused BatchNorm+LeakyReLU kernel and its fused
// gradient kernels (activation mask, one-pass sums) in float64: the output against
// naive.BatchNorm and naive.LeakyReLU with two-pass batch statistics, every gradient
// coordinate against central finite differences.
func TestBatchNormFused(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range bnCases {
		name := fmt.Sprintf("%+v", tc)
		x, gamma, beta, r, runMean, runVar := bnInputs(rng, tc)
		got := runBN[float64](t, tc, x, gamma, beta, r, runMean, runVar)
		mean, vr := runMean, runVar
		if tc.train {
			mean, vr = make([]float64, tc.c), make([]float64, tc.c)
			hw, n := tc.h*tc.w, float64(tc.b*tc.h*tc.w)
			for ch := 0; ch < tc.c; ch++ {
				for b := 0; b < tc.b; b++ {
					for _, v := range x[(b*tc.c+ch)*hw : (b*tc.c+ch+1)*hw] {
						mean[ch] += v / n
					}
				}
				for b := 0; b < tc.b; b++ {
					for _, v := range x[(b*tc.c+ch)*hw : (b*tc.c+ch+1)*hw] {
						vr[ch] += (v - mean[ch]) * (v - mean[ch]) / n
					}
				}
			}
		}
		per := tc.c * tc.h * tc.w
		for b := 0; b < tc.b; b++ {
			img := naive.Image{C: tc.c, H: tc.h, W: tc.w, Data: x[b*per : (b+1)*per]}
			want := naive.LeakyReLU(naive.BatchNorm(img, gamma, beta, mean, vr, bnEpsilon).Data, tc.slope)
			for i, v := range want {
				if d := math.Abs(got.y[b*per+i] - v); d > 1e-12*math.Max(1, math.Abs(v)) {
					t.Fatalf("%s: y[%d,%d] = %v, naive %v", name, b, i, got.y[b*per+i], v)
				}
			}
		}
		for _, p := range []struct {
			name string
			vals []float64
			grad []float64
		}{{"x", x, got.dx}, {"gamma", gamma, got.dgamma}, {"beta", beta, got.dbeta}} {
			for j := range p.vals {
				const h = 1e-6
				orig := p.vals[j]
				p.vals[j] = orig + h
				lp := got.cost()
				p.vals[j] = orig - h
				lm := got.cost()
				p.vals[j] = orig
				if fd := (lp - lm) / (2 * h); math.Abs(fd-p.grad[j]) > 1e-6*math.Max(1, math.Abs(fd)) {
					t.Errorf("%s: d cost / d %s[%d] = %v, finite difference %v", name, p.name, j, p.grad[j], fd)
				}
			}
		}
		got.close()
	}
}

// TestBatchNormFusedFloat32 checks the float32 kernels that training runs (one-pass
// shifted moments, per-row float32 gradient sums) against the float64 ones, which
// TestBatchNormFused checks against the oracle; the offset case puts the channel
// means at 50 standard deviations.
func TestBatchNormFusedFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range bnCases {
		name := fmt.Sprintf("%+v", tc)
		x, gamma, beta, r, runMean, runVar := bnInputs(rng, tc)
		want := runBN[float64](t, tc, x, gamma, beta, r, runMean, runVar)
		got := runBN[float32](t, tc, x, gamma, beta, r, runMean, runVar)
		for _, p := range []struct {
			name      string
			got, want []float64
		}{{"y", got.y, want.y}, {"dx", got.dx, want.dx}, {"dgamma", got.dgamma, want.dgamma}, {"dbeta", got.dbeta, want.dbeta}} {
			scale := 0.0
			for _, v := range p.want {
				scale = math.Max(scale, math.Abs(v))
			}
			for i, v := range p.want {
				// float32 rounding of x at offset 50 alone moves xhat by ~4e-6/std
				if d := math.Abs(p.got[i] - v); d > 2e-5*math.Max(1, scale) {
					t.Errorf("%s: float32 %s[%d] = %v, float64 %v", name, p.name, i, p.got[i], v)
				}
			}
		}
		want.close()
		got.close()
	}
}

// directConv returns, by the definition's loops in float64, for the convolution of
// geometry g with o output channels: y = conv(img, w), and for an output-side tensor
// dy the adjoint conv^T(dy, w) (dimg) and the filter gradient sum dy*img (dw).
func directConv(g geometry, o, batch int, img, w, dy []float64) (y, dimg, dw []float64) {
	y = make([]float64, batch*o*g.Ho*g.Wo)
	dimg = make([]float64, batch*g.imageSize)
	dw = make([]float64, len(w))
	for b := 0; b < batch; b++ {
		for oc := 0; oc < o; oc++ {
			for oy := 0; oy < g.Ho; oy++ {
				for ox := 0; ox < g.Wo; ox++ {
					yi := ((b*o+oc)*g.Ho+oy)*g.Wo + ox
					for c := 0; c < g.C; c++ {
						for ki := 0; ki < g.K; ki++ {
							for kj := 0; kj < g.K; kj++ {
								iy, ix := oy*g.S-g.P+ki, ox*g.S-g.P+kj
								if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
									continue
								}
								wi := ((oc*g.C+c)*g.K+ki)*g.K + kj
								ii := ((b*g.C+c)*g.H+iy)*g.W + ix
								y[yi] += w[wi] * img[ii]
								dimg[ii] += w[wi] * dy[yi]
								dw[wi] += dy[yi] * img[ii]
							}
						}
					}
				}
			}
		}
	}
	return
}

func closeTo(t *testing.T, name, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %s has %d values, want %d", name, what, len(got), len(want))
	}
	for i, v := range want {
		if math.Abs(got[i]-v) > 1e-12*math.Max(1, math.Abs(v)) {
			t.Fatalf("%s: %s[%d] = %v, want %v", name, what, i, got[i], v)
		}
	}
}

// TestConvChunked runs the convolution kernels at batch sizes whose chunks (several
// images per GEMM, an uneven last chunk) differ from the batch of 2 of the tests
// above: forward passes against naive.Conv2d and naive.ConvTranspose2d, and every
// gradient combination Gorgonia can ask for (input and filter, input only, filter
// only; the fused transposed-convolution pass) against the definition's loops.
func TestConvChunked(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	type layer struct {
		transposed bool
		g          geometry
		o          int // output-side channels of the convolution of geometry g
	}
	var layers []layer
	for _, c := range convCases {
		layers = append(layers, layer{false, newGeometry(c.cin, c.h, c.w, c.k, c.s, c.p), c.cout})
	}
	for _, c := range convTCases {
		ho, wo := (c.h-1)*c.s-2*c.p+c.k, (c.w-1)*c.s-2*c.p+c.k
		layers = append(layers, layer{true, newGeometry(c.cout, ho, wo, c.k, c.s, c.p), c.cin})
	}
	for _, batch := range []int{7, 33} {
		for _, l := range layers {
			g, o := l.g, l.o
			name := fmt.Sprintf("batch %d transposed=%v %+v o=%d (chunk %d)", batch, l.transposed, g, o, chunkSize(g.colRows*g.colCols, batch))
			img := randSlice(rng, batch*g.imageSize)
			outSide := randSlice(rng, batch*o*g.Ho*g.Wo)
			w := randSlice(rng, o*g.colRows)
			// the layer's input, its output and a cotangent r of the output
			var in, r []float64
			var inShape, wShape tensor.Shape
			if l.transposed {
				in, r = outSide, img
				inShape, wShape = tensor.Shape{batch, o, g.Ho, g.Wo}, tensor.Shape{o, g.C, g.K, g.K}
			} else {
				in, r = img, outSide
				inShape, wShape = tensor.Shape{batch, g.C, g.H, g.W}, tensor.Shape{o, g.C, g.K, g.K}
			}
			var wantY, wantDx, wantDw []float64
			if l.transposed {
				// y = conv^T(in, w); d<r, y>/d in = conv(r, w); d/dw = sum in * r
				var dimg []float64
				wantDx, dimg, wantDw = directConv(g, o, batch, r, w, in)
				wantY = dimg
				for b := 0; b < batch; b++ {
					per := o * g.Ho * g.Wo
					want := naive.ConvTranspose2d(naive.Image{C: o, H: g.Ho, W: g.Wo, Data: in[b*per : (b+1)*per]}, w, g.C, g.K, g.S, g.P)
					if want.H == g.H && want.W == g.W {
						closeTo(t, name, "naive convT", wantY[b*g.imageSize:(b+1)*g.imageSize], want.Data)
					}
				}
			} else {
				wantY, wantDx, wantDw = directConv(g, o, batch, in, w, r)
				for b := 0; b < batch; b++ {
					want := naive.Conv2d(naive.Image{C: g.C, H: g.H, W: g.W, Data: in[b*g.imageSize : (b+1)*g.imageSize]}, w, o, g.K, g.S, g.P)
					closeTo(t, name, "naive conv", wantY[b*o*g.Ho*g.Wo:(b+1)*o*g.Ho*g.Wo], want.Data)
				}
			}
			for _, need := range [][]bool{{true, true}, {true, false}, {false, true}} {
				mode := convFwd
				if l.transposed {
					mode = convAdj
				}
				gr := G.NewGraph()
				x := G.NodeFromAny(gr, tensor.New(tensor.WithShape(inShape...), tensor.WithBacking(append([]float64(nil), in...))), G.WithName("x"))
				wn := G.NodeFromAny(gr, tensor.New(tensor.WithShape(wShape...), tensor.WithBacking(append([]float64(nil), w...))), G.WithName("w"))
				y, err := apply[float64](newConvKernel[float64](mode, g, o), need, x, wn)
				if err != nil {
					t.Fatal(err)
				}
				rn := G.NodeFromAny(gr, tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(append([]float64(nil), r...))), G.WithName("r"))
				cost := G.Must(G.Sum(G.Must(G.HadamardProd(y, rn))))
				var wrt G.Nodes
				if need[0] {
					wrt = append(wrt, x)
				}
				if need[1] {
					wrt = append(wrt, wn)
				}
				grads, err := G.Grad(cost, wrt...)
				if err != nil {
					t.Fatal(err)
				}
				vm := G.NewTapeMachine(gr)
				for run := 0; run < 2; run++ { // the second run reuses every buffer
					if err := vm.RunAll(); err != nil {
						t.Fatal(err)
					}
					what := fmt.Sprintf("%s need %v run %d", name, need, run)
					closeTo(t, what, "y", y.Value().Data().([]float64), wantY)
					i := 0
					if need[0] {
						closeTo(t, what, "dx", grads[i].Value().Data().([]float64), wantDx)
						i++
					}
					if need[1] {
						closeTo(t, what, "dw", grads[i].Value().Data().([]float64), wantDw)
					}
					vm.Reset()
				}
				vm.Close()
			}
		}
	}
}
