package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/runtimetest"
	"github.com/eabs/eabs/shard"
)

// The test world: images of 1x2x2 pixels, 3 classes, a linear "model" whose logit k is
// pixel k (pixel 3 is a tag the scripted attacks read).
const (
	tK    = 3
	tSize = 4
)

// testSet has n images: image i has its label's pixel at 0.6, the next class's at
// 0.5 and the last at 0.2 (a margin of 0.1), except every seventh, whose pixels
// favour the wrong class (clean error); pixel 3 is i/n.
func testSet(n int) *data.Set {
	s := &data.Set{Name: "test", N: n, C: 1, H: 2, W: 2, Classes: tK, Images: make([]float32, n*tSize), Labels: make([]int, n)}
	for i := 0; i < n; i++ {
		y := i % tK
		x := s.Images[i*tSize : (i+1)*tSize]
		x[y], x[(y+1)%tK], x[(y+2)%tK], x[3] = 0.6, 0.5, 0.2, float32(i)/float32(n)
		if i%7 == 3 {
			x[y], x[(y+1)%tK] = 0.5, 0.6
		}
		s.Labels[i] = y
	}
	return s
}

// linear is the deterministic fake model: logits are the first K pixels, its
// gradient (for any cotangent v) is v on those pixels. zeroTag makes the gradient of
// images with tag pixel above 0.9 all zero (a masked gradient).
type linear struct{ zeroTag bool }

func (linear) Classes() int { return tK }
func (linear) Logits(x []float32, batch int) ([]float32, error) {
	if len(x) != batch*tSize {
		return nil, fmt.Errorf("linear: %d values for %d images", len(x), batch)
	}
	out := make([]float32, batch*tK)
	for b := 0; b < batch; b++ {
		copy(out[b*tK:(b+1)*tK], x[b*tSize:b*tSize+tK])
	}
	return out, nil
}
func (l linear) LogitsVJP(x []float32, batch int, cot func([]float32) []float32) ([]float32, []float32, error) {
	lg, err := l.Logits(x, batch)
	if err != nil {
		return nil, nil, err
	}
	v := cot(lg)
	g := make([]float32, len(x))
	for b := 0; b < batch; b++ {
		if l.zeroTag && x[b*tSize+3] > 0.9 {
			continue
		}
		copy(g[b*tSize:b*tSize+tK], v[b*tK:(b+1)*tK])
	}
	return lg, g, nil
}

// noisy is a randomised verdict: linear plus noise from a counter, like an E-ABS
// without keyed noise.
type noisy struct {
	linear
	calls int
}

func (n *noisy) Logits(x []float32, batch int) ([]float32, error) {
	lg, err := n.linear.Logits(x, batch)
	n.calls++
	for i := range lg {
		lg[i] += float32(n.calls) * 1e-4
		if i%tK == 0 {
			lg[i] += float32(n.calls%3) * 1e-4
		}
	}
	return lg, err
}

// shift is a random bounded L2 attack: it asks the model for a gradient (to be counted)
// and moves a random fraction of eps from the label's pixel to the next class's; it
// succeeds when the move beats the margin, which depends on its random stream.
type shift struct {
	norm attack.Norm
	eps  float64
}

func (s shift) Name() string      { return "shift-" + string(s.norm) }
func (s shift) Norm() attack.Norm { return s.norm }
func (s shift) Run(ctx context.Context, m attack.Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*attack.Found, error) {
	d, ok := m.(attack.Differentiable)
	if !ok {
		return nil, &attack.UnsupportedError{Attack: s.Name(), Needs: "gradients"}
	}
	if _, _, err := d.LogitsVJP(x, batch, func(l []float32) []float32 { return l }); err != nil {
		return nil, err
	}
	f := &attack.Found{Adv: append([]float32(nil), x...), Ok: make([]bool, batch), Queries: make([]int, batch)}
	for b := 0; b < batch; b++ {
		t := rng.Float64() * s.eps
		step := t / math.Sqrt2
		if s.norm == attack.Linf {
			step = t
		}
		a := f.Adv[b*tSize : (b+1)*tSize]
		a[y[b]] = float32(math.Max(float64(a[y[b]])-step, 0))
		a[(y[b]+1)%tK] = float32(math.Min(float64(a[(y[b]+1)%tK])+step, 1))
		f.Ok[b] = true // always claims success: the verdict must decide
		f.Queries[b] = 1 + b
	}
	return f, nil
}

// scripted breaks exactly the samples whose tag pixel is in [lo, hi), moving 0.1 from
// the label's pixel to the next class's (L2 0.1414, Linf 0.1); over > 0 puts its
// candidate farther, by adding that much to the last class's pixel.
type scripted struct {
	name   string
	norm   attack.Norm
	lo, hi float32
	over   float32
	calls  *int
}

func (s scripted) Name() string      { return s.name }
func (s scripted) Norm() attack.Norm { return s.norm }
func (s scripted) Run(ctx context.Context, m attack.Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*attack.Found, error) {
	if s.calls != nil {
		*s.calls += batch
	}
	f := &attack.Found{Adv: append([]float32(nil), x...), Ok: make([]bool, batch), Queries: make([]int, batch)}
	for b := 0; b < batch; b++ {
		a := f.Adv[b*tSize : (b+1)*tSize]
		if a[3] >= s.lo && a[3] < s.hi {
			a[y[b]] -= 0.1
			a[(y[b]+1)%tK] += 0.1
			a[(y[b]+2)%tK] += s.over
		}
		f.Queries[b] = 10
	}
	return f, nil
}

