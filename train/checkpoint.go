package train

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/eabs/eabs/models"
)

// CheckpointKind is the models.File kind of a training checkpoint.
const CheckpointKind = "checkpoint"

// Checkpoint is everything a run needs to continue exactly: the model's weights
// (including BatchNorm running statistics), Adam's moments and step counts, the state
// of the step RNG, the run's position and its Config.
//
// It is stored in the models.File container (versioned, checksummed, written
// atomically): tensors are the weights in layout order followed by "adam.m/<name>"
// and "adam.v/<name>"; blobs are "config", "state", "adam" (JSON) and "rng" (PCG).
type Checkpoint struct {
	Config  Config
	Weights *models.Weights
	Adam    *Adam
	State   progressState
	RNG     []byte
}

type adamMeta struct {
	LR, Beta1, Beta2, Eps float64
	T                     map[string]int
}

// WriteFile writes the checkpoint atomically.
func (c *Checkpoint) WriteFile(path string) error {
	f := &models.File{Kind: CheckpointKind, Spec: c.Weights.Spec, Tensors: models.ParamTensors(c.Weights)}
	for _, p := range c.Weights.Params {
		if m, ok := c.Adam.M[p.Name]; ok {
			f.Tensors = append(f.Tensors,
				models.Tensor{Name: "adam.m/" + p.Name, Shape: p.Shape, Data: m},
				models.Tensor{Name: "adam.v/" + p.Name, Shape: p.Shape, Data: c.Adam.V[p.Name]})
		}
	}
	cfg, err := json.Marshal(c.Config)
	if err != nil {
		return err
	}
	st, err := json.Marshal(c.State)
	if err != nil {
		return err
	}
	am, err := json.Marshal(adamMeta{c.Adam.LR, c.Adam.Beta1, c.Adam.Beta2, c.Adam.Eps, c.Adam.T})
	if err != nil {
		return err
	}
	f.Blobs = []models.Blob{{Name: "config", Data: cfg}, {Name: "state", Data: st}, {Name: "adam", Data: am}, {Name: "rng", Data: c.RNG}}
	return f.WriteFile(path)
}

// ReadCheckpoint reads and validates a checkpoint: a file of another kind, from
// another architecture than its recorded config, truncated, corrupt or of another
// version is refused with an error naming the file.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := models.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if f.Kind != CheckpointKind {
		return nil, fmt.Errorf("train: %s holds a %q, not a checkpoint", path, f.Kind)
	}
	c := &Checkpoint{}
	for _, name := range []string{"config", "state", "adam", "rng"} {
		if f.Blob(name) == nil {
			return nil, fmt.Errorf("train: checkpoint %s lacks its %s record", path, name)
		}
	}
	if err := json.Unmarshal(f.Blob("config"), &c.Config); err != nil {
		return nil, fmt.Errorf("train: checkpoint %s: config: %w", path, err)
	}
	if err := json.Unmarshal(f.Blob("state"), &c.State); err != nil {
		return nil, fmt.Errorf("train: checkpoint %s: state: %w", path, err)
	}
	var am adamMeta
	if err := json.Unmarshal(f.Blob("adam"), &am); err != nil {
		return nil, fmt.Errorf("train: checkpoint %s: adam: %w", path, err)
	}
	spec, err := c.Config.spec()
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	if !specEqual(spec, f.Spec) {
		return nil, fmt.Errorf("train: checkpoint %s: stored architecture %q/%s does not match its config (%s on %s)", path, f.Spec.Arch.Name, f.Spec.Name(), c.Config.Model, c.Config.Dataset)
	}
	w, n, err := models.WeightsFromTensors(f.Spec, f.Tensors)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	c.Weights = w
	c.Adam = &Adam{LR: am.LR, Beta1: am.Beta1, Beta2: am.Beta2, Eps: am.Eps, T: am.T, M: map[string][]float32{}, V: map[string][]float32{}}
	if c.Adam.T == nil {
		c.Adam.T = map[string]int{}
	}
	for _, t := range f.Tensors[n:] {
		name, ok := strings.CutPrefix(t.Name, "adam.m/")
		target, second := c.Adam.M, !ok
		if !ok {
			if name, ok = strings.CutPrefix(t.Name, "adam.v/"); !ok {
				return nil, fmt.Errorf("train: checkpoint %s: unexpected tensor %q", path, t.Name)
			}
			target = c.Adam.V
		}
		p := w.Param(name)
		if p == nil || len(p.Data) != len(t.Data) {
			return nil, fmt.Errorf("train: checkpoint %s: optimiser state %q matches no parameter", path, t.Name)
		}
		// Adam's moments are finite, and the second (a running mean of squares) is
		// never negative: anything else is damage that would poison every later step.
		for i, v := range t.Data {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) || second && f < 0 {
				return nil, fmt.Errorf("train: checkpoint %s: optimiser state %s[%d] is %v, which Adam cannot hold (a damaged file)", path, t.Name, i, v)
			}
		}
		target[name] = t.Data
	}
	c.RNG = f.Blob("rng")
	return c, nil
}

func specEqual(a, b models.Spec) bool { return sameJSON(a, b) }

// sameJSON compares two values by their JSON encodings (configs hold pointers).
func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
