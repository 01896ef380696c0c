// Package adversary is E-ABS (and ABS) as the attacks of package attack see it: the
// adaptive gradient of eq. 8 with its warm-started inference (Adaptive), and the
// verdict every candidate is judged by, the model's own full inference with fresh
// noise (Verdict).
package adversary

import (
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/floats"
)

// Adaptive is an E-ABS (or ABS) classifier as the attacks see it. Its logits are
// -l_k(x), averaged over EOT inference runs with independent noise (the paper's
// Appendix B.1 uses 5), and its gradient is the adaptive one of eq. 8, which holds the
// optimised latents fixed: d l_k / dx = 2 (x - G_k(z*_k)). It implements Classifier,
// Differentiable, Reconstructor and Model (cross-entropy, for adversarial training).
//
// Without Warm every evaluation runs the model's full inference (the start-bank search
// and the Adam steps of infer.Options). With Warm the attacker's inference is
// warm-started from the previous call's z*_k (see WarmStart): much cheaper, and only the
// attacker's; a candidate's verdict must come from a Verdict.
//
// An Adaptive is safe for concurrent use, but calls are serialised (the batch inside
// a call is what runs in parallel).
type Adaptive struct {
	Engine *infer.Engine
	// EOT is the number of inference runs averaged per evaluation (0 means 1).
	EOT int
	// Seed seeds the inference noise: evaluation run r of the Adaptive's life gives
	// image b of the batch the noise infer.NoiseFor(Seed, r, b), so every call draws
	// fresh noise and the results do not depend on Workers or Chunk.
	Seed uint64
	// Workers is the number of inference runs in flight (0 means runtime.NumCPU()).
	// Each (chunk of the batch, EOT run) pair is one job.
	Workers int
	// Chunk is the number of images per inference call (0 means 8). It is fixed rather
	// than derived from Workers so that a result does not depend on the parallelism:
	// batched float32 kernels need not round a row identically in batches of
	// different sizes.
	Chunk int
	// Warm, when not nil, warm-starts the attacker's inference (see WarmStart).
	Warm *WarmStart

	mu    sync.Mutex
	runs  int // inference runs drawn so far (the noise index)
	slots []warmSlot
	stats AdaptiveStats
}

var (
	_ attack.Differentiable = (*Adaptive)(nil)
	_ attack.Reconstructor  = (*Adaptive)(nil)
	_ attack.Model          = (*Adaptive)(nil)
)

// WarmStart makes each evaluation of the same samples start every class's latent
// optimisation from the z*_k and log-variance the previous evaluation found, with
// Steps Adam steps (infer.Engine.Refine) instead of the full 8000+1-start search and
// Options.Steps steps. An attack moves its iterate little between steps, so the
// optimum moves little; where it did not move, the warm-started gradient is the full
// inference's (TestWarmStartFromOwnOptimum).
//
// State is kept per sample slot (position in the batch) and per EOT run: call Reset
// before evaluating a new set of samples. A call with another batch size resets it by
// itself, and so does, per slot, an image that moved farther than MaxMove (L2) from
// the slot's previous one (another sample, or a random restart), so a forgotten Reset
// costs time, not correctness. The full search is re-run for a slot every FullEvery
// evaluations and whenever the warm-started prediction differs from the slot's
// previous one (the class ranking changed, and the other classes' optima may have
// jumped to another mode), unless Restart or Changed answer those cases with more
// Adam steps instead.
type WarmStart struct {
	// Steps of Adam per warm-started evaluation (0 re-reads the previous optimum at
	// the new image).
	Steps int `json:"steps"`
	// FullEvery re-runs the full search after this many warm-started evaluations of a
	// slot (0: only when forced by a new slot, MaxMove or a change of prediction).
	FullEvery int `json:"full_every"`
	// MaxMove is the L2 distance beyond which a slot's image counts as new (0 means 1,
	// about twenty PGD-L2 steps at the paper's step size).
	MaxMove float64 `json:"max_move,omitempty"`
	// Restart, when positive, answers an image that moved farther than MaxMove with
	// this many Adam steps from the optimum of the slot's first full search instead of
	// a new full search: a random restart of the same sample (the runner reseeds, and
	// so forgets the state, before every new sample) lands elsewhere in the eps-ball
	// around the clean image, where the optimum found at the first restart's start is
	// a near start. 0: full search (a forgotten Reset then costs strength, not only
	// time, so only callers that reset per sample should set it).
	Restart int `json:"restart,omitempty"`
	// Changed, when positive, answers a warm-started prediction that differs from the
	// slot's previous one with this many further Adam steps from the refined optimum
	// instead of the full search, and takes their result. 0: full search.
	Changed int `json:"changed,omitempty"`
}

