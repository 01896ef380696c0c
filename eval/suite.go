// Package eval runs a list of attacks on a seeded random sample of test images and
// keeps, per sample, what a robustness table needs: the clean verdict, and per attack
// whether the sample is still robust at the attack's budget, the smallest adversarial
// distance found and the queries spent.
//
// The runner trusts no attack: every candidate is classified again by a separate
// verdict classifier (for E-ABS its full inference with fresh noise and EOT; for a
// CNN the CNN itself), distances are measured here in float64 (L2 and Linf), and a
// candidate breaks a sample only when the verdict misclassifies it within the budget.
// Attacks run in the order given, each only on the samples still robust in its norm
// (AutoAttack's protocol), so the "All" column of a norm is the per-sample worst case.
//
// Results are a function of (model, data, sample list, configuration) and each
// sample's position alone: attack randomness is seeded per attack and position, a
// randomised model that implements Reseeder or Keyed is seeded the same way, so a run
// split into shards (package shard) and merged, or killed and resumed from its state
// file, gives exactly the uninterrupted run's records (for models whose outputs on
// an image do not depend on the other images of its batch).
package eval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/shard"
)

// Kind is the shard.Header kind of attack results.
const Kind = "attack"

// Entry is one attack of a run and the budget its candidates are judged at.
type Entry struct {
	Attack attack.Attack
	// Eps is the budget in Attack.Norm(). A bounded attack's candidates lie within it; a
	// minimum-norm attack's may not, and then only its distance is recorded.
	Eps float64
	// Bounded marks an attack whose candidates must lie within Eps (PGD, APGD): one
	// beyond it is an attack bug, rejected and counted. A minimum-norm attack's (DDN,
	// CW, DeepFool) candidates beyond Eps are measured, not rejected.
	Bounded bool
}

// Keyed is a randomised classifier whose noise for each row comes from a key the
// runner gives (a function of the run's seed, the sample's position and the purpose of
// the call), so its verdicts do not depend on batching, sharding or resumption. A
// verdict classifier without it is called through Logits.
type Keyed interface {
	LogitsKeyed(x []float32, batch int, keys []uint64) ([]float32, error)
}

// Reseeder is a randomised attack model (E-ABS's adaptive gradient) whose noise can
// be reseeded; the runner reseeds it before each attack call from the run's seed, the
// attack and the first sample's position, so the attack's path is reproducible.
type Reseeder interface {
	Reseed(seed uint64)
}

