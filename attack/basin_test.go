package attack_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/internal/floats"
)

// protoModel is a latent model with constant decoders, G_k(z) = c_k, and prior z^2/2:
// l_k(x) = ||x - c_k||^2 at z = 0, a nearest-prototype classifier whose search is exact.
// The smallest L2 move that makes class k beat class y at x is, in closed form,
// delta_k = (||x - c_k||^2 - ||x - c_y||^2) / (2 ||c_k - c_y||), along c_k - c_y.
type protoModel struct{ c [][]float64 }

func (m protoModel) Classes() int { return len(m.c) }

func (m protoModel) loss(x []float32, k int) float64 {
	var s float64
	for i, v := range x {
		d := float64(v) - m.c[k][i]
		s += d * d
	}
	return s
}

func (m protoModel) Logits(x []float32, batch int) ([]float32, error) {
	P, K := len(x)/batch, len(m.c)
	out := make([]float32, batch*K)
	for b := 0; b < batch; b++ {
		for k := 0; k < K; k++ {
			out[b*K+k] = float32(-m.loss(x[b*P:(b+1)*P], k))
		}
	}
	return out, nil
}

func (m protoModel) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	l, _ := m.Logits(x, batch)
	v := cot(l)
	P, K := len(x)/batch, len(m.c)
	g := make([]float32, len(x))
	for b := 0; b < batch; b++ {
		for i := 0; i < P; i++ {
			var s float64
			for k := 0; k < K; k++ {
				s += float64(v[b*K+k]) * -2 * (float64(x[b*P+i]) - m.c[k][i])
			}
			g[b*P+i] = float32(s)
		}
	}
	return l, g, nil
}

func (protoModel) Latent() int { return 1 }

func (m protoModel) Objective(x []float32, class []int, z []float32, n int) ([]float32, []float32, []float32, error) {
	P := len(x) / n
	v, rec, g := make([]float32, n), make([]float32, n*P), make([]float32, n)
	for i := 0; i < n; i++ {
		v[i] = float32(m.loss(x[i*P:(i+1)*P], class[i]) + float64(z[i]*z[i])/2)
		for p := 0; p < P; p++ {
			rec[i*P+p] = float32(m.c[class[i]][p])
		}
		g[i] = z[i]
	}
	return v, rec, g, nil
}

func (m protoModel) Starts(x []float32, k int) ([]float32, []float32, error) {
	return []float32{0}, []float32{float32(m.loss(x, k))}, nil
}

func (protoModel) Pool(x []float32, k int, eps float64, count int) ([]float32, error) {
	return []float32{0, 0.5, -0.5}[:min(count, 3)], nil
}

func (m protoModel) Full() attack.Classifier { return m }

// TestBasinClosedFormDistance: on nearest-prototype models the basin attack's descent
// toward class k's prototype runs along c_k - c_y, the closed-form direction of the
// smallest adversarial move; with a budget 1% above the smallest delta_k it must find
// an adversarial example (that the exact model misclassifies, within the budget and
// [0,1]), with a budget 1% below it must not claim one.
func TestBasinClosedFormDistance(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 1))
	const K, P = 3, 6
	for trial := 0; trial < 6; trial++ {
		c := make([][]float64, K)
		for k := range c {
			c[k] = make([]float64, P)
			for i := range c[k] {
				c[k][i] = 0.35 + 0.3*rng.Float64()
			}
		}
		m := protoModel{c}
		x := make([]float32, P)
		for i := range x {
			x[i] = float32(0.8*c[0][i] + 0.2*(0.35+0.3*rng.Float64()))
		}
		l, _ := m.Logits(x, 1)
		y := 0
		for k := range l {
			if l[k] > l[y] {
				y = k
			}
		}
		delta := math.Inf(1)
		for k := 0; k < K; k++ {
			if k == y {
				continue
			}
			var n2 float64
			for i := range c[k] {
				n2 += (c[k][i] - c[y][i]) * (c[k][i] - c[y][i])
			}
			delta = math.Min(delta, (m.loss(x, k)-m.loss(x, y))/(2*math.Sqrt(n2)))
		}
		for _, tc := range []struct {
			factor float64
			want   bool
		}{{1.01, true}, {0.99, false}} {
			eps := tc.factor * delta
			a := attack.Basin{Eps: eps, Targets: K - 1}
			f, err := a.Run(context.Background(), m, x, []int{y}, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			la, _ := m.Logits(f.Adv, 1)
			adv := false
			for k := range la {
				adv = adv || (k != y && la[k] > la[y])
			}
			d := math.Sqrt(floats.SqDist(f.Adv, x))
			if f.Ok[0] != tc.want || adv != tc.want {
				t.Errorf("trial %d, eps = %.4f x delta %.5f: claimed %v, adversarial %v; want %v", trial, tc.factor, delta, f.Ok[0], adv, tc.want)
			}
			if d > eps*(1+1e-6) {
				t.Errorf("trial %d: distance %.7f beyond the budget %.7f", trial, d, eps)
			}
			for i, v := range f.Adv {
				if !(v >= 0 && v <= 1) {
					t.Errorf("trial %d: pixel %d = %v outside [0,1]", trial, i, v)
				}
			}
		}
	}
}

