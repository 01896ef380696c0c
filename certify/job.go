package certify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/eabs/eabs/adversary"
	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/eval"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/shard"
)

// Job is one certification run of the Appendix-A bound: a generative model on a sample
// (or its shard), on an engine, with Options; Validate, when set, attacks every
// certificate inside its radius.
type Job struct {
	Model    *runtime.Source
	Sample   *eval.Sample
	Engine   string
	Runtime  runtime.Options
	Options  Options
	Batch    int
	Validate *ValidationConfig
	// Audit, when set, re-searches d_k of every certified image independently
	// (AuditDistances) and reports where it finds a smaller one.
	Audit *AuditOptions
	// State, when set, is saved after every restart of the certification and resumed
	// from: a killed run loses at most one restart's pass (and a full disk shows after
	// the first one, not at the end).
	State string
	// Progress reports each stage ("start bank", "certify", "validate").
	Progress func(stage string, done, total int)
}

func (j Job) tick(stage string) func(done, total int) {
	return func(d, n int) {
		if j.Progress != nil {
			j.Progress(stage, d, n)
		}
	}
}

// Run certifies the job's images.
func Run(ctx context.Context, j Job) (*Report, *data.Set, error) {
	src := j.Model
	if err := src.NeedWeights("the Appendix-A bound"); err != nil {
		return nil, nil, err
	}
	w := src.Weights
	if w.Spec.Kind != models.Generative {
		return nil, nil, fmt.Errorf("certify: %s is a %s; the Appendix-A bound needs a generative model (certify a classifier with --smoothing SIGMA)", src.Arg, w.Spec.Name())
	}
	if j.Validate != nil {
		if _, err := j.Validate.attacks(); err != nil {
			return nil, nil, err // before hours of certification
		}
	}
	label := j.Options.Label()
	config := fmt.Sprintf("%s; starts %d lr %g bank-seed %d loss-at %s; runtime %s", label, j.Options.Infer.Starts, j.Options.Infer.LR,
		j.Options.Infer.BankSeed, j.Options.Infer.LossAt, j.Engine)
	if v := j.Validate; v != nil {
		config += fmt.Sprintf("; validate %s seed %d first %d", v.Text(), v.Seed, v.N)
	}
	set, pos, idx := j.Sample.Part()
	model, dist, err := openPair(j.Engine, src, j.Runtime)
	if err != nil {
		return nil, nil, err
	}
	defer model.Close()
	defer dist.Close()
	c, err := NewWith(model, dist, j.Options, j.tick("start bank"))
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	sha, _ := src.SHA256()
	header := j.Sample.Header(Kind, sha, config)
	var from *Pass
	var save func(*Pass) error
	if j.State != "" {
		if from, err = readState(j.State, header); err != nil {
			return nil, nil, err
		}
		save = func(p *Pass) error { return atomicfile.WriteJSON(j.State, state{Header: header, Pass: *p}) }
	}
	start := time.Now()
	results, err := c.CertifyFrom(set.Images, set.Labels, j.Batch, from, save, j.tick("certify"))
	if err != nil {
		return nil, nil, err
	}
	for i := range results {
		results[i].Pos, results[i].Index = pos[i], idx[i]
	}
	seconds := time.Since(start).Seconds()
	if j.Audit != nil {
		if err := AuditDistances(ctx, dist, c.Options(), results, set.Images, *j.Audit, j.tick("audit")); err != nil {
			return nil, nil, err
		}
		config += "; audit " + j.Audit.Label()
	}
	if j.Validate != nil {
		if err := validate(ctx, j, c.Engine(), set, results); err != nil {
			return nil, nil, err
		}
	}
	rep := &Report{Header: header, Label: label, Model: src.Path, WeightsSHA: sha,
		Dataset: j.Sample.Dataset, Split: j.Sample.Split, Runtime: j.Engine, Options: c.Options(), Validation: j.Validate,
		Summary: Summarise(results, Levels), Seconds: seconds, PerImage: seconds / float64(set.N), Results: results}
	rep.Summary.Label = label
	return rep, set, nil
}

// openPair opens the model and the same decoders with beta = 0 (d_k is a distance, the
// prior does not enter it) on an engine.
func openPair(engine string, src *runtime.Source, opt runtime.Options) (model, dist runtime.Model, err error) {
	noPrior := src.Weights.Clone()
	noPrior.Spec.Beta = 0
	if model, err = runtime.Open(engine, src, opt); err != nil {
		return nil, nil, err
	}
	if dist, err = runtime.Open(engine, &runtime.Source{Arg: src.Arg + " (beta 0)", Path: src.Path, Weights: noPrior, Meta: src.Meta}, opt); err != nil {
		model.Close()
		return nil, nil, err
	}
	return model, dist, nil
}