// DefaultWarmStart is the warm start chosen by measurement (docs/choices.md): no Adam
// step per evaluation (the previous z* re-read at the new image), and 5 steps instead
// of the full search at a random restart and at a changed prediction; the full search
// runs once per sample. On the zoo MNIST E-ABS it left as many images robust as full
// searches at restarts and changes, at a third of the time.
func DefaultWarmStart() WarmStart { return WarmStart{Steps: 0, Restart: 5, Changed: 5} }

// AdaptiveStats counts where an Adaptive spent its inference (image-runs: one image in
// one EOT run).
type AdaptiveStats struct {
	// Full and Warm count image-runs by full inference and by warm-started refinement;
	// Forced counts the full searches re-run after a warm-started prediction changed
	// (also counted in Full and Warm).
	Full   int `json:"full"`
	Warm   int `json:"warm"`
	Forced int `json:"forced"`
	// Restarted counts image-runs warm-started from the slot's first optimum after a
	// far move (WarmStart.Restart, counted in Warm too); Changed the changed
	// predictions answered by WarmStart.Changed further steps instead of Forced's
	// full search.
	Restarted int `json:"restarted,omitempty"`
	Changed   int `json:"changed,omitempty"`
	// Judged counts the image-runs of full inference through Full by an Adaptive
	// that warm-starts its attacker (the attack's judgement of its own claims; not
	// in Full).
	Judged int `json:"judged,omitempty"`
	// Search and Optimise are the time inside full inference (start search, then
	// latent steps); Refine the time inside warm-started refinement. Summed over
	// workers, so they can exceed the wall-clock time.
	Search   time.Duration `json:"search_ns"`
	Optimise time.Duration `json:"optimise_ns"`
	Refine   time.Duration `json:"refine_ns"`
}

type warmSlot struct {
	x    []float32 // the image of the previous evaluation
	runs []warmRun // per EOT run
}

type warmRun struct {
	z, lv []float32 // z*_k and log-variance (K*M)
	pred  int
	since int // warm-started evaluations since the last full search
	// az, alv are the optimum of the slot's first full search (WarmStart.Restart's
	// start); far marks a slot whose image moved farther than MaxMove, to be
	// warm-started from them.
	az, alv []float32
	far     bool
}

// Full returns the Adaptive's model as the verdict sees it: its Logits run the full
// inference (start search and Adam steps, never warm-started), averaged over EOT runs
// of the Adaptive's own noise stream (a reseeded Adaptive judges reproducibly), and
// leave the warm-start state alone. An attack judges its claims with it
// (attack.PGDAttack.Judge): the warm-started attacker re-reads stale latents, which
// overstate the true class's loss l_y after the image moved (the full search finds
// another, better optimum for it), so the attacker calls candidates adversarial that
// the full inference classifies correctly.
func (a *Adaptive) Full() attack.Classifier { return full{a} }

type full struct{ a *Adaptive }

func (f full) Classes() int { return f.a.Classes() }

func (f full) Logits(x []float32, batch int) ([]float32, error) {
	ev, err := f.a.evaluate(x, batch, nil)
	if err != nil {
		return nil, err
	}
	return ev.logits(), nil
}

