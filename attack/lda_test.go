package attack

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/internal/floats"
)

// prototypes is a nearest-prototype classifier, logits -||x - p_k||^2, whose
// reconstruction of every class is its prototype: the Latent Descent Attack's
// boundary on a segment toward p_k has a closed form.
type prototypes struct {
	K, P    int
	p       []float32 // (K, P)
	queries int
}

func (m *prototypes) Classes() int { return m.K }

func (m *prototypes) Logits(x []float32, batch int) ([]float32, error) {
	m.queries++
	l := make([]float32, batch*m.K)
	for b := 0; b < batch; b++ {
		for k := 0; k < m.K; k++ {
			l[b*m.K+k] = float32(-sq(x[b*m.P:(b+1)*m.P], m.p[k*m.P:(k+1)*m.P]))
		}
	}
	return l, nil
}

func (m *prototypes) Reconstruct(x []float32, batch int) ([]float32, []float32, error) {
	l, err := m.Logits(x, batch)
	rec := make([]float32, 0, batch*m.K*m.P)
	for b := 0; b < batch; b++ {
		rec = append(rec, m.p...)
	}
	return l, rec, err
}

// TestLDAFindsTheClosedFormBoundary: on the segment x_t = x + t (p_k - x),
// ||x_t - p_y||^2 - ||x_t - p_j||^2 is linear in t (the t^2 terms cancel), so the
// first t where a class j != y wins is the smallest root in (0, 1]; LDA's bisection
// must end within Step/2^BinarySteps above it.
func TestLDAFindsTheClosedFormBoundary(t *testing.T) {
	const K, P, batch = 4, 6, 5
	r := rand.New(rand.NewPCG(3, 4))
	m := &prototypes{K: K, P: P, p: make([]float32, K*P)}
	for i := range m.p {
		m.p[i] = float32(r.Float64())
	}
	x := make([]float32, batch*P)
	y := make([]int, batch)
	for b := 0; b < batch; b++ {
		y[b] = b % K
		for i := 0; i < P; i++ { // near its prototype
			x[b*P+i] = float32(0.8*float64(m.p[y[b]*P+i]) + 0.2*r.Float64())
		}
	}
	a := LDA{Step: 0.05, BinarySteps: 12}
	f, err := a.Run(context.Background(), m, x, y, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	l0, _ := m.Logits(x, batch)
	checked := 0
	for b := 0; b < batch; b++ {
		xb := x[b*P : (b+1)*P]
		if floats.Argmax(l0[b*K:(b+1)*K]) != y[b] {
			t.Fatalf("image %d: the test wants it classified as %d first", b, y[b])
		}
		k := -1
		for j := 0; j < K; j++ {
			if j != y[b] && (k < 0 || l0[b*K+j] > l0[b*K+k]) {
				k = j
			}
		}
		pk := m.p[k*P : (k+1)*P]
		// d_j(t) = ||x_t - p_y||^2 - ||x_t - p_j||^2 = c_j + t g_j.
		tStar := math.Inf(1)
		for j := 0; j < K; j++ {
			if j == y[b] {
				continue
			}
			var c, g float64
			for i := 0; i < P; i++ {
				u, py, pj, dir := float64(xb[i]), float64(m.p[y[b]*P+i]), float64(m.p[j*P+i]), float64(pk[i]-xb[i])
				c += (u-py)*(u-py) - (u-pj)*(u-pj)
				g += 2*(u-py)*dir - 2*(u-pj)*dir
			}
			if g > 0 && -c/g <= 1 {
				tStar = math.Min(tStar, -c/g)
			}
		}
		if math.IsInf(tStar, 1) {
			if f.Ok[b] {
				t.Errorf("image %d: LDA claims success where no class wins on the segment", b)
			}
			continue
		}
		if !f.Ok[b] {
			t.Errorf("image %d: LDA found nothing, the boundary is at t = %v", b, tStar)
			continue
		}
		checked++
		// The found point's t, from its distance along the segment.
		tFound := math.Sqrt(sq(f.Adv[b*P:(b+1)*P], xb) / sq(pk, xb))
		if tol := 0.05 / 4096; !(tFound >= tStar-1e-6 && tFound <= tStar+tol+1e-6) {
			t.Errorf("image %d: LDA stopped at t = %v, boundary %v (tolerance %g above)", b, tFound, tStar, tol)
		}
		if want := 1 + int(math.Ceil(tStar/0.05)) + 12; f.Queries[b] != want {
			t.Errorf("image %d: %d queries, want 1 + %d segment steps + 12 bisections", b, f.Queries[b], want-13)
		}
	}
	if checked < 3 {
		t.Errorf("only %d of %d images have a boundary on their segment: the test checks too little", checked, batch)
	}
}

type logitsOnly struct{}

func (logitsOnly) Classes() int { return 2 }
func (logitsOnly) Logits(x []float32, batch int) ([]float32, error) {
	return make([]float32, 2*batch), nil
}

func TestLDABadInput(t *testing.T) {
	var u *UnsupportedError
	if _, err := (LDA{}).Run(context.Background(), logitsOnly{}, make([]float32, 4), []int{0}, 1, nil); !errors.As(err, &u) {
		t.Errorf("a model without reconstructions: error %v, want *UnsupportedError", err)
	}
	m := &prototypes{K: 2, P: 2, p: []float32{0, 0, 1, 1}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, f := range map[string]func() error{
		"label": func() error {
			_, err := LDA{}.Run(context.Background(), m, make([]float32, 2), []int{2}, 1, nil)
			return err
		},
		"labels": func() error {
			_, err := LDA{}.Run(context.Background(), m, make([]float32, 2), []int{0, 1}, 1, nil)
			return err
		},
		"step": func() error {
			_, err := LDA{Step: 2}.Run(context.Background(), m, make([]float32, 2), []int{0}, 1, nil)
			return err
		},
		"cancelled": func() error { _, err := LDA{}.Run(ctx, m, make([]float32, 2), []int{0}, 1, nil); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func sq(x, r []float32) float64 {
	var s float64
	for i, v := range x {
		d := float64(v - r[i])
		s += d * d
	}
	return s
}
