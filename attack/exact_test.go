package attack_test

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

// exactDist is the distance from x to the nearest decision boundary of a linear model
// without the [0,1] box: min over j != y of (z_y - z_j)/||w_y - w_j|| in the dual norm
// (L2 for L2, L1 for Linf). With the box the true distance can only be larger.
func exactDist(l *attacktest.Linear, x []float32, y int, norm attack.Norm) float64 {
	z := l.Row(x)
	best := math.Inf(1)
	for j := 0; j < l.K; j++ {
		if j == y {
			continue
		}
		var s float64
		for i := 0; i < l.N; i++ {
			d := l.W[y*l.N+i] - l.W[j*l.N+i]
			if norm == attack.Linf {
				s += math.Abs(d)
			} else {
				s += d * d
			}
		}
		if norm == attack.L2 {
			s = math.Sqrt(s)
		}
		best = math.Min(best, (z[y]-z[j])/s)
	}
	return best
}

// TestBoundedAttacksNearExact runs each bounded attack on a linear model at the median
// exact boundary distance: its accuracy can be no lower than the exact robust accuracy
// (which holds half the samples) and should be at most 2 samples in 24 above it.
func TestBoundedAttacksNearExact(t *testing.T) {
	const n, k, batch = 16, 4, 24
	l := attacktest.NewLinear(rand.New(rand.NewPCG(11, 3)), k, n, 1)
	x, y := problem(t, l, n, batch, 12)
	for _, norm := range []attack.Norm{attack.Linf, attack.L2} {
		d := make([]float64, batch)
		for b := range d {
			d[b] = exactDist(l, x[b*n:(b+1)*n], y[b], norm)
		}
		s := append([]float64(nil), d...)
		sort.Float64s(s)
		eps := (s[batch/2-1] + s[batch/2]) / 2
		exact := 0
		for _, v := range d {
			if v > eps {
				exact++
			}
		}
		attacks := []attack.Attack{
			attack.PGDAttack{Lp: norm, Eps: eps},
			attack.APGD{Lp: norm, Eps: eps, Loss: "ce"},
			attack.APGD{Lp: norm, Eps: eps, Loss: "dlr"},
		}
		for _, a := range attacks {
			f, _ := runChecked(t, a, l, x, y, batch, eps, 5)
			robust := 0
			for b, ok := range f.Ok {
				if !ok {
					robust++
				} else if d[b] > eps*(1+1e-5) {
					t.Errorf("%s: sample %d fooled at eps %g beyond its exact distance %g", a.Name(), b, eps, d[b])
				}
			}
			t.Logf("%s at eps %.4f: %d of %d robust, exact %d", a.Name(), eps, robust, batch, exact)
			if robust > exact+2 {
				t.Errorf("%s at eps %g: %d robust, exact robust %d", a.Name(), eps, robust, exact)
			}
		}
	}
}