// Reset forgets the warm-start state, so the next evaluation runs the full search for
// every sample.
func (a *Adaptive) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.slots = nil
}

// Reseed restarts the Adaptive's noise stream from seed (run index 0) and drops the
// warm-start state: the evaluation runner reseeds per attack call, so a sample's
// result does not depend on which samples were attacked before it (exact shards).
func (a *Adaptive) Reseed(seed uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Seed, a.runs, a.slots = seed, 0, nil
}

// Stats returns the counters accumulated so far.
func (a *Adaptive) Stats() AdaptiveStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Classes implements Classifier.
func (a *Adaptive) Classes() int { return a.Engine.Model().Spec().Arch.Classes }

// Logits implements Classifier: -l_k(x) averaged over the EOT runs.
func (a *Adaptive) Logits(x []float32, batch int) ([]float32, error) {
	ev, err := a.evaluate(x, batch, a.Warm)
	if err != nil {
		return nil, err
	}
	return ev.logits(), nil
}

// LogitsVJP implements Differentiable. cot is called once per EOT run with that run's
// logits -l_k (B, K); its cotangent v is applied to that run's adaptive gradient,
// d(-l_k)/dx = -2 (x - G_k(z*_k)), and the runs' gradients are averaged: the gradient
// of the expected objective (EOT). The logits returned are the runs' average.
func (a *Adaptive) LogitsVJP(x []float32, batch int, cot func(logits []float32) []float32) (logits, grad []float32, err error) {
	ev, err := a.evaluate(x, batch, a.Warm)
	if err != nil {
		return nil, nil, err
	}
	K, P := ev.K, ev.P
	grad = make([]float32, batch*P)
	g := make([]float64, batch*P)
	runLogits := make([]float32, batch*K)
	for r := range ev.loss {
		for i, v := range ev.loss[r] {
			runLogits[i] = -v
		}
		v := cot(append([]float32(nil), runLogits...))
		if len(v) != batch*K {
			return nil, nil, fmt.Errorf("attack: cotangent has %d values, want %d (%d images x %d classes)", len(v), batch*K, batch, K)
		}
		for b := 0; b < batch; b++ {
			xb := x[b*P : (b+1)*P]
			gb := g[b*P : (b+1)*P]
			for k := 0; k < K; k++ {
				c := float64(v[b*K+k])
				if c == 0 {
					continue
				}
				if math.IsNaN(c) || math.IsInf(c, 0) {
					return nil, nil, fmt.Errorf("attack: cotangent of image %d class %d is %v", b, k, c)
				}
				rec := ev.rec[r][(b*K+k)*P : (b*K+k+1)*P]
				for j := range gb {
					gb[j] -= 2 * c * float64(xb[j]-rec[j])
				}
			}
		}
	}
	for i, v := range g {
		grad[i] = float32(v / float64(len(ev.loss)))
	}
	return ev.logits(), grad, nil
}

// Reconstruct implements Reconstructor: the logits and, per class, the mean over the
// EOT runs of the reconstructions G_k(z*_k) (B, K, C, H, W).
func (a *Adaptive) Reconstruct(x []float32, batch int) (logits, rec []float32, err error) {
	ev, err := a.evaluate(x, batch, a.Warm)
	if err != nil {
		return nil, nil, err
	}
	sum := make([]float64, len(ev.rec[0]))
	for _, rr := range ev.rec {
		for i, v := range rr {
			sum[i] += float64(v)
		}
	}
	rec = make([]float32, len(sum))
	for i, v := range sum {
		rec[i] = float32(v / float64(len(ev.rec)))
	}
	return ev.logits(), rec, nil
}