// basinsModel is a two-class latent model on two pixels whose class-1 search can
// miss its best optimum. Class 0 is a prototype c0 (l_0 = ||x - c0||^2). Class 1's
// latent line has two basins, G_1(z) = pA for z < 0 and pB for z >= 0, prior
// (|z| - 1)^2, so its minima are z = -1 and z = 1 with values ||x - pA||^2 and
// ||x - pB||^2. Its search compares two starts, the encoder's z = -1 - sqrt(a) (value
// ||x - pA||^2 + a) and the bank's z = 1 (value ||x - pB||^2), and descends to the
// minimum of the winner's basin (the encoder wins ties), so l_1(x) is ||x - pA||^2
// only where ||x - pA||^2 + a < ||x - pB||^2.
type basinsModel struct {
	c0, pA, pB [2]float64
	a          float64
}

func d2(x []float32, p [2]float64) float64 {
	return (float64(x[0])-p[0])*(float64(x[0])-p[0]) + (float64(x[1])-p[1])*(float64(x[1])-p[1])
}

// aWins reports whether the search of class 1 starts in basin A at x.
func (m basinsModel) aWins(x []float32) bool { return d2(x, m.pA)+m.a <= d2(x, m.pB) }

func (m basinsModel) losses(x []float32) (l0, l1 float64) {
	l1 = d2(x, m.pB)
	if m.aWins(x) {
		l1 = d2(x, m.pA)
	}
	return d2(x, m.c0), l1
}

func (basinsModel) Classes() int { return 2 }

func (m basinsModel) Logits(x []float32, batch int) ([]float32, error) {
	out := make([]float32, 2*batch)
	for b := 0; b < batch; b++ {
		l0, l1 := m.losses(x[2*b : 2*b+2])
		out[2*b], out[2*b+1] = float32(-l0), float32(-l1)
	}
	return out, nil
}

func (m basinsModel) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	l, _ := m.Logits(x, batch)
	v := cot(l)
	g := make([]float32, len(x))
	for b := 0; b < batch; b++ {
		xb := x[2*b : 2*b+2]
		p := m.pB
		if m.aWins(xb) {
			p = m.pA
		}
		for i := 0; i < 2; i++ {
			g[2*b+i] = float32(-2*float64(v[2*b])*(float64(xb[i])-m.c0[i]) - 2*float64(v[2*b+1])*(float64(xb[i])-p[i]))
		}
	}
	return l, g, nil
}

func (basinsModel) Latent() int { return 1 }

func (m basinsModel) Objective(x []float32, class []int, z []float32, n int) ([]float32, []float32, []float32, error) {
	v, rec, g := make([]float32, n), make([]float32, 2*n), make([]float32, n)
	for i := 0; i < n; i++ {
		p, zi := m.c0, float64(z[i])
		prior, dp := zi*zi/2, zi
		if class[i] == 1 {
			p = m.pA
			if zi >= 0 {
				p = m.pB
			}
			az := math.Abs(zi)
			prior, dp = (az-1)*(az-1), 2*(az-1)*math.Copysign(1, zi)
		}
		v[i] = float32(d2(x[2*i:2*i+2], p) + prior)
		rec[2*i], rec[2*i+1] = float32(p[0]), float32(p[1])
		g[i] = float32(dp)
	}
	return v, rec, g, nil
}

