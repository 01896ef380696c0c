package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
)

type runner struct {
	cfg            Config
	set            *data.Set
	model, verdict attack.Classifier
	res            *Result
}

// judge classifies candidates with the verdict, keyed by (purpose, position).
func (r *runner) judge(x []float32, pos []int, purpose uint64) ([]int, []float32, error) {
	n := len(pos)
	var logits []float32
	var err error
	if k, ok := r.verdict.(Keyed); ok {
		keys := make([]uint64, n)
		for i, p := range pos {
			keys[i] = mix(r.cfg.Seed, purpose, uint64(p))
		}
		logits, err = k.LogitsKeyed(x, n, keys)
	} else {
		logits, err = r.verdict.Logits(x, n)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("suite: verdict: %w", err)
	}
	K := r.verdict.Classes()
	if len(logits) != n*K {
		return nil, nil, fmt.Errorf("suite: verdict returned %d logits for %d images of %d classes", len(logits), n, K)
	}
	pred := make([]int, n)
	for b := range pred {
		row := logits[b*K : (b+1)*K]
		best := 0
		for k, v := range row {
			if math.IsNaN(float64(v)) {
				return nil, nil, fmt.Errorf("suite: verdict logit %d of sample %d is NaN", k, pos[b])
			}
			if v > row[best] {
				best = k
			}
		}
		pred[b] = best
	}
	return pred, logits, nil
}

func (r *runner) batch(ctx context.Context, ss []sample, size int) ([]Record, error) {
	n := len(ss)
	x := make([]float32, 0, n*size)
	pos := make([]int, n)
	recs := make([]Record, n)
	for i, s := range ss {
		x = append(x, r.set.Image(s.index)...)
		pos[i] = s.pos
		recs[i] = Record{Pos: s.pos, Index: s.index, Label: r.set.Labels[s.index]}
		if s.pos < r.cfg.Keep {
			recs[i].Clean = slices.Clone(r.set.Image(s.index))
		}
	}
	broken := map[attack.Norm][]bool{}
	off := 0 // attacks of the run continued
	if p := r.cfg.After; p != nil {
		off = len(p.Settings.Attacks)
		byPos := map[int]*Record{}
		for i := range p.Records {
			byPos[p.Records[i].Pos] = &p.Records[i]
		}
		for i := range recs {
			old := byPos[recs[i].Pos] // prepare checked that every position is there
			recs[i] = *old
			recs[i].Attacks, recs[i].Sweep = slices.Clone(old.Attacks), slices.Clone(old.Sweep)
			for ai, a := range p.Settings.Attacks {
				if broken[a.Norm] == nil {
					broken[a.Norm] = make([]bool, n)
				}
				if ar := old.Attacks[ai]; ar.Ran && !ar.Robust {
					broken[a.Norm][i] = true
				}
			}
		}
	} else {
		pred, l1, err := r.judge(x, pos, purposeClean)
		if err != nil {
			return nil, err
		}
		_, l2, err := r.judge(x, pos, purposeClean2)
		if err != nil {
			return nil, err
		}
		K := r.verdict.Classes()
		for i := range recs {
			recs[i].CleanPred = pred[i]
			recs[i].CleanCorrect = pred[i] == recs[i].Label
			recs[i].Randomised = !slices.Equal(l1[i*K:(i+1)*K], l2[i*K:(i+1)*K])
		}
	}
	for j, e := range r.cfg.Attacks {
		ai := off + j
		norm := e.Attack.Norm()
		if broken[norm] == nil {
			broken[norm] = make([]bool, n)
		}
		var active []int
		for i := range recs {
			rec := AttackRecord{Name: e.Attack.Name(), Pred: -1}
			recs[i].Attacks = append(recs[i].Attacks, rec)
			if recs[i].CleanCorrect && (r.cfg.AttackAll || !broken[norm][i]) {
				active = append(active, i)
			}
		}
		out, err := r.attack(ctx, e, active, x, recs, size, uint64(purposeAttack+ai), r.cfg.AttackBatch)
		if err != nil {
			return nil, err
		}
		for j, i := range active {
			o := out[j]
			rec := &recs[i].Attacks[ai]
			o.Name = rec.Name
			*rec = o
			if !rec.Robust {
				broken[norm][i] = true
			}
		}
		for i := range recs {
			rec := &recs[i].Attacks[ai]
			// Not run on a broken sample: it stays broken (the column is cumulative).
			if !rec.Ran {
				rec.Robust = false
			}
		}
	}
	soff := 0 // sweeps of the run continued
	if r.cfg.After != nil {
		soff = len(r.cfg.After.Settings.Sweep)
	}
	for sj, e := range r.cfg.Sweep {
		si := soff + sj
		var active []int
		for i := range recs {
			if recs[i].Pos < r.cfg.SweepN {
				recs[i].Sweep = append(recs[i].Sweep, AttackRecord{Name: e.Attack.Name(), Pred: -1, Eps: e.Eps})
				if recs[i].CleanCorrect {
					active = append(active, i)
				}
			}
		}
		out, err := r.attack(ctx, e, active, x, recs, size, uint64(purposeSweep+si), r.cfg.AttackBatch)
		if err != nil {
			return nil, err
		}
		for j, i := range active {
			o := out[j]
			o.Name, o.Eps, o.Adv = e.Attack.Name(), e.Eps, nil
			recs[i].Sweep[si] = o
		}
	}
	return recs, nil
}

