package certify

import (
	"context"
	"fmt"
	"math"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/runtime"
)

// AuditOptions set the independent search of d_k (AuditDistances). It must differ from
// the certificate's search in what could make both miss the same region: the start
// banks (other seeds), the starts used (a bank's Top best per class, not its best
// alone), and the optimiser (a monotone descent on the distance itself, not Adam on the
// inference's objective), with more steps.
type AuditOptions struct {
	// Banks is the number of start banks, drawn with seeds Seed, Seed+1, ...; Starts
	// the random means of each.
	Banks  int    `json:"banks"`
	Starts int    `json:"starts"`
	Seed   uint64 `json:"seed"`
	// Top is the number of a bank's closest starts, per class, descended from.
	Top int `json:"top"`
	// Steps is the number of descent steps from every start, Step the initial step
	// length along the normalised gradient (in latent units).
	Steps int     `json:"steps"`
	Step  float64 `json:"step"`
	// Tol is how far (L2) below the certificate's d_k the audit's must be to be
	// reported: the two are computed by different float32 programs.
	Tol float64 `json:"tol"`
	// Batch is the number of images searched per call, Chunk the bank means decoded
	// per call (see Options.Chunk).
	Batch int `json:"batch"`
	Chunk int `json:"chunk"`
}

// DefaultAudit searches 2 banks of 8000 starts with seeds from 2^32 (far from any
// certificate's bank seeds), descending 200 steps from the 4 closest starts of each:
// 8 starts per class against the certificate's one per restart.
func DefaultAudit() AuditOptions {
	return AuditOptions{Banks: 2, Starts: 8000, Seed: 1 << 32, Top: 4, Steps: 200, Step: 0.1, Tol: 1e-4, Batch: 8, Chunk: 50}
}

// Label names what the audit searched.
func (o AuditOptions) Label() string {
	return fmt.Sprintf("d_k re-searched by descent on ||x - G_k(z)|| from the %d closest of %d starts of %d banks (seeds %d+), %d steps", o.Top, o.Starts, o.Banks, o.Seed, o.Steps)
}

func (o AuditOptions) check(certified Options) error {
	if o.Banks < 1 || o.Starts < 1 || o.Top < 1 || o.Top > o.Starts || o.Steps < 0 || !(o.Step > 0) || !(o.Tol >= 0) || o.Batch < 1 || o.Chunk < 1 {
		return fmt.Errorf("certify: audit with %d banks of %d starts, top %d, %d steps of %g, tolerance %g, batch %d, chunk %d: want banks, starts, batch and chunk positive, 1 <= top <= starts, steps >= 0, step > 0, tolerance >= 0",
			o.Banks, o.Starts, o.Top, o.Steps, o.Step, o.Tol, o.Batch, o.Chunk)
	}
	cs, ce := certified.Infer.BankSeed, certified.Infer.BankSeed+uint64(certified.maxRestarts())
	if as, ae := o.Seed, o.Seed+uint64(o.Banks); as < ce && cs < ae {
		return fmt.Errorf("certify: audit bank seeds [%d, %d) overlap the certificate's [%d, %d): the audit must search other banks", as, ae, cs, ce)
	}
	return nil
}

// Audit is the independent search's check of one certificate's d_k.
type Audit struct {
	// D holds, per class, the smallest ||x - G_k(z)|| the audit evaluated.
	D []float64 `json:"d"`
	// Smaller lists the classes k != y whose D is below the certificate's d_k by more
	// than AuditOptions.Tol: where the certificate's search missed a closer point.
	Smaller []int `json:"smaller,omitempty"`
	// Eps and Binding are eps* with each d_k the smaller of the certificate's and the
	// audit's (l*_y and r unchanged): at most the certificate's Eps, below it where the
	// certificate overstated the radius.
	Eps     float64 `json:"eps"`
	Binding int     `json:"binding"`
}

// AuditDistances searches d_k again for every certified image of rs (Eps > 0,
// correctly classified) on dist (the model's decoders with beta = 0), with the search
// opt describes, and records the outcome in rs[i].Audit. x holds the images of rs in
// order; certified are the certificate's options (its bank seeds must not be the
// audit's). The certificates themselves are not changed: Audit.Eps is the radius the
// audit leaves. tick reports (done, total) image-bank searches.
func AuditDistances(ctx context.Context, dist runtime.Model, certified Options, rs []Result, x []float32, opt AuditOptions, tick func(done, total int)) error {
	if err := opt.check(certified); err != nil {
		return err
	}
	s := dist.Spec()
	if s.Beta != 0 {
		return fmt.Errorf("certify: the audit's engine has beta %g: d_k must be searched without the prior term", s.Beta)
	}
	a := s.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	if len(x) != len(rs)*P {
		return fmt.Errorf("certify: %d values for %d certificates of %d pixels", len(x), len(rs), P)
	}
	var idx []int
	for i, r := range rs {
		if r.Eps > 0 && r.Pred == r.Label {
			if len(r.D) != K {
				return fmt.Errorf("certify: certificate of image %d has %d distances for %d classes", r.Index, len(r.D), K)
			}
			idx = append(idx, i)
		}
	}
	best := make([][]float64, len(rs)) // per audited image, (K) squared distances
	for _, i := range idx {
		best[i] = make([]float64, K)
		for k := range best[i] {
			best[i][k] = math.Inf(1)
		}
	}
	done, total := 0, opt.Banks*len(idx)
	for b := 0; b < opt.Banks && len(idx) > 0; b++ {
		bk, err := infer.NewBank(dist, infer.Options{Starts: opt.Starts, BankSeed: opt.Seed + uint64(b)}, opt.Chunk, nil)
		if err != nil {
			return err
		}
		for lo := 0; lo < len(idx); lo += opt.Batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			ids := idx[lo:min(lo+opt.Batch, len(idx))]
			rows := len(ids) * opt.Top
			xr := make([]float32, 0, rows*P)
			mu := make([]float32, rows*K*M)
			for n, i := range ids {
				xi := x[i*P : (i+1)*P]
				for t := 0; t < opt.Top; t++ {
					xr = append(xr, xi...)
				}
				for k := 0; k < K; k++ {
					for t, s := range closest(bk, k, xi, opt.Top) {
						row := n*opt.Top + t
						copy(mu[(row*K+k)*M:(row*K+k+1)*M], bk.Z[s*M:(s+1)*M])
					}
				}
			}
			f, err := descend(dist, xr, rows, mu, opt.Steps, opt.Step)
			if err != nil {
				return fmt.Errorf("certify: audit: %w", err)
			}
			for n, i := range ids {
				for t := 0; t < opt.Top; t++ {
					for k := 0; k < K; k++ {
						best[i][k] = min(best[i][k], f[(n*opt.Top+t)*K+k])
					}
				}
			}
			done += len(ids)
			if tick != nil {
				tick(done, total)
			}
		}
	}
	for _, i := range idx {
		r := &rs[i]
		au := &Audit{D: make([]float64, K)}
		comb := make([]float64, K)
		for k := range au.D {
			au.D[k] = sqrtDown(best[i][k])
			comb[k] = min(r.D[k], au.D[k])
			if k != r.Label && au.D[k] < r.D[k]-opt.Tol {
				au.Smaller = append(au.Smaller, k)
			}
		}
		au.Eps, au.Binding, _ = Radius(r.Label, r.L[r.Label], r.R, comb)
		r.Audit = au
	}
	return nil
}