func (m basinsModel) Starts(x []float32, k int) ([]float32, []float32, error) {
	if k == 0 {
		return []float32{0}, []float32{float32(d2(x, m.c0))}, nil
	}
	return []float32{float32(-1 - math.Sqrt(m.a)), 1}, []float32{float32(d2(x, m.pA) + m.a), float32(d2(x, m.pB))}, nil
}

func (basinsModel) Pool(x []float32, k int, eps float64, count int) ([]float32, error) {
	return []float32{-1, 1}[:min(count, 2)], nil
}

func (m basinsModel) Full() attack.Classifier { return m }

// TestBasinRepair: on basinsModel the adversarial region within the budget is basin
// A's, where class 1's search starts only once its encoder start beats the bank's. The
// descent toward pA ends where the bank's start still wins (the search finds basin B,
// never adversarial within the budget: ||x' - pB||^2 - ||x' - c0||^2 >= 0.0175 on the
// whole ball, a linear function's minimum). Without the repair the attack must fail;
// with it, it must return a point where the encoder's start wins and
// ||x' - pA||^2 < ||x' - c0||^2, inside the budget.
func TestBasinRepair(t *testing.T) {
	m := basinsModel{c0: [2]float64{0.5, 0.2}, pA: [2]float64{0.5, 0.9}, pB: [2]float64{1.2, 0.75}, a: 0.6}
	x := []float32{0.5, 0.5}
	const eps = 0.25
	l0, l1 := m.losses(x)
	if !(l0 < l1) {
		t.Fatalf("x is not class 0: l = %v, %v", l0, l1)
	}
	for _, repair := range []bool{false, true} {
		a := attack.Basin{Eps: eps, NoRepair: !repair, RepairStep: 0.01}
		f, err := a.Run(context.Background(), m, x, []int{0}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		l0, l1 := m.losses(f.Adv)
		adv := l1 < l0
		if f.Ok[0] != repair || adv != repair {
			t.Errorf("repair %v: claimed %v, adversarial %v (l_0 %.4f, l_1 %.4f at %v); want %v", repair, f.Ok[0], adv, l0, l1, f.Adv, repair)
		}
		if repair && (!m.aWins(f.Adv) || !(d2(f.Adv, m.pA) < l0)) {
			t.Errorf("repaired point %v: encoder start wins %v, ||x'-pA||^2 %.4f vs l_0 %.4f", f.Adv, m.aWins(f.Adv), d2(f.Adv, m.pA), l0)
		}
		if d := math.Sqrt(floats.SqDist(f.Adv, x)); d > eps*(1+1e-6) {
			t.Errorf("repair %v: distance %.7f beyond the budget %g", repair, d, eps)
		}
	}
}

// TestBasinRefusals: a model without a latent search is refused as unsupported, bad
// options and labels with errors.
func TestBasinRefusals(t *testing.T) {
	m := protoModel{[][]float64{{0.2, 0.2}, {0.8, 0.8}}}
	x := []float32{0.3, 0.3}
	var ue *attack.UnsupportedError
	if _, err := (attack.Basin{Eps: 1}).Run(context.Background(), scoresOnly{}, x, []int{0}, 1, nil); !errors.As(err, &ue) {
		t.Errorf("scores-only model: %v, want an UnsupportedError", err)
	}
	for _, a := range []attack.Basin{{}, {Eps: -1}, {Eps: 1, Steps: -1}, {Eps: 1, LR: math.NaN()}, {Eps: 1, RepairStep: -0.1}} {
		if _, err := a.Run(context.Background(), m, x, []int{0}, 1, nil); err == nil {
			t.Errorf("%+v accepted", a)
		}
	}
	if _, err := (attack.Basin{Eps: 1}).Run(context.Background(), m, x, []int{2}, 1, nil); err == nil {
		t.Error("label 2 of 2 classes accepted")
	}
}