// Config is one run.
type Config struct {
	// Header names the run: the caller fills model, data, dataset, split, sample seed,
	// sample size, shard and, in Config, every model-side setting that changes results
	// (runtime, inference options, EOT). The runner sets Kind and replaces Config by a
	// hash of it and of the run's own settings.
	Header shard.Header
	// Model is a display name for tables.
	Model   string
	Attacks []Entry
	// Sweep holds bounded attacks at larger budgets, re-run on the sample-list positions
	// below SweepN (every sample there that is classified correctly, whatever earlier
	// attacks did) for the accuracy-vs-eps self-check.
	Sweep  []Entry
	SweepN int
	// Seed seeds every attack's randomness and keyed verdict noise.
	Seed uint64
	// Batch is the number of samples between two state saves (and per verdict call).
	Batch int
	// AttackBatch is the number of samples per attack call. 1 makes results independent
	// of how the sample list is sharded (each sample gets its own random stream);
	// larger batches run faster on batched models but tie a sample's random stream to
	// the samples next to it.
	AttackBatch int
	// AttackAll runs every attack on every correctly classified sample, not only on
	// those still robust in its norm: per-attack columns are then each attack's own
	// accuracy, at a higher cost. The "All" columns are the same either way.
	AttackAll bool
	// Keep stores the clean image and each adversarial example of the positions below
	// Keep in the results, for figures.
	Keep int
	// State is the state file ("" for none): saved after every batch, resumed from.
	State string
	// After continues a complete earlier run of the same model on the same samples, or
	// on the first of them (a smaller sample size: the seeded sample is prefix-stable),
	// whose records must cover this shard's: its records are kept, and Attacks run after
	// its attacks, each only on the samples still robust in its norm (or on all, with
	// AttackAll), as if one run had listed them all. The result is that run: the same
	// settings, configuration hash and records, so attacks can be added to a costly run
	// (E-ABS) without repeating it, also to a part of it. Seed, Batch, AttackBatch, AttackAll, Keep, SweepN
	// and the caller's model settings must equal the earlier run's; its sweep is kept,
	// and Sweep may only add norms it did not sweep (the whole run's sweep of a norm
	// uses the norm's first bounded attack).
	After *Result
	// Retries attacks a sample again, with fresh random streams, when the attacker's
	// own inference believed its candidate adversarial and the verdict overturned it,
	// up to Retries times per attack. On a randomised model (E-ABS) that is how an
	// attack that stops early loses a sample it nearly had: PGD skips its remaining
	// restarts once it believes it won, and a later attack may break the sample at
	// once. Each retry is one more
	// candidate judged by a verdict with fresh noise, like one more attack in "All";
	// its queries add to the record's. 0 (the default) keeps earlier runs' results
	// and configuration hashes; it is recorded per attack (AttackSpec.Retries).
	Retries int
	// Reuse grows a run to more samples: a complete earlier run of the same model,
	// data, sample seed and configuration (the same Header.Config hash) on another
	// sample size. data.SampleIndices draws a prefix-stable sample, so its samples are
	// this run's first ones, and with AttackBatch 1 a sample's record depends only on
	// its position, its image and the configuration (keyed verdicts, a random stream
	// per sample): its records are copied and only the samples it did not cover are
	// attacked. The result equals a run without Reuse. Not with After.
	Reuse *Result
}

// AttackSpec is how an attack appears in the results.
type AttackSpec struct {
	Name    string      `json:"name"`
	Norm    attack.Norm `json:"norm"`
	Eps     float64     `json:"eps"`
	Bounded bool        `json:"bounded"`
	Options string      `json:"options"`
	// Retries is Config.Retries of the run that made the attack's records.
	Retries int `json:"retries,omitempty"`
}

// Settings are the run's own settings as recorded in the results.
type Settings struct {
	Attacks     []AttackSpec `json:"attacks"`
	Sweep       []AttackSpec `json:"sweep,omitempty"`
	SweepN      int          `json:"sweep_n"`
	Seed        uint64       `json:"seed"`
	Batch       int          `json:"batch"`
	AttackBatch int          `json:"attack_batch"`
	AttackAll   bool         `json:"attack_all"`
	Keep        int          `json:"keep"`
	// Model is the caller's description of the model-side settings.
	Model string `json:"model_config"`
}

// Record is one sample's results.
type Record struct {
	// Pos is the sample's position in the sample list, Index the image's index in the
	// split.
	Pos   int `json:"pos"`
	Index int `json:"index"`
	Label int `json:"label"`
	// CleanPred is the verdict on the clean image.
	CleanPred    int  `json:"clean_pred"`
	CleanCorrect bool `json:"clean_correct"`
	// Randomised is set when a second verdict on the clean image gave other logits.
	Randomised bool           `json:"randomised"`
	Attacks    []AttackRecord `json:"attacks"`
	Sweep      []AttackRecord `json:"sweep,omitempty"`
	Clean      []float32      `json:"clean,omitempty"`
}

// Position implements shard.Positioned.
func (r Record) Position() int { return r.Pos }