// attacks builds the validation's attacks from the registry (attack.New), each with its
// budget capped at a certificate's eps* where the attack has one.
func (v *ValidationConfig) attacks() ([]Budgeted, error) {
	var out []Budgeted
	for _, name := range v.Attacks {
		norm, _, err := attack.Kind(name)
		if err != nil {
			return nil, fmt.Errorf("unknown attack %q in the validation (known: %s)", name, strings.Join(attack.Names(), ", "))
		}
		if norm != attack.L2 {
			return nil, fmt.Errorf("validation attack %q is an %s attack: the certificates are L2 radii", name, norm)
		}
		mk := func(eps float64) attack.Attack {
			a, _ := attack.New(name, attack.Settings{Eps: eps, Restarts: v.Restarts, KeepGoing: true})
			switch x := a.(type) {
			case attack.PGDAttack:
				x.Steps = v.Steps
				return x
			case attack.DDN:
				x.Steps = v.Steps
				return x
			}
			return a
		}
		if _, err := attack.New(name, attack.Settings{Eps: 1, Restarts: v.Restarts}); err != nil {
			return nil, err
		}
		out = append(out, Budgeted{Name: name, New: mk})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no validation attack given")
	}
	return out, nil
}

// validate attacks the certified images inside their radii on the exact and the
// deployed model, on v.Runtime (the start bank is the certifier's).
func validate(ctx context.Context, j Job, exact *infer.Engine, set *data.Set, rs []Result) error {
	v := j.Validate
	if v.Runtime == "" {
		v.Runtime = j.Engine
	}
	m := exact.Model()
	if v.Runtime != j.Engine {
		om, err := runtime.Open(v.Runtime, j.Model, j.Runtime)
		if err != nil {
			return err
		}
		defer om.Close()
		m = om
	}
	eo := j.Options.Infer
	eo.Exact = true
	ee, err := infer.NewEngineWithBank(m, eo, exact.Bank(), nil)
	if err != nil {
		return err
	}
	de, err := infer.NewEngineWithBank(m, DeployedOptions(eo), exact.Bank(), nil)
	if err != nil {
		return err
	}
	v.Targets = []string{"exact", "deployed"}
	attacks, err := v.attacks()
	if err != nil {
		return err
	}
	targets := func(r Result) ([]Target, error) {
		// Each certificate gets its own models, seeded from its image, so the
		// validation does not depend on the worker count.
		seed := rand.New(rand.NewPCG(v.Seed, uint64(r.Index))).Uint64()
		attacker := func(e *infer.Engine, eot int) *adversary.Adaptive {
			a := &adversary.Adaptive{Engine: e, EOT: eot, Seed: seed, Workers: 1}
			if v.Warm >= 0 {
				a.Warm = &adversary.WarmStart{Steps: v.Warm}
			}
			return a
		}
		return []Target{
			{Name: "exact", Model: &EngineClassifier{Engine: ee}, Attacked: attacker(ee, 1)},
			{Name: "deployed", Model: adversary.NewVerdict(de, v.VerdictEOT, seed^0x7E4D1C7, 1), Attacked: attacker(de, v.EOT)},
		}, nil
	}
	vr, vx := rs, set.Images
	if v.N > 0 {
		// The first N positions of the sample list (whatever shard holds them).
		var keep []int
		for i, r := range rs {
			if r.Pos < v.N {
				keep = append(keep, i)
			}
		}
		P := set.ImageSize()
		vr, vx = make([]Result, len(keep)), make([]float32, 0, len(keep)*P)
		for k, i := range keep {
			vr[k] = rs[i]
			vx = append(vx, set.Images[i*P:(i+1)*P]...)
		}
		defer func() {
			for k, i := range keep {
				rs[i].Validation = vr[k].Validation
			}
		}()
	}
	return Validate(ctx, vr, vx, targets, attacks, ValidateOptions{Workers: v.Workers, Seed: v.Seed}, j.tick("validate"))
}

