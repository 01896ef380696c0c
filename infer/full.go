package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/adam"
	"github.com/eabs/eabs/internal/blas"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/runtime"
)

// Options are the settings of the paper's inference (Section 3.3). The paper gives the
// number of starts (8000 + the encoder's) and one reparameterised sample per step but
// not the optimiser, its step count or step size; the defaults are those of Schott et
// al.'s ABS, which E-ABS extends: Adam, 50 steps, learning rate 0.05.
type Options struct {
	// Starts is the number of random starting means (unit variance) drawn once per
	// model; their decoder outputs form the bank searched for the best start.
	Starts int `json:"starts"`
	// Steps of Adam on the mean (and, for variational models, the log-variance) of
	// Q*(z). 0 keeps the best start.
	Steps int `json:"steps"`
	// LR is Adam's step size.
	LR float64 `json:"lr"`
	// BankSeed seeds the random starting means.
	BankSeed uint64 `json:"bank_seed"`
	// Exact forces the exact inference the certified bound assumes (Appendix A):
	// the mean only, unit variance, no sampling, whatever the model's V switch says.
	Exact bool `json:"exact,omitempty"`
	// LossAt says which evaluated point gives l_k (and z*, G_k(z*)); see LossAt.
	LossAt LossAt `json:"loss_at"`
}

// LossAt says where the optimisation's result l_k(x) = min_z ... is read. The paper
// defines l_k as a minimum over z and leaves open which point of its stochastic
// optimisation reports it.
type LossAt string

const (
	// LossAtBest (the default) takes the lowest loss of every point the inference
	// evaluated: the chosen start and the optimised mean (both at their means) and,
	// for adversarial models, whose prior -beta*log D(z) is a function of z alone, every
	// reparameterised sample. Each is a value of the objective at a real z, so the
	// lowest is the tightest upper bound on the minimum the inference found: 50
	// single-sample Adam steps from a unit-variance start can end at a mean whose loss
	// is above the start's (the variance is still large). On MNIST it classified more
	// images right than the final mean (docs/choices.md), at the cost of one more
	// latent step.
	LossAtBest LossAt = "best"
	// LossAtFinal reads the loss at the optimised mean only, whatever it is.
	LossAtFinal LossAt = "final"
)

// ParseLossAt checks a LossAt's spelling ("" is the default, best).
func ParseLossAt(s string) (LossAt, error) {
	switch LossAt(s) {
	case "", LossAtBest:
		return LossAtBest, nil
	case LossAtFinal:
		return LossAtFinal, nil
	}
	return "", fmt.Errorf("infer: loss-at %q: want %q or %q", s, LossAtBest, LossAtFinal)
}

func (o *Options) check() error {
	if o.Steps < 0 || o.LR < 0 || math.IsNaN(o.LR) {
		return fmt.Errorf("infer: steps %d and learning rate %g must not be negative", o.Steps, o.LR)
	}
	la, err := ParseLossAt(string(o.LossAt))
	o.LossAt = la
	return err
}

// DefaultOptions are the paper's starts and ABS's optimiser settings.
func DefaultOptions() Options {
	return Options{Starts: 8000, Steps: 50, LR: 0.05, BankSeed: 1, LossAt: LossAtBest}
}

// Bank holds the random starting means and, per class, their decoder outputs, their
// squared norms and prior terms, so choosing a start is one matrix product per class.
type Bank struct {
	S, K, M, P int
	Z          []float32   // (S, M)
	Rec        [][]float32 // per class (S, P)
	Norm2      [][]float32 // per class (S)
	Prior      []float32   // (S): prior term at each mean
}

