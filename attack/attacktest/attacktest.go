// Package attacktest holds tiny differentiable models with exact float64 gradients for
// the attack tests, and Check, which verifies what every attack must keep: its budget
// (the Lp ball of a bounded attack), the [0,1] pixel box, honest query counts, the
// shapes of its answer, and that its claim of success matches the model's verdict.
//
// The models count the images they evaluate, so a test can compare an attack's Queries
// with what it really spent.
package attacktest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/eabs/eabs/attack"
)

// Linear is the classifier logits = W x + b (K classes, N inputs). Its logits are
// affine, so boundary distances have closed forms: between classes i and j the
// boundary is (w_i - w_j).x + (b_i - b_j) = 0, at L2 distance |f|/||w_i - w_j||_2 and
// Linf distance |f|/||w_i - w_j||_1.
type Linear struct {
	K, N  int
	W     []float64 // K x N, row-major
	B     []float64 // K
	evals atomic.Int64
}

// NewLinear draws W ~ N(0, scale^2) and b ~ N(0, scale^2/10) from rng.
func NewLinear(rng *rand.Rand, k, n int, scale float64) *Linear {
	l := &Linear{K: k, N: n, W: make([]float64, k*n), B: make([]float64, k)}
	for i := range l.W {
		l.W[i] = scale * rng.NormFloat64()
	}
	for i := range l.B {
		l.B[i] = scale / math.Sqrt(10) * rng.NormFloat64()
	}
	return l
}

// Evals is the number of images evaluated so far (a logits-and-gradient call counts
// once per image).
func (l *Linear) Evals() int { return int(l.evals.Load()) }

// Classes implements attack.Classifier.
func (l *Linear) Classes() int { return l.K }

func check(x []float32, batch, n int) error {
	if batch <= 0 || len(x) != batch*n {
		return fmt.Errorf("attacktest: %d values for %d images of %d", len(x), batch, n)
	}
	return nil
}

// Row returns the float64 logits of one image.
func (l *Linear) Row(x []float32) []float64 {
	z := make([]float64, l.K)
	for k := range z {
		s := l.B[k]
		for i, v := range x {
			s += l.W[k*l.N+i] * float64(v)
		}
		z[k] = s
	}
	return z
}

// Logits implements attack.Classifier.
func (l *Linear) Logits(x []float32, batch int) ([]float32, error) {
	if err := check(x, batch, l.N); err != nil {
		return nil, err
	}
	l.evals.Add(int64(batch))
	out := make([]float32, batch*l.K)
	for b := 0; b < batch; b++ {
		for k, v := range l.Row(x[b*l.N : (b+1)*l.N]) {
			out[b*l.K+k] = float32(v)
		}
	}
	return out, nil
}

// LogitsVJP implements attack.Differentiable: grad_b = W^T v_b.
func (l *Linear) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	logits, err := l.Logits(x, batch)
	if err != nil {
		return nil, nil, err
	}
	v := cot(append([]float32(nil), logits...))
	if len(v) != len(logits) {
		return nil, nil, fmt.Errorf("attacktest: cotangent of %d values for %d logits", len(v), len(logits))
	}
	grad := make([]float32, len(x))
	for b := 0; b < batch; b++ {
		for i := 0; i < l.N; i++ {
			var s float64
			for k := 0; k < l.K; k++ {
				s += float64(v[b*l.K+k]) * l.W[k*l.N+i]
			}
			grad[b*l.N+i] = float32(s)
		}
	}
	return logits, grad, nil
}

// LossGrad implements attack.Model (the cross-entropy gradient).
func (l *Linear) LossGrad(x []float32, y []int, batch int) ([]float32, []float32, error) {
	return crossEntropyVJP(l, x, y, batch)
}

func crossEntropyVJP(m attack.Differentiable, x []float32, y []int, batch int) ([]float32, []float32, error) {
	if len(y) != batch {
		return nil, nil, fmt.Errorf("attacktest: %d labels for %d images", len(y), batch)
	}
	k := m.Classes()
	return m.LogitsVJP(x, batch, func(z []float32) []float32 {
		v := make([]float32, len(z))
		for b := 0; b < batch; b++ {
			p := Softmax(z[b*k : (b+1)*k])
			for j := range p {
				v[b*k+j] = float32(p[j])
			}
			v[b*k+y[b]]--
		}
		return v
	})
}