// LossGrad implements Model: the gradient of sum_b CE(logits_b, y_b), each run's
// cross-entropy on its own logits, averaged over runs.
func (a *Adaptive) LossGrad(x []float32, y []int, batch int) (logits, grad []float32, err error) {
	K := a.Classes()
	if len(y) != batch {
		return nil, nil, fmt.Errorf("attack: %d labels for %d images", len(y), batch)
	}
	for b, v := range y {
		if v < 0 || v >= K {
			return nil, nil, fmt.Errorf("attack: label %d of image %d is not a class of %d", v, b, K)
		}
	}
	return a.LogitsVJP(x, batch, func(l []float32) []float32 { return ceCotangent(l, y, K) })
}

// ceCotangent is d CE / d logits = softmax(logits) - onehot(y), row by row.
func ceCotangent(logits []float32, y []int, K int) []float32 {
	v := make([]float32, len(logits))
	for b := range y {
		row := logits[b*K : (b+1)*K]
		m := math.Inf(-1)
		for _, l := range row {
			m = math.Max(m, float64(l))
		}
		var z float64
		for _, l := range row {
			z += math.Exp(float64(l) - m)
		}
		for k, l := range row {
			v[b*K+k] = float32(math.Exp(float64(l)-m) / z)
		}
		v[b*K+y[b]]--
	}
	return v
}

// evaluation holds every EOT run's losses (B, K) and reconstructions (B, K, P).
type evaluation struct {
	B, K, P   int
	loss, rec [][]float32
}

func (ev *evaluation) logits() []float32 {
	out := make([]float32, ev.B*ev.K)
	for i := range out {
		var s float64
		for _, l := range ev.loss {
			s += float64(l[i])
		}
		out[i] = float32(-s / float64(len(ev.loss)))
	}
	return out
}

// evaluate runs the EOT inference runs of a batch, chunk by chunk, on Workers
// goroutines, warm-started as warm says (nil: the full inference, which leaves the
// warm-start state alone).
func (a *Adaptive) evaluate(x []float32, batch int, warm *WarmStart) (*evaluation, error) {
	s := a.Engine.Model().Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	if batch <= 0 || len(x) != batch*P {
		return nil, fmt.Errorf("attack: %d values for %d images of %d pixels", len(x), batch, P)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("attack: pixel %d of image %d is %v", i%P, i/P, v)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	eot := max(a.EOT, 1)
	base := a.runs
	a.runs += eot
	chunk := a.Chunk
	if chunk <= 0 {
		chunk = 8
	}
	workers := a.Workers
	if workers <= 0 {
		workers = goruntime.NumCPU()
	}
	if warm != nil {
		if warm.Steps < 0 || warm.FullEvery < 0 || warm.MaxMove < 0 || warm.Restart < 0 || warm.Changed < 0 {
			return nil, fmt.Errorf("attack: warm start steps %d, full-every %d, max-move %g, restart %d and changed %d must not be negative",
				warm.Steps, warm.FullEvery, warm.MaxMove, warm.Restart, warm.Changed)
		}
		if len(a.slots) != batch {
			a.slots = make([]warmSlot, batch)
		}
		maxMove := warm.MaxMove
		if maxMove == 0 {
			maxMove = 1
		}
		for b := range a.slots {
			sl := &a.slots[b]
			xb := x[b*P : (b+1)*P]
			if sl.x != nil && l2dist(xb, sl.x) > maxMove {
				if warm.Restart > 0 && len(sl.runs) == eot {
					for r := range sl.runs {
						w := &sl.runs[r]
						if w.az == nil {
							*w = warmRun{}
							continue
						}
						w.z, w.lv = append(w.z[:0], w.az...), append(w.lv[:0], w.alv...)
						w.far, w.since = true, 0
					}
				} else {
					sl.runs = nil
				}
			}
			if len(sl.runs) != eot {
				sl.runs = make([]warmRun, eot)
			}
			sl.x = append(sl.x[:0], xb...)
		}
	}
	ev := &evaluation{B: batch, K: K, P: P, loss: make([][]float32, eot), rec: make([][]float32, eot)}
	for r := range ev.loss {
		ev.loss[r] = make([]float32, batch*K)
		ev.rec[r] = make([]float32, batch*K*P)
	}
	type job struct{ lo, hi, r int }
	jobs := make(chan job)
	var (
		wg       sync.WaitGroup
		smu      sync.Mutex
		firstErr error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				st, err := a.runChunk(x, j.lo, j.hi, j.r, base+j.r, ev, K, M, P, warm)
				smu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("images %d-%d, run %d: %w", j.lo, j.hi-1, j.r, err)
				}
				a.stats.Full += st.Full
				a.stats.Warm += st.Warm
				a.stats.Forced += st.Forced
				a.stats.Restarted += st.Restarted
				a.stats.Changed += st.Changed
				a.stats.Judged += st.Judged
				a.stats.Search += st.Search
				a.stats.Optimise += st.Optimise
				a.stats.Refine += st.Refine
				smu.Unlock()
			}
		}()
	}
	for r := 0; r < eot; r++ {
		for lo := 0; lo < batch; lo += chunk {
			jobs <- job{lo, min(lo+chunk, batch), r}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		// The warm state may be half updated: start afresh.
		a.slots = nil
		return nil, firstErr
	}
	return ev, nil
}

