package data

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// numbered returns a set of n 1x1x2 images whose pixels are (i, -i) and labels i%3.
func numbered(n int) *Set {
	s := &Set{Name: "train", N: n, C: 1, H: 1, W: 2, Images: make([]float32, 2*n), Labels: make([]int, n),
		Classes: 3, ClassNames: []string{"a", "b", "c"}}
	for i := range n {
		s.Images[2*i], s.Images[2*i+1] = float32(i), -float32(i)
		s.Labels[i] = i % 3
	}
	return s
}

func TestSubset(t *testing.T) {
	s := numbered(5)
	sub := s.Subset([]int{4, 1, 1})
	if sub.N != 3 || !slices.Equal(sub.Images, []float32{4, -4, 1, -1, 1, -1}) || !slices.Equal(sub.Labels, []int{1, 1, 1}) {
		t.Errorf("Subset([4 1 1]) = %v %v, want [4 -4 1 -1 1 -1] [1 1 1]", sub.Images, sub.Labels)
	}
	sub.Images[0] = 99
	if s.Images[8] != 4 {
		t.Errorf("Subset shares pixels with its source")
	}
	if got := s.ClassCounts(); !slices.Equal(got, []int{2, 2, 1}) {
		t.Errorf("ClassCounts() = %v, want [2 2 1]", got)
	}
}

func TestSplit(t *testing.T) {
	s := numbered(1000)
	for _, tc := range []struct {
		frac    float64
		wantVal int
	}{{0.1, 100}, {0, 0}, {1, 1000}, {0.0125, 13}} {
		tr, val := s.Split(tc.frac, rand.New(rand.NewPCG(1, 2)))
		if val.N != tc.wantVal || tr.N != 1000-tc.wantVal {
			t.Fatalf("Split(%v) sizes = %d/%d, want %d/%d", tc.frac, tr.N, val.N, 1000-tc.wantVal, tc.wantVal)
		}
		if val.Name != "val" || tr.Name != "train" {
			t.Errorf("Split names = %q, %q; want train, val", tr.Name, val.Name)
		}
		// Disjoint and complete: each image id (pixel 0) appears exactly once.
		seen := make([]int, 1000)
		for _, part := range []*Set{tr, val} {
			prev := -1
			for i := range part.N {
				id := int(part.Image(i)[0])
				seen[id]++
				if id <= prev {
					t.Fatalf("Split(%v) does not keep the original order: %d after %d", tc.frac, id, prev)
				}
				prev = id
				if part.Labels[i] != id%3 {
					t.Fatalf("Split(%v) separated image %d from its label", tc.frac, id)
				}
			}
		}
		for id, c := range seen {
			if c != 1 {
				t.Fatalf("Split(%v): image %d appears %d times, want once", tc.frac, id, c)
			}
		}
	}
	// Same seed, same split; another seed, another split.
	_, a := s.Split(0.1, rand.New(rand.NewPCG(7, 7)))
	_, b := s.Split(0.1, rand.New(rand.NewPCG(7, 7)))
	_, c := s.Split(0.1, rand.New(rand.NewPCG(7, 8)))
	if !slices.Equal(a.Images, b.Images) {
		t.Errorf("Split with the same seed gave different validation sets")
	}
	if slices.Equal(a.Images, c.Images) {
		t.Errorf("Split with different seeds gave the same validation set")
	}
}

func TestSplitPanics(t *testing.T) {
	for _, frac := range []float64{-0.1, 1.5} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Split(%v) did not panic", frac)
				}
			}()
			numbered(10).Split(frac, rand.New(rand.NewPCG(1, 1)))
		}()
	}
}
