package graph

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"unsafe"

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

// im2col unfolds one image (C,H,W) into the columns (C*K*K, Ho*Wo) of a matrix whose
// rows are ld apart (ld = Ho*Wo for one image; a multiple of it when the images of a
// chunk sit side by side); padded positions are 0. The valid output range of each
// kernel offset is computed once for all channels, so the inner loops are plain
// copies (strided gathers when the stride is not 1) over every channel's rows.
func im2col[T Float](g geometry, img, cols []T, ld int) {
	n, kk := g.colCols, g.K*g.K
	for ki := 0; ki < g.K; ki++ {
		ylo, yhi := validRange(g.H, g.Ho, ki, g.S, g.P)
		for kj := 0; kj < g.K; kj++ {
			xlo, xhi := validRange(g.W, g.Wo, kj, g.S, g.P)
			r0 := ki*g.K + kj // the row of channel 0; channel c's is r0 + c*kk
			if xlo >= xhi || ylo >= yhi {
				for c := 0; c < g.C; c++ {
					clear(cols[(r0+c*kk)*ld : (r0+c*kk)*ld+n])
				}
				continue
			}
			if ylo > 0 || yhi < g.Ho {
				for c := 0; c < g.C; c++ {
					row := cols[(r0+c*kk)*ld : (r0+c*kk)*ld+n]
					clear(row[:ylo*g.Wo])
					clear(row[yhi*g.Wo:])
				}
			}
			at := (ylo*g.S-g.P+ki)*g.W + xlo*g.S - g.P + kj
			unfoldRows(cols[r0*ld+ylo*g.Wo:], img[at:], g.C, kk*ld, g.H*g.W, yhi-ylo, g.Wo, xlo, xhi, g.S*g.W, g.S)
		}
	}
}

// unfoldRows fills nc blocks of n rows of wo values, block c of dst starting at
// c*dstC and of src at c*srcC: row y of a block gets src[y*srcLd + j*s] at positions
// xlo+j < xhi, and zeros elsewhere (n > 0, xlo < xhi).
func unfoldRows[T Float](dst, src []T, nc, dstC, srcC, n, wo, xlo, xhi, srcLd, s int) {
	w := xhi - xlo
	if xlo > 0 || xhi < wo {
		for c := 0; c < nc; c++ {
			for y := 0; y < n; y++ {
				row := dst[c*dstC+y*wo : c*dstC+(y+1)*wo]
				clear(row[:xlo])
				clear(row[xhi:])
			}
		}
	}
	if d, ok := f32(dst); ok && useAVX2 && (s == 1 || s == 2) {
		sr, _ := f32(src)
		_ = d[(nc-1)*dstC+(n-1)*wo+xhi-1]       // the last value written
		_ = sr[(nc-1)*srcC+(n-1)*srcLd+(w-1)*s] // and read
		if s == 1 {
			unfoldRows1AVX2(&d[xlo], &sr[0], nc, dstC, srcC, n, w, wo, srcLd)
		} else {
			unfoldRows2AVX2(&d[xlo], &sr[0], nc, dstC, srcC, n, w, wo, srcLd)
		}
		return
	}
	for c := 0; c < nc; c++ {
		for y := 0; y < n; y++ {
			d, line := dst[c*dstC+y*wo+xlo:c*dstC+y*wo+xhi], src[c*srcC+y*srcLd:]
			if s == 1 {
				copy(d, line[:w])
				continue
			}
			line = line[:(w-1)*s+1]
			for j := range d {
				d[j] = line[j*s]
			}
		}
	}
}