// Softmax of one row, in float64.
func Softmax(z []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, float64(v))
	}
	p := make([]float64, len(z))
	var s float64
	for i, v := range z {
		p[i] = math.Exp(float64(v) - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// Binary returns the two-class Linear model with logits (0, w.x + b): class 1 wins
// where w.x + b > 0. Its decision boundary is the hyperplane w.x + b = 0.
func Binary(w []float64, b float64) *Linear {
	n := len(w)
	l := &Linear{K: 2, N: n, W: make([]float64, 2*n), B: []float64{0, b}}
	copy(l.W[n:], w)
	return l
}

// MLP is the two-layer classifier logits = W2 tanh(W1 x + b1) + b2 (N inputs, H hidden
// units, K classes): nonlinear, with exact gradients.
type MLP struct {
	K, N, H int
	W1, B1  []float64 // H x N, H
	W2, B2  []float64 // K x H, K
	evals   atomic.Int64
}

// NewMLP draws the weights from rng with variance 1/fan-in, scaled by gain.
func NewMLP(rng *rand.Rand, k, n, h int, gain float64) *MLP {
	m := &MLP{K: k, N: n, H: h, W1: make([]float64, h*n), B1: make([]float64, h), W2: make([]float64, k*h), B2: make([]float64, k)}
	for i := range m.W1 {
		m.W1[i] = gain * rng.NormFloat64() / math.Sqrt(float64(n))
	}
	for i := range m.B1 {
		m.B1[i] = 0.1 * rng.NormFloat64()
	}
	for i := range m.W2 {
		m.W2[i] = gain * rng.NormFloat64() / math.Sqrt(float64(h))
	}
	for i := range m.B2 {
		m.B2[i] = 0.1 * rng.NormFloat64()
	}
	return m
}

// Evals is the number of images evaluated so far.
func (m *MLP) Evals() int { return int(m.evals.Load()) }

// Classes implements attack.Classifier.
func (m *MLP) Classes() int { return m.K }

func (m *MLP) row(x []float32) (hid, z []float64) {
	hid = make([]float64, m.H)
	for j := range hid {
		s := m.B1[j]
		for i, v := range x {
			s += m.W1[j*m.N+i] * float64(v)
		}
		hid[j] = math.Tanh(s)
	}
	z = make([]float64, m.K)
	for k := range z {
		s := m.B2[k]
		for j, h := range hid {
			s += m.W2[k*m.H+j] * h
		}
		z[k] = s
	}
	return hid, z
}

// Logits implements attack.Classifier.
func (m *MLP) Logits(x []float32, batch int) ([]float32, error) {
	if err := check(x, batch, m.N); err != nil {
		return nil, err
	}
	m.evals.Add(int64(batch))
	out := make([]float32, batch*m.K)
	for b := 0; b < batch; b++ {
		_, z := m.row(x[b*m.N : (b+1)*m.N])
		for k, v := range z {
			out[b*m.K+k] = float32(v)
		}
	}
	return out, nil
}

// LogitsVJP implements attack.Differentiable: grad = W1^T ((1 - h^2) * W2^T v).
func (m *MLP) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	logits, err := m.Logits(x, batch)
	if err != nil {
		return nil, nil, err
	}
	v := cot(append([]float32(nil), logits...))
	if len(v) != len(logits) {
		return nil, nil, fmt.Errorf("attacktest: cotangent of %d values for %d logits", len(v), len(logits))
	}
	grad := make([]float32, len(x))
	for b := 0; b < batch; b++ {
		hid, _ := m.row(x[b*m.N : (b+1)*m.N])
		dh := make([]float64, m.H)
		for j := range dh {
			var s float64
			for k := 0; k < m.K; k++ {
				s += float64(v[b*m.K+k]) * m.W2[k*m.H+j]
			}
			dh[j] = s * (1 - hid[j]*hid[j])
		}
		for i := 0; i < m.N; i++ {
			var s float64
			for j, d := range dh {
				s += d * m.W1[j*m.N+i]
			}
			grad[b*m.N+i] = float32(s)
		}
	}
	return logits, grad, nil
}

// LossGrad implements attack.Model.
func (m *MLP) LossGrad(x []float32, y []int, batch int) ([]float32, []float32, error) {
	return crossEntropyVJP(m, x, y, batch)
}

// Scripted is a randomised linear model whose randomness is a known script: its t-th
// evaluation (counting from 0, one per call, for the whole batch) has logits
// (W + s_t D) x + b + s_t c with s_t = Script[t mod len(Script)], so the average of n
// consecutive calls, n a multiple of len(Script), is the Linear model with W + mean(s) D
// and b + mean(s) c: an EOT test knows the averaged logits and gradient exactly.
type Scripted struct {
	Base   *Linear
	D, C   []float64 // K x N and K
	Script []float64
	calls  int
}

// NewScripted draws D and c from rng.
func NewScripted(rng *rand.Rand, base *Linear, script []float64) *Scripted {
	s := &Scripted{Base: base, D: make([]float64, base.K*base.N), C: make([]float64, base.K), Script: script}
	for i := range s.D {
		s.D[i] = rng.NormFloat64()
	}
	for i := range s.C {
		s.C[i] = rng.NormFloat64()
	}
	return s
}

// At returns the deterministic Linear model of the script value s.
func (s *Scripted) At(v float64) *Linear {
	b := s.Base
	l := &Linear{K: b.K, N: b.N, W: make([]float64, len(b.W)), B: make([]float64, b.K)}
	for i := range l.W {
		l.W[i] = b.W[i] + v*s.D[i]
	}
	for k := range l.B {
		l.B[k] = b.B[k] + v*s.C[k]
	}
	return l
}

// Calls is the number of evaluations so far.
func (s *Scripted) Calls() int { return s.calls }

func (s *Scripted) next() *Linear {
	v := s.Script[s.calls%len(s.Script)]
	s.calls++
	return s.At(v)
}

// Classes implements attack.Classifier.
func (s *Scripted) Classes() int { return s.Base.K }

// Logits implements attack.Classifier.
func (s *Scripted) Logits(x []float32, batch int) ([]float32, error) {
	return s.next().Logits(x, batch)
}

// LogitsVJP implements attack.Differentiable.
func (s *Scripted) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	return s.next().LogitsVJP(x, batch, cot)
}

