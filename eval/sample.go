package eval

import (
	"fmt"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/shard"
)

// Sample is the images a run evaluates: data.SampleIndices(split size, N, Seed), the
// seeded random sample of N images of a dataset split (Seed 0: the first N); a shard
// runs its part of the list (shard.Spec.Positions). Every command (classify, attack,
// certify) picks its images by this one rule.
type Sample struct {
	Set                         *data.Set // the whole split
	Dataset, Split, Fingerprint string
	N                           int
	Seed                        uint64
	Shard                       shard.Spec
}

// LoadSample loads a dataset split from the data root (data.ResolveRoot) and picks the
// sample: n images (0: the whole split; more than the split has is an error).
func LoadSample(dataset, root, split string, n int, seed uint64, sp shard.Spec, opt data.Options) (*Sample, error) {
	ds, err := data.LoadRoot(dataset, root, opt)
	if err != nil {
		return nil, err
	}
	set, err := ds.Split(split)
	if err != nil {
		return nil, err
	}
	s := &Sample{Set: set, Dataset: dataset, Split: split, Fingerprint: ds.Fingerprint, N: n, Seed: seed, Shard: sp}
	return s, s.check()
}

// SampleOf is the sample of images given directly (image files, say): all of them,
// in order, in one part.
func SampleOf(set *data.Set) *Sample {
	return &Sample{Set: set, N: set.N, Shard: shard.Spec{Count: 1}}
}

func (s *Sample) check() error {
	if s.Set.N == 0 {
		return fmt.Errorf("%s (%s split) has no images", s.Dataset, s.Split)
	}
	if s.N == 0 {
		s.N = s.Set.N
	}
	if s.N < 0 || s.N > s.Set.N {
		return fmt.Errorf("--n %d: want 1..%d (the images of %s %s), or 0 for all", s.N, s.Set.N, s.Dataset, s.Split)
	}
	if err := s.Shard.Valid(); err != nil {
		return err
	}
	if len(s.Shard.Positions(s.N)) == 0 {
		return fmt.Errorf("shard %s of %d samples is empty", s.Shard, s.N)
	}
	return nil
}

// Indices are the sample list: split indices by position.
func (s *Sample) Indices() []int { return data.SampleIndices(s.Set.N, s.N, s.Seed) }

// Part returns this shard's images in position order, with their positions in the
// sample list and their indices in the split.
func (s *Sample) Part() (set *data.Set, pos, idx []int) {
	all := s.Indices()
	pos = s.Shard.Positions(len(all))
	idx = make([]int, len(pos))
	for i, p := range pos {
		idx[i] = all[p]
	}
	return s.Set.Subset(idx), pos, idx
}

// Header names a run on this sample: the result kind, the model's weights (or file)
// hash and config, every setting that changes results.
func (s *Sample) Header(kind, modelSHA, config string) shard.Header {
	return shard.Header{Kind: kind, ModelSHA256: modelSHA, DataFingerprint: s.Fingerprint, Dataset: s.Dataset, Split: s.Split,
		SampleSeed: s.Seed, SampleN: s.N, Config: config, Shard: s.Shard}
}
