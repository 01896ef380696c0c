package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/onnx/adapt"
	"github.com/eabs/eabs/onnx/grad"
	"github.com/eabs/eabs/zoo"
)

// Source is a model as a command names it: an eabs model (its weights, and the export
// folder it came with, if any) or a plain ONNX classifier file.
type Source struct {
	// Arg is what was given: "zoo:NAME", a model or checkpoint file, a training run or
	// export folder, or a .onnx file.
	Arg string
	// Path is the file read: the model file, the .onnx file, or Arg for a zoo model.
	Path string
	// Weights and Meta are the eabs model's (nil for a plain ONNX file).
	Weights *models.Weights
	Meta    map[string]string
	// ExportDir is a folder holding this model's ONNX export, verified against its
	// manifest and the weights, or "".
	ExportDir string
	// ONNX is set for a plain ONNX classifier: the file.
	ONNX string
	// Adapt says how a plain ONNX classifier takes images and what its output holds
	// (layout, bounds, preprocessing, output); every engine runs the model Adapted
	// returns.
	Adapt adapt.Options
}

// Load resolves a MODEL argument. A folder that holds an export must match its
// model.eabs: an export of other weights, or files changed since the export, is an
// error naming them, never silently replaced.
func Load(arg string) (*Source, error) {
	s := &Source{Arg: arg, Path: arg}
	if strings.HasPrefix(arg, zoo.Prefix) {
		w, meta, err := zoo.Load(arg)
		if err != nil {
			return nil, err
		}
		s.Weights, s.Meta = w, meta
		return s, nil
	}
	st, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", arg, err)
	}
	if !st.IsDir() && strings.EqualFold(filepath.Ext(arg), ".onnx") {
		s.ONNX = arg
		return s, nil
	}
	if st.IsDir() {
		s.Path = filepath.Join(arg, models.ModelFileName)
		if _, err := os.Stat(s.Path); err != nil {
			return nil, fmt.Errorf("model %s: a folder without %s (pass a model file, a training run or an export folder)", arg, models.ModelFileName)
		}
	}
	if s.Weights, s.Meta, err = models.LoadModel(s.Path); err != nil {
		return nil, err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(arg, onnx.ManifestFile)); err == nil || hasONNX(arg) {
			sha, err := onnx.VerifyExport(arg)
			if err != nil {
				return nil, err
			}
			if want := onnx.WeightsSHA256(s.Weights); sha != want {
				return nil, fmt.Errorf("model %s: its ONNX files were exported from other weights (%s) than its %s (%s): export it again with eabs export --force",
					arg, sha, models.ModelFileName, want)
			}
			s.ExportDir = arg
		}
	}
	return s, nil
}

func hasONNX(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	return len(m) > 0
}

// Name is how results name the model: a zoo model's name, a file's base name, or a
// training run's folder for its model.eabs.
func (s *Source) Name() string {
	if strings.HasPrefix(s.Arg, zoo.Prefix) {
		return strings.TrimPrefix(s.Arg, zoo.Prefix)
	}
	base := strings.TrimSuffix(filepath.Base(s.Arg), filepath.Ext(s.Arg))
	if base == "model" {
		base = filepath.Base(filepath.Dir(s.Arg))
	}
	return base
}

// Dataset is the dataset the model file names ("" for a plain ONNX file or a model
// that names none).
func (s *Source) Dataset() string { return s.Meta["dataset"] }

// NeedWeights refuses a plain ONNX classifier where an eabs model is needed, saying
// what for.
func (s *Source) NeedWeights(what string) error {
	if s.Weights == nil {
		return fmt.Errorf("%s is a plain ONNX classifier; %s needs an eabs model (a model.eabs, a training run or export folder, or a zoo model)", s.Arg, what)
	}
	return nil
}

// SHA256 identifies the model's weights: onnx.WeightsSHA256 of an eabs model, the
// file's SHA-256 for a plain ONNX classifier.
func (s *Source) SHA256() (string, error) {
	if s.Weights != nil {
		return onnx.WeightsSHA256(s.Weights), nil
	}
	f, err := os.Open(s.ONNX)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", s.ONNX, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Adapted reads a plain ONNX classifier and returns it as every engine runs it:
// NCHW pixels in [0,1] in, scores (logits or log-probabilities) out, with s.Adapt's
// layout, bounds, preprocessing and output written into the graph (package
// onnx/adapt), so gradients are with respect to the pixels.
func (s *Source) Adapted() (*adapt.Model, error) {
	if s.ONNX == "" {
		return nil, fmt.Errorf("%s is an eabs model, not a plain ONNX classifier", s.Arg)
	}
	return adapt.File(s.ONNX, s.Adapt)
}

// GradientGraph differentiates the adapted classifier (onnx/grad): a graph that takes
// the images and a cotangent of the scores and returns the vector-Jacobian product
// with respect to the pixels, the gradient every attack asks for. An operator the
// differentiator does not know, or cannot differentiate where the node sits, is an
// error naming the node; attacks that need gradients check this before any work.
func (s *Source) GradientGraph() (*grad.Result, error) {
	m, err := s.Adapted()
	if err != nil {
		return nil, err
	}
	r, err := grad.Build(m.ONNX, grad.Options{Input: m.Input, Output: m.Output, Loss: grad.Cotangent})
	if err != nil {
		return nil, fmt.Errorf("%s: no input gradients: %w", s.ONNX, err)
	}
	return r, nil
}

// ClassifierConfig describes how a plain ONNX classifier is run, for the configuration
// results record: what its options change ("" for an eabs model or default options).
func (s *Source) ClassifierConfig() string {
	if s.ONNX == "" {
		return ""
	}
	return s.Adapt.String()
}

// ImageShape is the (C, H, W) of the images the model takes: its architecture's, or a
// plain ONNX classifier's input shape in NCHW order.
func (s *Source) ImageShape() (c, h, w int, err error) {
	if s.Weights != nil {
		a := s.Weights.Spec.Arch
		return a.InC, a.InH, a.InW, nil
	}
	m, err := s.Adapted()
	if err != nil {
		return 0, 0, 0, err
	}
	return m.C, m.H, m.W, nil
}

// CheckData refuses images a plain ONNX classifier cannot take, before any work: an
// image shape other than its input's (in NCHW order, whatever its layout), a class
// count other than its output's, a label outside [0, classes). classes is the model's
// class count when known (0: from the graph, if it says). It returns nil for an eabs
// model, whose architecture the caller checks.
func (s *Source) CheckData(dataset string, set *data.Set, classes int) error {
	if s.ONNX == "" {
		return nil
	}
	m, err := s.Adapted()
	if err != nil {
		return err
	}
	if dataset == "" {
		dataset = "the images"
	}
	if classes == 0 {
		classes = m.Classes
	}
	if set.C != m.C || set.H != m.H || set.W != m.W {
		return fmt.Errorf("model %s takes %dx%dx%d images (input %q %s, %s); data %s has %dx%dx%d",
			s.Arg, m.C, m.H, m.W, m.Input, m.InputShape, m.Layout, dataset, set.C, set.H, set.W)
	}
	if classes == 0 {
		return nil
	}
	for i, y := range set.Labels {
		if y < 0 || y >= classes {
			return fmt.Errorf("data %s: label %d of image %d is outside the %d classes [0,%d) of model %s", dataset, y, i, classes, classes, s.Arg)
		}
	}
	if set.Classes != 0 && set.Classes != classes {
		return fmt.Errorf("model %s has %d classes (output %q), data %s %d", s.Arg, classes, m.Output, dataset, set.Classes)
	}
	return nil
}
