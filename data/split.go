package data

import (
	"fmt"
	"math/rand/v2"
)

// The validation split of eabs train's defaults: --split val is the part of the
// training set a run with these settings holds out, for choosing models and settings
// without the test set.
const (
	DefaultValFrac = 0.1
	DefaultValSeed = 1
)

// ValidationSplit splits a training set as a training run with this seed and
// validation fraction does (its own seeded stream of the run's seed).
func ValidationSplit(set *Set, frac float64, seed uint64) (train, val *Set) {
	return set.Split(frac, rand.New(rand.NewPCG(seed, 2)))
}

// Split returns a split by name: "test", "train", or "val" (the validation part of
// train at the defaults).
func (d *Dataset) Split(name string) (*Set, error) {
	switch name {
	case "test":
		return d.Test, nil
	case "train":
		return d.Train, nil
	case "val":
		_, val := ValidationSplit(d.Train, DefaultValFrac, DefaultValSeed)
		return val, nil
	}
	return nil, fmt.Errorf("unknown split %q (want test, train or val)", name)
}
