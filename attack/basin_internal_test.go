package attack

import (
	"testing"

	"github.com/eabs/eabs/internal/floats"
)

// offsetProtos is a latent model with constant decoders G_k(z) = c_k and a class
// prior p_k + z^2/2: l_k(x) = ||x - c_k||^2 + p_k.
type offsetProtos struct {
	c [][]float32
	p []float64
}

func (m offsetProtos) Classes() int { return len(m.c) }
func (m offsetProtos) Logits(x []float32, batch int) ([]float32, error) {
	out := make([]float32, len(m.c))
	for k := range m.c {
		out[k] = float32(-floats.SqDist(x, m.c[k]) - m.p[k])
	}
	return out, nil
}
func (m offsetProtos) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	return nil, nil, nil
}
func (offsetProtos) Latent() int { return 1 }
func (m offsetProtos) Objective(x []float32, class []int, z []float32, n int) ([]float32, []float32, []float32, error) {
	P := len(x) / n
	v, rec := make([]float32, n), make([]float32, 0, n*P)
	for i, k := range class {
		v[i] = float32(floats.SqDist(x[i*P:(i+1)*P], m.c[k]) + m.p[k] + float64(z[i]*z[i])/2)
		rec = append(rec, m.c[k]...)
	}
	return v, rec, z, nil
}
func (m offsetProtos) Starts(x []float32, k int) ([]float32, []float32, error) {
	return []float32{0}, []float32{float32(floats.SqDist(x, m.c[k]) + m.p[k])}, nil
}
func (offsetProtos) Pool(x []float32, k int, eps float64, count int) ([]float32, error) {
	return make([]float32, count), nil
}
func (m offsetProtos) Full() Classifier { return m }

// TestBasinTargetsByReach: targets are ranked by the objective reachable within the
// budget, (d_k - eps)^2 + p_k with d_k = ||x - c_k||, not by l_k(x) = d_k^2 + p_k. At
// x = 0: class 1 (d 0.5, p 0) has l 0.25 and at eps 0.3 reaches 0.04; class 2 (d 0.3,
// p 0.1) has l 0.19 but reaches 0.1; class 3 (d 0.6, p 0.2) has l 0.56 and reaches
// 0.29. So the order is 1, 2, 3 at eps 0.3, and 2, 1, 3 (by l) at eps 0.
func TestBasinTargetsByReach(t *testing.T) {
	m := offsetProtos{c: [][]float32{{0, 0}, {0.5, 0}, {0, 0.3}, {0, 0.6}}, p: []float64{0, 0, 0.1, 0.2}}
	for _, tc := range []struct {
		eps  float64
		want []int
	}{{0.3, []int{1, 2, 3}}, {1e-9, []int{2, 1, 3}}} {
		s := &basinRun{a: Basin{Eps: tc.eps}, m: m, x: []float32{0, 0}, y: 0, K: 4, P: 2, M: 1}
		got, err := s.targets()
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Errorf("eps %g: targets %v, want %v", tc.eps, got, tc.want)
				break
			}
		}
	}
}
