package data

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteGridRefusesBadSizes: sizes Grid would panic on, and grids too large to
// draw (which used to exhaust memory), are errors naming the problem; nothing is
// written.
func TestWriteGridRefusesBadSizes(t *testing.T) {
	s := &Set{Name: "train", N: 1, C: 3, H: 32, W: 32, Labels: []int{0}, Classes: 43, Images: make([]float32, 3*32*32)}
	two := &Set{Name: "train", N: 1, C: 2, H: 2, W: 2, Labels: []int{0}, Classes: 1, Images: make([]float32, 8)}
	cases := []struct {
		set             *Set
		perClass, scale int
		want            string
	}{
		{s, 0, 2, "at least 1"},
		{s, 2, -3, "at least 1"},
		{two, 1, 1, "has 2"},
		{s, 100, 16, "more than"},
		{s, 1 << 40, 1 << 40, "more than"},
	}
	for _, c := range cases {
		p := filepath.Join(t.TempDir(), "grid.png")
		err := WriteGrid(p, c.set, c.perClass, c.scale)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("WriteGrid(per class %d, scale %d) = %v, want an error containing %q", c.perClass, c.scale, err, c.want)
		}
	}
	// GridSize by hand: 100 per class at scale 4 of 10 classes of 28x28 is
	// (100*(28*4+1)+1) x (10*(28*4+1)+1) = 11301 x 1131 pixels.
	if w, h := GridSize(&Set{C: 1, H: 28, W: 28, Classes: 10}, 100, 4); w != 100*113+1 || h != 10*113+1 {
		t.Errorf("GridSize = %dx%d, want %dx%d", w, h, 100*113+1, 10*113+1)
	}
}