// NewBank draws opt.Starts means from N(0, I) with opt.BankSeed and decodes them with
// every decoder, chunk means at a time, calling tick with the means done.
func NewBank(m runtime.Model, opt Options, chunk int, tick func(done, total int)) (*Bank, error) {
	s := m.Spec()
	a := s.Arch
	S, K, M, P := opt.Starts, a.Classes, a.Latent, a.Pixels()
	if S < 0 {
		return nil, fmt.Errorf("infer: %d starts", S)
	}
	bk := &Bank{S: S, K: K, M: M, P: P, Z: make([]float32, S*M), Prior: make([]float32, S)}
	rng := rand.New(rand.NewPCG(opt.BankSeed, 0xBA4C))
	for i := range bk.Z {
		bk.Z[i] = float32(rng.NormFloat64())
	}
	bk.Rec = make([][]float32, K)
	bk.Norm2 = make([][]float32, K)
	for k := range bk.Rec {
		bk.Rec[k] = make([]float32, S*P)
		bk.Norm2[k] = make([]float32, S)
	}
	if chunk <= 0 {
		chunk = 500
	}
	for lo := 0; lo < S; lo += chunk {
		hi := min(lo+chunk, S)
		n := hi - lo
		z := make([]float32, n*K*M)
		for i := 0; i < n; i++ {
			for k := 0; k < K; k++ {
				copy(z[(i*K+k)*M:(i*K+k+1)*M], bk.Z[(lo+i)*M:(lo+i+1)*M])
			}
		}
		rec, err := m.Decode(z, n)
		if err != nil {
			return nil, fmt.Errorf("infer: decoding the start bank: %w", err)
		}
		for i := 0; i < n; i++ {
			for k := 0; k < K; k++ {
				r := rec[(i*K+k)*P : (i*K+k+1)*P]
				copy(bk.Rec[k][(lo+i)*P:], r)
				var s2 float64
				for _, v := range r {
					s2 += float64(v) * float64(v)
				}
				bk.Norm2[k][lo+i] = float32(s2)
			}
		}
		if tick != nil {
			tick(hi, S)
		}
	}
	if s.HasDiscriminator() {
		d, ok := m.(runtime.Discriminator)
		if !ok {
			return nil, fmt.Errorf("infer: the runtime does not expose the discriminator the start bank needs")
		}
		for lo := 0; lo < S; lo += chunk {
			hi := min(lo+chunk, S)
			l, err := d.DiscLogit(bk.Z[lo*M:hi*M], hi-lo)
			if err != nil {
				return nil, err
			}
			for i, v := range l {
				bk.Prior[lo+i] = float32(s.Beta * softplus(-float64(v)))
			}
		}
	} else {
		for i := 0; i < S; i++ {
			var s2 float64
			for _, v := range bk.Z[i*M : (i+1)*M] {
				s2 += float64(v) * float64(v)
			}
			bk.Prior[i] = float32(0.5 * s.Beta * s2)
		}
	}
	return bk, nil
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// searchTileFloats bounds the reconstructions one matrix-vector product of the start
// search reads (512 KB: within a core's L2 cache, so the tile is read from memory once
// for all the images of a batch).
const searchTileFloats = 1 << 17

// Search returns, per image and class, the bank index of the best start and its loss
// ||x - G_k(z)||^2 + prior(z), both (B, K).
func (bk *Bank) Search(x []float32, batch int) (idx []int, loss []float32) {
	idx, loss = make([]int, batch*bk.K), make([]float32, batch*bk.K)
	if bk.S == 0 {
		for i := range loss {
			loss[i] = float32(math.Inf(1))
		}
		return idx, loss
	}
	dots := make([]float32, batch*bk.S)
	xn := make([]float64, batch)
	for b := 0; b < batch; b++ {
		for _, v := range x[b*bk.P : (b+1)*bk.P] {
			xn[b] += float64(v) * float64(v)
		}
	}
	tile := max(1, searchTileFloats/bk.P)
	for k := 0; k < bk.K; k++ {
		// One matrix-vector product per image and tile of starts: a batched
		// GEMM's rows are not bitwise independent of the batch (graph.Samples says
		// why), and a start's loss must not be. The tile stays in cache across images.
		for lo := 0; lo < bk.S; lo += tile {
			hi := min(lo+tile, bk.S)
			for b := 0; b < batch; b++ {
				blas.Sgemv(hi-lo, bk.P, 1, bk.Rec[k][lo*bk.P:hi*bk.P], bk.P, x[b*bk.P:(b+1)*bk.P], 0, dots[b*bk.S+lo:b*bk.S+hi])
			}
		}
		for b := 0; b < batch; b++ {
			best, bestL := 0, math.Inf(1)
			row := dots[b*bk.S : (b+1)*bk.S]
			for j, d := range row {
				l := xn[b] - 2*float64(d) + float64(bk.Norm2[k][j]) + float64(bk.Prior[j])
				if l < bestL {
					best, bestL = j, l
				}
			}
			idx[b*bk.K+k], loss[b*bk.K+k] = best, float32(bestL)
		}
	}
	return idx, loss
}

// Engine runs the paper's inference on a runtime.
type Engine struct {
	m    runtime.Model
	bank *Bank
	opt  Options
}

// NewEngine prepares inference: it builds the start bank (the slow part, done once).
func NewEngine(m runtime.Model, opt Options, tick func(done, total int)) (*Engine, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	bk, err := NewBank(m, opt, 500, tick)
	if err != nil {
		return nil, err
	}
	return &Engine{m: m, bank: bk, opt: opt}, nil
}

// NewEngineWithBank is NewEngine reusing a bank built for the same decoders; prior, when
// not nil, replaces the bank's prior term (another beta).
func NewEngineWithBank(m runtime.Model, opt Options, bk *Bank, prior []float32) (*Engine, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	if prior != nil {
		if len(prior) != bk.S {
			return nil, fmt.Errorf("infer: %d prior values for a bank of %d", len(prior), bk.S)
		}
		c := *bk
		c.Prior = prior
		bk = &c
	}
	return &Engine{m: m, bank: bk, opt: opt}, nil
}

// Bank returns the engine's start bank.
func (e *Engine) Bank() *Bank { return e.bank }

// Options returns the engine's settings.
func (e *Engine) Options() Options { return e.opt }

// Model returns the runtime the engine uses.
func (e *Engine) Model() runtime.Model { return e.m }

// Output is the result of inference on a batch.
type Output struct {
	B, K, M, P int
	// Loss is l_k(x) (B, K), the loss at z* (see Options.LossAt); the prediction is
	// its argmin and the logits are -Loss.
	Loss []float32
	// Z is z* (B, K, M) and Rec is G_k(z*) (B, K, C*H*W): the adaptive attack's
	// gradient d l_k / dx = 2 (x - G_k(z*)) needs nothing else.
	Z, Rec []float32
	// Logvar is the log-variance of Q* (B, K, M) when z* was read.
	Logvar []float32
	// FromEncoder marks (B, K) the classes whose best start was the encoder's Q(z|x).
	FromEncoder []bool
	// Time spent choosing starts (bank search and encoder) and optimising.
	Search, Optimise time.Duration
}

// Pred returns argmin_k Loss per image.
func (o *Output) Pred() []int {
	out := make([]int, o.B)
	for b := range out {
		out[b] = floats.Argmax(negate(o.Loss[b*o.K : (b+1)*o.K]))
	}
	return out
}

func negate(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = -x
	}
	return out
}