// col2im folds columns (C*K*K, Ho*Wo), rows ld apart, back onto an image (C,H,W),
// adding overlapping contributions. img must be zeroed (or hold values to accumulate
// onto). Every pixel receives its contributions in the order of the kernel offsets
// (ki, kj), as a loop over the column rows in order gives them.
func col2im[T Float](g geometry, cols, img []T, ld int) {
	kk := g.K * g.K
	for ki := 0; ki < g.K; ki++ {
		ylo, yhi := validRange(g.H, g.Ho, ki, g.S, g.P)
		if ylo >= yhi {
			continue
		}
		for kj := 0; kj < g.K; kj++ {
			xlo, xhi := validRange(g.W, g.Wo, kj, g.S, g.P)
			if xlo >= xhi {
				continue
			}
			r0 := ki*g.K + kj // the row of channel 0; channel c's is r0 + c*kk
			at := (ylo*g.S-g.P+ki)*g.W + xlo*g.S - g.P + kj
			foldRows(img[at:], cols[r0*ld+ylo*g.Wo+xlo:], g.C, g.H*g.W, kk*ld, yhi-ylo, xhi-xlo, g.S*g.W, g.Wo, g.S)
		}
	}
}

// foldRows adds nc blocks of n rows of w values of src, block c starting at c*srcC
// and rows srcLd apart, onto dst, block c at c*dstC, rows dstLd apart and values s
// apart (n, w > 0).
func foldRows[T Float](dst, src []T, nc, dstC, srcC, n, w, dstLd, srcLd, s int) {
	if d, ok := f32(dst); ok && useAVX2 && (s == 1 || s == 2) {
		sr, _ := f32(src)
		_ = d[(nc-1)*dstC+(n-1)*dstLd+(w-1)*s] // the last value written
		_ = sr[(nc-1)*srcC+(n-1)*srcLd+w-1]    // and read
		if s == 1 {
			foldRows1AVX2(&d[0], &sr[0], nc, dstC, srcC, n, w, dstLd, srcLd)
		} else {
			foldRows2AVX2(&d[0], &sr[0], nc, dstC, srcC, n, w, dstLd, srcLd)
		}
		return
	}
	for c := 0; c < nc; c++ {
		for y := 0; y < n; y++ {
			sr, line := src[c*srcC+y*srcLd:c*srcC+y*srcLd+w], dst[c*dstC+y*dstLd:]
			if s == 1 {
				d := line[:len(sr)]
				for j, v := range sr {
					d[j] += v
				}
				continue
			}
			d := line[:(w-1)*s+1]
			for j, v := range sr {
				d[j*s] += v
			}
		}
	}
}

// f32 returns s as a []float32 when T is float32 (the element types of the AVX2
// loops).
func f32[T Float](s []T) ([]float32, bool) {
	var z T
	if unsafe.Sizeof(z) != 4 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s)), true
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

// parts is how many pieces a kernel whose result depends on how its work is cut
// divides a batch into: a filter gradient sums each part's images in an accumulator of
// its own and then adds the parts, and a chunk of images shares one GEMM, whose
// rounding can depend on its shape. The cut is fixed, not taken from GOMAXPROCS, so
// that training gives the same model bit for bit on any number of threads; 2 is the
// cut the models so far were trained with (on two cores). More threads than parts
// still help every kernel whose pieces are independent (spread).
const parts = 2

// threads is how many goroutines may run n independent pieces at once.
func threads(n int) int { return max(1, min(n, goruntime.GOMAXPROCS(0))) }

// split runs f(part, lo, hi) over [0, n) cut into min(parts, n) contiguous ranges,
// in as many goroutines as GOMAXPROCS allows (a goroutine takes the parts left over in
// order), and waits. The ranges, and so the results, do not depend on GOMAXPROCS.
func split(n int, f func(part, lo, hi int)) {
	p := min(parts, n)
	t := threads(p)
	run := func(first int) {
		for i := first; i < p; i += t {
			f(i, i*n/p, (i+1)*n/p)
		}
	}
	if t <= 1 {
		run(0)
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < t; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(i)
		}()
	}
	run(0)
	wg.Wait()
}

