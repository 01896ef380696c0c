package crosscheck

import (
	"fmt"
	"math"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/floats"
)

// Logitser is what a classifier cross-check needs of an engine: the reference graph
// (ref.Classifier), ONNX Runtime (ort.Classifier) and onnx-go (onnxgo.Classifier)
// all have it.
type Logitser interface {
	Logits(x []float32, batch int) ([]float32, error)
}

// ClassifierTolerances are the agreement a float32 engine must reach with the float64
// reference on a CNN's logits: 1e-4 of the image's largest logit (a logit is a sum of
// many products, whose float32 rounding grows with the sizes of the terms, not with
// the sum), or 1e-4 absolutely.
func ClassifierTolerances(classes int) map[string]Tolerance {
	return map[string]Tolerance{"cnn.logits": {Abs: 1e-4, Rel: 1e-4, Row: classes}}
}

// RunClassifier compares a classifier engine's logits with the reference's on every
// image of set, batch at a time, and their predictions (argmax): every prediction
// must agree. A mismatch whose reference top-2 logit gap is within the logits'
// tolerance is counted as a tie too (Report.PredTies), so a failure says whether it
// is a genuine tie or a wrong engine.
func RunClassifier(ref, other Logitser, classes int, refName, otherName string, set *data.Set, opt Options) (*Report, error) {
	if classes <= 0 || set.Classes != classes {
		return nil, fmt.Errorf("crosscheck: the model has %d classes, the images %d", classes, set.Classes)
	}
	tols := opt.Tolerances
	if tols == nil {
		tols = ClassifierTolerances(classes)
	}
	if opt.Batch <= 0 {
		opt.Batch = 16
	}
	P := set.C * set.H * set.W
	var a, b []float32
	for lo := 0; lo < set.N; lo += opt.Batch {
		hi := min(lo+opt.Batch, set.N)
		x := set.Images[lo*P : hi*P]
		for i, m := range []Logitser{ref, other} {
			l, err := m.Logits(x, hi-lo)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", []string{refName, otherName}[i], err)
			}
			if len(l) != (hi-lo)*classes {
				return nil, fmt.Errorf("%s: %d logits for %d images of %d classes", []string{refName, otherName}[i], len(l), hi-lo, classes)
			}
			if i == 0 {
				a = append(a, l...)
			} else {
				b = append(b, l...)
			}
		}
		if opt.Tick != nil {
			opt.Tick("logits", hi, set.N)
		}
	}
	tol := tols["cnn.logits"]
	rep := &Report{Reference: refName, Other: otherName, Images: set.N, PredImages: set.N}
	row := compare("cnn.logits", a, b, tol)
	rep.Rows = append(rep.Rows, row)
	for i := 0; i < set.N; i++ {
		ra, rb := a[i*classes:(i+1)*classes], b[i*classes:(i+1)*classes]
		if floats.Argmax(ra) == floats.Argmax(rb) {
			rep.PredAgree++
			continue
		}
		rep.PredMismatch = append(rep.PredMismatch, i)
		if gap := margin(negated(ra)); gap <= tol.Rel*maxAbs(ra) || gap <= tol.Abs {
			rep.PredTies++
		}
	}
	rep.Pass = row.Pass && len(rep.PredMismatch) == 0
	return rep, nil
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}