// AttackRecord is one attack's result on one sample.
type AttackRecord struct {
	Name string `json:"name"`
	// Ran is false when the attack was not run: the clean image is misclassified, or an
	// earlier attack of the same norm already broke the sample.
	Ran bool `json:"ran"`
	// Robust: the sample is classified correctly and this attack (with every earlier
	// one of its norm unless the run attacks all) found no verified adversarial example
	// within eps.
	Robust bool `json:"robust"`
	// Dist (the attack's norm), L2 and Linf measure the attack's candidate when the
	// verdict misclassifies it (at any distance); absent otherwise.
	Dist *float64 `json:"dist,omitempty"`
	L2   *float64 `json:"l2,omitempty"`
	Linf *float64 `json:"linf,omitempty"`
	// Pred is the verdict on the candidate (-1 when the attack did not run).
	Pred    int `json:"pred"`
	Queries int `json:"queries"`
	// GradRows, GradZero and GradNaN count the gradient rows the attack received while
	// attacking this sample (with AttackBatch > 1, its call's rows are all counted at
	// its first sample), and those all zero or with a NaN/Inf.
	GradRows int `json:"grad_rows"`
	GradZero int `json:"grad_zero"`
	GradNaN  int `json:"grad_nan"`
	// Retries is the number of times the attack ran again after the verdict
	// overturned its candidate (Config.Retries); Queries and the gradient counts
	// include theirs, and the record's candidate is the last attempt's.
	Retries int `json:"retries,omitempty"`
	// Overturned counts the attempts whose candidate the attacker's own inference
	// called adversarial and the verdict did not: how often a randomised model's noise
	// misled the attacker (the case Config.Retries answers).
	Overturned int `json:"overturned,omitempty"`
	// Rejected says why the candidate was not judged (outside [0,1], NaN, beyond a
	// bounded attack's budget): an attack bug, counted in the checks.
	Rejected string `json:"rejected,omitempty"`
	// Adv is the adversarial example (positions below Config.Keep, when one was found).
	Adv []float32 `json:"adv,omitempty"`
	// Eps is the budget (sweep records only; attack records' is in the settings).
	Eps float64 `json:"eps,omitempty"`
}

// Result is an attack results file: a whole run or one shard of it.
type Result struct {
	Header   shard.Header `json:"header"`
	Model    string       `json:"model"`
	Settings Settings     `json:"settings"`
	// Shape is C, H, W of the images; Classes the number of classes.
	Shape   [3]int   `json:"shape"`
	Classes int      `json:"classes"`
	Records []Record `json:"records"`
	// Summary is derived from Records (Summarize) when the file is written.
	Summary *Summary `json:"summary,omitempty"`
	// Provenance is the writer's (command line, build, time); merged files list their
	// parts' in Parts.
	Provenance any      `json:"provenance,omitempty"`
	Parts      []string `json:"parts,omitempty"`
	// Complete is false in a state file of an unfinished run.
	Complete bool `json:"complete"`
}

// Norms returns the norms of the attacks, in first-use order.
func (r *Result) Norms() []attack.Norm {
	var out []attack.Norm
	for _, a := range r.Settings.Attacks {
		if !slices.Contains(out, a.Norm) {
			out = append(out, a.Norm)
		}
	}
	return out
}

// budget tolerance: attacks project in float32, so a candidate on the sphere of
// radius eps measures up to a few float32 ulps beyond it in float64.
const epsTol = 1e-5

func within(d, eps float64) bool { return d <= eps*(1+epsTol)+1e-7 }

func describe(a attack.Attack) string {
	if d, ok := a.(interface{ Describe() string }); ok {
		return d.Describe()
	}
	b, err := json.Marshal(a)
	if err != nil {
		return a.Name()
	}
	return string(b)
}

func specs(es []Entry, retries int) ([]AttackSpec, error) {
	out := make([]AttackSpec, len(es))
	seen := map[string]bool{}
	for i, e := range es {
		if e.Attack == nil {
			return nil, fmt.Errorf("suite: attack %d is nil", i)
		}
		if !(e.Eps > 0) || math.IsInf(e.Eps, 0) {
			return nil, fmt.Errorf("suite: attack %s: eps %g must be positive and finite", e.Attack.Name(), e.Eps)
		}
		if n := e.Attack.Norm(); n != attack.L2 && n != attack.Linf {
			return nil, fmt.Errorf("suite: attack %s: unknown norm %q", e.Attack.Name(), n)
		}
		out[i] = AttackSpec{Name: e.Attack.Name(), Norm: e.Attack.Norm(), Eps: e.Eps, Bounded: e.Bounded, Options: describe(e.Attack), Retries: retries}
		key := fmt.Sprintf("%s@%g", out[i].Name, e.Eps)
		if seen[key] {
			return nil, fmt.Errorf("suite: attack %s listed twice", out[i].Name)
		}
		seen[key] = true
	}
	return out, nil
}