// Classify runs inference on a batch of images x (B, C, H, W). rngs[b] supplies image
// b's reparameterisation noise, so an image's result does not depend on the batch it
// is in and runtimes can be compared on identical noise; exact inference (a model
// without the V switch, or Options.Exact) draws none and rngs may be nil.
func (e *Engine) Classify(x []float32, batch int, rngs []*rand.Rand) (*Output, error) {
	s := e.m.Spec()
	a := s.Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	if err := runtime.CheckBatch("x", x, batch, P); err != nil {
		return nil, err
	}
	variational := s.Variational && !e.opt.Exact
	if variational && len(rngs) != batch {
		return nil, fmt.Errorf("infer: %d noise sources for %d images", len(rngs), batch)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("infer: image %d holds %v", i/P, v)
		}
	}
	out := &Output{B: batch, K: K, M: M, P: P}
	t0 := time.Now()
	idx, bankLoss := e.bank.Search(x, batch)
	// The encoder's Q(z|x) is the 8001st candidate, scored at its mean.
	emu, elv, err := e.m.Encode(x, batch)
	if err != nil {
		return nil, err
	}
	E := s.Encoders()
	mu := make([]float32, batch*K*M)
	lv := make([]float32, batch*K*M)
	for b := 0; b < batch; b++ {
		for k := 0; k < K; k++ {
			e := min(k, E-1)
			copy(mu[(b*K+k)*M:(b*K+k+1)*M], emu[(b*E+e)*M:(b*E+e+1)*M])
			if variational {
				copy(lv[(b*K+k)*M:(b*K+k+1)*M], elv[(b*E+e)*M:(b*E+e+1)*M])
			}
		}
	}
	zero := make([]float32, batch*K*M)
	enc, err := e.m.LatentStep(x, mu, lv, zero, batch)
	if err != nil {
		return nil, err
	}
	out.FromEncoder = make([]bool, batch*K)
	for i := range out.FromEncoder {
		if enc.Loss[i] <= bankLoss[i] {
			out.FromEncoder[i] = true
			continue
		}
		j := idx[i]
		copy(mu[i*M:(i+1)*M], e.bank.Z[j*M:(j+1)*M])
		clear(lv[i*M : (i+1)*M])
	}
	out.Search = time.Since(t0)

	t1 := time.Now()
	best := e.opt.LossAt != LossAtFinal
	var bt *tracker
	if best {
		// The chosen starts at their means: the encoder's are already evaluated.
		st := enc
		if slices.Contains(out.FromEncoder, false) {
			if st, err = e.m.LatentStep(x, mu, lv, zero, batch); err != nil {
				return nil, err
			}
		}
		bt = newTracker(st, mu, lv, M, P)
	}
	// Samples are points of the objective only when the prior is a function of z.
	samplesCount := best && s.HasDiscriminator()
	if err := e.adam(x, batch, mu, lv, e.opt.Steps, variational, rngs, bt, samplesCount); err != nil {
		return nil, err
	}
	final, err := e.m.LatentStep(x, mu, lv, zero, batch)
	if err != nil {
		return nil, err
	}
	out.Optimise = time.Since(t1)
	if best {
		bt.update(final, mu, lv, nil)
		out.Loss, out.Rec, out.Z, out.Logvar = bt.loss, bt.rec, bt.z, bt.lv
	} else {
		out.Loss, out.Rec, out.Z, out.Logvar = final.Loss, final.Rec, mu, lv
	}
	for i, v := range out.Loss {
		if math.IsNaN(float64(v)) {
			return nil, fmt.Errorf("infer: the loss of image %d class %d is NaN", i/K, i%K)
		}
	}
	return out, nil
}