func header(n int, sp shard.Spec) shard.Header {
	return shard.Header{ModelSHA256: "model", DataFingerprint: "data", Dataset: "toy", Split: "test", SampleSeed: 7, SampleN: n, Config: "linear", Shard: sp}
}

func baseConfig(n int, sp shard.Spec) Config {
	return Config{
		Header: header(n, sp), Model: "linear",
		Attacks: []Entry{
			{Attack: shift{attack.L2, 0.3}, Eps: 0.3, Bounded: true},
			{Attack: scripted{name: "script-a", norm: attack.L2, lo: 0, hi: 0.5}, Eps: 0.5},
			{Attack: shift{attack.Linf, 0.15}, Eps: 0.15, Bounded: true},
		},
		Sweep:  []Entry{{Attack: shift{attack.L2, 1}, Eps: 1, Bounded: true}},
		SweepN: 6, Seed: 3, Batch: 4, AttackBatch: 1, Keep: 3,
	}
}

func mustRun(t *testing.T, cfg Config, set *data.Set) *Result {
	t.Helper()
	r, err := Run(context.Background(), cfg, set, linear{}, linear{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// roundTrip writes r as a part file and returns its bytes, as a shard would.
func roundTrip(t *testing.T, r *Result) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "part.json")
	if err := WriteFile(p, r); err != nil {
		t.Fatal(err)
	}
	parts, err := shard.ReadFiles([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	return parts[0].Data
}

func TestShardsMergeToTheWholeRun(t *testing.T) {
	set := testSet(40)
	const n = 23
	whole := mustRun(t, baseConfig(n, shard.Whole), set)
	wb, _ := json.Marshal(whole.Records)
	if len(whole.Records) != n {
		t.Fatalf("%d records, want %d", len(whole.Records), n)
	}
	for count := 1; count <= 5; count++ {
		var parts []shard.File
		for i := 0; i < count; i++ {
			r := mustRun(t, baseConfig(n, shard.Spec{Index: i, Count: count}), set)
			parts = append(parts, shard.File{Name: fmt.Sprintf("part%d.json", i), Data: roundTrip(t, r)})
		}
		got, err := MergeAttack(parts)
		if err != nil {
			t.Fatalf("%d shards: %v", count, err)
		}
		if got.Header != whole.Header {
			t.Fatalf("%d shards: header %+v, want %+v", count, got.Header, whole.Header)
		}
		gb, _ := json.Marshal(got.Records)
		if string(gb) != string(wb) {
			t.Errorf("%d shards: merged records differ from the whole run's", count)
		}
		if !reflect.DeepEqual(got.Summary, Summarize(whole)) {
			t.Errorf("%d shards: merged summary differs from the whole run's", count)
		}
	}
}

func TestMergeRefusesForeignAndMissingParts(t *testing.T) {
	set := testSet(40)
	const n = 12
	var parts []shard.File
	for i := 0; i < 3; i++ {
		parts = append(parts, shard.File{Name: fmt.Sprintf("s%d.json", i), Data: roundTrip(t, mustRun(t, baseConfig(n, shard.Spec{Index: i, Count: 3}), set))})
	}
	other := baseConfig(n, shard.Spec{Index: 1, Count: 3})
	other.Attacks[1].Eps = 0.4
	foreign := shard.File{Name: "foreign.json", Data: roundTrip(t, mustRun(t, other, set))}
	otherModel := baseConfig(n, shard.Spec{Index: 1, Count: 3})
	otherModel.Header.ModelSHA256 = "other"
	cls := shard.File{Name: "classify.json", Data: []byte(`{"header":{"kind":"classify"}}`)}
	tests := []struct {
		name  string
		parts []shard.File
		want  string
	}{
		{"missing", []shard.File{parts[0], parts[2]}, "missing shard(s) 1/3"},
		{"foreign config", []shard.File{parts[0], foreign, parts[2]}, "foreign.json does not belong with s0.json: configuration differs"},
		{"foreign model", []shard.File{parts[0], {Name: "m.json", Data: roundTrip(t, mustRun(t, otherModel, set))}, parts[2]}, "m.json does not belong with s0.json: model differs"},
		{"other kind", []shard.File{parts[0], cls}, `classify.json: a "classify" result, not an attack result`},
	}
	for _, tt := range tests {
		_, err := MergeAttack(tt.parts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Merge error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestResumeAfterKill(t *testing.T) {
	set := testSet(40)
	const n = 23
	for _, sp := range []shard.Spec{shard.Whole, {Index: 1, Count: 2}} {
		want := mustRun(t, baseConfig(n, sp), set)
		for k := 1; k*4 < len(want.Records); k++ {
			cfg := baseConfig(n, sp)
			cfg.State = filepath.Join(t.TempDir(), "state.json")
			ctx, cancel := context.WithCancel(context.Background())
			// Killed after k batches: cancelled once their state is saved.
			_, err := Run(ctx, cfg, set, linear{}, linear{}, func(done, total int) {
				if done >= k*cfg.Batch {
					cancel()
				}
			})
			cancel()
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("%s k=%d: error %v, want an interruption", sp, k, err)
			}
			st, err := ReadFile(cfg.State)
			if err != nil || len(st.Records) != k*cfg.Batch || st.Complete {
				t.Fatalf("%s k=%d: state holds %d records (complete %v), err %v; want %d", sp, k, len(st.Records), st.Complete, err, k*cfg.Batch)
			}
			// The resumed run must not repeat the finished batches: count the samples
			// the scripted attack sees.
			calls := 0
			cfg.Attacks[1].Attack = scripted{name: "script-a", norm: attack.L2, lo: 0, hi: 0.5, calls: &calls}
			got, err := Run(context.Background(), cfg, set, linear{}, linear{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Records, want.Records) {
				t.Errorf("%s k=%d: resumed records differ from the uninterrupted run", sp, k)
			}
			attacked := 0
			for _, r := range want.Records[k*cfg.Batch:] {
				if r.Attacks[1].Ran {
					attacked++
				}
			}
			if calls != attacked {
				t.Errorf("%s k=%d: the resumed run attacked %d samples with script-a, want %d (finished batches repeated?)", sp, k, calls, attacked)
			}
		}
	}
	// A state from another configuration or shard is refused.
	cfg := baseConfig(n, shard.Whole)
	cfg.State = filepath.Join(t.TempDir(), "state.json")
	ctx, cancel := context.WithCancel(context.Background())
	Run(ctx, cfg, set, linear{}, linear{}, func(done, total int) {
		if done >= 4 {
			cancel()
		}
	})
	cancel()
	other := cfg
	other.Seed = 99
	if _, err := Run(context.Background(), other, set, linear{}, linear{}, nil); err == nil || !strings.Contains(err.Error(), "from another run: configuration differs") {
		t.Errorf("state of another seed: error %v", err)
	}
	other = cfg
	other.Header.SampleSeed = 8
	if _, err := Run(context.Background(), other, set, linear{}, linear{}, nil); err == nil || !strings.Contains(err.Error(), "sample seed differs") {
		t.Errorf("state of another sample: error %v", err)
	}
	other = cfg
	other.Header.Shard = shard.Spec{Index: 0, Count: 1}
	other.Header.DataFingerprint = "other"
	if _, err := Run(context.Background(), other, set, linear{}, linear{}, nil); err == nil || !strings.Contains(err.Error(), "data differs") {
		t.Errorf("state of other data: error %v", err)
	}
}

// cancelling is an attack that cancels the run in the middle of its second call.
type cancelling struct {
	scripted
	cancel func()
	n      *int
}

func (c cancelling) Run(ctx context.Context, m attack.Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*attack.Found, error) {
	*c.n++
	if *c.n == 6 {
		c.cancel()
		return nil, ctx.Err()
	}
	return c.scripted.Run(ctx, m, x, y, batch, rng)
}

func TestInterruptMidBatchKeepsFinishedBatches(t *testing.T) {
	set := testSet(40)
	cfg := baseConfig(20, shard.Whole)
	cfg.State = filepath.Join(t.TempDir(), "state.json")
	want := mustRun(t, cfg, set)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	c := cfg
	c.Attacks = append([]Entry(nil), cfg.Attacks...)
	c.Attacks[1].Attack = cancelling{scripted: cfg.Attacks[1].Attack.(scripted), cancel: cancel, n: &calls}
	cfg.State = filepath.Join(t.TempDir(), "state2.json")
	c.State = cfg.State
	if _, err := Run(ctx, c, set, linear{}, linear{}, nil); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("error %v, want an interruption", err)
	}
	st, err := ReadFile(cfg.State)
	if err != nil || len(st.Records)%cfg.Batch != 0 || len(st.Records) == 0 {
		t.Fatalf("state: %d records, %v; want whole batches", len(st.Records), err)
	}
	got, err := Run(context.Background(), cfg, set, linear{}, linear{}, nil)
	if err != nil || !reflect.DeepEqual(got.Records, want.Records) {
		t.Errorf("resumed after a mid-batch interruption: records differ (err %v)", err)
	}
}

func TestAllIsThePerSampleWorstCase(t *testing.T) {
	set := testSet(60)
	const n = 30
	for _, all := range []bool{false, true} {
		cfg := Config{Header: header(n, shard.Whole), Model: "linear", Seed: 1, Batch: 7, AttackBatch: 3, AttackAll: all,
			Attacks: []Entry{
				{Attack: scripted{name: "a", norm: attack.L2, lo: 0, hi: 0.3}, Eps: 0.5},
				{Attack: scripted{name: "b", norm: attack.L2, lo: 0.2, hi: 0.6}, Eps: 0.5},
				// c finds adversarials on [0.5, 0.9) but 0.5 away: beyond eps, measured only.
				{Attack: scripted{name: "c", norm: attack.L2, lo: 0.5, hi: 0.9, over: 0.5}, Eps: 0.5},
				{Attack: scripted{name: "d", norm: attack.Linf, lo: 0.25, hi: 0.35}, Eps: 0.05},
				{Attack: scripted{name: "e", norm: attack.Linf, lo: 0.8, hi: 1}, Eps: 0.1},
			}}
		r := mustRun(t, cfg, set)
		// Independent count: a correct sample is broken in L2 iff its tag is in [0, 0.6),
		// in Linf iff in [0.8, 1) (d's 0.1 exceeds its 0.05).
		var clean, l2, linf int
		for _, rec := range r.Records {
			if rec.Index%7 == 3 {
				continue
			}
			clean++
			tag := set.Images[rec.Index*tSize+3]
			if !(tag < 0.6) {
				l2++
			}
			if !(tag >= 0.8) {
				linf++
			}
		}
		s := r.Summary
		if s.Clean.K != clean || s.All[0].Norm != attack.L2 || s.All[0].Robust.K != l2 || s.All[1].Robust.K != linf {
			t.Errorf("attack all %v: clean %d, All %s %d, %s %d; want %d, %d, %d", all, s.Clean.K, s.All[0].Norm, s.All[0].Robust.K, s.All[1].Norm, s.All[1].Robust.K, clean, l2, linf)
		}
		for _, rec := range r.Records {
			c := rec.Attacks[2]
			tag := set.Images[rec.Index*tSize+3]
			// c runs on samples a and b left (or all correct ones with AttackAll), finds
			// an adversarial 0.1414+ away... at L2 sqrt(0.1^2+0.1^2+0.5^2).
			if rec.CleanCorrect && tag >= 0.6 && tag < 0.9 {
				if c.Dist == nil || math.Abs(*c.Dist-math.Sqrt(0.27)) > 1e-6 || !c.Robust {
					t.Errorf("sample %d: c's record %+v, want a distance %g beyond eps, still robust", rec.Pos, c, math.Sqrt(0.27))
				}
			}
			if !all && rec.CleanCorrect && tag < 0.3 && c.Ran {
				t.Errorf("sample %d broken by a was attacked again by c", rec.Pos)
			}
			if all && rec.CleanCorrect && !c.Ran {
				t.Errorf("attack all: sample %d not attacked by c", rec.Pos)
			}
			if a := rec.Attacks[0]; a.Dist != nil && (math.Abs(*a.L2-math.Sqrt(0.02)) > 1e-6 || math.Abs(*a.Linf-0.1) > 1e-6) {
				t.Errorf("sample %d: a's distances L2 %g Linf %g, want %g, 0.1", rec.Pos, *a.L2, *a.Linf, math.Sqrt(0.02))
			}
		}
		// Per-attack: with skipping, b's column is cumulative (robust to a and b).
		wantB := 0
		for _, rec := range r.Records {
			tag := set.Images[rec.Index*tSize+3]
			if rec.CleanCorrect && !(tag >= 0.2 && tag < 0.6) && (all || !(tag < 0.3)) {
				wantB++
			}
		}
		if s.Attacks[1].Robust.K != wantB {
			t.Errorf("attack all %v: b robust %d, want %d", all, s.Attacks[1].Robust.K, wantB)
		}
	}
}

func TestVerdictNotClaimsAndChecks(t *testing.T) {
	set := testSet(40)
	cfg := baseConfig(20, shard.Whole)
	r := mustRun(t, cfg, set)
	// shift claims success everywhere; only verdict-misclassified candidates count.
	for _, rec := range r.Records {
		a := rec.Attacks[0]
		if !a.Ran {
			continue
		}
		if mis := a.Pred != rec.Label; mis != (a.Dist != nil) || a.Robust == mis {
			t.Errorf("sample %d: pred %d label %d, dist %v, robust %v", rec.Pos, a.Pred, rec.Label, a.Dist, a.Robust)
		}
	}
	c := r.Summary.Checks
	if c.Randomised || c.RandomisedSamples != 0 {
		t.Errorf("deterministic verdict flagged randomised: %+v", c)
	}
	if c.GradRows == 0 || c.GradZero != 0 || c.GradNaN != 0 {
		t.Errorf("gradient counts %d rows, %d zero, %d NaN; want rows, none bad", c.GradRows, c.GradZero, c.GradNaN)
	}
	// A noisy verdict is detected; a model masking the gradient of tags > 0.9 is counted.
	r2, err := Run(context.Background(), cfg, set, linear{zeroTag: true}, &noisy{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2 := r2.Summary.Checks
	if !c2.Randomised || c2.RandomisedSamples != 20 {
		t.Errorf("noisy verdict: randomised %v on %d samples, want all 20", c2.Randomised, c2.RandomisedSamples)
	}
	wantZero := 0
	for _, rec := range r2.Records {
		if set.Images[rec.Index*tSize+3] > 0.9 {
			for _, a := range append(rec.Attacks, rec.Sweep...) {
				if a.Ran && strings.HasPrefix(a.Name, "shift") {
					wantZero++
				}
			}
		}
	}
	if wantZero == 0 || c2.GradZero != wantZero {
		t.Errorf("masked gradients: %d zero rows counted, want %d", c2.GradZero, wantZero)
	}
	// Every gradient of a tagged sample is zero: each one still robust after a gradient
	// attack is a blind verdict, and is warned about.
	wantBlind := 0
	for _, rec := range r2.Records {
		for _, a := range rec.Attacks {
			if set.Images[rec.Index*tSize+3] > 0.9 && a.Ran && a.Robust && a.GradRows > 0 {
				wantBlind++
			}
		}
	}
	if wantBlind == 0 || c2.BlindRobust != wantBlind || !slices.ContainsFunc(c2.Warnings, func(w string) bool { return strings.Contains(w, "nothing but zero gradient") }) {
		t.Errorf("blind robust: %d counted, want %d (> 0), and a warning: %v", c2.BlindRobust, wantBlind, c2.Warnings)
	}
	if c.BlindRobust != 0 {
		t.Errorf("unmasked model: %d blind robust verdicts, want 0", c.BlindRobust)
	}
	// The L2 sweep at eps 1 moves up to 0.71 per pixel: the curve must fall to 0; an
	// attack that never succeeds leaves it flat.
	for _, cv := range r.Summary.Checks.Curves {
		if cv.Norm == attack.L2 && (!cv.Checked || cv.Flat) {
			t.Errorf("working sweep: curve %+v", cv)
		}
	}
	flat := cfg
	flat.Sweep = []Entry{{Attack: scripted{name: "never", norm: attack.L2, lo: 2, hi: 3}, Eps: 3}}
	r3 := mustRun(t, flat, set)
	if cv := r3.Summary.Checks.Curves[0]; !cv.Checked || !cv.Flat || len(r3.Summary.Checks.Warnings) == 0 {
		t.Errorf("never-succeeding sweep: curve %+v, warnings %v; want flagged flat", cv, r3.Summary.Checks.Warnings)
	}
}

// outside is a bounded attack whose candidates leave the budget or the box.
type outside struct{ box bool }

func (outside) Name() string      { return "outside" }
func (outside) Norm() attack.Norm { return attack.Linf }
func (o outside) Run(ctx context.Context, m attack.Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*attack.Found, error) {
	f := &attack.Found{Adv: append([]float32(nil), x...), Ok: make([]bool, batch), Queries: make([]int, batch)}
	for b := 0; b < batch; b++ {
		a := f.Adv[b*tSize : (b+1)*tSize]
		a[(y[b]+1)%tK] += 0.3
		if o.box {
			a[3] = 1.5
		}
	}
	return f, nil
}

func TestRejectsCandidatesOutsideTheBudgetOrBox(t *testing.T) {
	set := testSet(10)
	for _, box := range []bool{false, true} {
		cfg := Config{Header: header(10, shard.Whole), Seed: 1, Batch: 10, AttackBatch: 10,
			Attacks: []Entry{{Attack: outside{box}, Eps: 0.1, Bounded: true}}}
		r := mustRun(t, cfg, set)
		want := "beyond its budget"
		if box {
			want = "outside [0,1]"
		}
		for _, rec := range r.Records {
			a := rec.Attacks[0]
			if rec.CleanCorrect && (!strings.Contains(a.Rejected, want) || !a.Robust || a.Dist != nil) {
				t.Errorf("box %v sample %d: %+v, want rejected (%s) and robust", box, rec.Pos, a, want)
			}
		}
		if r.Summary.Checks.Rejected == 0 {
			t.Errorf("box %v: no rejection counted", box)
		}
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	set := testSet(10)
	bad := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"empty sample", func(c *Config) { c.Header.SampleN = 0 }, "sample size 0"},
		{"too many", func(c *Config) { c.Header.SampleN = 11 }, "exceeds the 10 images"},
		{"no attacks", func(c *Config) { c.Attacks = nil }, "no attacks"},
		{"batch", func(c *Config) { c.Batch = 0 }, "batch 0"},
		{"eps", func(c *Config) { c.Attacks[0].Eps = math.NaN() }, "eps NaN"},
		{"empty shard", func(c *Config) { c.Header.SampleN = 2; c.Header.Shard = shard.Spec{Index: 2, Count: 3} }, "shard 2/3 of 2 samples is empty"},
	}
	for _, tt := range bad {
		cfg := baseConfig(10, shard.Whole)
		tt.edit(&cfg)
		if _, err := Run(context.Background(), cfg, set, linear{}, linear{}, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestClassifyShardsMerge classifies a sample with a tiny CNN whole and in 1-5 shards
// (each its own batch size): merged, the parts are the whole run; a missing part is
// refused by name.
func TestClassifyShardsMerge(t *testing.T) {
	w := runtimetest.Weights(t, "cnn", 1)
	a := w.Spec.Arch
	rng := rand.New(rand.NewPCG(5, 5))
	set := &data.Set{Name: "test", N: 30, C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes, Images: make([]float32, 30*a.Pixels()), Labels: make([]int, 30)}
	for i := range set.Images {
		set.Images[i] = rng.Float32()
	}
	for i := range set.Labels {
		set.Labels[i] = i % a.Classes
	}
	src := &runtime.Source{Arg: "tiny-cnn", Path: "tiny-cnn", Weights: w}
	sample := func(sp shard.Spec) *Sample {
		return &Sample{Set: set, Dataset: "toy", Split: "test", Fingerprint: "data", N: 17, Seed: 7, Shard: sp}
	}
	job := func(sp shard.Spec, batch int) ClassifyJob {
		return ClassifyJob{Model: src, Sample: sample(sp), Batch: batch, EOT: 1}
	}
	whole, err := Classify(job(shard.Whole, 4))
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, r := range whole.Records {
		if r.Correct {
			k++
		}
	}
	if whole.Accuracy.K != k || whole.Accuracy.N != 17 {
		t.Fatalf("accuracy %+v, want %d/17", whole.Accuracy, k)
	}
	for count := 1; count <= 5; count++ {
		var parts []shard.File
		for i := 0; i < count; i++ {
			r, err := Classify(job(shard.Spec{Index: i, Count: count}, 1+i))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "c.json")
			if err := WriteClassify(p, r); err != nil {
				t.Fatal(err)
			}
			ps, _ := shard.ReadFiles([]string{p})
			ps[0].Name = fmt.Sprintf("c%d.json", i)
			parts = append(parts, ps[0])
		}
		got, err := MergeClassify(parts)
		if err != nil {
			t.Fatalf("%d shards: %v", count, err)
		}
		if !reflect.DeepEqual(got.Records, whole.Records) || *got.Accuracy != *whole.Accuracy || got.Header != whole.Header {
			t.Errorf("%d shards: merged classification differs from the whole run", count)
		}
		if count == 3 {
			if _, err := MergeClassify(parts[:2]); err == nil || !strings.Contains(err.Error(), "missing shard(s) 2/3") {
				t.Errorf("missing classify shard: %v", err)
			}
		}
	}
}

// TestAfterContinuesARun: a run of the first attack, continued (Config.After) by a run
// of the other two, is exactly the run of all three: the same header (configuration
// hash), settings and records, also when the continuation is sharded and merged. A
// continuation that differs in a setting, repeats an attack, adds a sweep, or starts
// from an unfinished run is refused, naming what is wrong. (A continuation that sweeps
// a new norm is TestAttackAfterCLI's.)
func TestAfterContinuesARun(t *testing.T) {
	set := testSet(40)
	const n = 23
	whole := mustRun(t, baseConfig(n, shard.Whole), set)
	first := baseConfig(n, shard.Whole)
	first.Attacks = first.Attacks[:1]
	prev := mustRun(t, first, set)
	prev.Summary = Summarize(prev)
	next := func(sp shard.Spec) Config {
		c := baseConfig(n, sp)
		c.Attacks, c.Sweep, c.After = c.Attacks[1:], nil, prev
		return c
	}
	cont := mustRun(t, next(shard.Whole), set)
	wb, _ := json.Marshal(whole.Records)
	cb, _ := json.Marshal(cont.Records)
	if cont.Header != whole.Header || !reflect.DeepEqual(cont.Settings, whole.Settings) || string(cb) != string(wb) {
		t.Fatalf("the continued run differs from the whole run:\nheader %+v\nwant   %+v\nsettings equal %v, records equal %v",
			cont.Header, whole.Header, reflect.DeepEqual(cont.Settings, whole.Settings), string(cb) == string(wb))
	}
	var parts []shard.File
	for i := 0; i < 3; i++ {
		r := mustRun(t, next(shard.Spec{Index: i, Count: 3}), set)
		parts = append(parts, shard.File{Name: fmt.Sprintf("part%d.json", i), Data: roundTrip(t, r)})
	}
	m, err := MergeAttack(parts)
	if err != nil {
		t.Fatal(err)
	}
	if mb, _ := json.Marshal(m.Records); string(mb) != string(wb) {
		t.Error("the sharded continuation, merged, differs from the whole run")
	}
	// Continuing only the first 15 samples is the run of all attacks on 15.
	part := next(shard.Whole)
	part.Header.SampleN = 15
	want15 := mustRun(t, baseConfig(15, shard.Whole), set)
	got15 := mustRun(t, part, set)
	gb15, _ := json.Marshal(got15.Records)
	if wb15, _ := json.Marshal(want15.Records); got15.Header != want15.Header || string(gb15) != string(wb15) {
		t.Error("continuing the first 15 samples differs from the run of all attacks on 15")
	}
	// The prefix of attacks was not re-run: a continuation whose first attack would
	// now break everything leaves the earlier records as they were.
	for i, rec := range cont.Records {
		if !reflect.DeepEqual(rec.Attacks[0], prev.Records[i].Attacks[0]) {
			t.Fatalf("sample %d: the continued run changed the earlier attack's record", rec.Pos)
		}
	}
	bad := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"seed", func(c *Config) { c.Seed++ }, "seed"},
		{"model settings", func(c *Config) { c.Header.Config = "other" }, "model settings"},
		{"more samples", func(c *Config) { c.Header.SampleN = n + 1 }, "fewer than this run's"},
		{"a part with attack batch 2", func(c *Config) {
			f := first
			f.AttackBatch = 2
			p, err := Run(context.Background(), f, set, linear{}, linear{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.After, c.Header.SampleN, c.AttackBatch = p, n-1, 2
		}, "attack batch of 1"},
		{"repeated attack", func(c *Config) { c.Attacks = append(c.Attacks, baseConfig(n, shard.Whole).Attacks[0]) }, "already ran"},
		{"sweep", func(c *Config) { c.Sweep = baseConfig(n, shard.Whole).Sweep }, "l2 sweep already"},
		{"unfinished", func(c *Config) { p := *prev; p.Complete = false; c.After = &p }, "not complete"},
		{"missing samples", func(c *Config) { p := *prev; p.Records = p.Records[:5]; c.After = &p }, "no record of sample"},
	}
	for _, b := range bad {
		c := next(shard.Whole)
		b.edit(&c)
		if _, err := Run(context.Background(), c, set, linear{}, linear{}, nil); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", b.name, err, b.want)
		}
	}
}

// TestReuseGrowsARun: a run on 9 samples, grown (Config.Reuse) to 23, is exactly the
// run on 23, also sharded and merged and after a kill; the reused samples are copied,
// not attacked again; a run to reuse of another configuration, an unfinished or
// unmerged one, an attack batch above 1 and Reuse with After are refused, naming why.
func TestReuseGrowsARun(t *testing.T) {
	set := testSet(40)
	const small, n = 9, 23
	whole := mustRun(t, baseConfig(n, shard.Whole), set)
	prev := mustRun(t, baseConfig(small, shard.Whole), set)
	grow := func(sp shard.Spec) Config {
		c := baseConfig(n, sp)
		c.Reuse = prev
		return c
	}
	wb, _ := json.Marshal(whole.Records)
	got := mustRun(t, grow(shard.Whole), set)
	gb, _ := json.Marshal(got.Records)
	if got.Header != whole.Header || !reflect.DeepEqual(got.Settings, whole.Settings) || string(gb) != string(wb) {
		t.Fatalf("the grown run differs from the whole run: header %+v, want %+v; records equal %v", got.Header, whole.Header, string(gb) == string(wb))
	}
	var parts []shard.File
	for i := 0; i < 3; i++ {
		r := mustRun(t, grow(shard.Spec{Index: i, Count: 3}), set)
		parts = append(parts, shard.File{Name: fmt.Sprintf("part%d.json", i), Data: roundTrip(t, r)})
	}
	m, err := MergeAttack(parts)
	if err != nil {
		t.Fatal(err)
	}
	if mb, _ := json.Marshal(m.Records); string(mb) != string(wb) {
		t.Error("the sharded growth, merged, differs from the whole run")
	}

	// Copied, not recomputed: a mark in a reused record survives, and the scripted
	// attack sees only the new samples it would attack.
	marked := *prev
	marked.Records = slices.Clone(prev.Records)
	marked.Records[2].Attacks = slices.Clone(prev.Records[2].Attacks)
	marked.Records[2].Attacks[0].Queries = 999
	c := grow(shard.Whole)
	c.Reuse = &marked
	calls := 0
	c.Attacks = slices.Clone(c.Attacks)
	c.Attacks[1].Attack = scripted{name: "script-a", norm: attack.L2, lo: 0, hi: 0.5, calls: &calls}
	r := mustRun(t, c, set)
	if r.Records[2].Attacks[0].Queries != 999 {
		t.Error("the grown run recomputed a reused record")
	}
	want := 0
	for _, rec := range whole.Records[small:] {
		if rec.Attacks[1].Ran {
			want++
		}
	}
	if calls != want {
		t.Errorf("the grown run attacked %d samples with script-a, want the %d new ones it runs on", calls, want)
	}

	// Killed after its first batch (which ends on the batch grid: samples 9-11), then
	// resumed from the state: the same records.
	c = grow(shard.Whole)
	c.State = filepath.Join(t.TempDir(), "state.json")
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Run(ctx, c, set, linear{}, linear{}, func(done, total int) {
		if done > small {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("error %v, want an interruption", err)
	}
	if st, err := ReadFile(c.State); err != nil || len(st.Records) != 12 {
		t.Fatalf("state after the first new batch: %v records, err %v; want 12", len(st.Records), err)
	}
	res, err := Run(context.Background(), c, set, linear{}, linear{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rb, _ := json.Marshal(res.Records); string(rb) != string(wb) {
		t.Error("the resumed growth differs from the whole run")
	}

	bad := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"seed", func(c *Config) { c.Seed++ }, "differs in seed"},
		{"model settings", func(c *Config) { c.Header.Config = "other" }, "differs in model settings"},
		{"attacks", func(c *Config) { c.Attacks = c.Attacks[:2] }, "differs in attacks"},
		{"sample seed", func(c *Config) { c.Header.SampleSeed++ }, "differs in sample seed"},
		{"attack batch", func(c *Config) { c.AttackBatch = 2 }, "attack batch of 1"},
		{"unfinished", func(c *Config) { p := *prev; p.Complete = false; c.Reuse = &p }, "not complete"},
		{"a shard", func(c *Config) { p := *prev; p.Header.Shard = shard.Spec{Index: 0, Count: 2}; c.Reuse = &p }, "merge its parts"},
		{"missing samples", func(c *Config) { p := *prev; p.Records = p.Records[:5]; c.Reuse = &p }, "no record of sample 5"},
		{"with After", func(c *Config) { c.After = prev }, "not both"},
	}
	for _, b := range bad {
		c := grow(shard.Whole)
		b.edit(&c)
		if _, err := Run(context.Background(), c, set, linear{}, linear{}, nil); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", b.name, err, b.want)
		}
	}
}

// stubborn claims success on every sample whose image index is not a multiple of 5,
// but its candidate is adversarial (0.1 moved from the label's pixel to the next
// class's, as scripted) only on its (k+1)th call for the sample, k = index % 4; until
// then it returns the clean image. calls counts the calls per image index (read from
// the tag pixel).
type stubborn struct {
	n     int
	calls map[int]int
}

func (stubborn) Name() string      { return "stubborn" }
func (stubborn) Norm() attack.Norm { return attack.L2 }
func (s stubborn) Run(ctx context.Context, m attack.Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*attack.Found, error) {
	f := &attack.Found{Adv: append([]float32(nil), x...), Ok: make([]bool, batch), Queries: make([]int, batch)}
	for b := 0; b < batch; b++ {
		a := f.Adv[b*tSize : (b+1)*tSize]
		idx := int(math.Round(float64(a[3]) * float64(s.n)))
		s.calls[idx]++
		f.Ok[b] = idx%5 != 0
		if s.calls[idx] == idx%4+1 {
			a[y[b]] -= 0.1
			a[(y[b]+1)%tK] += 0.1
		}
		f.Queries[b] = 10
	}
	return f, nil
}

// TestRetriesAttackOverturnedClaimsAgain: with Config.Retries R, a sample whose
// candidate the attacker believed adversarial and the verdict overturned is attacked
// again, up to R times: stubborn's sample breaks exactly when its k = index % 4 is at
// most R, after k retries (queries 10 per attempt); samples it does not claim are
// attacked once; Overturned counts the attempts the verdict overturned. Retries 0 leaves the settings (and so the configuration hash) as
// they were before retries existed.
func TestRetriesAttackOverturnedClaimsAgain(t *testing.T) {
	const n, N = 40, 30
	set := testSet(n)
	cfg := func(retries int) (Config, stubborn) {
		s := stubborn{n: n, calls: map[int]int{}}
		c := Config{Header: header(N, shard.Whole), Model: "linear", Attacks: []Entry{{Attack: s, Eps: 0.5}},
			Seed: 3, Batch: 4, AttackBatch: 1, Retries: retries}
		return c, s
	}
	c0, _ := cfg(0)
	r0 := mustRun(t, c0, set)
	// Without retries the settings, hashed into the configuration, are what they were
	// before retries existed: earlier runs still resume and continue.
	if b, _ := json.Marshal(r0.Settings); strings.Contains(string(b), "retries") {
		t.Errorf("settings without retries name them: %s", b)
	}
	for _, R := range []int{0, 1, 2, 3} {
		c, s := cfg(R)
		r := mustRun(t, c, set)
		if R > 0 && r.Header.Config == r0.Header.Config {
			t.Errorf("retries %d kept the hash of a run without them", R)
		}
		if got := r.Settings.Attacks[0].Retries; got != R {
			t.Errorf("retries %d: the attack's spec records %d", R, got)
		}
		ran, over := 0, 0
		for _, rec := range r.Records {
			a := rec.Attacks[0]
			if !rec.CleanCorrect {
				if a.Ran || s.calls[rec.Index] != 0 {
					t.Errorf("R=%d: misclassified sample %d attacked", R, rec.Pos)
				}
				continue
			}
			ran++
			k := rec.Index % 4
			claims := rec.Index%5 != 0
			wantRetries, wantBroken, wantOver := 0, k == 0, 0
			if claims {
				wantRetries, wantBroken = min(k, R), k <= R
				// Every attempt before the (k+1)th is overturned.
				wantOver = min(k, R+1)
			}
			if a.Overturned != wantOver {
				t.Errorf("R=%d: image %d (k %d, claims %v): %d attempts overturned, want %d", R, rec.Index, k, claims, a.Overturned, wantOver)
			}
			if a.Overturned > 0 {
				over++
			}
			if a.Retries != wantRetries || a.Robust == wantBroken || a.Queries != 10*(wantRetries+1) || s.calls[rec.Index] != wantRetries+1 {
				t.Errorf("R=%d: image %d (k %d, claims %v): retries %d, robust %v, queries %d, calls %d; want %d, %v, %d, %d",
					R, rec.Index, k, claims, a.Retries, a.Robust, a.Queries, s.calls[rec.Index], wantRetries, !wantBroken, 10*(wantRetries+1), wantRetries+1)
			}
			if wantBroken && (a.Dist == nil || math.Abs(*a.Dist-0.1*math.Sqrt2) > 1e-6 || a.Pred != (rec.Label+1)%tK) {
				t.Errorf("R=%d: image %d broken with dist %v pred %d, want %.4f and %d", R, rec.Index, a.Dist, a.Pred, 0.1*math.Sqrt2, (rec.Label+1)%tK)
			}
		}
		if ran < 20 || over == 0 {
			t.Fatalf("only %d samples attacked, %d overturned", ran, over)
		}
		if got := Summarize(r).Attacks[0].Overturned; got != over {
			t.Errorf("R=%d: the summary counts %d samples overturned, the records %d", R, got, over)
		}
	}
	bad, _ := cfg(-1)
	if _, err := Run(context.Background(), bad, set, linear{}, linear{}, nil); err == nil || !strings.Contains(err.Error(), "retries") {
		t.Errorf("retries -1: err = %v, want one naming the retries", err)
	}
}

// boundary is a minimum-norm L2 attack that stops just short of the decision boundary
// between the label and the next class (a margin of 2e-6 left for the label), as a
// search on a randomised model stops where one draw of noise flips the prediction.
type boundary struct{}

func (boundary) Name() string      { return "boundary-test" }
func (boundary) Norm() attack.Norm { return attack.L2 }
func (boundary) Run(ctx context.Context, m attack.Classifier, x []float32, y []int, batch int, rng *rand.Rand) (*attack.Found, error) {
	f := &attack.Found{Adv: append([]float32(nil), x...), Ok: make([]bool, batch), Queries: make([]int, batch)}
	for b := 0; b < batch; b++ {
		a := f.Adv[b*tSize : (b+1)*tSize]
		k := (y[b] + 1) % tK
		if move := (a[y[b]]-a[k])/2 - 1e-6; move > 0 {
			a[y[b]] -= move
			a[k] += move
		}
		f.Ok[b], f.Queries[b] = true, 1
	}
	return f, nil
}

// TestMinimumNormScaledToTheBudget: a minimum-norm candidate at the boundary is
// classified correctly by the verdict, but the same direction out to the budget is not:
// the sample counts broken, with both verdicts recorded. Without the scaled candidate
// every such sample would count robust.
func TestMinimumNormScaledToTheBudget(t *testing.T) {
	set := testSet(20)
	cfg := baseConfig(12, shard.Whole)
	cfg.Attacks, cfg.Sweep, cfg.SweepN = []Entry{{Attack: boundary{}, Eps: 0.5}}, nil, 0
	r := mustRun(t, cfg, set)
	broken := 0
	for _, rec := range r.Records {
		if !rec.CleanCorrect {
			continue
		}
		a := rec.Attacks[0]
		if a.Scaled == nil || a.Scaled.Pred == rec.Label || math.Abs(a.Scaled.Dist-0.5) > 1e-6 {
			t.Errorf("sample %d: scaled check %+v, want a misclassified candidate at L2 0.5", rec.Pos, a.Scaled)
			continue
		}
		if a.Robust || a.Dist == nil || math.Abs(*a.Dist-0.5) > 1e-6 {
			t.Errorf("sample %d: robust %v dist %v, want broken at 0.5 by the scaled candidate", rec.Pos, a.Robust, a.Dist)
		}
		broken++
	}
	if broken == 0 {
		t.Fatal("no correctly classified sample to attack")
	}
	if got := Summarize(r).Attacks[0].ScaledOut; got != broken {
		t.Errorf("summary counts %d samples broken by the scaled candidate, want %d", got, broken)
	}
}
