package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/eabs/eabs/internal/floats"
)

// Parallel is implemented by a Classifier that may be called from several goroutines at
// once. The Oracle then splits a large query batch into sub-batches of at most maxBatch
// images (0: no limit) and runs up to workers of them concurrently. A classifier without
// it is called from one goroutine at a time with the whole batch, which is right for a
// classifier that already spreads one call over all cores (an ONNX Runtime session with
// as many intra-op threads as cores) and the only safe choice for one that is not safe
// for concurrent use.
type Parallel interface {
	Parallelism() (workers, maxBatch int)
}

// WithParallelism returns m with Parallel's answer (workers, maxBatch). The caller asserts
// that m is safe for concurrent use when workers > 1 (infer.Engine.Classify is; the ORT
// classifier of runtime/ort is). The result is a plain Classifier: it hides any other
// capability of m (Differentiable), so wrap only for gradient-free attacks.
func WithParallelism(m Classifier, workers, maxBatch int) Classifier {
	return parallelClassifier{m, max(workers, 1), max(maxBatch, 0)}
}

type parallelClassifier struct {
	Classifier
	workers, maxBatch int
}

func (p parallelClassifier) Parallelism() (int, int) { return p.workers, p.maxBatch }

// BudgetError is the Oracle's refusal of a query that would take a sample past its
// budget. Nothing of the refused query is evaluated or counted.
type BudgetError struct {
	Sample       int
	Budget, Used int
	Asked        int // images in the refused query
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("attack: sample %d asked for %d more queries, but has used %d of its budget of %d",
		e.Sample, e.Asked, e.Used, e.Budget)
}

// Oracle answers the queries of an attack on a batch of samples: the model's scores, or
// only its decisions (argmax). It counts every image it is asked about against the
// sample that asked, refuses (with a *BudgetError) a query that would take a sample past
// its budget, and gathers the queries of many samples and of one sample's candidate
// points into one call of the model (see Each).
//
// Queries are counted when they are asked, before the model answers; a failed call of
// the model still counts them.
type Oracle struct {
	m                 Classifier
	k, pixels, budget int
	workers, maxBatch int

	mu      sync.Mutex
	used    []int
	live    int        // goroutines of Each still running
	pending []*request // their queries waiting for the next call
}

// NewOracle returns an oracle over m for samples samples of pixels values each (C*H*W),
// each allowed budget queries (budget <= 0: no limit).
func NewOracle(m Classifier, samples, pixels, budget int) *Oracle {
	o := &Oracle{m: m, k: m.Classes(), pixels: pixels, budget: budget, workers: 1, used: make([]int, samples)}
	if p, ok := m.(Parallel); ok {
		o.workers, o.maxBatch = p.Parallelism()
		o.workers = max(o.workers, 1)
	}
	return o
}

// Queries returns a copy of the queries counted per sample.
func (o *Oracle) Queries() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int(nil), o.used...)
}

// Remaining returns how many more queries sample s may ask (math.MaxInt without a budget).
func (o *Oracle) Remaining(s int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.remaining(s)
}

func (o *Oracle) remaining(s int) int {
	if o.budget <= 0 {
		return math.MaxInt
	}
	return max(o.budget-o.used[s], 0)
}

// charge counts n queries against sample s, or refuses them; o.mu must be held.
func (o *Oracle) charge(s, n int) error {
	if s < 0 || s >= len(o.used) {
		return fmt.Errorf("attack: oracle has samples 0-%d, asked for sample %d", len(o.used)-1, s)
	}
	if n > o.remaining(s) {
		return &BudgetError{Sample: s, Budget: o.budget, Used: o.used[s], Asked: n}
	}
	o.used[s] += n
	return nil
}

