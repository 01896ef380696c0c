package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Set is one split of a dataset in memory: N images of C channels and H x W pixels,
// stored contiguously in NCHW order as float32 in [0,1] (the uint8 value / 255), with a
// label in [0, Classes) for each.
//
// Set is a plain value, not an interface: training and attacks index Images directly,
// and one layout for every dataset means one code path for all of them.
type Set struct {
	// Name is the split: "train", "test" or "val".
	Name       string
	N, C, H, W int
	Images     []float32
	Labels     []int
	Classes    int
	// ClassNames[k] is a human name for label k.
	ClassNames []string
	// SourceClasses[k] is the class id label k had in the original dataset, for
	// datasets that keep a subset of classes and relabel them (GTSRB-10); nil when
	// labels are the original ids.
	SourceClasses []int
	// Files[i] is the file image i was read from, for sets read from image files:
	// ReadImages (which leaves Labels nil) and image folders (relative to the folder,
	// so results name each image); nil otherwise.
	Files []string
}

// ImageSize is the number of float32 values in one image, C*H*W.
func (s *Set) ImageSize() int { return s.C * s.H * s.W }

// Image returns image i as a C*H*W slice of s.Images (not a copy: writes change the set).
func (s *Set) Image(i int) []float32 {
	if i < 0 || i >= s.N {
		panic(fmt.Sprintf("data: image index %d out of range [0,%d)", i, s.N))
	}
	n := s.ImageSize()
	return s.Images[i*n : (i+1)*n : (i+1)*n]
}

// Subset returns a new Set holding copies of the images and labels at idx, in that
// order. Indices may repeat. The result shares nothing with s except the class names.
func (s *Set) Subset(idx []int) *Set {
	n := s.ImageSize()
	out := &Set{
		Name: s.Name, N: len(idx), C: s.C, H: s.H, W: s.W,
		Images:        make([]float32, len(idx)*n),
		Classes:       s.Classes,
		ClassNames:    s.ClassNames,
		SourceClasses: s.SourceClasses,
	}
	if s.Labels != nil {
		out.Labels = make([]int, len(idx))
	}
	if s.Files != nil {
		out.Files = make([]string, len(idx))
	}
	for j, i := range idx {
		copy(out.Images[j*n:(j+1)*n], s.Image(i))
		if s.Labels != nil {
			out.Labels[j] = s.Labels[i]
		}
		if s.Files != nil {
			out.Files[j] = s.Files[i]
		}
	}
	return out
}

// Split holds out a random fraction frac of s as a validation set, as the paper does
// with 10% of each training set. The draw uses only rng, so the same seed gives the
// same split on every machine. Both parts keep the original order of s (the draw
// decides membership, not order); they are disjoint and together are all of s.
// train is named s.Name and val "val". round(frac*N) images go to val.
//
// Split panics if frac is outside [0,1].
func (s *Set) Split(frac float64, rng *rand.Rand) (train, val *Set) {
	if !(frac >= 0 && frac <= 1) {
		panic(fmt.Sprintf("data: split fraction %v outside [0,1]", frac))
	}
	perm := rng.Perm(s.N)
	nVal := int(math.Round(frac * float64(s.N)))
	vi, ti := perm[:nVal], perm[nVal:]
	slices.Sort(vi)
	slices.Sort(ti)
	train, val = s.Subset(ti), s.Subset(vi)
	val.Name = "val"
	return train, val
}

// ClassCounts returns how many images of each label s holds.
func (s *Set) ClassCounts() []int {
	c := make([]int, s.Classes)
	for _, l := range s.Labels {
		c[l]++
	}
	return c
}

// check verifies the invariants every loader must establish; a failure is a bug in
// this package, not bad input, so it panics.
func (s *Set) check() {
	if len(s.Images) != s.N*s.ImageSize() || len(s.Labels) != s.N || len(s.ClassNames) != s.Classes {
		panic(fmt.Sprintf("data: inconsistent set %s: N=%d CxHxW=%dx%dx%d len(Images)=%d len(Labels)=%d classes=%d names=%d",
			s.Name, s.N, s.C, s.H, s.W, len(s.Images), len(s.Labels), s.Classes, len(s.ClassNames)))
	}
}

// Dataset is a dataset's official training and test splits, with a record of the
// files they were read from.
type Dataset struct {
	Name        string
	Train, Test *Set
	// Files are the files read, relative to the root, with their SHA-256, sorted by path.
	Files []FileDigest
	// Fingerprint identifies exactly the bytes read; see [Fingerprint].
	Fingerprint string
}

// FileDigest is the SHA-256 (lowercase hex) of one file, Path relative to the root
// with forward slashes.
type FileDigest struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// SampleIndices returns n distinct indices of a set of total images, drawn at random with
// seed: the first n of one seeded permutation of [0, total). Every model evaluated
// with the same (total, seed) sees the same images, and a smaller sample is a prefix
// of a larger one, so results on 200 and on 500 images share their first 200. Seed 0
// takes the first n images in order. n is capped at total.
func SampleIndices(total, n int, seed uint64) []int {
	if total <= 0 || n <= 0 {
		return nil
	}
	if seed == 0 {
		idx := make([]int, min(n, total))
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	perm := rand.New(rand.NewPCG(seed, 0x5A3F1E)).Perm(total)
	return perm[:min(n, total)]
}
