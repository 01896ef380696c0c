package train

import (
	"fmt"
	"math"
	goruntime "runtime"
	"sync"
	"sync/atomic"

	"github.com/eabs/eabs/models"
)

// Adam is the Adam optimiser (Kingma & Ba 2015) over a fixed list of parameters. Its
// state (first and second moments and the step count) is plain data so checkpoints
// can save it and a resumed run continues exactly.
type Adam struct {
	LR           float64
	Beta1, Beta2 float64
	Eps          float64
	// T counts the updates of each parameter: parameters of class-specific models
	// are updated on different steps, so bias correction is per parameter.
	T    map[string]int
	M, V map[string][]float32
}

// NewAdam returns Adam with PyTorch's defaults (betas 0.9, 0.999; eps 1e-8).
func NewAdam(lr float64) *Adam {
	return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, T: map[string]int{}, M: map[string][]float32{}, V: map[string][]float32{}}
}

// Step updates params in place from their gradients (same order). The element-wise
// update is spread over the threads in pieces; every element's arithmetic is the same
// whichever thread does it.
func (a *Adam) Step(params []*models.Param, grads [][]float32) error {
	if len(params) != len(grads) {
		return fmt.Errorf("train: %d parameters, %d gradients", len(params), len(grads))
	}
	b1, b2 := float32(a.Beta1), float32(a.Beta2)
	type piece struct {
		d, g, m, v []float32
		lr, eps    float32
	}
	var pieces []piece
	const pieceLen = 1 << 14
	for i, p := range params {
		a.T[p.Name]++
		t := float64(a.T[p.Name])
		c1 := 1 - math.Pow(a.Beta1, t)
		c2 := 1 - math.Pow(a.Beta2, t)
		lr := float32(a.LR * math.Sqrt(c2) / c1)
		eps := float32(a.Eps * math.Sqrt(c2))
		g := grads[i]
		if len(g) != len(p.Data) {
			return fmt.Errorf("train: gradient of %s has %d values, want %d", p.Name, len(g), len(p.Data))
		}
		m, v := a.M[p.Name], a.V[p.Name]
		if m == nil {
			m, v = make([]float32, len(g)), make([]float32, len(g))
			a.M[p.Name], a.V[p.Name] = m, v
		}
		for lo := 0; lo < len(g); lo += pieceLen {
			hi := min(lo+pieceLen, len(g))
			pieces = append(pieces, piece{p.Data[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], lr, eps})
		}
	}
	update := func(pc piece) {
		d, m, v := pc.d, pc.m[:len(pc.g)], pc.v[:len(pc.g)]
		d = d[:len(pc.g)]
		for j, gj := range pc.g {
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			d[j] -= pc.lr * m[j] / (float32(math.Sqrt(float64(v[j]))) + pc.eps)
		}
	}
	workers := min(goruntime.GOMAXPROCS(0), len(pieces)/4)
	if workers < 2 {
		for _, pc := range pieces {
			update(pc)
		}
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(pieces); i = int(next.Add(1) - 1) {
				update(pieces[i])
			}
		}()
	}
	wg.Wait()
	return nil
}