// configHash is the Header.Config of a run: the caller's model settings and the run's.
func configHash(s Settings) string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// mix is SplitMix64's finaliser over a sequence of words: a seed per (run, purpose,
// position) that does not collide for nearby inputs.
func mix(words ...uint64) uint64 {
	var h uint64 = 0x9E3779B97F4A7C15
	for _, w := range words {
		h ^= w + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2)
		z := h
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		h = z ^ (z >> 31)
	}
	return h
}

// Purposes of a verdict or random stream, mixed into its seed.
const (
	purposeClean  = 1
	purposeClean2 = 2
	purposeAttack = 100
	purposeSweep  = 10000
)

// Progress reports samples done out of the run's (or shard's) total. Run calls it
// first with the samples resumed from the state (or reused), before any new work.
type Progress func(done, total int)

// ErrInterrupted wraps the context's error when a run stops early with its state
// saved.
var ErrInterrupted = errors.New("interrupted")

// Run attacks the sample list's part cfg.Header.Shard of set with model (what the
// attacks query) and judges every candidate with verdict. It resumes from cfg.State
// when that holds a compatible unfinished run, saves it after every batch and, when
// ctx is cancelled, returns an error wrapping ErrInterrupted with the state saved.
func Run(ctx context.Context, cfg Config, set *data.Set, model, verdict attack.Classifier, tick Progress) (*Result, error) {
	r, pos, err := prepare(cfg, set, model, verdict)
	if err != nil {
		return nil, err
	}
	if cfg.State != "" {
		if prev, err := readState(cfg.State, r.Header); err != nil {
			return nil, err
		} else if prev != nil {
			if err := resumable(prev, pos, cfg.Batch); err != nil {
				return nil, fmt.Errorf("suite: state %s: %w", cfg.State, err)
			}
			r.Records = prev.Records
		}
	}
	if cfg.Reuse != nil && len(r.Records) == 0 {
		if r.Records, err = reuse(cfg.Reuse, r, pos); err != nil {
			return nil, err
		}
	}
	run := &runner{cfg: cfg, set: set, model: model, verdict: verdict, res: r}
	size := set.ImageSize()
	if tick != nil {
		tick(len(r.Records), len(pos))
	}
	// Batches sit on the grid of multiples of Batch in the shard's list, also after
	// reused records that end between two (resumable relies on it).
	for lo, hi := len(r.Records), 0; lo < len(pos); lo = hi {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("suite: %w after %d of %d samples (%v); rerun to resume from %s", ErrInterrupted, lo, len(pos), err, stateName(cfg.State))
		}
		hi = min((lo/cfg.Batch+1)*cfg.Batch, len(pos))
		recs, err := run.batch(ctx, pos[lo:hi], size)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("suite: %w after %d of %d samples (%v); rerun to resume from %s", ErrInterrupted, lo, len(pos), ctx.Err(), stateName(cfg.State))
			}
			return nil, err
		}
		r.Records = append(r.Records, recs...)
		if cfg.State != "" {
			if err := writeResult(cfg.State, r); err != nil {
				return nil, fmt.Errorf("suite: saving state: %w", err)
			}
		}
		if tick != nil {
			tick(hi, len(pos))
		}
	}
	r.Complete = true
	r.Summary = Summarize(r)
	return r, nil
}

func stateName(s string) string {
	if s == "" {
		return "(no state file: the run starts over)"
	}
	return s
}

// sample is one sample-list entry of this shard.
type sample struct{ pos, index int }

