package attack

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eabs/eabs/internal/floats"
)

// gfAffine is a tiny scripted classifier for the gradient-free attacks' tests: scores
// z = W tanh(V x) + b with seeded weights (or z = W x + b when V is nil), computed in
// float64. It records every call's batch size, so tests count queries independently of
// the oracle.
type gfAffine struct {
	k, p, h int
	w, v, b []float64 // W (k x h), V (h x p), b (k)

	mu    sync.Mutex
	calls []int
}

func newGFLinear(k, p int, seed uint64) *gfAffine {
	r := rand.New(rand.NewPCG(seed, 7))
	m := &gfAffine{k: k, p: p, h: p, w: make([]float64, k*p), b: make([]float64, k)}
	for i := range m.w {
		m.w[i] = r.NormFloat64()
	}
	// Rows of zero sum and a small bias keep uniform images from all falling in the
	// class whose row has the largest sum.
	for c := 0; c < k; c++ {
		row := m.w[c*p : (c+1)*p]
		var mean float64
		for _, v := range row {
			mean += v / float64(p)
		}
		for i := range row {
			row[i] -= mean
		}
		m.b[c] = 0.1 * r.NormFloat64()
	}
	return m
}

func newGFSmooth(k, p, h int, seed uint64) *gfAffine {
	r := rand.New(rand.NewPCG(seed, 8))
	m := &gfAffine{k: k, p: p, h: h, w: make([]float64, k*h), v: make([]float64, h*p), b: make([]float64, k)}
	for i := range m.w {
		m.w[i] = r.NormFloat64()
	}
	for i := range m.v {
		m.v[i] = r.NormFloat64() / math.Sqrt(float64(p)) * 2
	}
	return m
}

func (m *gfAffine) Classes() int { return m.k }

// hidden is V x through tanh, or x itself for the linear model.
func (m *gfAffine) hidden(x []float64) []float64 {
	if m.v == nil {
		return x
	}
	a := make([]float64, m.h)
	for j := range a {
		var s float64
		for i, xi := range x {
			s += m.v[j*m.p+i] * xi
		}
		a[j] = math.Tanh(s)
	}
	return a
}

func (m *gfAffine) scores64(x []float64) []float64 {
	a := m.hidden(x)
	z := make([]float64, m.k)
	for c := range z {
		z[c] = m.b[c]
		for j, v := range a {
			z[c] += m.w[c*m.h+j] * v
		}
	}
	return z
}

func (m *gfAffine) Logits(x []float32, batch int) ([]float32, error) {
	m.mu.Lock()
	m.calls = append(m.calls, batch)
	m.mu.Unlock()
	out := make([]float32, 0, batch*m.k)
	x64 := make([]float64, m.p)
	for b := 0; b < batch; b++ {
		for i := range x64 {
			x64[i] = float64(x[b*m.p+i])
		}
		for _, v := range m.scores64(x64) {
			out = append(out, float32(v))
		}
	}
	return out, nil
}

// counted returns the number of images the model has been asked about.
func (m *gfAffine) counted() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.calls {
		n += c
	}
	return n
}

// marginGrad is the exact gradient of the margin loss max_{j != y} z_j - z_y at x
// (the top other class j fixed at x).
func (m *gfAffine) marginGrad(x []float64, y int) []float64 {
	z := m.scores64(x)
	j := -1
	for c := range z {
		if c != y && (j < 0 || z[c] > z[j]) {
			j = c
		}
	}
	a := m.hidden(x)
	g := make([]float64, m.p)
	for h := 0; h < m.h; h++ {
		d := m.w[j*m.h+h] - m.w[y*m.h+h]
		if m.v == nil {
			g[h] += d
			continue
		}
		d *= 1 - a[h]*a[h]
		for i := range g {
			g[i] += d * m.v[h*m.p+i]
		}
	}
	return g
}

// constant always answers the same scores: class 0 wins.
type gfConstant struct{ k int }

func (c gfConstant) Classes() int { return c.k }
func (c gfConstant) Logits(x []float32, batch int) ([]float32, error) {
	out := make([]float32, batch*c.k)
	for b := 0; b < batch; b++ {
		out[b*c.k] = 1
	}
	return out, nil
}

// gfImages returns n seeded uniform images of p values and the model's own labels.
func gfImages(m Classifier, n, p int, seed uint64) ([]float32, []int) {
	r := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n*p)
	for i := range x {
		x[i] = r.Float32()
	}
	z, _ := m.Logits(x, n)
	k := m.Classes()
	y := make([]int, n)
	for i := range y {
		y[i] = floats.Argmax(z[i*k : (i+1)*k])
	}
	return x, y
}