// spread calls f(worker, i) for every i in [0, n), pieces whose results do not depend
// on each other, on up to GOMAXPROCS goroutines that take the next piece as they
// finish one (so a thread the machine slows down does not hold the others up), and
// waits. worker (below threads(n)) names a goroutine's scratch space.
func spread(n int, f func(worker, i int)) {
	t := threads(n)
	if t == 1 {
		for i := 0; i < n; i++ {
			f(0, i)
		}
		return
	}
	var next atomic.Int64
	work := func(wk int) {
		for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
			f(wk, i)
		}
	}
	var wg sync.WaitGroup
	for wk := 1; wk < t; wk++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(wk)
		}()
	}
	work(0)
	wg.Wait()
}

// largeWork is the size below which element-wise kernels run on one goroutine: too
// little to amortise starting others.
const largeWork = 1 << 15

// parallelLarge runs f(lo, hi) over [0, n) for element-wise work, in a few ranges
// spread over the threads when n is large enough to be worth it.
func parallelLarge(n int, f func(lo, hi int)) {
	if n < largeWork {
		f(0, n)
		return
	}
	const pieces = 8
	spread(pieces, func(_, i int) { f(i*n/pieces, (i+1)*n/pieces) })
}

// colBudget bounds the columns of one chunk of images (floats): a chunk's images share
// one GEMM, which matters for the layers with few output positions (16 or fewer in the
// MNIST decoders' first layers, where a per-image GEMM has only 1 or 16 columns),
// while large layers keep one image per chunk so their columns stay in cache.
const colBudget = 1 << 16

// chunkSize is how many images one GEMM covers for a layer with per floats of columns
// per image: within colBudget, and at most a part's share of the batch.
func chunkSize(per, batch int) int {
	p := max(1, min(parts, batch))
	return max(1, min(colBudget/max(per, 1), (batch+p-1)/p))
}

// chunks calls f(worker, b0, n) for the chunks of nb images (n < nb for the last one)
// of a batch, independent of each other, spread over the threads.
func chunks(batch, nb int, f func(wk, b0, n int)) {
	spread((batch+nb-1)/nb, func(wk, c int) {
		b0 := c * nb
		f(wk, b0, min(nb, batch-b0))
	})
}

// partChunks calls f(part, b0, n) for the chunks of nb images of a batch, each part's
// contiguous run of chunks in order (split): for kernels that accumulate a part's
// chunks into one sum. partsOf says how many parts that makes.
func partChunks(batch, nb int, f func(part, b0, n int)) {
	split((batch+nb-1)/nb, func(part, lo, hi int) {
		for c := lo; c < hi; c++ {
			b0 := c * nb
			f(part, b0, min(nb, batch-b0))
		}
	})
}

// partsOf is how many parts partChunks cuts a batch of chunks of nb images into.
func partsOf(batch, nb int) int { return min(parts, (batch+nb-1)/nb) }

// unfold writes the columns of images b0..b0+n-1 of a batch side by side, as one
// (C*K*K, n*Ho*Wo) matrix.
func unfold[T Float](g geometry, img []T, b0, n int, cols []T) {
	ld := n * g.colCols
	for j := 0; j < n; j++ {
		b := b0 + j
		im2col(g, img[b*g.imageSize:(b+1)*g.imageSize], cols[j*g.colCols:], ld)
	}
}

// gatherOut copies images b0..b0+n-1 of an output-side tensor (B, o, Ho*Wo) into one
// (o, n*Ho*Wo) matrix; scatterOut is its inverse.
func gatherOut[T Float](o, hw int, t []T, b0, n int, dst []T) {
	ld := n * hw
	for j := 0; j < n; j++ {
		img := t[(b0+j)*o*hw : (b0+j+1)*o*hw]
		for c := 0; c < o; c++ {
			copy(dst[c*ld+j*hw:c*ld+(j+1)*hw], img[c*hw:(c+1)*hw])
		}
	}
}