func prepare(cfg Config, set *data.Set, model, verdict attack.Classifier) (*Result, []sample, error) {
	h := cfg.Header
	switch {
	case set == nil || set.N == 0:
		return nil, nil, fmt.Errorf("suite: empty data set")
	case model == nil || verdict == nil:
		return nil, nil, fmt.Errorf("suite: no model or no verdict classifier")
	case len(cfg.Attacks) == 0:
		return nil, nil, fmt.Errorf("suite: no attacks")
	case cfg.Batch < 1:
		return nil, nil, fmt.Errorf("suite: batch %d must be positive", cfg.Batch)
	case cfg.AttackBatch < 1:
		return nil, nil, fmt.Errorf("suite: attack batch %d must be positive", cfg.AttackBatch)
	case h.SampleN < 1:
		return nil, nil, fmt.Errorf("suite: sample size %d: want at least 1", h.SampleN)
	case h.SampleN > set.N:
		return nil, nil, fmt.Errorf("suite: sample size %d exceeds the %d images of %s %s", h.SampleN, set.N, h.Dataset, h.Split)
	case cfg.SweepN < 0 || cfg.Keep < 0:
		return nil, nil, fmt.Errorf("suite: sweep samples %d and kept images %d must not be negative", cfg.SweepN, cfg.Keep)
	case verdict.Classes() != model.Classes() || verdict.Classes() < 2:
		return nil, nil, fmt.Errorf("suite: the verdict has %d classes, the attacked model %d", verdict.Classes(), model.Classes())
	}
	if err := h.Shard.Valid(); err != nil {
		return nil, nil, err
	}
	if cfg.Retries < 0 {
		return nil, nil, fmt.Errorf("suite: %d verdict retries: want 0 or more", cfg.Retries)
	}
	as, err := specs(cfg.Attacks, cfg.Retries)
	if err != nil {
		return nil, nil, err
	}
	ss, err := specs(cfg.Sweep, cfg.Retries)
	if err != nil {
		return nil, nil, err
	}
	st := Settings{Attacks: as, Sweep: ss, SweepN: cfg.SweepN, Seed: cfg.Seed, Batch: cfg.Batch, AttackBatch: cfg.AttackBatch,
		AttackAll: cfg.AttackAll, Keep: cfg.Keep, Model: h.Config}
	if cfg.After != nil && cfg.Reuse != nil {
		return nil, nil, fmt.Errorf("suite: a run either continues another (After) or grows one (Reuse), not both")
	}
	if cfg.After != nil {
		if st, err = after(cfg.After, h, st); err != nil {
			return nil, nil, err
		}
	}
	h.Kind = Kind
	h.Config = configHash(st)
	idx := data.SampleIndices(set.N, h.SampleN, h.SampleSeed)
	var pos []sample
	for _, p := range h.Shard.Positions(len(idx)) {
		pos = append(pos, sample{p, idx[p]})
	}
	if len(pos) == 0 {
		return nil, nil, fmt.Errorf("suite: shard %s of %d samples is empty; use at most %d shards", h.Shard, h.SampleN, h.SampleN)
	}
	if cfg.After != nil {
		have := map[int]int{}
		for _, rec := range cfg.After.Records {
			have[rec.Pos] = rec.Index
		}
		for _, p := range pos {
			if idx, ok := have[p.pos]; !ok || idx != p.index {
				return nil, nil, fmt.Errorf("suite: the run to continue has no record of sample %d (image %d): continue a complete, merged run", p.pos, p.index)
			}
		}
	}
	return &Result{Header: h, Model: cfg.Model, Settings: st, Shape: [3]int{set.C, set.H, set.W}, Classes: verdict.Classes()}, pos, nil
}

