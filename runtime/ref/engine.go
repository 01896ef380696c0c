package ref

import "github.com/eabs/eabs/runtime"

// Engine is this package's name for runtime.Open.
const Engine = "ref"

func init() {
	runtime.Register(Engine, runtime.Engine{
		Model: func(src *runtime.Source, _ runtime.Options) (runtime.Model, error) { return New(src.Weights) },
		Classifier: func(src *runtime.Source, _ runtime.Options) (runtime.Classifier, error) {
			if err := src.NeedWeights("the reference graph"); err != nil {
				return nil, err
			}
			return NewClassifier(src.Weights)
		},
	})
}
