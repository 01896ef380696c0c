package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/shard"
)

// ClassifyKind is the shard.Header kind of sharded classification results.
const ClassifyKind = "classify"

// ClassifyRecord is one sample's classification.
type ClassifyRecord struct {
	Pos     int       `json:"pos"`
	Index   int       `json:"index"`
	Label   int       `json:"label"`
	Pred    int       `json:"pred"`
	Correct bool      `json:"correct"`
	Logits  []float32 `json:"logits"`
}

// Position implements shard.Positioned.
func (r ClassifyRecord) Position() int { return r.Pos }

// ClassifyResult is a classification results file (a whole run or a shard).
type ClassifyResult struct {
	Header     shard.Header     `json:"header"`
	Model      string           `json:"model"`
	Records    []ClassifyRecord `json:"records"`
	Accuracy   *Rate            `json:"accuracy,omitempty"`
	Provenance any              `json:"provenance,omitempty"`
	Parts      []string         `json:"parts,omitempty"`
}

// ClassifyFunc returns the logits (B, K) of images x (B, C, H, W) at sample-list
// positions pos. A randomised model draws each image's noise from its position (not
// its row), so results do not depend on the shard the image falls in.
type ClassifyFunc func(x []float32, batch int, pos []int) ([]float32, error)

// Classify classifies shard h.Shard of the sample list (data.SampleIndices of h) of
// set, batch images at a time. h.Config must describe every setting that changes the
// logits; Kind is set here.
func Classify(ctx context.Context, h shard.Header, model string, set *data.Set, classes, batch int, f ClassifyFunc, tick Progress) (*ClassifyResult, error) {
	switch {
	case set == nil || set.N == 0:
		return nil, fmt.Errorf("suite: empty data set")
	case h.SampleN < 1 || h.SampleN > set.N:
		return nil, fmt.Errorf("suite: sample size %d outside [1, %d] (the images of %s %s)", h.SampleN, set.N, h.Dataset, h.Split)
	case batch < 1:
		return nil, fmt.Errorf("suite: batch %d must be positive", batch)
	case classes < 2:
		return nil, fmt.Errorf("suite: %d classes", classes)
	}
	if err := h.Shard.Valid(); err != nil {
		return nil, err
	}
	h.Kind = ClassifyKind
	idx := data.SampleIndices(set.N, h.SampleN, h.SampleSeed)
	pos := h.Shard.Positions(len(idx))
	if len(pos) == 0 {
		return nil, fmt.Errorf("suite: shard %s of %d samples is empty", h.Shard, h.SampleN)
	}
	size := set.ImageSize()
	r := &ClassifyResult{Header: h, Model: model}
	for lo := 0; lo < len(pos); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("suite: classify %w after %d of %d samples: %v", ErrInterrupted, lo, len(pos), err)
		}
		hi := min(lo+batch, len(pos))
		x := make([]float32, 0, (hi-lo)*size)
		for _, p := range pos[lo:hi] {
			x = append(x, set.Image(idx[p])...)
		}
		logits, err := f(x, hi-lo, pos[lo:hi])
		if err != nil {
			return nil, err
		}
		if len(logits) != (hi-lo)*classes {
			return nil, fmt.Errorf("suite: classifier returned %d logits for %d images of %d classes", len(logits), hi-lo, classes)
		}
		for j, p := range pos[lo:hi] {
			row := logits[j*classes : (j+1)*classes]
			best := 0
			for k, v := range row {
				if v > row[best] {
					best = k
				}
			}
			lab := set.Labels[idx[p]]
			r.Records = append(r.Records, ClassifyRecord{Pos: p, Index: idx[p], Label: lab, Pred: best, Correct: best == lab, Logits: append([]float32(nil), row...)})
		}
		if tick != nil {
			tick(hi, len(pos))
		}
	}
	r.summarize()
	return r, nil
}

func (r *ClassifyResult) summarize() {
	k := 0
	for _, rec := range r.Records {
		if rec.Correct {
			k++
		}
	}
	a := NewRate(k, len(r.Records))
	r.Accuracy = &a
}

// WriteClassify writes r to path atomically.
func WriteClassify(path string, r *ClassifyResult) error {
	r.summarize()
	return writeResult(path, r)
}

// ReadClassify reads a classification results file.
func ReadClassify(path string) (*ClassifyResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeClassify(path, b)
}

func decodeClassify(name string, b []byte) (*ClassifyResult, error) {
	var r ClassifyResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.Header.Kind != ClassifyKind {
		return nil, fmt.Errorf("%s: a %q result, not a classify result", name, r.Header.Kind)
	}
	return &r, nil
}
