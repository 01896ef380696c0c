package crosscheck

import (
	"fmt"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/onnxgo"
	"github.com/eabs/eabs/runtime/ort"
	"github.com/eabs/eabs/runtime/ref"
)

// Result is a cross-check of one model: every other engine against the reference
// graph, each a Report, and whether all passed.
type Result struct {
	Provenance any                  `json:"provenance,omitempty"`
	Model      string               `json:"model"`
	WeightsSHA string               `json:"weights_sha256"`
	Dataset    string               `json:"dataset"`
	Seed       uint64               `json:"seed"`
	Inference  *infer.Options       `json:"inference,omitempty"` // generative models only
	Tolerances map[string]Tolerance `json:"tolerances"`
	Runs       []*Report            `json:"runs"`
	// Adapt describes a plain ONNX classifier's options (layout, bounds, ...), when set.
	Adapt string `json:"adapt,omitempty"`
	// NotChecked names the engines (or "gradients") that could not run the model, with
	// why.
	NotChecked map[string]string `json:"not_checked,omitempty"`
	Pass       bool              `json:"pass"`
}

// Job is a cross-check: a model, the images, the inference settings and Options.
type Job struct {
	Model   *runtime.Source
	Set     *data.Set
	Dataset string
	Runtime runtime.Options
	Options Options
	// Progress reports each engine's stages (Options.Tick with the engine's name).
	Progress func(engine, stage string, done, total int)
}

// Check runs ONNX Runtime (on the files of the model's export folder when it was given
// one, else on a fresh export) and onnx-go against the reference graph: every tensor of
// a generative model, and its full inference on Options.FullImages images with ONNX
// Runtime; a classifier's logits and predictions. A plain ONNX classifier is checked
// as checkPlain says: its scores against onnx-go or the float64 evaluator, its input
// gradients against the evaluator.
func Check(job Job) (*Result, error) {
	src := job.Model
	sha, err := src.SHA256()
	if err != nil {
		return nil, err
	}
	r := &Result{Model: src.Path, WeightsSHA: sha, Dataset: job.Dataset, Seed: job.Options.Seed, Pass: true, NotChecked: map[string]string{}}
	if src.ONNX != "" {
		r.Adapt = src.ClassifierConfig()
		return checkPlain(job, r)
	}
	w := src.Weights
	engines := []string{ort.Engine, onnxgo.Engine}
	opt := job.Options
	tick := func(engine string) func(string, int, int) {
		return func(stage string, done, total int) {
			if job.Progress != nil {
				job.Progress(engine, stage, done, total)
			}
		}
	}
	if w.Spec.Kind == models.CNN {
		K := w.Spec.Arch.Classes
		r.Tolerances = ClassifierTolerances(K)
		refc, err := runtime.OpenClassifier(ref.Engine, src, job.Runtime)
		if err != nil {
			return nil, err
		}
		defer refc.Close()
		for _, name := range engines {
			c, err := runtime.OpenClassifier(name, src, job.Runtime)
			if err != nil {
				if name == onnxgo.Engine {
					r.NotChecked[name] = err.Error()
					continue
				}
				return nil, err
			}
			o := opt
			o.Tick = tick(name)
			rep, err := RunClassifier(refc, c, K, ref.Engine, name, job.Set, o)
			c.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			r.add(rep)
		}
		return r, nil
	}
	inf := opt.Infer
	r.Inference, r.Tolerances = &inf, DefaultTolerances(w.Spec.Arch.Latent)
	refm, err := runtime.Open(ref.Engine, src, job.Runtime)
	if err != nil {
		return nil, err
	}
	defer refm.Close()
	for _, name := range engines {
		m, err := runtime.Open(name, src, job.Runtime)
		if err != nil {
			if name == onnxgo.Engine {
				r.NotChecked[name] = err.Error()
				continue
			}
			return nil, err
		}
		o := opt
		o.Tick = tick(name)
		if name == onnxgo.Engine {
			o.FullImages = 0 // onnx-go runs no decoder: no full inference
		}
		rep, err := Run(refm, m, ref.Engine, name, job.Set, o)
		m.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r.add(rep)
	}
	return r, nil
}

func (r *Result) add(rep *Report) {
	r.Runs = append(r.Runs, rep)
	r.Pass = r.Pass && rep.Pass
}
