package ort

import (
	"path/filepath"

	"github.com/eabs/eabs/internal/cleanup"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
)

// Engine is this package's name for runtime.Open.
const Engine = "ort"

func init() {
	runtime.Register(Engine, runtime.Engine{Model: openGenerative, Classifier: openONNXClassifier})
}

// exported returns a folder holding src's ONNX export: its own verified export folder,
// or a temporary export of its weights that remove deletes (also on a signal).
func exported(src *runtime.Source, meta map[string]string) (dir string, remove func(), err error) {
	if src.ExportDir != "" {
		return src.ExportDir, func() {}, nil
	}
	dir, remove, err = cleanup.TempDir("eabs-export-*")
	if err != nil {
		return "", nil, err
	}
	if _, err := onnx.Export(src.Weights, dir, onnx.ExportOptions{Dataset: src.Dataset(), Meta: meta}); err != nil {
		remove()
		return "", nil, err
	}
	return dir, remove, nil
}

// initFrom loads the library the options name (LibraryPath: also a missing file named
// by $EABS_ORT_LIB is an error, even when a library is loaded already).
func initFrom(opt runtime.Options) error {
	lib, err := LibraryPath(opt.Library)
	if err != nil {
		return err
	}
	return Init(lib)
}

func openGenerative(src *runtime.Source, opt runtime.Options) (runtime.Model, error) {
	if err := initFrom(opt); err != nil {
		return nil, err
	}
	dir, remove, err := exported(src, opt.Meta)
	if err != nil {
		return nil, err
	}
	m, err := OpenModel(dir, Options{IntraOpThreads: max(opt.Threads, 1)})
	if err != nil {
		remove()
		return nil, err
	}
	return &tempModel{m, remove}, nil
}

func openONNXClassifier(src *runtime.Source, opt runtime.Options) (runtime.Classifier, error) {
	if err := initFrom(opt); err != nil {
		return nil, err
	}
	co := ClassifierOptions{Options: Options{IntraOpThreads: max(opt.Threads, 1)}, Workers: opt.Workers}
	if src.ONNX != "" {
		return openPlain(src, co, opt.Gradients)
	}
	if src.Weights.Spec.Kind != models.CNN {
		return nil, &Error{Op: "open", Path: src.Arg, Msg: "a " + src.Weights.Spec.Name() + " model is not a classifier (open it with runtime.Open)"}
	}
	dir, remove, err := exported(src, opt.Meta)
	if err != nil {
		return nil, err
	}
	c, err := OpenClassifier(filepath.Join(dir, onnx.RoleCNN+".onnx"), co)
	if err != nil {
		remove()
		return nil, err
	}
	return &tempClassifier{c, remove}, nil
}

// openPlain opens a plain ONNX classifier as its options adapt it (runtime.Source.Adapted),
// with its gradient graph when gradients are asked for.
func openPlain(src *runtime.Source, co ClassifierOptions, gradients bool) (runtime.Classifier, error) {
	m, err := src.Adapted()
	if err != nil {
		return nil, err
	}
	c, err := OpenClassifierData(src.ONNX, m.ONNX, co)
	if err != nil {
		return nil, err
	}
	if !gradients {
		return c, nil
	}
	r, err := src.GradientGraph()
	if err == nil {
		var g *GradClassifier
		if g, err = NewGradClassifier(c, r, co.Options); err == nil {
			return g, nil
		}
	}
	c.Close()
	return nil, err
}

// tempModel and tempClassifier close the session, then remove the temporary export.
type tempModel struct {
	*Model
	remove func()
}

func (m *tempModel) Close() error {
	err := m.Model.Close()
	m.remove()
	return err
}

type tempClassifier struct {
	*Classifier
	remove func()
}

func (c *tempClassifier) Close() error {
	err := c.Classifier.Close()
	c.remove()
	return err
}
