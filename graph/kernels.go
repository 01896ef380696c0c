package graph

import (
	goruntime "runtime"
	"sync"

	"github.com/eabs/eabs/internal/blas"
)

// Float is the element type of the reference graph: float32 for training (the speed
// that matters) and float64 for the reference runtime and certification (the accuracy
// that matters).
type Float interface{ float32 | float64 }

// geometry is the 2-D geometry of one convolution: an image of C x H x W seen through a
// K x K window with stride S and padding P gives Ho x Wo positions. A transposed
// convolution uses the same geometry with the roles of image and output swapped.
type geometry struct {
	C, H, W    int
	K, S, P    int
	Ho, Wo     int
	colRows    int // C*K*K
	colCols    int // Ho*Wo
	imageSize  int // C*H*W
	outSpatial int // Ho*Wo
}

func newGeometry(c, h, w, k, s, p int) geometry {
	ho := (h+2*p-k)/s + 1
	wo := (w+2*p-k)/s + 1
	return geometry{C: c, H: h, W: w, K: k, S: s, P: p, Ho: ho, Wo: wo,
		colRows: c * k * k, colCols: ho * wo, imageSize: c * h * w, outSpatial: ho * wo}
}

// validRange returns the output positions [lo, hi) along one axis whose input
// coordinate o*s - p + k falls inside [0, n).
func validRange(n, out, k, s, p int) (lo, hi int) {
	// o*s >= p-k  and  o*s <= n-1+p-k
	lo = 0
	if d := p - k; d > 0 {
		lo = (d + s - 1) / s
	}
	hi = 0
	if d := n - 1 + p - k; d >= 0 {
		hi = d/s + 1
	}
	return lo, min(max(hi, lo), out)
}

// im2col unfolds one image (C,H,W) into cols (C*K*K, Ho*Wo); padded positions are 0.
// The valid output range of each kernel offset is computed once, so the inner loops
// are plain copies (strided gathers when the stride is not 1).
func im2col[T Float](g geometry, img, cols []T) {
	n := g.colCols
	for c := 0; c < g.C; c++ {
		src := img[c*g.H*g.W : (c+1)*g.H*g.W]
		for ki := 0; ki < g.K; ki++ {
			ylo, yhi := validRange(g.H, g.Ho, ki, g.S, g.P)
			for kj := 0; kj < g.K; kj++ {
				xlo, xhi := validRange(g.W, g.Wo, kj, g.S, g.P)
				row := cols[((c*g.K+ki)*g.K+kj)*n : ((c*g.K+ki)*g.K+kj+1)*n]
				clear(row[:ylo*g.Wo])
				clear(row[yhi*g.Wo:])
				for oy := ylo; oy < yhi; oy++ {
					iy := oy*g.S - g.P + ki
					line := src[iy*g.W : (iy+1)*g.W]
					dst := row[oy*g.Wo : (oy+1)*g.Wo]
					clear(dst[:xlo])
					clear(dst[xhi:])
					if xlo >= xhi {
						continue
					}
					ix := xlo*g.S - g.P + kj
					if g.S == 1 {
						copy(dst[xlo:xhi], line[ix:ix+xhi-xlo])
						continue
					}
					for ox := xlo; ox < xhi; ox++ {
						dst[ox] = line[ix]
						ix += g.S
					}
				}
			}
		}
	}
}

// col2im folds cols (C*K*K, Ho*Wo) back onto an image (C,H,W), adding overlapping
// contributions. img must be zeroed (or hold values to accumulate onto).
func col2im[T Float](g geometry, cols, img []T) {
	n := g.colCols
	for c := 0; c < g.C; c++ {
		dst := img[c*g.H*g.W : (c+1)*g.H*g.W]
		for ki := 0; ki < g.K; ki++ {
			ylo, yhi := validRange(g.H, g.Ho, ki, g.S, g.P)
			for kj := 0; kj < g.K; kj++ {
				xlo, xhi := validRange(g.W, g.Wo, kj, g.S, g.P)
				if xlo >= xhi {
					continue
				}
				row := cols[((c*g.K+ki)*g.K+kj)*n : ((c*g.K+ki)*g.K+kj+1)*n]
				for oy := ylo; oy < yhi; oy++ {
					iy := oy*g.S - g.P + ki
					line := dst[iy*g.W : (iy+1)*g.W]
					src := row[oy*g.Wo+xlo : oy*g.Wo+xhi]
					ix := xlo*g.S - g.P + kj
					if g.S == 1 {
						seg := line[ix : ix+len(src)]
						for j, v := range src {
							seg[j] += v
						}
						continue
					}
					for _, v := range src {
						line[ix] += v
						ix += g.S
					}
				}
			}
		}
	}
}

// gemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, op(A) m x k,
// op(B) k x n.
func gemm[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch av := any(a).(type) {
	case []float32:
		blas.Sgemm(tA, tB, m, n, k, float32(alpha), av, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		blas.Dgemm(tA, tB, m, n, k, float64(alpha), av, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// workers is how many goroutines the kernels split a batch across.
func workers(n int) int {
	w := goruntime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	if w < 1 {
		w = 1
	}
	return w
}

// parallel runs f(worker, lo, hi) over [0, n) split into contiguous chunks, one per
// worker, and waits.
func parallel(n int, f func(worker, lo, hi int)) {
	w := workers(n)
	if w == 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Add(1)
		go func(i, lo, hi int) {
			defer wg.Done()
			f(i, lo, hi)
		}(i, lo, hi)
	}
	wg.Wait()
}

// parallelLarge is parallel for elementwise work: it splits only when there is
// enough to amortise the goroutines.
func parallelLarge(n int, f func(lo, hi int)) {
	if n < 1<<15 {
		f(0, n)
		return
	}
	parallel(n, func(_, lo, hi int) { f(lo, hi) })
}

// scratch is a per-worker buffer that grows as needed and is reused across calls.
type scratch[T Float] struct {
	mu   sync.Mutex
	bufs [][]T
}

func (s *scratch[T]) get(worker, n int) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.bufs) <= worker {
		s.bufs = append(s.bufs, nil)
	}
	if cap(s.bufs[worker]) < n {
		s.bufs[worker] = make([]T, n)
	}
	return s.bufs[worker][:n]
}

// colCache keeps the unfolded columns of a whole batch, so the two kernels that
// unfold the same tensor in one run do it once: a convolution's forward pass and its
// filter gradient unfold x; a transposed convolution's input and filter gradients both
// unfold the output gradient. The layer's forward kernel bumps gen on every run, so
// columns never outlive the run that made them.
type colCache[T Float] struct {
	mu   sync.Mutex
	gen  uint64
	at   uint64 // gen when cols were made
	src  *T     // first element of the tensor they were made from
	cols []T
}

func (c *colCache[T]) bump() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// get returns the columns of every image of img (batch x C*K*K x Ho*Wo).
func (c *colCache[T]) get(g geometry, batch int, img []T) []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	per := g.colRows * g.colCols
	if c.src == &img[0] && c.at == c.gen && len(c.cols) == batch*per {
		return c.cols
	}
	if cap(c.cols) < batch*per {
		c.cols = make([]T, batch*per)
	}
	c.cols = c.cols[:batch*per]
	parallel(batch, func(_, lo, hi int) {
		for b := lo; b < hi; b++ {
			im2col(g, img[b*g.imageSize:(b+1)*g.imageSize], c.cols[b*per:(b+1)*per])
		}
	})
	c.src, c.at = &img[0], c.gen
	return c.cols
}

// convForward computes y = conv(x, w) for a batch from the columns of x: w (O, C, K, K),
// y (B, O, Ho, Wo). No bias.
func convForward[T Float](g geometry, o, batch int, cols, w, y []T) {
	per := g.colRows * g.colCols
	parallel(batch, func(_, lo, hi int) {
		for b := lo; b < hi; b++ {
			gemm(false, false, o, g.colCols, g.colRows, 1, w, g.colRows, cols[b*per:(b+1)*per], g.colCols, 0, y[b*o*g.colCols:(b+1)*o*g.colCols], g.colCols)
		}
	})
}

// convBackwardData computes dx = conv^T(dy, w): the adjoint of convForward in x, which
// is also the forward pass of a transposed convolution. dx is overwritten.
func convBackwardData[T Float](g geometry, o, batch int, dy, w, dx []T, sc *scratch[T]) {
	parallel(batch, func(wk, lo, hi int) {
		cols := sc.get(wk, g.colRows*g.colCols)
		for b := lo; b < hi; b++ {
			gemm(true, false, g.colRows, g.colCols, o, 1, w, g.colRows, dy[b*o*g.colCols:(b+1)*o*g.colCols], g.colCols, 0, cols, g.colCols)
			img := dx[b*g.imageSize : (b+1)*g.imageSize]
			clear(img)
			col2im(g, cols, img)
		}
	})
}

// convBackwardFilter computes dw = sum_b dy_b * cols_b^T, the gradient of
// convForward in w, from the columns of the image. dw (O, C*K*K) is overwritten.
func convBackwardFilter[T Float](g geometry, o, batch int, cols, dy, dw []T, part *scratch[T]) {
	nw := workers(batch)
	per := g.colRows * g.colCols
	parallel(batch, func(wk, lo, hi int) {
		acc := part.get(wk, o*g.colRows)
		clear(acc)
		for b := lo; b < hi; b++ {
			gemm(false, true, o, g.colRows, g.colCols, 1, dy[b*o*g.colCols:(b+1)*o*g.colCols], g.colCols, cols[b*per:(b+1)*per], g.colCols, 1, acc, g.colRows)
		}
	})
	copy(dw, part.get(0, o*g.colRows))
	for wk := 1; wk < nw; wk++ {
		p := part.get(wk, o*g.colRows)
		for i := range dw {
			dw[i] += p[i]
		}
	}
}