func scatterOut[T Float](o, hw int, src []T, b0, n int, t []T) {
	ld := n * hw
	for j := 0; j < n; j++ {
		img := t[(b0+j)*o*hw : (b0+j+1)*o*hw]
		for c := 0; c < o; c++ {
			copy(img[c*hw:(c+1)*hw], src[c*ld+j*hw:c*ld+(j+1)*hw])
		}
	}
}

// fwdChunk computes the output-side y of images b0..b0+n-1 as w (o, C*K*K) times their
// columns; buf (o*n*Ho*Wo) holds the product when n > 1.
func fwdChunk[T Float](g geometry, o, b0, n int, cols, w, y, buf []T) {
	hw := g.colCols
	if n == 1 {
		gemm(false, false, o, hw, g.colRows, 1, w, g.colRows, cols, hw, 0, y[b0*o*hw:(b0+1)*o*hw], hw)
		return
	}
	ld := n * hw
	gemm(false, false, o, ld, g.colRows, 1, w, g.colRows, cols, ld, 0, buf, ld)
	scatterOut(o, hw, buf, b0, n, y)
}

// filtChunk adds dy (the output-side gradient of images b0..b0+n-1) times their
// columns transposed to acc (o, C*K*K); buf (o*n*Ho*Wo) holds the gathered dy when
// n > 1.
func filtChunk[T Float](g geometry, o, b0, n int, cols, dy, acc, buf []T) {
	hw := g.colCols
	src := dy[b0*o*hw : (b0+1)*o*hw]
	if n > 1 {
		gatherOut(o, hw, dy, b0, n, buf)
		src = buf[:o*n*hw]
	}
	ld := n * hw
	gemm(false, true, o, g.colRows, ld, 1, src, ld, cols, ld, 1, acc, g.colRows)
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

// two returns two per-worker buffers of sizes n and m (slots 2*worker and
// 2*worker+1).
func (s *scratch[T]) two(worker, n, m int) ([]T, []T) {
	return s.get(2*worker, n), s.get(2*worker+1, m)
}

// colCache keeps the unfolded columns of a whole batch of a convolution's input, which
// its forward pass and its filter gradient both read. The layer's forward kernel bumps
// gen on every run, so columns never outlive the run that made them. Only
// convolutions use it: a transposed convolution's two gradients unfold the output
// gradient in one fused pass (convAdjGrad) without keeping the batch's columns, which
// at batch 512 were 2.9 GB for the MNIST decoders.
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

// get returns the columns of every image of img, chunk by chunk (chunkSize): chunk i
// is a (C*K*K, n_i*Ho*Wo) matrix.
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
	chunks(batch, chunkSize(per, batch), func(_, b0, n int) {
		unfold(g, img, b0, n, c.cols[b0*per:(b0+n)*per])
	})
	c.src, c.at = &img[0], c.gen
	return c.cols
}

// convForward computes y = conv(x, w) for a batch from the columns of x (colCache.get):
// w (O, C, K, K), y (B, O, Ho, Wo). No bias. sc (nil: allocate) holds products of
// chunks.
func convForward[T Float](g geometry, o, batch int, cols, w, y []T, sc ...*scratch[T]) {
	per := g.colRows * g.colCols
	nb := chunkSize(per, batch)
	s := &scratch[T]{}
	if len(sc) > 0 {
		s = sc[0]
	}
	chunks(batch, nb, func(wk, b0, n int) {
		var buf []T
		if n > 1 {
			buf = s.get(wk, o*n*g.colCols)
		}
		fwdChunk(g, o, b0, n, cols[b0*per:(b0+n)*per], w, y, buf)
	})
}

// convFromImage is convForward from the images themselves, unfolding them chunk by
// chunk into per-worker buffers instead of keeping the batch's columns.
func convFromImage[T Float](g geometry, o, batch int, x, w, y []T, sc *scratch[T]) {
	per := g.colRows * g.colCols
	nb := chunkSize(per, batch)
	chunks(batch, nb, func(wk, b0, n int) {
		cols, buf := sc.two(wk, n*per, o*n*g.colCols)
		unfold(g, x, b0, n, cols)
		fwdChunk(g, o, b0, n, cols, w, y, buf)
	})
}