// sameRun checks that prev, the run to continue or reuse (what), is a complete attack
// run of the model, data, sample seed and run settings of header h and settings st,
// naming the first difference.
func sameRun(what string, prev *Result, h shard.Header, st Settings) error {
	ph, ps := prev.Header, prev.Settings
	if !prev.Complete {
		return fmt.Errorf("suite: the run to %s is not complete (a state file or an unfinished shard?)", what)
	}
	if ph.Kind != Kind {
		return fmt.Errorf("suite: the run to %s is a %q result, not an attack result", what, ph.Kind)
	}
	for _, d := range []struct {
		name string
		a, b any
	}{
		{"model", ph.ModelSHA256, h.ModelSHA256}, {"data", ph.DataFingerprint, h.DataFingerprint},
		{"dataset", ph.Dataset, h.Dataset}, {"split", ph.Split, h.Split}, {"sample seed", ph.SampleSeed, h.SampleSeed},
		{"model settings", ps.Model, st.Model}, {"seed", ps.Seed, st.Seed}, {"batch", ps.Batch, st.Batch},
		{"attack batch", ps.AttackBatch, st.AttackBatch}, {"attack-all", ps.AttackAll, st.AttackAll},
		{"kept images", ps.Keep, st.Keep}, {"sweep samples", ps.SweepN, st.SweepN},
	} {
		if d.a != d.b {
			return fmt.Errorf("suite: the run to %s differs in %s: %v there, %v here", what, d.name, d.a, d.b)
		}
	}
	return nil
}

// after checks that prev can be continued by a run with header h and settings st
// (which hold only the new attacks) and returns the settings of the combined run.
func after(prev *Result, h shard.Header, st Settings) (Settings, error) {
	ph := prev.Header
	if err := sameRun("continue", prev, h, st); err != nil {
		return st, err
	}
	ps := prev.Settings
	if h.SampleN > ph.SampleN {
		return st, fmt.Errorf("suite: the run to continue has %d samples, fewer than this run's %d (grow it first with Reuse)", ph.SampleN, h.SampleN)
	}
	if h.SampleN < ph.SampleN && st.AttackBatch != 1 {
		return st, fmt.Errorf("suite: continuing the first %d of %d samples needs an attack batch of 1", h.SampleN, ph.SampleN)
	}
	swept := map[attack.Norm]bool{}
	for _, a := range ps.Sweep {
		swept[a.Norm] = true
	}
	for _, a := range st.Sweep {
		if swept[a.Norm] {
			return st, fmt.Errorf("suite: the run to continue has its %s sweep already; sweep only norms it did not", a.Norm)
		}
	}
	seen := map[string]bool{}
	for _, a := range ps.Attacks {
		seen[fmt.Sprintf("%s@%g", a.Name, a.Eps)] = true
	}
	for _, a := range st.Attacks {
		if seen[fmt.Sprintf("%s@%g", a.Name, a.Eps)] {
			return st, fmt.Errorf("suite: %s at %g already ran in the run to continue", a.Name, a.Eps)
		}
	}
	st.Attacks = append(slices.Clone(ps.Attacks), st.Attacks...)
	st.Sweep = append(slices.Clone(ps.Sweep), st.Sweep...)
	return st, nil
}

// reuse returns the records prev (Config.Reuse) holds of the first samples of this
// shard's list pos, after checking that prev is a complete run that r's run would
// repeat on them.
func reuse(prev *Result, r *Result, pos []sample) ([]Record, error) {
	ph, h := prev.Header, r.Header
	switch {
	case ph.Shard.Count > 1:
		return nil, fmt.Errorf("suite: the run to reuse is shard %s; merge its parts first (eabs report --merge)", ph.Shard)
	case r.Settings.AttackBatch != 1:
		return nil, fmt.Errorf("suite: reusing a run needs an attack batch of 1 (with %d a sample's random stream depends on the samples beside it)", r.Settings.AttackBatch)
	}
	if err := sameRun("reuse", prev, h, r.Settings); err != nil {
		return nil, err
	}
	ps, st := prev.Settings, r.Settings
	for _, d := range []struct {
		name string
		a, b any
	}{
		{"attacks", fmt.Sprint(ps.Attacks), fmt.Sprint(st.Attacks)}, {"sweep", fmt.Sprint(ps.Sweep), fmt.Sprint(st.Sweep)},
		{"configuration", ph.Config, h.Config},
	} {
		if d.a != d.b {
			return nil, fmt.Errorf("suite: the run to reuse differs in %s: %v there, %v here", d.name, d.a, d.b)
		}
	}
	byPos := map[int]*Record{}
	for i := range prev.Records {
		byPos[prev.Records[i].Pos] = &prev.Records[i]
	}
	var out []Record
	for _, p := range pos {
		if p.pos >= ph.SampleN {
			break
		}
		old, ok := byPos[p.pos]
		switch {
		case !ok:
			return nil, fmt.Errorf("suite: the run to reuse has no record of sample %d; reuse a complete, merged run", p.pos)
		case old.Index != p.index:
			return nil, fmt.Errorf("suite: the run to reuse has image %d at sample %d, this run image %d", old.Index, p.pos, p.index)
		}
		rec := *old
		rec.Attacks, rec.Sweep = slices.Clone(old.Attacks), slices.Clone(old.Sweep)
		out = append(out, rec)
	}
	return out, nil
}