// adam runs steps of the latent Adam on mu (and, for variational inference, lv) from
// one reparameterised sample per step (image b's noise from rngs[b]); with track, every
// sample evaluated is offered to bt (a point of the objective: see LossAtBest).
func (e *Engine) adam(x []float32, batch int, mu, lv []float32, steps int, variational bool, rngs []*rand.Rand, bt *tracker, track bool) error {
	KM := len(mu) / batch
	// One Adam per tensor: the mean and the log-variance keep their own moments and
	// step counts.
	optMu, optLv := adam.New(e.opt.LR, len(mu)), adam.New(e.opt.LR, len(lv))
	eps := make([]float32, len(mu))
	for step := 0; step < steps; step++ {
		if variational {
			for b := 0; b < batch; b++ {
				for i := b * KM; i < (b+1)*KM; i++ {
					eps[i] = float32(rngs[b].NormFloat64())
				}
			}
		}
		st, err := e.m.LatentStep(x, mu, lv, eps, batch)
		if err != nil {
			return err
		}
		if track {
			bt.update(st, mu, lv, eps)
		}
		optMu.Step(mu, st.GradMu)
		if variational {
			optLv.Step(lv, st.GradLogvar)
		}
	}
	return nil
}

// tracker keeps, per image and class, the lowest loss evaluated so far and the point
// (z, its distribution's log-variance, G_k(z)) where it was found.
type tracker struct {
	M, P       int
	loss       []float32
	z, lv, rec []float32
}

func newTracker(st *runtime.Step, mu, lv []float32, M, P int) *tracker {
	return &tracker{M: M, P: P, loss: slices.Clone(st.Loss), z: slices.Clone(mu), lv: slices.Clone(lv), rec: slices.Clone(st.Rec)}
}

// update records the points of st that beat the best so far; with eps the point of
// row i is mu + exp(lv/2)*eps, without it the mean.
func (t *tracker) update(st *runtime.Step, mu, lv, eps []float32) {
	M, P := t.M, t.P
	for i, l := range st.Loss {
		if !(l < t.loss[i]) {
			continue
		}
		t.loss[i] = l
		copy(t.rec[i*P:(i+1)*P], st.Rec[i*P:(i+1)*P])
		copy(t.lv[i*M:(i+1)*M], lv[i*M:(i+1)*M])
		for j := i * M; j < (i+1)*M; j++ {
			t.z[j] = mu[j]
			if eps != nil {
				t.z[j] += float32(math.Exp(float64(lv[j])/2)) * eps[j]
			}
		}
	}
}

