package adversary

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func tinyEngine(t *testing.T) *infer.Engine {
	w := runtimetest.Weights(t, "eabs", 5)
	m, err := ref.New(w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e, err := infer.NewEngine(m, infer.Options{Starts: 32, Steps: 5, LR: 0.05, BankSeed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestAdaptiveGradient checks eq. 8: with the optimised latents held fixed,
// l_k(x) = ||x - G_k(z*_k)||^2 + prior_k, and the returned gradient is that of the
// cross-entropy over -l_k, compared with central finite differences.
func TestAdaptiveGradient(t *testing.T) {
	e := tinyEngine(t)
	s := e.Model().Spec()
	K, P := s.Arch.Classes, s.Arch.Pixels()
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, P)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	y := []int{1}
	a := &Adaptive{Engine: e, Seed: 3}
	logits, grad, err := a.LossGrad(x, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Recover the fixed reconstructions and priors of that call.
	out, err := e.Classify(x, 1, []*rand.Rand{infer.NoiseFor(3, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	prior := make([]float64, K)
	for k := 0; k < K; k++ {
		if got, want := logits[k], -out.Loss[k]; got != want {
			t.Fatalf("logit %d = %v, want -l_k = %v", k, got, want)
		}
		prior[k] = float64(out.Loss[k]) - sq(x, out.Rec[k*P:(k+1)*P])
	}
	ce := func(x []float32) float64 {
		l := make([]float64, K)
		m := math.Inf(1)
		for k := range l {
			l[k] = sq(x, out.Rec[k*P:(k+1)*P]) + prior[k]
			m = math.Min(m, l[k])
		}
		var z float64
		for _, v := range l {
			z += math.Exp(m - v)
		}
		return l[y[0]] - m + math.Log(z)
	}
	for trial := 0; trial < 8; trial++ {
		j := rng.IntN(P)
		const h = 1e-2
		orig := x[j]
		x[j] = orig + h
		lp := ce(x)
		x[j] = orig - h
		lm := ce(x)
		x[j] = orig
		fd := (lp - lm) / (2 * h)
		if d := math.Abs(fd - float64(grad[j])); d > 1e-3*math.Max(1, math.Abs(fd)) {
			t.Errorf("d CE / d x[%d] = %v, finite difference %v", j, grad[j], fd)
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

func randImages(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.Float64())
	}
	return x
}

// randCot is a fixed cotangent callback: it records the logits it was called with and
// returns v.
func randCot(n int, seed uint64, seen *[][]float32) (v []float32, cot func([]float32) []float32) {
	r := rand.New(rand.NewPCG(seed, 8))
	v = make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v, func(l []float32) []float32 {
		if seen != nil {
			*seen = append(*seen, l)
		}
		return v
	}
}

// TestLogitsVJPFiniteDifferences: with the optimised latents held fixed (eq. 8),
// l_k(x) = ||x - G_k(z*_k)||^2 + prior_k; LogitsVJP's gradient of sum <v, -l> must be
// that function's, by central differences (exact up to rounding: it is quadratic).
func TestLogitsVJPFiniteDifferences(t *testing.T) {
	e := tinyEngine(t)
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	const batch = 2
	x := randImages(batch*P, 1)
	a := &Adaptive{Engine: e, Seed: 4, Workers: 1}
	v, cot := randCot(batch*K, 2, nil)
	logits, grad, err := a.LogitsVJP(x, batch, cot)
	if err != nil {
		t.Fatal(err)
	}
	rs := []*rand.Rand{infer.NoiseFor(4, 0, 0), infer.NoiseFor(4, 0, 1)}
	out, err := e.Classify(x, batch, rs)
	if err != nil {
		t.Fatal(err)
	}
	prior := make([]float64, batch*K)
	for i := range prior {
		if logits[i] != -out.Loss[i] {
			t.Fatalf("logit %d = %v, want -l = %v", i, logits[i], -out.Loss[i])
		}
		b := i / K
		prior[i] = float64(out.Loss[i]) - sq(x[b*P:(b+1)*P], out.Rec[i*P:(i+1)*P])
	}
	f := func(x []float32) float64 {
		var s float64
		for i := range prior {
			b := i / K
			s -= float64(v[i]) * (sq(x[b*P:(b+1)*P], out.Rec[i*P:(i+1)*P]) + prior[i])
		}
		return s
	}
	r := rand.New(rand.NewPCG(5, 5))
	for trial := 0; trial < 10; trial++ {
		j := r.IntN(batch * P)
		const h = 1e-2
		o := x[j]
		x[j] = o + h
		fp := f(x)
		x[j] = o - h
		fm := f(x)
		x[j] = o
		fd := (fp - fm) / (2 * h)
		if d := math.Abs(fd - float64(grad[j])); d > 1e-4*math.Max(1, math.Abs(fd)) {
			t.Errorf("d<v,logits>/dx[%d] = %v, finite difference %v", j, grad[j], fd)
		}
	}
}

// TestEOTIsTheHandAverage: with EOT 3 the logits are the average of three Classify
// runs with the noise of runs 0, 1, 2, the cotangent is called once per run with that
// run's logits, and the gradient is the average of the runs' -2 sum_k v_k (x - G_k).
func TestEOTIsTheHandAverage(t *testing.T) {
	e := tinyEngine(t)
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	const batch, eot = 2, 3
	x := randImages(batch*P, 3)
	a := &Adaptive{Engine: e, Seed: 11, EOT: eot, Workers: 2, Chunk: batch}
	var seen [][]float32
	v, cot := randCot(batch*K, 4, &seen)
	logits, grad, err := a.LogitsVJP(x, batch, cot)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != eot {
		t.Fatalf("cotangent called %d times, want once per EOT run (%d)", len(seen), eot)
	}
	wantL := make([]float64, batch*K)
	wantG := make([]float64, batch*P)
	var runs [][]float32
	for r := 0; r < eot; r++ {
		out, err := e.Classify(x, batch, []*rand.Rand{infer.NoiseFor(11, r, 0), infer.NoiseFor(11, r, 1)})
		if err != nil {
			t.Fatal(err)
		}
		run := make([]float32, batch*K)
		for i, l := range out.Loss {
			wantL[i] += -float64(l) / eot
			run[i] = -l
			b := i / K
			for j := 0; j < P; j++ {
				wantG[b*P+j] += -2 * float64(v[i]) * float64(x[b*P+j]-out.Rec[i*P+j]) / eot
			}
		}
		runs = append(runs, run)
	}
	// Runs are computed concurrently: match each callback's logits to a run.
	for r, run := range runs {
		found := false
		for _, s := range seen {
			same := true
			for i := range s {
				same = same && s[i] == run[i]
			}
			found = found || same
		}
		if !found {
			t.Errorf("run %d's logits were never passed to the cotangent", r)
		}
	}
	for i := range wantL {
		if d := math.Abs(float64(logits[i]) - wantL[i]); d > 1e-6*math.Max(1, math.Abs(wantL[i])) {
			t.Errorf("logit %d = %v, hand average %v", i, logits[i], wantL[i])
		}
	}
	for i := range wantG {
		if d := math.Abs(float64(grad[i]) - wantG[i]); d > 1e-5*math.Max(1, math.Abs(wantG[i])) {
			t.Errorf("grad %d = %v, hand average %v", i, grad[i], wantG[i])
		}
	}
	// The next call draws fresh noise (runs 3..5).
	again, err := a.Logits(x, batch)
	if err != nil {
		t.Fatal(err)
	}
	same := true
	for i := range again {
		same = same && again[i] == logits[i]
	}
	if same {
		t.Error("a second evaluation repeated the first one's noise")
	}
}

// TestWorkersDoNotChangeResults: 1 or 3 workers give identical logits and gradients,
// with and without warm start, over several calls.
func TestWorkersDoNotChangeResults(t *testing.T) {
	e := tinyEngine(t)
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	const batch = 5
	for _, warm := range []*WarmStart{nil, {Steps: 2, FullEvery: 2}} {
		var got [2][]float32
		for n, workers := range []int{1, 3} {
			a := &Adaptive{Engine: e, Seed: 2, EOT: 2, Workers: workers, Chunk: 2, Warm: warm}
			x := randImages(batch*P, 6)
			_, cot := randCot(batch*K, 1, nil)
			for call := 0; call < 4; call++ {
				l, g, err := a.LogitsVJP(x, batch, cot)
				if err != nil {
					t.Fatal(err)
				}
				got[n] = append(append(got[n], l...), g...)
				for i := range x {
					x[i] = min(max(x[i]+0.02*g[i], 0), 1)
				}
			}
		}
		for i := range got[0] {
			if got[0][i] != got[1][i] {
				t.Fatalf("warm %v: value %d is %v with 1 worker, %v with 3", warm != nil, i, got[0][i], got[1][i])
			}
		}
	}
}

// TestWarmStartFromOwnOptimum: a warm start from the full inference's own z* with no
// extra steps at the same image re-reads that optimum, so the gradient is the full
// inference's up to rounding (z* may be a reparameterised sample, which the runtime
// formed inside its graph and the tracker re-forms in float32: 1e-8 apart); with a few
// steps the loss can only go down (the start is a
// candidate) and the gradient stays close.
func TestWarmStartFromOwnOptimum(t *testing.T) {
	e := tinyEngine(t)
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	const batch = 3
	x := randImages(batch*P, 9)
	_, cot := randCot(batch*K, 3, nil)
	full := &Adaptive{Engine: e, Seed: 5, Workers: 1}
	lf, gf, err := full.LogitsVJP(x, batch, cot)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		steps int
		tol   float64 // relative L2 distance of the gradients
	}{{0, 1e-6}, {3, 0.02}} { // 3 steps measured 0.0021
		a := &Adaptive{Engine: e, Seed: 5, Workers: 1, Warm: &WarmStart{Steps: tc.steps}}
		l1, g1, err := a.LogitsVJP(x, batch, cot) // full search, the same noise as full's
		if err != nil {
			t.Fatal(err)
		}
		for i := range lf {
			if l1[i] != lf[i] || g1[i] != gf[i] {
				t.Fatalf("steps %d: the first, full, evaluation differs from the full inference's at %d", tc.steps, i)
			}
		}
		l2, g2, err := a.LogitsVJP(x, batch, cot)
		if err != nil {
			t.Fatal(err)
		}
		if st := a.Stats(); st.Warm != batch || st.Full != batch || st.Forced != 0 {
			t.Fatalf("steps %d: stats %+v, want %d full then %d warm image-runs", tc.steps, st, batch, batch)
		}
		var dd, nn float64
		for i := range gf {
			d := float64(g2[i] - gf[i])
			dd, nn = dd+d*d, nn+float64(gf[i])*float64(gf[i])
		}
		rel := math.Sqrt(dd / nn)
		t.Logf("steps %d: relative L2 distance of the gradients %.3g", tc.steps, rel)
		if rel > tc.tol {
			t.Errorf("steps %d: warm-started gradient %.3g (relative L2) from the full one, tolerance %g", tc.steps, rel, tc.tol)
		}
		for i := range lf {
			if d := float64(l2[i] - lf[i]); d < -1e-6*math.Abs(float64(lf[i])) || (tc.steps == 0 && d > 1e-6*math.Abs(float64(lf[i]))) {
				t.Errorf("steps %d: warm-started logit %d = %v, full %v (-l can only rise)", tc.steps, i, l2[i], lf[i])
			}
		}
	}
}

// TestWarmStartResets: Reset, another batch size, a far move and FullEvery all bring
// back the full search; a change of the warm prediction forces it.
func TestWarmStartResets(t *testing.T) {
	e := tinyEngine(t)
	P := e.Model().Spec().Arch.Pixels()
	x := randImages(2*P, 10)
	a := &Adaptive{Engine: e, Seed: 1, Workers: 1, Warm: &WarmStart{Steps: 1, FullEvery: 2, MaxMove: 0.5}}
	eval := func(x []float32, batch int) {
		t.Helper()
		if _, err := a.Logits(x, batch); err != nil {
			t.Fatal(err)
		}
	}
	type want struct{ full, warm int }
	check := func(step string, w want) {
		t.Helper()
		st := a.Stats()
		if st.Full-st.Forced != w.full || st.Warm != w.warm {
			t.Fatalf("after %s: %d full (%d forced) and %d warm image-runs, want %d unforced full and %d warm", step, st.Full, st.Forced, st.Warm, w.full, w.warm)
		}
	}
	eval(x, 2)
	check("first call", want{2, 0})
	eval(x, 2)
	eval(x, 2)
	check("two warm calls", want{2, 4})
	eval(x, 2)
	check("FullEvery 2", want{4, 4})
	a.Reset()
	eval(x, 2)
	check("Reset", want{6, 4})
	eval(x[:P], 1)
	check("another batch size", want{7, 4})
	y := append([]float32(nil), x[:P]...)
	for i := range y {
		y[i] = 1 - y[i]
	}
	eval(y, 1)
	check("a far move", want{8, 4})
}

// TestWarmStartRestartAndChanged: with Restart, a far move is answered by Restart Adam
// steps from the slot's first full optimum, and with Changed a changed prediction by
// Changed more steps from the refined optimum; both are replayed here on the engine
// directly (the same noise streams), and neither runs a full search.
func TestWarmStartRestartAndChanged(t *testing.T) {
	e := tinyEngine(t)
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	const seed = 4
	eval := func(a *Adaptive, x []float32) []float32 {
		t.Helper()
		l, err := a.Logits(x, 1)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	same := func(what string, got []float32, o *infer.Output) {
		t.Helper()
		for k := 0; k < K; k++ {
			if got[k] != -o.Loss[k] {
				t.Fatalf("%s: logit %d = %v, replay %v", what, k, got[k], -o.Loss[k])
			}
		}
	}
	noise := func(run int) []*rand.Rand { return []*rand.Rand{infer.NoiseFor(seed, run, 0)} }

	// Restart: x, then a far move to y, then a near move back to y.
	x := randImages(P, 21)
	y := append([]float32(nil), x...)
	for i := range y {
		y[i] = min(max(y[i]+0.2*float32(i%3-1), 0), 1)
	}
	a := &Adaptive{Engine: e, Seed: seed, Workers: 1, Warm: &WarmStart{Steps: 1, MaxMove: 0.5, Restart: 4}}
	first, err := e.Classify(x, 1, noise(0))
	if err != nil {
		t.Fatal(err)
	}
	same("first (full) evaluation", eval(a, x), first)
	far, err := e.Refine(y, 1, first.Z, first.Logvar, 4, noise(1))
	if err != nil {
		t.Fatal(err)
	}
	same("far move (Restart 4 steps from the first optimum)", eval(a, y), far)
	near, err := e.Refine(y, 1, far.Z, far.Logvar, 1, noise(2))
	if err != nil {
		t.Fatal(err)
	}
	got := eval(a, y)
	if floats.Argmin(near.Loss) == floats.Argmin(far.Loss) {
		same("the next, near, evaluation (Steps 1)", got, near)
	}
	if st := a.Stats(); st.Full-st.Forced != 1 || st.Restarted != 1 || st.Changed != 0 {
		t.Errorf("restart: stats %+v, want 1 unforced full search and 1 restarted image-run", st)
	}

	// Changed: find an image pair whose warm-started prediction changes (MaxMove
	// large, so any move is warm-started).
	for try := uint64(0); try < 50; try++ {
		x, y := randImages(P, 100+2*try), randImages(P, 101+2*try)
		c0, err := e.Classify(x, 1, noise(0))
		if err != nil {
			t.Fatal(err)
		}
		w1, err := e.Refine(y, 1, c0.Z, c0.Logvar, 1, noise(1))
		if err != nil {
			t.Fatal(err)
		}
		if floats.Argmin(w1.Loss) == floats.Argmin(c0.Loss) {
			continue
		}
		r := noise(1) // the changed slot continues its run's stream
		if _, err := e.Refine(y, 1, c0.Z, c0.Logvar, 1, r); err != nil {
			t.Fatal(err)
		}
		w2, err := e.Refine(y, 1, w1.Z, w1.Logvar, 6, r)
		if err != nil {
			t.Fatal(err)
		}
		a := &Adaptive{Engine: e, Seed: seed, Workers: 1, Warm: &WarmStart{Steps: 1, MaxMove: 1e9, Changed: 6}}
		eval(a, x)
		same("changed prediction (6 more steps)", eval(a, y), w2)
		if st := a.Stats(); st.Full != 1 || st.Forced != 0 || st.Changed != 1 || st.Warm != 1 {
			t.Errorf("changed: stats %+v, want 1 full, 1 warm, 1 changed and no forced search", st)
		}
		return
	}
	t.Fatal("no image pair of 50 changed the warm-started prediction")
}

func TestAdaptiveBadInput(t *testing.T) {
	e := tinyEngine(t)
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	a := &Adaptive{Engine: e, Seed: 1, Workers: 1}
	x := randImages(P, 1)
	nan := append([]float32(nil), x...)
	nan[5] = float32(math.NaN())
	bad := map[string]func() error{
		"short x":    func() error { _, err := a.Logits(x[:P-1], 1); return err },
		"NaN pixel":  func() error { _, err := a.Logits(nan, 1); return err },
		"zero batch": func() error { _, err := a.Logits(nil, 0); return err },
		"cotangent": func() error {
			_, _, err := a.LogitsVJP(x, 1, func([]float32) []float32 { return make([]float32, K-1) })
			return err
		},
		"NaN cot": func() error {
			_, _, err := a.LogitsVJP(x, 1, func([]float32) []float32 { return []float32{float32(math.NaN()), 0, 0} })
			return err
		},
		"label":        func() error { _, _, err := a.LossGrad(x, []int{K}, 1); return err },
		"labels count": func() error { _, _, err := a.LossGrad(x, []int{0, 1}, 1); return err },
		"warm steps": func() error {
			w := &Adaptive{Engine: e, Warm: &WarmStart{Steps: -1}}
			_, err := w.Logits(x, 1)
			return err
		},
	}
	for name, f := range bad {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if v := NewVerdict(e, 0, 1, 0); v.EOT != 5 {
		t.Errorf("NewVerdict(e, 0, ...) has EOT %d, want the paper's 5", v.EOT)
	}
}

// TestGradientStepsShrinkTheMargin: a few normalised steps along the adaptive CE
// gradient shrink the margin of the predicted class on the tiny E-ABS, with and
// without warm start.
func TestGradientStepsShrinkTheMargin(t *testing.T) {
	e := tinyEngine(t)
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	const batch = 2
	for _, warm := range []*WarmStart{nil, {Steps: 3, FullEvery: 4}} {
		x := randImages(batch*P, 12)
		verdict := NewVerdict(e, 3, 99, 1)
		l0, err := verdict.Logits(x, batch)
		if err != nil {
			t.Fatal(err)
		}
		y := []int{floats.Argmax(l0[:K]), floats.Argmax(l0[K:])}
		a := &Adaptive{Engine: e, Seed: 9, EOT: 2, Workers: 2, Warm: warm}
		adv := append([]float32(nil), x...)
		for s := 0; s < 5; s++ {
			_, g, err := a.LossGrad(adv, y, batch)
			if err != nil {
				t.Fatal(err)
			}
			for b := 0; b < batch; b++ {
				gb := g[b*P : (b+1)*P]
				n := math.Sqrt(sq(gb, make([]float32, P)))
				for i := range gb {
					adv[b*P+i] = min(max(adv[b*P+i]+float32(0.3*float64(gb[i])/n), 0), 1)
				}
			}
		}
		l1, err := verdict.Logits(adv, batch)
		if err != nil {
			t.Fatal(err)
		}
		for b := 0; b < batch; b++ {
			if m0, m1 := margin(l0[b*K:(b+1)*K], y[b]), margin(l1[b*K:(b+1)*K], y[b]); !(m1 < m0) {
				t.Errorf("warm %v, image %d: the margin of the predicted class did not shrink: %v -> %v", warm != nil, b, m0, m1)
			}
		}
	}
}

func margin(l []float32, y int) float32 {
	best := float32(math.Inf(-1))
	for k, v := range l {
		if k != y && v > best {
			best = v
		}
	}
	return l[y] - best
}

// TestVerdictKeyed: a keyed verdict's row depends on its image and key only, whatever
// the batch around it and the number of workers, and it is the negated mean of the
// per-run losses of EOT separate inferences with noise NoiseFor(key, r, 0) (replayed
// here one image and one run at a time, summed in float64).
func TestVerdictKeyed(t *testing.T) {
	e := tinyEngine(t)
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	const batch, eot = 3, 3
	x := randImages(batch*P, 21)
	keys := []uint64{11, 99, 12345}
	want := make([]float64, batch*K)
	for b := 0; b < batch; b++ {
		for r := 0; r < eot; r++ {
			o, err := e.Classify(x[b*P:(b+1)*P], 1, []*rand.Rand{infer.NoiseFor(keys[b], r, 0)})
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < K; k++ {
				want[b*K+k] -= float64(o.Loss[k]) / eot
			}
		}
	}
	for _, workers := range []int{1, 2, 3} {
		v := &Verdict{Engine: e, EOT: eot, Workers: workers}
		got, err := v.LogitsKeyed(x, batch, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(float64(got[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
				t.Errorf("%d workers: logit %d = %v, replay %v", workers, i, got[i], want[i])
			}
		}
	}
	// One row alone, with its key, gives the same row.
	v := NewVerdict(e, eot, 0, 1)
	one, err := v.LogitsKeyed(x[P:2*P], 1, keys[1:2])
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < K; k++ {
		if math.Abs(float64(one[k])-want[K+k]) > 1e-5*(1+math.Abs(want[K+k])) {
			t.Errorf("row alone: logit %d = %v, in a batch %v", k, one[k], want[K+k])
		}
	}
	if _, err := v.LogitsKeyed(x, batch, keys[:2]); err == nil {
		t.Error("2 keys for 3 images: no error")
	}
}
