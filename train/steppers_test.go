package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBatcherNoise replays the batcher's noise stream by hand: each pixel is
// x + noise*N(0,1) from the same seeded source, clipped to [0,1] unless unclipped.
func TestBatcherNoise(t *testing.T) {
	ds := tinyDataset(t)
	idx := []int{0, 1}
	for _, unclipped := range []bool{false, true} {
		b := &batcher{set: ds.Train, noise: 0.5, unclipped: unclipped}
		got := b.gather(idx, rand.New(rand.NewPCG(7, 7)))
		rng := rand.New(rand.NewPCG(7, 7))
		outside := 0
		for j, i := range idx {
			for p, v := range ds.Train.Image(i) {
				want := float64(v) + 0.5*rng.NormFloat64()
				if !unclipped {
					want = math.Min(1, math.Max(0, want))
				}
				if want < 0 || want > 1 {
					outside++
				}
				g := got[j*len(ds.Train.Image(i))+p]
				if math.Abs(float64(g)-want) > 1e-6 {
					t.Fatalf("unclipped=%v: pixel %d of image %d = %v, want %v", unclipped, p, i, g, want)
				}
			}
		}
		if unclipped && outside == 0 {
			t.Fatalf("unclipped noise 0.5 left every pixel inside [0,1]")
		}
		if tg := b.target(); &tg[0] != &b.clean[0] {
			t.Errorf("unclipped=%v: target is not the clean image", unclipped)
		}
	}
}