// Timing accumulates where inference time went.
type Timing struct {
	Search   time.Duration `json:"search_ns"`
	Optimise time.Duration `json:"optimise_ns"`
}

// NoiseFor is image i's reparameterisation-noise source in EOT run r: a function of
// (seed, r, i) only, so results do not depend on batching and two runtimes given the
// same seed see the same noise.
func NoiseFor(seed uint64, r, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed+uint64(r)*0x9E3779B97F4A7C15, uint64(i)))
}

// ClassifySet classifies every image of set, batch images at a time, running up to
// workers batches concurrently (runtimes must then be safe for concurrent calls; ONNX
// Runtime sessions are, and on small convolutions several single-threaded sessions
// outrun one multi-threaded one). With eot > 1 each image is classified eot times with
// independent noise and the per-class losses are averaged (expectation over
// transformation, the paper's Appendix B.1). Results do not depend on batch or
// workers: each image's noise comes from NoiseFor. tick is called with the number of
// images done.
func (e *Engine) ClassifySet(set *data.Set, batch, workers int, seed uint64, eot int, tick func(done int)) (*Result, Timing, error) {
	return e.ClassifyKeyed(set, nil, batch, workers, seed, eot, tick)
}

// ClassifyKeyed is ClassifySet with image i's noise keyed by keys[i] instead of i: a
// sample's position in a run's sample list, so the images of a shard get the noise they
// get in the whole run (keys nil: i).
func (e *Engine) ClassifyKeyed(set *data.Set, keys []int, batch, workers int, seed uint64, eot int, tick func(done int)) (*Result, Timing, error) {
	var tm Timing
	if keys != nil && len(keys) != set.N {
		return nil, tm, fmt.Errorf("infer: %d noise keys for %d images", len(keys), set.N)
	}
	key := func(i int) int {
		if keys == nil {
			return i
		}
		return keys[i]
	}
	a := e.m.Spec().Arch
	if set.C != a.InC || set.H != a.InH || set.W != a.InW {
		return nil, tm, fmt.Errorf("infer: images are %dx%dx%d, model %q wants %dx%dx%d", set.C, set.H, set.W, a.Name, a.InC, a.InH, a.InW)
	}
	if batch < 1 {
		return nil, tm, fmt.Errorf("infer: batch %d must be positive", batch)
	}
	eot, workers = max(eot, 1), max(workers, 1)
	K, n := a.Classes, set.ImageSize()
	res := &Result{N: set.N, Classes: K, Logits: make([]float32, set.N*K), Pred: make([]int, set.N), Labels: set.Labels}
	var (
		mu       sync.Mutex
		done     int
		firstErr error
		wg       sync.WaitGroup
	)
	jobs := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range jobs {
				hi := min(lo+batch, set.N)
				sum := make([]float64, (hi-lo)*K)
				var local Timing
				var err error
				for r := 0; r < eot && err == nil; r++ {
					rs := make([]*rand.Rand, hi-lo)
					for i := range rs {
						rs[i] = NoiseFor(seed, r, key(lo+i))
					}
					var out *Output
					if out, err = e.Classify(set.Images[lo*n:hi*n], hi-lo, rs); err != nil {
						err = fmt.Errorf("images %d-%d: %w", lo, hi-1, err)
						break
					}
					local.Search += out.Search
					local.Optimise += out.Optimise
					for i, v := range out.Loss {
						sum[i] += float64(v)
					}
				}
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				for i := lo; i < hi; i++ {
					row := res.Logits[i*K : (i+1)*K]
					for k := range row {
						row[k] = float32(-sum[(i-lo)*K+k] / float64(eot))
					}
					res.Pred[i] = floats.Argmax(row)
				}
				tm.Search += local.Search
				tm.Optimise += local.Optimise
				done += hi - lo
				if tick != nil {
					tick(done)
				}
				mu.Unlock()
			}
		}()
	}
	for lo := 0; lo < set.N; lo += batch {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		jobs <- lo
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, tm, firstErr
	}
	return res, tm, nil
}