// runChunk evaluates images lo..hi-1 in EOT run r (noise index run), writing their
// losses and reconstructions into ev and updating their warm state (each job owns its
// slots' run r, so jobs never share state).
func (a *Adaptive) runChunk(x []float32, lo, hi, r, run int, ev *evaluation, K, M, P int, warm *WarmStart) (AdaptiveStats, error) {
	var st AdaptiveStats
	rngs := make([]*rand.Rand, hi-lo)
	for i := range rngs {
		rngs[i] = infer.NoiseFor(a.Seed, run, lo+i)
	}
	put := func(idx []int, o *infer.Output) {
		for j, b := range idx {
			copy(ev.loss[r][b*K:(b+1)*K], o.Loss[j*K:(j+1)*K])
			copy(ev.rec[r][b*K*P:(b+1)*K*P], o.Rec[j*K*P:(j+1)*K*P])
			if warm != nil {
				w := &a.slots[b].runs[r]
				w.z = append(w.z[:0], o.Z[j*K*M:(j+1)*K*M]...)
				w.lv = append(w.lv[:0], o.Logvar[j*K*M:(j+1)*K*M]...)
			}
		}
	}
	gather := func(idx []int) ([]float32, []*rand.Rand) {
		xs := make([]float32, 0, len(idx)*P)
		rs := make([]*rand.Rand, len(idx))
		for j, b := range idx {
			xs = append(xs, x[b*P:(b+1)*P]...)
			rs[j] = rngs[b-lo]
		}
		return xs, rs
	}
	full := func(idx []int) error {
		if len(idx) == 0 {
			return nil
		}
		xs, rs := gather(idx)
		o, err := a.Engine.Classify(xs, len(idx), rs)
		if err != nil {
			return err
		}
		st.Full += len(idx)
		st.Search += o.Search
		st.Optimise += o.Optimise
		put(idx, o)
		if warm != nil {
			for j, b := range idx {
				w := &a.slots[b].runs[r]
				w.pred, w.since = floats.Argmin(o.Loss[j*K:(j+1)*K]), 0
				if w.az == nil {
					w.az, w.alv = slices.Clone(w.z), slices.Clone(w.lv)
				}
			}
		}
		return nil
	}
	if warm == nil {
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = lo + i
		}
		err := full(idx)
		if a.Warm != nil {
			// The full inference of an Adaptive that warm-starts its attacker is a
			// judgement (Full), counted apart from the attacker's own searches.
			st.Full -= len(idx)
			st.Judged += len(idx)
		}
		return st, err
	}
	var fresh, near, far []int
	for b := lo; b < hi; b++ {
		w := &a.slots[b].runs[r]
		switch {
		case w.z == nil || (warm.FullEvery > 0 && w.since >= warm.FullEvery):
			fresh = append(fresh, b)
		case w.far:
			far = append(far, b)
		default:
			near = append(near, b)
		}
	}
	if err := full(fresh); err != nil {
		return st, err
	}
	// refine runs steps Adam steps from the slots' z*, and returns the result.
	refine := func(idx []int, steps int) (*infer.Output, error) {
		xs, rs := gather(idx)
		mu := make([]float32, 0, len(idx)*K*M)
		lv := make([]float32, 0, len(idx)*K*M)
		for _, b := range idx {
			w := &a.slots[b].runs[r]
			mu = append(mu, w.z...)
			lv = append(lv, w.lv...)
		}
		o, err := a.Engine.Refine(xs, len(idx), mu, lv, steps, rs)
		if err != nil {
			return nil, err
		}
		st.Refine += o.Optimise
		return o, nil
	}
	// take stores a refinement's result for the slots idx (rows rows of o).
	take := func(o *infer.Output, idx, rows []int) {
		for n, b := range idx {
			j := rows[n]
			copy(ev.loss[r][b*K:(b+1)*K], o.Loss[j*K:(j+1)*K])
			copy(ev.rec[r][b*K*P:(b+1)*K*P], o.Rec[j*K*P:(j+1)*K*P])
			w := &a.slots[b].runs[r]
			w.z = append(w.z[:0], o.Z[j*K*M:(j+1)*K*M]...)
			w.lv = append(w.lv[:0], o.Logvar[j*K*M:(j+1)*K*M]...)
			w.since++
		}
	}
	identity := func(n int) []int {
		rows := make([]int, n)
		for j := range rows {
			rows[j] = j
		}
		return rows
	}
	// A far-moved slot (a random restart): Restart steps from its first optimum, and
	// its prediction is whatever they give.
	if len(far) > 0 {
		o, err := refine(far, warm.Restart)
		if err != nil {
			return st, err
		}
		st.Warm += len(far)
		st.Restarted += len(far)
		take(o, far, identity(len(far)))
		for j, b := range far {
			w := &a.slots[b].runs[r]
			w.far, w.pred = false, floats.Argmin(o.Loss[j*K:(j+1)*K])
		}
	}
	if len(near) == 0 {
		return st, nil
	}
	o, err := refine(near, warm.Steps)
	if err != nil {
		return st, err
	}
	st.Warm += len(near)
	var moved, movedJ, kept, keptJ []int
	for j, b := range near {
		if floats.Argmin(o.Loss[j*K:(j+1)*K]) != a.slots[b].runs[r].pred {
			moved, movedJ = append(moved, b), append(movedJ, j)
		} else {
			kept, keptJ = append(kept, b), append(keptJ, j)
		}
	}
	take(o, kept, keptJ)
	if len(moved) == 0 {
		return st, nil
	}
	if warm.Changed == 0 {
		st.Forced += len(moved)
		return st, full(moved)
	}
	// A changed prediction: Changed more steps from the refined optimum, taken as
	// they come.
	for n, b := range moved {
		j, w := movedJ[n], &a.slots[b].runs[r]
		w.z = append(w.z[:0], o.Z[j*K*M:(j+1)*K*M]...)
		w.lv = append(w.lv[:0], o.Logvar[j*K*M:(j+1)*K*M]...)
	}
	o, err = refine(moved, warm.Changed)
	if err != nil {
		return st, err
	}
	st.Changed += len(moved)
	take(o, moved, identity(len(moved)))
	for j, b := range moved {
		a.slots[b].runs[r].pred = floats.Argmin(o.Loss[j*K : (j+1)*K])
	}
	return st, nil
}

// l2dist is the L2 distance between two images.
func l2dist(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		d := float64(v - b[i])
		s += d * d
	}
	return math.Sqrt(s)
}