// convBackwardData computes dx = conv^T(dy, w): the adjoint of convForward in x, which
// is also the forward pass of a transposed convolution. dx is overwritten.
func convBackwardData[T Float](g geometry, o, batch int, dy, w, dx []T, sc *scratch[T]) {
	per := g.colRows * g.colCols
	hw := g.colCols
	nb := chunkSize(per, batch)
	chunks(batch, nb, func(wk, b0, n int) {
		cols, buf := sc.two(wk, n*per, o*n*hw)
		src := dy[b0*o*hw : (b0+1)*o*hw]
		if n > 1 {
			gatherOut(o, hw, dy, b0, n, buf)
			src = buf
		}
		ld := n * hw
		gemm(true, false, g.colRows, ld, o, 1, w, g.colRows, src, ld, 0, cols, ld)
		for j := 0; j < n; j++ {
			img := dx[(b0+j)*g.imageSize : (b0+j+1)*g.imageSize]
			clear(img)
			col2im(g, cols[j*hw:], img, ld)
		}
	})
}

// convBackwardFilter computes dw = sum_b dy_b * cols_b^T, the gradient of
// convForward in w, from the columns of the image (colCache.get). dw (O, C*K*K) is
// overwritten.
func convBackwardFilter[T Float](g geometry, o, batch int, cols, dy, dw []T, part *scratch[T]) {
	per := g.colRows * g.colCols
	nb := chunkSize(per, batch)
	np := partsOf(batch, nb)
	for p := 0; p < np; p++ {
		clear(part.get(2*p, o*g.colRows))
	}
	partChunks(batch, nb, func(p, b0, n int) {
		acc, buf := part.two(p, o*g.colRows, o*n*g.colCols)
		filtChunk(g, o, b0, n, cols[b0*per:(b0+n)*per], dy, acc, buf)
	})
	reduceParts(dw, part, np)
}

// reduceParts sums the first np parts' accumulators (slots 2*part) into dw, in order.
func reduceParts[T Float](dw []T, part *scratch[T], np int) {
	copy(dw, part.get(0, len(dw)))
	for wk := 1; wk < np; wk++ {
		p := part.get(2*wk, len(dw))
		for i := range dw {
			dw[i] += p[i]
		}
	}
}

// convGrads computes, from the images x (B, C, H, W) and the output-side tensor dy
// (B, O, Ho, Wo), both conv(x, w) into y (unless y is nil) and the filter gradient
// sum_b dy_b * cols(x_b)^T into dw (unless dw is nil), unfolding each chunk of images
// once into a per-worker buffer. For a transposed convolution, whose image side is its
// output, x is the output's gradient and dy the layer's input: y is then the input
// gradient and dw the filter gradient, one pass for both.
func convGrads[T Float](g geometry, o, batch int, x, w, dy, y, dw []T, sc, part *scratch[T]) {
	per := g.colRows * g.colCols
	nb := chunkSize(per, batch)
	np := partsOf(batch, nb)
	each := chunks
	if dw != nil {
		for p := 0; p < np; p++ {
			clear(part.get(2*p, o*g.colRows))
		}
		// A part's filter gradient is one sum over its chunks in order.
		each = partChunks
	}
	each(batch, nb, func(wk, b0, n int) {
		cols, buf := sc.two(wk, n*per, o*n*g.colCols)
		unfold(g, x, b0, n, cols)
		if y != nil {
			fwdChunk(g, o, b0, n, cols, w, y, buf)
		}
		if dw != nil {
			acc, _ := part.two(wk, o*g.colRows, 0)
			filtChunk(g, o, b0, n, cols, dy, acc, buf)
		}
	})
	if dw != nil {
		reduceParts(dw, part, np)
	}
}