// closest returns the bank indices of the n starts whose class-k decodings are nearest
// to x (squared distances in float64 from the bank's reconstructions), nearest first.
func closest(bk *infer.Bank, k int, x []float32, n int) []int {
	var xn float64
	for _, v := range x {
		xn += float64(v) * float64(v)
	}
	type cand struct {
		s int
		d float64
	}
	top := make([]cand, 0, n+1)
	rec := bk.Rec[k]
	for s := 0; s < bk.S; s++ {
		var dot float64
		for j, v := range rec[s*bk.P : (s+1)*bk.P] {
			dot += float64(v) * float64(x[j])
		}
		d := xn - 2*dot + float64(bk.Norm2[k][s])
		if len(top) == n && d >= top[n-1].d {
			continue
		}
		j := len(top)
		top = append(top, cand{s, d})
		for ; j > 0 && top[j-1].d > d; j-- {
			top[j] = top[j-1]
		}
		top[j] = cand{s, d}
		top = top[:min(len(top), n)]
	}
	out := make([]int, len(top))
	for i, c := range top {
		out[i] = c.s
	}
	return out
}

// descend minimises ||x_b - G_k(z)||^2 over z from mu (rows, K, M) for every row and
// class at once, by a direct descent on the distance: a step of the current length
// along the normalised gradient is kept when it lowers the distance (the length then
// grows by half) and undone otherwise (the length halves). So the distance never
// increases, and the step shrinks to the scale of the local minimum, where Adam's fixed
// step would circle. m must have beta = 0 (its latent step's loss is the distance).
// It returns, per row and class, the smallest squared distance evaluated, in float64
// from the reconstructions.
func descend(m runtime.Model, x []float32, rows int, mu []float32, steps int, step float64) ([]float64, error) {
	a := m.Spec().Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	zero := make([]float32, len(mu))
	mu = append([]float32(nil), mu...)
	eval := func(z []float32) (*runtime.Step, []float64, error) {
		st, err := m.LatentStep(x, z, zero, zero, rows)
		if err != nil {
			return nil, nil, err
		}
		f := make([]float64, rows*K)
		for i := range f {
			b := i / K
			f[i] = floats.SqDist(x[b*P:(b+1)*P], st.Rec[i*P:(i+1)*P])
		}
		return st, f, nil
	}
	st, f, err := eval(mu)
	if err != nil {
		return nil, err
	}
	best := make([]float64, len(f))
	for i, v := range f {
		best[i] = math.Inf(1)
		if v < best[i] { // not min: a NaN reconstruction bounds nothing
			best[i] = v
		}
	}
	g := append([]float32(nil), st.GradMu...)
	length := make([]float64, rows*K)
	for i := range length {
		length[i] = step
	}
	cand := make([]float32, len(mu))
	for s := 0; s < steps; s++ {
		for i := range length {
			zi, gi, ci := mu[i*M:(i+1)*M], g[i*M:(i+1)*M], cand[i*M:(i+1)*M]
			var gn float64
			for _, v := range gi {
				gn += float64(v) * float64(v)
			}
			gn = math.Sqrt(gn)
			for j := range ci {
				ci[j] = zi[j]
				if gn > 0 && !math.IsInf(gn, 0) {
					ci[j] -= float32(length[i] * float64(gi[j]) / gn)
				}
			}
		}
		st, fc, err := eval(cand)
		if err != nil {
			return nil, err
		}
		for i, v := range fc {
			if v < best[i] { // not min: a NaN reconstruction bounds nothing
				best[i] = v
			}
			if v < f[i] {
				f[i] = v
				copy(mu[i*M:(i+1)*M], cand[i*M:(i+1)*M])
				copy(g[i*M:(i+1)*M], st.GradMu[i*M:(i+1)*M])
				length[i] *= 1.5
			} else {
				length[i] /= 2
			}
		}
	}
	return best, nil
}
