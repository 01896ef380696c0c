package attack

// DeepFool: Moosavi-Dezfooli, Fawzi and Frossard 2016, "DeepFool: a simple and
// accurate method to fool deep neural networks" (CVPR), Algorithms 2 and 3. The E-ABS
// paper runs it with 100 steps in Linf and L2 (Section 4.2).

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/internal/floats"
)

// DeepFool is a minimum-norm Attack: it linearises the model around the current point
// x_t and steps to the nearest linearised boundary between the label y and a candidate
// class c, f_c = z_c - z_y:
//
//	c* = argmin_c |f_c| / ||g_c||_q,  and with f, g those of c*:
//	L2:   r_t = |f| / ||g||_2^2 * g
//	Linf: r_t = |f| / ||g||_1 * sign(g)
//
// with g_c = grad(z_c - z_y) and q the dual norm (2 for L2, 1 for Linf). The total
// perturbation is accumulated and applied with an overshoot, x_{t+1} = clip(x + (1 +
// Overshoot) sum r, 0, 1), until x_{t+1} is misclassified or Steps steps are spent. On
// an affine model the first step lands at (1 + Overshoot) times the exact boundary
// distance. Found.Adv is the first misclassified iterate (the attack's only candidate;
// it does not minimise further), Ok whether one was found.
//
// Each step costs one gradient evaluation per candidate other than y (plus one initial
// evaluation to rank the candidates). Zero options take the defaults: 100 steps (the
// paper's), overshoot 0.02 (the original's), all classes as candidates, EOT 1.
type DeepFool struct {
	// Lp is Linf or L2.
	Lp Norm
	// Steps is the maximum number of linearisation steps (default 100).
	Steps int
	// Overshoot scales the total perturbation by 1 + Overshoot (default 0.02; a
	// negative value means 0).
	Overshoot float64
	// Candidates limits the classes considered to the label and the Candidates-1
	// others with the highest initial scores (default 0: all classes).
	Candidates int
	// EOT averages every evaluation over this many calls (default 1).
	EOT int
}

// Name implements Attack: "deepfool-linf" or "deepfool-l2".
func (a DeepFool) Name() string { return "deepfool-" + string(a.Lp) }

// Norm implements Attack.
func (a DeepFool) Norm() Norm { return a.Lp }