// Query returns the scores (n, K) of the n images x (n, C, H, W), image i charged to
// sample owners[i]. If any sample would go past its budget nothing is evaluated or
// counted and the error is a *BudgetError.
func (o *Oracle) Query(ctx context.Context, owners []int, x []float32) ([]float32, error) {
	if len(x) != len(owners)*o.pixels {
		return nil, fmt.Errorf("attack: oracle query of %d values for %d images of %d pixels", len(x), len(owners), o.pixels)
	}
	ask := map[int]int{}
	for _, s := range owners {
		ask[s]++
	}
	o.mu.Lock()
	for s, n := range ask {
		if s < 0 || s >= len(o.used) || n > o.remaining(s) {
			err := o.charge(s, n) // the refusal, with its reason
			o.mu.Unlock()
			return nil, err
		}
	}
	for s, n := range ask {
		o.used[s] += n
	}
	o.mu.Unlock()
	return o.call(ctx, x, len(owners))
}

// call evaluates n images, in sub-batches of at most maxBatch run by up to workers
// goroutines, and checks the answer's size and values.
func (o *Oracle) call(ctx context.Context, x []float32, n int) ([]float32, error) {
	if n == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	chunk := n
	if o.maxBatch > 0 {
		chunk = min(n, o.maxBatch)
	}
	if o.workers > 1 && chunk == n && n > 1 {
		// Several workers and no batch limit: give each worker an equal share.
		chunk = (n + o.workers - 1) / o.workers
	}
	out := make([]float32, n*o.k)
	jobs := make(chan int)
	errs := make([]error, (n+chunk-1)/chunk)
	var wg sync.WaitGroup
	for w := 0; w < min(o.workers, len(errs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range jobs {
				hi := min(lo+chunk, n)
				if err := ctx.Err(); err != nil {
					errs[lo/chunk] = err
					continue
				}
				s, err := o.m.Logits(x[lo*o.pixels:hi*o.pixels], hi-lo)
				if err == nil && len(s) != (hi-lo)*o.k {
					err = fmt.Errorf("attack: model returned %d scores for %d images of %d classes", len(s), hi-lo, o.k)
				}
				if err != nil {
					errs[lo/chunk] = err
					continue
				}
				for i, v := range s {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						errs[lo/chunk] = fmt.Errorf("attack: model returned score %v for query image %d", v, lo+i/o.k)
						break
					}
				}
				copy(out[lo*o.k:], s)
			}
		}()
	}
	for lo := 0; lo < n; lo += chunk {
		jobs <- lo
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// request is one goroutine's query waiting for the next gathered call.
type request struct {
	sample int
	x      []float32
	n      int
	scores []float32
	err    error
	done   chan struct{}
}

// Each runs f(s, q) for every sample s in its own goroutine and waits for all of them.
// Each goroutine writes plain sequential code for its sample and asks q; whenever every
// goroutine still running waits for an answer, their queries are gathered into one call
// of the model (split over the model's Parallelism); at most one Each may run at a
// time on an oracle. Each returns the first error of f
// that is not a *BudgetError (f may return those to say that its sample ran out).
func (o *Oracle) Each(ctx context.Context, f func(s int, q *SampleOracle) error) error {
	n := len(o.used)
	o.mu.Lock()
	o.live += n
	o.mu.Unlock()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for s := 0; s < n; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer o.leave(ctx)
			err := f(s, &SampleOracle{o: o, ctx: ctx, s: s})
			var be *BudgetError
			if !errors.As(err, &be) {
				errs[s] = err
			}
		}()
	}
	wg.Wait()
	for s, err := range errs {
		if err != nil {
			return fmt.Errorf("sample %d: %w", s, err)
		}
	}
	return nil
}

// leave marks one goroutine of Each as finished; if the others all wait, it runs
// their call.
func (o *Oracle) leave(ctx context.Context) {
	o.mu.Lock()
	o.live--
	o.flushLocked(ctx)
}

// ask queues r and, if every running goroutine now waits, runs the gathered call.
func (o *Oracle) ask(ctx context.Context, r *request) {
	o.mu.Lock()
	if err := o.charge(r.sample, r.n); err != nil {
		o.mu.Unlock()
		r.err = err
		close(r.done)
		return
	}
	o.pending = append(o.pending, r)
	o.flushLocked(ctx)
	<-r.done
}