// attack runs e on the samples active (indices into recs and x's rows), chunk
// samples per call, and judges its candidates; a candidate the attacker believed
// adversarial and the verdict overturned is attacked again, up to Config.Retries times.
// Attempt t's record replaces attempt t-1's and adds its queries, gradient counts and
// overturned claims.
func (r *runner) attack(ctx context.Context, e Entry, active []int, x []float32, recs []Record, size int, purpose uint64, chunk int) ([]AttackRecord, error) {
	out := make([]AttackRecord, len(active))
	at := make([]int, len(active)) // the samples of this attempt, as indices into active
	for j := range at {
		at[j] = j
	}
	for t := 0; t <= r.cfg.Retries && len(at) > 0; t++ {
		idx, pos := make([]int, len(at)), make([]int, len(at))
		for n, j := range at {
			idx[n], pos[n] = active[j], recs[active[j]].Pos
		}
		try := make([]AttackRecord, len(at))
		adv, claimed, err := r.try(ctx, e, idx, x, recs, size, purpose, chunk, t, try)
		if err != nil {
			return nil, err
		}
		// Purposes are below 2^32: attempt 0's verdict keys are the run's, a retry's
		// fresh.
		pred, _, err := r.judge(adv, pos, purpose|uint64(t)<<32)
		if err != nil {
			return nil, err
		}
		scaled, spred, err := r.scaledOut(e, adv, x, idx, pos, size, purpose|uint64(t)<<32|1<<31)
		if err != nil {
			return nil, err
		}
		var next []int
		for n, j := range at {
			i, rec, prev := idx[n], try[n], out[j]
			rec.Retries, rec.Overturned = t, prev.Overturned
			rec.Queries += prev.Queries
			rec.GradRows, rec.GradZero, rec.GradNaN = rec.GradRows+prev.GradRows, rec.GradZero+prev.GradZero, rec.GradNaN+prev.GradNaN
			r.verdictOn(e, &rec, adv[n*size:(n+1)*size], x[i*size:(i+1)*size], pred[n], recs[i])
			if scaled[n] != nil {
				r.scaledVerdict(e, &rec, scaled[n], x[i*size:(i+1)*size], spred[n], recs[i])
			}
			// Overturned: the attacker's own inference called its candidate
			// adversarial, the verdict did not.
			if claimed[n] && rec.Pred == recs[i].Label && rec.Rejected == "" {
				rec.Overturned++
				next = append(next, j)
			}
			out[j] = rec
		}
		at = next
	}
	return out, nil
}

// try runs attempt t of attack e on the samples active, chunk samples per call,
// filling out's Ran, Queries and gradient counts, and returns the candidates and the
// attacker's own belief in them. Attempt 0's random streams are the run's; a retry's
// are drawn afresh from (purpose, first position, t).
func (r *runner) try(ctx context.Context, e Entry, active []int, x []float32, recs []Record, size int, purpose uint64, chunk, t int, out []AttackRecord) ([]float32, []bool, error) {
	adv := make([]float32, 0, len(active)*size)
	claimed := make([]bool, 0, len(active))
	for lo := 0; lo < len(active); lo += chunk {
		hi := min(lo+chunk, len(active))
		idx := active[lo:hi]
		b := len(idx)
		xs := make([]float32, 0, b*size)
		ys := make([]int, b)
		for j, i := range idx {
			xs = append(xs, x[i*size:(i+1)*size]...)
			ys[j] = recs[i].Label
		}
		first := uint64(recs[idx[0]].Pos)
		var reseed, s1, s2 uint64
		if t == 0 {
			reseed, s1, s2 = mix(r.cfg.Seed, purpose, first, 1), mix(r.cfg.Seed, purpose, first), mix(r.cfg.Seed, purpose, first, 2)
		} else {
			tt := uint64(t)
			reseed, s1, s2 = mix(r.cfg.Seed, purpose, first, 1, tt), mix(r.cfg.Seed, purpose, first, 3, tt), mix(r.cfg.Seed, purpose, first, 4, tt)
		}
		if rs, ok := r.model.(Reseeder); ok {
			rs.Reseed(reseed)
		}
		rng := rand.New(rand.NewPCG(s1, s2))
		var gc gradCount
		f, err := e.Attack.Run(ctx, wrap(r.model, &gc), xs, ys, b, rng)
		if err != nil {
			return nil, nil, fmt.Errorf("suite: attack %s on samples %d..: %w", e.Attack.Name(), first, err)
		}
		if f == nil || len(f.Adv) != len(xs) || len(f.Queries) != b || len(f.Ok) != b {
			return nil, nil, fmt.Errorf("suite: attack %s returned a malformed answer for %d samples", e.Attack.Name(), b)
		}
		adv = append(adv, f.Adv...)
		claimed = append(claimed, f.Ok...)
		for j := range idx {
			out[lo+j].Ran = true
			out[lo+j].Queries = f.Queries[j]
		}
		out[lo].GradRows, out[lo].GradZero, out[lo].GradNaN = gc.rows, gc.zero, gc.nan
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
	}
	return adv, claimed, nil
}

