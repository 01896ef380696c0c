package runtime

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Options are the settings Open passes to an engine.
type Options struct {
	// Threads is ONNX Runtime's intra-op threads per session (0: 1).
	Threads int
	// Workers is how many calls at once an ONNX Runtime classifier accepts (0: 1).
	Workers int
	// Library is libonnxruntime.so ("": $EABS_ORT_LIB, then third_party/onnxruntime).
	Library string
	// Meta is written into the metadata of a temporary export (the inference settings
	// a model runs with, say).
	Meta map[string]string
	// Gradients asks for a classifier that is also differentiable (attack.Differentiable:
	// LogitsVJP); for a plain ONNX classifier that means building its gradient graph
	// (Source.GradientGraph), which fails on operators it cannot differentiate, so it
	// is only done when an attack needs it.
	Gradients bool
}

// Engine opens models on one execution engine; either function may be nil when the
// engine cannot run that kind.
type Engine struct {
	Model      func(src *Source, opt Options) (Model, error)
	Classifier func(src *Source, opt Options) (Classifier, error)
}

var engines = struct {
	sync.Mutex
	m map[string]Engine
}{m: map[string]Engine{}}

// Register makes an engine available to Open under name; the engine packages
// (runtime/ref, runtime/ort, runtime/onnxgo) register themselves when imported.
func Register(name string, e Engine) {
	engines.Lock()
	defer engines.Unlock()
	if _, dup := engines.m[name]; dup {
		panic("runtime: engine " + name + " registered twice")
	}
	engines.m[name] = e
}

// Engines lists the registered engine names, sorted.
func Engines() []string {
	engines.Lock()
	defer engines.Unlock()
	var out []string
	for n := range engines.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func engine(name string) (Engine, error) {
	engines.Lock()
	e, ok := engines.m[name]
	engines.Unlock()
	if !ok {
		return Engine{}, fmt.Errorf("unknown runtime %q (want one of: %s)", name, strings.Join(Engines(), ", "))
	}
	return e, nil
}

// Open runs a generative model (E-ABS, ABS, an ablation) on the named engine.
func Open(name string, src *Source, opt Options) (Model, error) {
	e, err := engine(name)
	if err != nil {
		return nil, err
	}
	if err := src.NeedWeights("runtime " + name); err != nil {
		return nil, err
	}
	if e.Model == nil {
		return nil, fmt.Errorf("runtime %s does not run generative models", name)
	}
	return e.Model(src, opt)
}

// OpenClassifier runs a classifier (a CNN, or a plain ONNX classifier) on the named
// engine.
func OpenClassifier(name string, src *Source, opt Options) (Classifier, error) {
	e, err := engine(name)
	if err != nil {
		return nil, err
	}
	if e.Classifier == nil {
		return nil, fmt.Errorf("runtime %s does not run classifiers", name)
	}
	return e.Classifier(src, opt)
}