// flushLocked runs the pending queries as one call if no running goroutine is still
// computing; it unlocks o.mu.
func (o *Oracle) flushLocked(ctx context.Context) {
	if o.live == 0 || len(o.pending) < o.live {
		o.mu.Unlock()
		return
	}
	reqs := o.pending
	o.pending = nil
	o.mu.Unlock()
	total := 0
	for _, r := range reqs {
		total += r.n
	}
	x := make([]float32, 0, total*o.pixels)
	for _, r := range reqs {
		x = append(x, r.x...)
	}
	scores, err := o.call(ctx, x, total)
	at := 0
	for _, r := range reqs {
		if err != nil {
			r.err = err
		} else {
			r.scores = scores[at*o.k : (at+r.n)*o.k : (at+r.n)*o.k]
		}
		at += r.n
		close(r.done)
	}
}

// SampleOracle is one sample's view of an Oracle inside Each. Its methods block until
// the gathered call has answered and must be called from the sample's own goroutine.
type SampleOracle struct {
	o   *Oracle
	ctx context.Context
	s   int
}

// Scores returns the scores (n, K) of the n images x (n, C, H, W), or a *BudgetError
// (nothing counted) if they would take the sample past its budget.
func (q *SampleOracle) Scores(x []float32) ([]float32, error) {
	if len(x)%q.o.pixels != 0 {
		return nil, fmt.Errorf("attack: query of %d values is not a whole number of %d-pixel images", len(x), q.o.pixels)
	}
	n := len(x) / q.o.pixels
	if n == 0 {
		return nil, nil
	}
	r := &request{sample: q.s, x: x, n: n, done: make(chan struct{})}
	q.o.ask(q.ctx, r)
	return r.scores, r.err
}

// Labels returns the decisions (argmax of the scores) for the images x.
func (q *SampleOracle) Labels(x []float32) ([]int, error) {
	s, err := q.Scores(x)
	if err != nil {
		return nil, err
	}
	k := q.o.k
	out := make([]int, len(s)/k)
	for i := range out {
		out[i] = floats.Argmax(s[i*k : (i+1)*k])
	}
	return out, nil
}

// Remaining returns how many more queries the sample may ask.
func (q *SampleOracle) Remaining() int { return q.o.Remaining(q.s) }

// Classes is the model's number of classes.
func (q *SampleOracle) Classes() int { return q.o.k }

// The helpers below are shared by the gradient-free attacks (boundary, hopskipjump,
// square, nes); their gf prefix keeps them apart from the other attacks' helpers.

// gfCheck validates an attack's batch and returns the values per image.
func gfCheck(name string, m Classifier, x []float32, y []int, batch int) (int, error) {
	if m == nil {
		return 0, fmt.Errorf("%s: no model", name)
	}
	if batch <= 0 || len(x)%batch != 0 || len(x) == 0 || len(y) != batch {
		return 0, fmt.Errorf("%s: %d values, %d labels for a batch of %d", name, len(x), len(y), batch)
	}
	k := m.Classes()
	for i, v := range y {
		if v < 0 || v >= k {
			return 0, fmt.Errorf("%s: label %d of sample %d is not one of the model's %d classes", name, v, i, k)
		}
	}
	for i, v := range x {
		if !(v >= 0 && v <= 1) {
			return 0, fmt.Errorf("%s: pixel %d of sample %d is %v, outside [0, 1]", name, i%(len(x)/batch), i/(len(x)/batch), v)
		}
	}
	return len(x) / batch, nil
}

// gfRun runs one attack's per-sample function f over a batch through an oracle with the
// given budget; each sample gets its own generator drawn from rng in sample order, so a
// sample's attack does not depend on the others' progress. f writes its best candidate
// into adv (which starts as x) and returns whether it believes it adversarial.
func gfRun(ctx context.Context, m Classifier, x []float32, batch, budget int, rng *rand.Rand,
	f func(q *SampleOracle, s int, adv []float32, r *rand.Rand) (bool, error)) (*Found, error) {
	p := len(x) / batch
	rs := make([]*rand.Rand, batch)
	for i := range rs {
		rs[i] = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	}
	o := NewOracle(m, batch, p, budget)
	found := &Found{Adv: append([]float32(nil), x...), Ok: make([]bool, batch)}
	err := o.Each(ctx, func(s int, q *SampleOracle) error {
		ok, err := f(q, s, found.Adv[s*p:(s+1)*p], rs[s])
		found.Ok[s] = ok
		return err
	})
	if err != nil {
		return nil, err
	}
	found.Queries = o.Queries()
	return found, nil
}