// verdictOn fills o from the verdict pred on candidate a of clean image c: rejected,
// adversarial (with its distances), robust.
func (r *runner) verdictOn(e Entry, o *AttackRecord, a, c []float32, pred int, rec Record) {
	o.Pred = pred
	l2, linf, bad := distances(a, c)
	d := l2
	if e.Attack.Norm() == attack.Linf {
		d = linf
	}
	switch {
	case bad != "":
		o.Rejected = bad
	case e.Bounded && !within(d, e.Eps):
		o.Rejected = fmt.Sprintf("%s distance %.6g beyond its budget %g", e.Attack.Norm(), d, e.Eps)
	}
	adversarial := o.Rejected == "" && pred != rec.Label
	if adversarial {
		o.Dist, o.L2, o.Linf = &d, &l2, &linf
		if rec.Pos < r.cfg.Keep {
			o.Adv = slices.Clone(a)
		}
	}
	o.Robust = !(adversarial && within(d, e.Eps))
}

// scaledOut returns, for a minimum-norm attack's candidates that lie inside the budget
// (at a boundary point, which a randomised model's fresh noise overturns as often as
// not), the candidate moved out along its own direction to the budget (pixels clipped
// to [0,1]), and the verdict on each; nil where there is none.
func (r *runner) scaledOut(e Entry, adv, x []float32, idx, pos []int, size int, purpose uint64) ([][]float32, []int, error) {
	out := make([][]float32, len(idx))
	preds := make([]int, len(idx))
	if e.Bounded {
		return out, preds, nil
	}
	var batch []float32
	var at, bpos []int
	for n, i := range idx {
		a, c := adv[n*size:(n+1)*size], x[i*size:(i+1)*size]
		l2, linf, bad := distances(a, c)
		d := l2
		if e.Attack.Norm() == attack.Linf {
			d = linf
		}
		if bad != "" || !(d > 0) || d >= e.Eps {
			continue
		}
		f := e.Eps / d
		s := make([]float32, size)
		for p := range s {
			s[p] = float32(math.Min(1, math.Max(0, float64(c[p])+f*(float64(a[p])-float64(c[p])))))
		}
		out[n] = s
		batch = append(batch, s...)
		at, bpos = append(at, n), append(bpos, pos[n])
	}
	if len(at) == 0 {
		return out, preds, nil
	}
	p, _, err := r.judge(batch, bpos, purpose)
	if err != nil {
		return nil, nil, err
	}
	for k, n := range at {
		preds[n] = p[k]
	}
	return out, preds, nil
}

// scaledVerdict records the verdict pred on a minimum-norm candidate scaled out to the
// budget (scaledOut): it breaks the sample at the budget when the candidate itself did
// not, and then gives the record its distances.
func (r *runner) scaledVerdict(e Entry, o *AttackRecord, s, c []float32, pred int, rec Record) {
	l2, linf, _ := distances(s, c)
	d := l2
	if e.Attack.Norm() == attack.Linf {
		d = linf
	}
	o.Scaled = &ScaledCheck{Pred: pred, Dist: d}
	if pred == rec.Label || !o.Robust || !within(d, e.Eps) {
		return
	}
	o.Robust, o.Pred = false, pred
	o.Dist, o.L2, o.Linf = &d, &l2, &linf
	if rec.Pos < r.cfg.Keep {
		o.Adv = slices.Clone(s)
	}
}

// distances measures a candidate against its clean image in float64; bad says why a
// candidate cannot be judged.
func distances(adv, x []float32) (l2, linf float64, bad string) {
	var s float64
	for i, v := range adv {
		if math.IsNaN(float64(v)) || v < 0 || v > 1 {
			return 0, 0, fmt.Sprintf("pixel %d is %g, outside [0,1]", i, v)
		}
		d := math.Abs(float64(v) - float64(x[i]))
		s += d * d
		linf = math.Max(linf, d)
	}
	return math.Sqrt(s), linf, ""
}
