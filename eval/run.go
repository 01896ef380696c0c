package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/shard"
)

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