// gfMargin is z_y - max_{j != y} z_j: negative when the scores are misclassified.
func gfMargin(z []float32, y int) float64 {
	other := math.Inf(-1)
	for j, v := range z {
		if j != y {
			other = math.Max(other, float64(v))
		}
	}
	return float64(z[y]) - other
}

// gfMisclassified asks whether x is misclassified (one query).
func gfMisclassified(q *SampleOracle, x []float32, y int) (bool, error) {
	l, err := q.Labels(x)
	if err != nil {
		return false, err
	}
	return l[0] != y, nil
}

func gfClip01(v []float32) {
	for i, x := range v {
		v[i] = min(max(x, 0), 1)
	}
}

// gfDist is the distance between a and b in norm n (L2 or Linf), in float64.
func gfDist(n Norm, a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i] - b[i])
		if n == Linf {
			s = math.Max(s, math.Abs(d))
		} else {
			s += d * d
		}
	}
	if n == Linf {
		return s
	}
	return math.Sqrt(s)
}

// gfProject moves adv into the n-ball of radius eps around x and into [0, 1].
func gfProject(n Norm, adv, x []float32, eps float64) {
	switch n {
	case Linf:
		e := float32(eps)
		for i := range adv {
			adv[i] = min(max(adv[i], x[i]-e), x[i]+e)
		}
	case L2:
		if d := gfDist(L2, adv, x); d > eps {
			f := eps / d
			for i := range adv {
				adv[i] = x[i] + float32(float64(adv[i]-x[i])*f)
			}
		}
	}
	gfClip01(adv)
}

// gfStarter finds an adversarial starting point for a decision-based attack: the
// caller's start if it is misclassified, else the first misclassified of up to tries
// uniform-noise images (asked 10 at a time, fewer if the budget is short). It returns
// nil if none is misclassified or the budget ran out.
func gfStarter(q *SampleOracle, x []float32, y int, start func(x []float32, y int) ([]float32, bool), tries int, r *rand.Rand) ([]float32, error) {
	if start != nil {
		if s, ok := start(x, y); ok {
			if len(s) != len(x) {
				return nil, fmt.Errorf("start image has %d values, want %d", len(s), len(x))
			}
			s = append([]float32(nil), s...)
			gfClip01(s)
			adv, err := gfMisclassified(q, s, y)
			if err != nil || adv {
				return s, err
			}
		}
	}
	for done := 0; done < tries; {
		n := min(10, tries-done, q.Remaining())
		if n == 0 {
			return nil, nil
		}
		cand := make([]float32, n*len(x))
		for i := range cand {
			cand[i] = r.Float32()
		}
		l, err := q.Labels(cand)
		if err != nil {
			return nil, err
		}
		for i, v := range l {
			if v != y {
				return cand[i*len(x) : (i+1)*len(x)], nil
			}
		}
		done += n
	}
	return nil, nil
}

// GradientFree returns the gradient-free attacks with their defaults at the budgets
// linf and l2 (the paper's are in each dataset's data.Profile): Square, NES and SPSA PGD in both norms,
// HopSkipJump in both norms and the Boundary attack. The decision-based ones (minimum
// norm) stop a sample once it is within the budget; starts feeds them (StartsFrom a
// pool of correctly classified images of other classes; nil: uniform noise).
func GradientFree(linf, l2 float64, starts func(x []float32, y int) ([]float32, bool)) []Attack {
	return []Attack{
		Square{Lp: Linf, Eps: linf}, Square{Lp: L2, Eps: l2},
		NES{Lp: Linf, Eps: linf}, NES{Lp: L2, Eps: l2},
		NES{Lp: Linf, Eps: linf, SPSA: true}, NES{Lp: L2, Eps: l2, SPSA: true},
		HopSkipJump{Lp: L2, Eps: l2, Starts: starts}, HopSkipJump{Lp: Linf, Eps: linf, Starts: starts},
		Boundary{Eps: l2, Starts: starts},
	}
}