// Revalidate validates the certificates of an earlier report of the same model (the
// first v.N of them, 0: all): the exact and deployed engines need one start bank, the
// report's first, not the certification's restarts.
func Revalidate(ctx context.Context, j Job, src *Report, root string) (*Report, *data.Set, error) {
	if sha, _ := j.Model.SHA256(); sha != src.WeightsSHA {
		return nil, nil, fmt.Errorf("the report certifies other weights (%s) than %s", src.WeightsSHA, j.Model.Arg)
	}
	if len(src.Results) == 0 {
		return nil, nil, fmt.Errorf("the report holds no certificates")
	}
	ds, err := data.LoadRoot(src.Dataset, root, data.Options{})
	if err != nil {
		return nil, nil, err
	}
	all, err := ds.Split(src.Split)
	if err != nil {
		return nil, nil, err
	}
	v := j.Validate
	var rs []Result
	var idx []int
	for _, r := range src.Results {
		if v.N <= 0 || r.Pos < v.N {
			if r.Index < 0 || r.Index >= all.N {
				return nil, nil, fmt.Errorf("image index %d outside the %s split", r.Index, src.Split)
			}
			rs, idx = append(rs, r), append(idx, r.Index)
		}
	}
	set := all.Subset(idx)
	keepN := v.N
	v.N = 0 // rs is already the selection
	defer func() { v.N = keepN }()
	opt := src.Options.Infer
	opt.Exact = true
	m, err := runtime.Open(j.Engine, j.Model, j.Runtime)
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	exact, err := infer.NewEngine(m, opt, j.tick("start bank"))
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	j.Options = src.Options
	if err := validate(ctx, j, exact, set, rs); err != nil {
		return nil, nil, err
	}
	s := Summarise(rs, Levels)
	s.Label = src.Label
	sec := time.Since(start).Seconds()
	out := *src
	out.Provenance, out.Model, out.Validation, out.Summary, out.Seconds, out.PerImage, out.Results = nil, j.Model.Path, v, s, sec, sec/float64(len(rs)), rs
	return &out, set, nil
}

// SmoothJob is a randomized-smoothing certification of a classifier.
type SmoothJob struct {
	Model     *runtime.Source
	Sample    *eval.Sample
	Engine    string
	Runtime   runtime.Options
	Smoothing Smoothing
	// Seed: image i's noise comes from (Seed, its index in the split), so a sharded
	// run draws the same noise as a whole one.
	Seed     uint64
	Progress func(done, total int)
}

// RunSmoothing certifies the job's images by randomized smoothing (Cohen et al. 2019).
func RunSmoothing(j SmoothJob) (*SmoothReport, *data.Set, error) {
	src := j.Model
	if src.Weights != nil && src.Weights.Spec.Kind != models.CNN {
		return nil, nil, fmt.Errorf("certify --smoothing: %s is a %s; smoothing certifies a classifier (a CNN or a plain ONNX classifier)", src.Arg, src.Weights.Spec.Name())
	}
	sm := j.Smoothing
	label := sm.Label()
	set, pos, idx := j.Sample.Part()
	if err := src.CheckData(j.Sample.Dataset, j.Sample.Set, 0); err != nil {
		return nil, nil, err
	}
	m, err := runtime.OpenClassifier(j.Engine, src, j.Runtime)
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	// A label of another class count would be read as another class (a 9-class
	// folder's labels under a 10-class model), certifying the wrong prediction.
	if k := m.Classes(); set.Classes != 0 && k != set.Classes {
		return nil, nil, fmt.Errorf("certify --smoothing: model %s has %d classes, data %s %d", src.Arg, k, j.Sample.Dataset, set.Classes)
	}
	start := time.Now()
	P := set.ImageSize()
	rs := make([]SmoothResult, set.N)
	for i := range rs {
		t0 := time.Now()
		r, err := sm.Certify(m, set.Images[i*P:(i+1)*P], set.Labels[i], rand.New(rand.NewPCG(j.Seed, uint64(idx[i]))))
		if err != nil {
			return nil, nil, fmt.Errorf("image %d: %w", idx[i], err)
		}
		r.Index, r.Pos, r.Seconds = idx[i], pos[i], time.Since(t0).Seconds()
		rs[i] = r
		if j.Progress != nil {
			j.Progress(i+1, set.N)
		}
	}
	seconds := time.Since(start).Seconds()
	sha, err := src.SHA256()
	if err != nil {
		return nil, nil, err
	}
	config := fmt.Sprintf("%s; seed %d; runtime %s", label, j.Seed, j.Engine)
	if a := src.ClassifierConfig(); a != "" {
		config += "; " + a
	}
	rep := &SmoothReport{Header: j.Sample.Header(SmoothKind, sha, config), Label: label, Model: src.Path, WeightsSHA: sha,
		Dataset: j.Sample.Dataset, Split: j.Sample.Split, Smoothing: sm, Seed: j.Seed, Summary: SummariseSmoothing(rs, Levels),
		Seconds: seconds, PerImage: seconds / float64(set.N), Results: rs}
	rep.Summary.Label = label
	return rep, set, nil
}

// state is a certification's saved pass, with the header of its run.
type state struct {
	Header shard.Header `json:"header"`
	Pass   Pass         `json:"pass"`
}

// readState returns the pass saved at path for the run h (nil when there is none); a
// state of another run, or a file that is no state, is an error naming it.
func readState(path string, h shard.Header) (*Pass, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Header.Kind != Kind || st.Pass.Results == nil {
		return nil, fmt.Errorf("certify: %s is not a certification's state (%v): give another --state", path, err)
	}
	if err := h.Compatible(st.Header); err != nil || st.Header.Shard != h.Shard {
		return nil, fmt.Errorf("certify: state %s is from another run (%v, shard %s): give another --state", path, err, st.Header.Shard)
	}
	return &st.Pass, nil
}