func TestOracleCountsAndRefuses(t *testing.T) {
	m := newGFLinear(3, 4, 1)
	o := NewOracle(m, 3, 4, 5)
	x := make([]float32, 4*4)
	z, err := o.Query(context.Background(), []int{0, 0, 2, 1}, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(z) != 4*3 {
		t.Fatalf("Query returned %d scores, want 12", len(z))
	}
	if got, want := o.Queries(), []int{2, 1, 1}; !slices.Equal(got, want) {
		t.Errorf("Queries() = %v, want %v", got, want)
	}
	// Sample 0 has 3 left: 4 more are refused, with nothing counted or evaluated.
	before := m.counted()
	_, err = o.Query(context.Background(), []int{0, 0, 0, 0}, x)
	var be *BudgetError
	if !errors.As(err, &be) || be.Sample != 0 || be.Used != 2 || be.Asked != 4 || be.Budget != 5 {
		t.Fatalf("over-budget query: err = %v, want a *BudgetError for sample 0 (used 2, asked 4, budget 5)", err)
	}
	if m.counted() != before || !slices.Equal(o.Queries(), []int{2, 1, 1}) {
		t.Errorf("refused query was evaluated or counted: model %d -> %d, oracle %v", before, m.counted(), o.Queries())
	}
	if o.Remaining(0) != 3 || o.Remaining(1) != 4 {
		t.Errorf("Remaining = %d, %d, want 3, 4", o.Remaining(0), o.Remaining(1))
	}
	if _, err := o.Query(context.Background(), []int{3}, x[:4]); err == nil || !strings.Contains(err.Error(), "sample 3") {
		t.Errorf("query for sample 3 of 3: err = %v", err)
	}
	if _, err := o.Query(context.Background(), []int{0}, x[:3]); err == nil {
		t.Error("query with a partial image succeeded")
	}
}

// TestOracleEachGathers checks that the queries of all samples, and several candidates
// of one sample, go to the model in one call per round, and that answers reach the
// sample that asked.
func TestOracleEachGathers(t *testing.T) {
	const n, p, rounds = 7, 4, 3
	m := newGFLinear(3, p, 2)
	o := NewOracle(m, n, p, 0)
	x, _ := gfImages(m, n, p, 5)
	want, _ := m.Logits(x, n)
	m.calls = nil
	err := o.Each(context.Background(), func(s int, q *SampleOracle) error {
		// Sample s asks s%3+1 copies of its own image per round and stops after s%rounds+1 rounds.
		for r := 0; r <= s%rounds; r++ {
			c := s%3 + 1
			img := slices.Repeat(x[s*p:(s+1)*p], c)
			z, err := q.Scores(img)
			if err != nil {
				return err
			}
			for i := 0; i < c; i++ {
				if !slices.Equal(z[i*3:(i+1)*3], want[s*3:(s+1)*3]) {
					t.Errorf("sample %d got scores %v, want %v", s, z[i*3:(i+1)*3], want[s*3:(s+1)*3])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Round r is asked by the samples with s%3 >= r; each asks s%3+1 images.
	var calls []int
	for r := 0; r < rounds; r++ {
		sz := 0
		for s := 0; s < n; s++ {
			if s%rounds >= r {
				sz += s%3 + 1
			}
		}
		calls = append(calls, sz)
	}
	if !slices.Equal(m.calls, calls) {
		t.Errorf("model calls %v, want one gathered call per round %v", m.calls, calls)
	}
	q := o.Queries()
	for s := 0; s < n; s++ {
		if w := (s%3 + 1) * (s%rounds + 1); q[s] != w {
			t.Errorf("sample %d: %d queries counted, want %d", s, q[s], w)
		}
	}
}

func TestOracleParallelSplitsInOrder(t *testing.T) {
	const n, p = 11, 4
	m := newGFLinear(3, p, 3)
	x, _ := gfImages(m, n, p, 6)
	want, _ := m.Logits(x, n)
	m.calls = nil
	o := NewOracle(WithParallelism(m, 3, 4), 1, p, 0)
	got, err := o.Query(context.Background(), make([]int, n), x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("parallel scores %v differ from one call's %v", got, want)
	}
	slices.Sort(m.calls)
	if !slices.Equal(m.calls, []int{3, 4, 4}) {
		t.Errorf("sub-batches %v, want 4, 4, 3", m.calls)
	}
}

type gfNaN struct{}

func (gfNaN) Classes() int { return 2 }
func (gfNaN) Logits(x []float32, batch int) ([]float32, error) {
	out := make([]float32, 2*batch)
	out[len(out)-1] = float32(math.NaN())
	return out, nil
}

func TestOracleRefusesNaNScoresAndCancels(t *testing.T) {
	o := NewOracle(gfNaN{}, 1, 1, 0)
	if _, err := o.Query(context.Background(), []int{0, 0}, []float32{0, 1}); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN scores: err = %v, want one naming NaN", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o = NewOracle(newGFLinear(2, 1, 1), 2, 1, 0)
	err := o.Each(ctx, func(s int, q *SampleOracle) error {
		_, err := q.Scores([]float32{0.5})
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Each: err = %v, want context.Canceled", err)
	}
}
