package ref

import "github.com/eabs/eabs/runtime"

// Engine is this package's name for runtime.Open.
const Engine = "ref"

func init() {
	runtime.Register(Engine, runtime.Engine{
		Model: func(src *runtime.Source, _ runtime.Options) (runtime.Model, error) { return New(src.Weights) },
		Classifier: func(src *runtime.Source, opt runtime.Options) (runtime.Classifier, error) {
			if src.ONNX != "" {
				// A plain ONNX classifier: onnx/grad's float64 evaluator.
				return NewONNXClassifier(src, opt.Gradients)
			}
			return NewClassifier(src.Weights)
		},
	})
}
