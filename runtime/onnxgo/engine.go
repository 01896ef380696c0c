package onnxgo

import "github.com/eabs/eabs/runtime"

func init() {
	runtime.Register(Engine, runtime.Engine{
		Model: func(src *runtime.Source, _ runtime.Options) (runtime.Model, error) { return New(src.Weights) },
		Classifier: func(src *runtime.Source, _ runtime.Options) (runtime.Classifier, error) {
			if src.ONNX != "" {
				return NewPlainClassifier(src)
			}
			return NewClassifier(src.Weights)
		},
	})
}
