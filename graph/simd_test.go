package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// simdValues returns n float32 values for the SIMD tests: normal values of both
// signs and magnitudes, with signed zeros, infinities, a NaN and subnormals mixed in.
func simdValues(rng *rand.Rand, n int) []float32 {
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), 1e-40, -1e-40, math.MaxFloat32, -math.SmallestNonzeroFloat32}
	v := make([]float32, n)
	for i := range v {
		if rng.IntN(8) == 0 {
			v[i] = special[rng.IntN(len(special))]
		} else {
			v[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
		}
	}
	return v
}

// withGo runs f with the AVX2 loops switched off, for the Go loops' answer.
func withGo(f func()) {
	saved := useAVX2
	useAVX2 = false
	defer func() { useAVX2 = saved }()
	f()
}

// sameBits requires equal bits, except that any NaN matches any NaN: when both
// operands of an add are NaN, x86 returns the first one's, and the Go compiler orders
// the operands of a commutative add as it likes (a NaN in training stops the run).
func sameBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Errorf("%s: [%d] = %v (%#x), Go loop %v (%#x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			return
		}
	}
}

// TestSIMDMatchesGo checks every AVX2 loop bit for bit against the Go loop it
// replaces: the row kernels on every length up to 40 (vector steps and tails) with
// special values, and im2col/col2im on every convolution of the test cases and the
// MNIST decoder, in the geometry each kernel sees. It is a no-op where AVX2 is off.
func TestSIMDMatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 loops on this machine or build")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 40; n++ {
		x, y, g := simdValues(rng, n), simdValues(rng, n), simdValues(rng, n)
		for _, f := range [][2]float32{{0.2, 1}, {0, 1}} {
			sc, sh := float32(rng.NormFloat64()), float32(rng.NormFloat64())
			got, want := simdValues(rng, n), make([]float32, n)
			bnActRow(got, x, sc, sh, f)
			withGo(func() { bnActRow(want, x, sc, sh, f) })
			sameBits(t, fmt.Sprintf("bnActRow n=%d slope %v", n, f[0]), got, want)
			p := make([]float32, 4)
			for i := range p {
				p[i] = float32(rng.NormFloat64())
			}
			bnGradXRow(got, x, y, g, p[0], p[1], p[2], p[3], f)
			withGo(func() { bnGradXRow(want, x, y, g, p[0], p[1], p[2], p[3], f) })
			sameBits(t, fmt.Sprintf("bnGradXRow n=%d slope %v", n, f[0]), got, want)
		}
	}
	// The row loops of im2col and col2im: two blocks (channels) of three rows of every
	// width up to 40, strides 1 and 2, with gaps between rows and between blocks.
	for w := 1; w <= 40; w++ {
		for _, s := range []int{1, 2} {
			const nc, rows = 2, 3
			srcLd, dstLd := w*s+3, (w-1)*s+5
			srcC, dstC := rows*srcLd+7, rows*dstLd+2
			src := simdValues(rng, (nc-1)*srcC+(rows-1)*srcLd+(w-1)*s+1)
			base := simdValues(rng, (nc-1)*dstC+(rows-1)*dstLd+(w-1)*s+1)
			got, want := append([]float32(nil), base...), append([]float32(nil), base...)
			foldRows(got, src, nc, dstC, srcC, rows, w, dstLd, srcLd, s)
			withGo(func() { foldRows(want, src, nc, dstC, srcC, rows, w, dstLd, srcLd, s) })
			sameBits(t, fmt.Sprintf("foldRows w=%d s=%d", w, s), got, want)
			for _, pad := range [][2]int{{0, 0}, {1, 2}} {
				wo := w + pad[0] + pad[1]
				uC := rows*wo + 3
				got, want := simdValues(rng, nc*uC), simdValues(rng, nc*uC)
				copy(want, got)
				unfoldRows(got, src, nc, uC, srcC, rows, wo, pad[0], pad[0]+w, srcLd, s)
				withGo(func() { unfoldRows(want, src, nc, uC, srcC, rows, wo, pad[0], pad[0]+w, srcLd, s) })
				sameBits(t, fmt.Sprintf("unfoldRows w=%d s=%d pad %v", w, s, pad), got, want)
			}
		}
	}
	geoms := map[string]geometry{}
	for _, c := range convCases {
		geoms[fmt.Sprintf("conv %+v", c)] = newGeometry(c.cin, c.h, c.w, c.k, c.s, c.p)
	}
	for _, c := range convTCases {
		ho, wo := (c.h-1)*c.s-2*c.p+c.k, (c.w-1)*c.s-2*c.p+c.k
		geoms[fmt.Sprintf("convT %+v", c)] = newGeometry(c.cout, ho, wo, c.k, c.s, c.p)
	}
	for _, d := range decoderGeometries {
		geoms[d.name] = d.g
	}
	for name, g := range geoms {
		img := simdValues(rng, g.imageSize)
		got, want := make([]float32, g.colRows*g.colCols), make([]float32, g.colRows*g.colCols)
		im2col(g, img, got, g.colCols)
		withGo(func() { im2col(g, img, want, g.colCols) })
		sameBits(t, "im2col "+name, got, want)
		cols := simdValues(rng, g.colRows*g.colCols)
		gotImg, wantImg := make([]float32, g.imageSize), make([]float32, g.imageSize)
		col2im(g, cols, gotImg, g.colCols)
		withGo(func() { col2im(g, cols, wantImg, g.colCols) })
		sameBits(t, "col2im "+name, gotImg, wantImg)
	}
}