// Run implements Attack.
func (a DeepFool) Run(ctx context.Context, m Classifier, x []float32, y []int, batch int, _ *rand.Rand) (*Found, error) {
	name := a.Name()
	if err := checkNorm(name, a.Lp); err != nil {
		return nil, err
	}
	g, err := startGrad(name, m, x, y, batch, a.Steps, 100, a.EOT)
	if err != nil {
		return nil, err
	}
	d, K, n, steps, eot := g.d, g.k, g.n, g.steps, g.eot
	cands, err := orDefault(name, "candidates", a.Candidates, K)
	if err != nil {
		return nil, err
	}
	if cands < 2 {
		return nil, fmt.Errorf("attack %s: %d candidate classes, need at least 2", name, cands)
	}
	cands = min(cands, K)
	over := 1 + max(a.Overshoot, 0)
	if a.Overshoot == 0 {
		over = 1.02
	}

	f := newFound(x, batch)
	s := &sampler{m: d, eot: eot, k: K, n: n, y: y, queries: f.Queries}
	all := make([]int, batch)
	for i := range all {
		all[i] = i
	}
	z0, err := s.logits(ctx, x, all)
	if err != nil {
		return nil, err
	}
	// others[i] are sample i's candidate classes other than y, by initial score.
	others := make([][]int, batch)
	var idx []int
	for i := range all {
		row := z0[i*K : (i+1)*K]
		if floats.Argmax(row) != y[i] {
			f.Ok[i] = true
			continue
		}
		others[i] = topOthers(row, y[i], cands-1)
		idx = append(idx, i)
	}
	cur := gather(x, idx, n)
	total := make([]float64, len(idx)*n) // accumulated perturbation
	for t := 0; t <= steps && len(idx) > 0; t++ {
		if t == steps {
			z, err := s.logits(ctx, cur, idx)
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				copy(f.Adv[i*n:(i+1)*n], cur[j*n:(j+1)*n])
				f.Ok[i] = floats.Argmax(z[j*K:(j+1)*K]) != y[i]
			}
			break
		}
		// Gradients of f_c = z_c - z_y for each candidate c, one evaluation each.
		nc := cands - 1
		fs := make([][]float64, len(idx)) // per row, per candidate
		gs := make([][][]float32, len(idx))
		for j := range idx {
			fs[j], gs[j] = make([]float64, nc), make([][]float32, nc)
		}
		for c := 0; c < nc; c++ {
			rows := idx
			cot := func(z []float32) []float32 {
				v := make([]float32, len(z))
				for j, i := range rows {
					v[j*K+others[i][c]] = 1
					v[j*K+y[i]] = -1
				}
				return v
			}
			z, g, err := evalVJP(ctx, s, cur, idx, cot)
			if err != nil {
				return nil, err
			}
			if c == 0 {
				// The first evaluation at x_t also tells whether x_t is adversarial.
				done := make([]bool, len(idx))
				for j, i := range idx {
					if floats.Argmax(z[j*K:(j+1)*K]) != y[i] {
						f.Ok[i], done[j] = true, true
						copy(f.Adv[i*n:(i+1)*n], cur[j*n:(j+1)*n])
					}
				}
				var gflat []float32
				for j := range idx {
					if !done[j] {
						gflat = append(gflat, g[j*n:(j+1)*n]...)
					}
				}
				keepRows(done, &fs)
				keepRows(done, &gs)
				keepFloat(done, n, &total)
				idx = keep(done, idx, n, &cur)
				z = dropRows(done, z, K)
				g = gflat
				if len(idx) == 0 {
					break
				}
			}
			for j, i := range idx {
				fs[j][c] = float64(z[j*K+others[i][c]]) - float64(z[j*K+y[i]])
				gs[j][c] = append([]float32(nil), g[j*n:(j+1)*n]...)
			}
		}
		for j, i := range idx {
			best, bestD := 0, math.Inf(1)
			for c := 0; c < nc; c++ {
				if dd := math.Abs(fs[j][c]) / (dualNorm(a.Lp, gs[j][c]) + 1e-8); dd < bestD {
					best, bestD = c, dd
				}
			}
			g := gs[j][best]
			tot := total[j*n : (j+1)*n]
			switch a.Lp {
			case L2:
				gn := l2(g)
				for p := range tot {
					tot[p] += bestD / (gn + 1e-8) * float64(g[p])
				}
			case Linf:
				for p := range tot {
					if g[p] > 0 {
						tot[p] += bestD
					} else if g[p] < 0 {
						tot[p] -= bestD
					}
				}
			}
			c := cur[j*n : (j+1)*n]
			o := x[i*n : (i+1)*n]
			for p := range c {
				c[p] = float32(min(max(float64(o[p])+over*tot[p], 0), 1))
			}
		}
	}
	return f, nil
}

// evalVJP is the sampler's EOT product with an explicit cotangent.
func evalVJP(ctx context.Context, s *sampler, xs []float32, idx []int, cot func([]float32) []float32) ([]float32, []float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	z, g, err := EOTVJP(s.m, xs, len(idx), s.eot, cot)
	if err != nil {
		return nil, nil, err
	}
	for _, i := range idx {
		s.queries[i] += s.eot
	}
	return z, g, nil
}

// dualNorm is ||g||_1 for Linf and ||g||_2 for L2: the boundary distance of a
// linearised difference is |f| / dualNorm(grad f).
func dualNorm(norm Norm, g []float32) float64 {
	if norm == L2 {
		return l2(g)
	}
	var s float64
	for _, v := range g {
		s += math.Abs(float64(v))
	}
	return s
}

// topOthers returns the k classes other than y with the highest scores, best first.
func topOthers(z []float32, y, k int) []int {
	var out []int
	used := make([]bool, len(z))
	used[y] = true
	for len(out) < k {
		best := -1
		for j := range z {
			if !used[j] && (best < 0 || z[j] > z[best]) {
				best = j
			}
		}
		used[best] = true
		out = append(out, best)
	}
	return out
}

func keepRows[T any](drop []bool, vs ...*[]T) {
	for _, v := range vs {
		out := (*v)[:0]
		for j, e := range *v {
			if !drop[j] {
				out = append(out, e)
			}
		}
		*v = out
	}
}

func keepFloat(drop []bool, n int, v *[]float64) {
	w := 0
	for j := range drop {
		if !drop[j] {
			copy((*v)[w*n:(w+1)*n], (*v)[j*n:(j+1)*n])
			w++
		}
	}
	*v = (*v)[:w*n]
}

func dropRows(drop []bool, z []float32, k int) []float32 {
	var out []float32
	for j := range drop {
		if !drop[j] {
			out = append(out, z[j*k:(j+1)*k]...)
		}
	}
	return out
}