// Distance is the norm's distance between two images.
func Distance(norm attack.Norm, a, b []float32) float64 {
	var s float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if norm == attack.Linf {
			s = math.Max(s, d)
		} else {
			s += d * d
		}
	}
	if norm == attack.Linf {
		return s
	}
	return math.Sqrt(s)
}

// Misclassified reports, per image, whether m's argmax differs from the label.
func Misclassified(m attack.Classifier, x []float32, y []int, batch int) ([]bool, error) {
	z, err := m.Logits(x, batch)
	if err != nil {
		return nil, err
	}
	k := m.Classes()
	out := make([]bool, batch)
	for b := range out {
		best := 0
		for j := 1; j < k; j++ {
			if z[b*k+j] > z[b*k+best] {
				best = j
			}
		}
		out[b] = best != y[b]
	}
	return out, nil
}

// Check verifies an attack's answer f for images x (batch of them) with labels y:
//   - the shapes of Adv, Ok and Queries;
//   - every pixel of Adv finite and in [0,1];
//   - for a bounded attack (eps > 0), every Adv within eps of its image in the norm,
//     up to float32 rounding (1e-6 absolute);
//   - Queries non-negative and summing to spent, the images the model evaluated during
//     the attack (spent < 0 skips this);
//   - Ok[b] exactly when the deterministic model m misclassifies Adv[b] (m nil skips
//     this; call Check after reading spent, since this check queries m).
//
// It returns the first violation found.
func Check(m attack.Classifier, x []float32, y []int, batch int, f *attack.Found, norm attack.Norm, eps float64, spent int) error {
	if f == nil {
		return fmt.Errorf("attack returned no answer")
	}
	n := len(x) / batch
	if len(f.Adv) != len(x) || len(f.Ok) != batch || len(f.Queries) != batch {
		return fmt.Errorf("answer shapes: %d adv values, %d ok, %d queries; want %d, %d, %d", len(f.Adv), len(f.Ok), len(f.Queries), len(x), batch, batch)
	}
	for i, v := range f.Adv {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("adv pixel %d of image %d = %v, outside [0,1]", i%n, i/n, v)
		}
	}
	total := 0
	for b := 0; b < batch; b++ {
		if eps > 0 {
			if d := Distance(norm, f.Adv[b*n:(b+1)*n], x[b*n:(b+1)*n]); d > eps+1e-6 {
				return fmt.Errorf("image %d moved %.9g in %s, budget %g", b, d, norm, eps)
			}
		}
		if f.Queries[b] < 0 {
			return fmt.Errorf("image %d: %d queries", b, f.Queries[b])
		}
		total += f.Queries[b]
	}
	if spent >= 0 && total != spent {
		return fmt.Errorf("queries sum to %d, the model evaluated %d images", total, spent)
	}
	if m != nil {
		mis, err := Misclassified(m, f.Adv, y, batch)
		if err != nil {
			return err
		}
		for b := range mis {
			if mis[b] != f.Ok[b] {
				return fmt.Errorf("image %d: Ok = %v but the model misclassifies it: %v", b, f.Ok[b], mis[b])
			}
		}
	}
	return nil
}