// readState returns the unfinished run saved at path (nil when there is none) after
// checking that it is the run h describes.
func readState(path string, h shard.Header) (*Result, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var prev Result
	if err := json.Unmarshal(b, &prev); err != nil || prev.Header.Kind != Kind {
		return nil, fmt.Errorf("eval: %s is not the state of an attack run (%v): give another --state", path, err)
	}
	if prev.Complete {
		return nil, fmt.Errorf("eval: %s is a finished results file, not a run's state: give another --state (--after or --reuse build on a finished run)", path)
	}
	if err := h.Compatible(prev.Header); err != nil {
		return nil, fmt.Errorf("suite: state %s is from another run: %w (use another --state or delete it)", path, err)
	}
	if prev.Header.Shard != h.Shard {
		return nil, fmt.Errorf("suite: state %s is shard %s, this run is shard %s", path, prev.Header.Shard, h.Shard)
	}
	return &prev, nil
}

// resumable checks that a saved run holds whole batches of exactly this shard's first
// samples.
func resumable(prev *Result, pos []sample, batch int) error {
	n := len(prev.Records)
	if n > len(pos) || (n%batch != 0 && n != len(pos)) {
		return fmt.Errorf("holds %d records, not whole batches of %d of this shard's %d samples", n, batch, len(pos))
	}
	for i, r := range prev.Records {
		if r.Pos != pos[i].pos || r.Index != pos[i].index {
			return fmt.Errorf("record %d is sample %d (image %d), want sample %d (image %d)", i, r.Pos, r.Index, pos[i].pos, pos[i].index)
		}
	}
	return nil
}

// WriteFile writes r (its summary refreshed) to path atomically.
func WriteFile(path string, r *Result) error {
	if r.Complete {
		r.Summary = Summarize(r)
	}
	return writeResult(path, r)
}

func writeResult(path string, r any) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// ReadFile reads an attack results file.
func ReadFile(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeResult(path, b)
}

func decodeResult(name string, b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.Header.Kind != Kind {
		return nil, fmt.Errorf("%s: a %q result, not an attack result", name, r.Header.Kind)
	}
	if len(r.Settings.Attacks) == 0 {
		return nil, fmt.Errorf("%s: no attacks in the settings", name)
	}
	for _, rec := range r.Records {
		if len(rec.Attacks) != len(r.Settings.Attacks) {
			return nil, fmt.Errorf("%s: sample %d has %d attack records for %d attacks", name, rec.Pos, len(rec.Attacks), len(r.Settings.Attacks))
		}
		for i, a := range rec.Attacks {
			if a.Name != r.Settings.Attacks[i].Name {
				return nil, fmt.Errorf("%s: sample %d: attack record %d is %q, want %q", name, rec.Pos, i, a.Name, r.Settings.Attacks[i].Name)
			}
		}
	}
	return &r, nil
}

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
		var next []int
		for n, j := range at {
			i, rec, prev := idx[n], try[n], out[j]
			rec.Retries, rec.Overturned = t, prev.Overturned
			rec.Queries += prev.Queries
			rec.GradRows, rec.GradZero, rec.GradNaN = rec.GradRows+prev.GradRows, rec.GradZero+prev.GradZero, rec.GradNaN+prev.GradNaN
			r.verdictOn(e, &rec, adv[n*size:(n+1)*size], x[i*size:(i+1)*size], pred[n], recs[i])
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
