package adversary

import (
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/internal/blas"
)

var _ attack.LatentModel = (*Adaptive)(nil)

// Latent implements attack.LatentModel: the size of z.
func (a *Adaptive) Latent() int { return a.Engine.Model().Spec().Arch.Latent }

// Objective implements attack.LatentModel: the model's latent step at the given
// latents, z itself (zero log-variance, no noise), so the value is
// ||x_i - G_k(z_i)||^2 + prior(z_i) with the prior the inference uses (-beta log D(z)
// for adversarial models, beta ||z||^2/2 otherwise). A latent step evaluates every
// class's decoder on its row, so each row pays for K decoders to use one. Rows are
// split over Workers concurrent calls.
func (a *Adaptive) Objective(x []float32, class []int, z []float32, n int) (value, rec, grad []float32, err error) {
	s := a.Engine.Model().Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	if n <= 0 || len(x) != n*P || len(class) != n || len(z) != n*M {
		return nil, nil, nil, fmt.Errorf("attack: objective: %d image values, %d classes and %d latent values for %d rows of %d pixels and %d latents", len(x), len(class), len(z), n, P, M)
	}
	for i, k := range class {
		if k < 0 || k >= K {
			return nil, nil, nil, fmt.Errorf("attack: objective: class %d of row %d is not a class of %d", k, i, K)
		}
	}
	for i, v := range z {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, nil, nil, fmt.Errorf("attack: objective: latent %d of row %d is %v", i%M, i/M, v)
		}
	}
	value, rec, grad = make([]float32, n), make([]float32, n*P), make([]float32, n*M)
	workers := a.Workers
	if workers <= 0 {
		workers = 1
	}
	per := (n + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*per, min((w+1)*per, n)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := hi - lo
			mu := make([]float32, b*K*M)
			for i := 0; i < b; i++ {
				for k := 0; k < K; k++ {
					copy(mu[(i*K+k)*M:(i*K+k+1)*M], z[(lo+i)*M:(lo+i+1)*M])
				}
			}
			zero := make([]float32, b*K*M)
			st, err := a.Engine.Model().LatentStep(x[lo*P:hi*P], mu, zero, zero, b)
			if err != nil {
				errs[w] = err
				return
			}
			for i := 0; i < b; i++ {
				r, k := lo+i, class[lo+i]
				value[r] = st.Loss[i*K+k]
				copy(rec[r*P:(r+1)*P], st.Rec[(i*K+k)*P:(i*K+k+1)*P])
				copy(grad[r*M:(r+1)*M], st.GradMu[(i*K+k)*M:(i*K+k+1)*M])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, nil, err
		}
	}
	return value, rec, grad, nil
}

// Starts implements attack.LatentModel: the two starts infer.Engine.Classify compares
// for class k, the encoder's mean (index 0) and the start bank's best (index 1), with
// the values it compares them by (the encoder's wins a tie). A model without a bank
// has the encoder's start only.
func (a *Adaptive) Starts(x []float32, k int) (z, value []float32, err error) {
	e := a.Engine
	s := e.Model().Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	if len(x) != P {
		return nil, nil, fmt.Errorf("attack: starts: %d values for an image of %d pixels", len(x), P)
	}
	if k < 0 || k >= K {
		return nil, nil, fmt.Errorf("attack: starts: class %d is not a class of %d", k, K)
	}
	emu, elv, err := e.Model().Encode(x, 1)
	if err != nil {
		return nil, nil, err
	}
	E := s.Encoders()
	variational := s.Variational && !e.Options().Exact
	mu, lv := make([]float32, K*M), make([]float32, K*M)
	for c := 0; c < K; c++ {
		j := min(c, E-1)
		copy(mu[c*M:(c+1)*M], emu[j*M:(j+1)*M])
		if variational {
			copy(lv[c*M:(c+1)*M], elv[j*M:(j+1)*M])
		}
	}
	st, err := e.Model().LatentStep(x, mu, lv, make([]float32, K*M), 1)
	if err != nil {
		return nil, nil, err
	}
	z, value = append([]float32(nil), mu[k*M:(k+1)*M]...), []float32{st.Loss[k]}
	bk := e.Bank()
	if bk.S == 0 {
		return z, value, nil
	}
	idx, loss := bk.Search(x, 1)
	j := idx[k]
	return append(z, bk.Z[j*M:(j+1)*M]...), append(value, loss[k]), nil
}

// Pool implements attack.LatentModel from the engine's start bank: the count means
// with the lowest (||x - G_k(z_j)|| - eps)^2 + prior_j (the bank's decoded images and
// prior terms), lowest first, ties by bank order.
func (a *Adaptive) Pool(x []float32, k int, eps float64, count int) ([]float32, error) {
	bk := a.Engine.Bank()
	if len(x) != bk.P {
		return nil, fmt.Errorf("attack: pool: %d values for an image of %d pixels", len(x), bk.P)
	}
	if k < 0 || k >= bk.K {
		return nil, fmt.Errorf("attack: pool: class %d is not a class of %d", k, bk.K)
	}
	if !(eps >= 0) || count < 0 {
		return nil, fmt.Errorf("attack: pool: eps %g and count %d must not be negative", eps, count)
	}
	S, M, P := bk.S, bk.M, bk.P
	dots := make([]float32, S)
	if S > 0 {
		blas.Sgemv(S, P, 1, bk.Rec[k], P, x, 0, dots)
	}
	var xn float64
	for _, v := range x {
		xn += float64(v) * float64(v)
	}
	reach := make([]float64, S)
	order := make([]int, S)
	for j := range reach {
		d := math.Sqrt(math.Max(xn-2*float64(dots[j])+float64(bk.Norm2[k][j]), 0))
		r := math.Max(d-eps, 0)
		reach[j], order[j] = r*r+float64(bk.Prior[j]), j
	}
	sort.SliceStable(order, func(i, j int) bool { return reach[order[i]] < reach[order[j]] })
	out := make([]float32, 0, min(count, S)*M)
	for _, j := range order[:min(count, S)] {
		out = append(out, bk.Z[j*M:(j+1)*M]...)
	}
	return out, nil
}
