package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/eabs/eabs/models"
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

// TestDiscriminatorSettings: one E-ABS step from the same weights and seed with
// Config.DiscLR 3 and 1. Adam's first update moves every parameter by lr*g/(|g|+eps'),
// i.e. by lr in the gradient's direction (closed form), so each discriminator
// parameter with a gradient well above eps moves exactly three times as far, while
// the encoder and decoders, whose gradients were computed before the discriminator's
// update, move identically: the factor applies to D alone and the learning rate is
// restored. DiscSteps 0 is the paper's single update, bit for bit the same as 1, and 2
// moves D further.
func TestDiscriminatorSettings(t *testing.T) {
	ds := tinyDataset(t)
	s, _ := models.NewSpec("tiny", "eabs")
	const batch = 8
	step := func(set discSettings) (before, after *models.Weights) {
		t.Helper()
		w, err := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		before = w.Clone()
		st, err := newStepper(w, batch, &batcher{set: ds.Train}, NewAdam(1e-3), nil, set)
		if err != nil {
			t.Fatal(err)
		}
		defer st.close()
		idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
		if _, err := st.step(idx, rand.New(rand.NewPCG(2, 2)), 1e-3); err != nil {
			t.Fatal(err)
		}
		return before, w
	}
	w0, one := step(discSettings{})
	_, three := step(discSettings{lr: 3})
	_, explicit := step(discSettings{steps: 1, lr: 1})
	_, two := step(discSettings{steps: 2})
	checked := 0
	for i, p := range w0.Params {
		isD := strings.HasPrefix(p.Name, "disc.")
		for j, v0 := range p.Data {
			d1 := float64(one.Params[i].Data[j] - v0)
			d3 := float64(three.Params[i].Data[j] - v0)
			if explicit.Params[i].Data[j] != one.Params[i].Data[j] {
				t.Fatalf("%s[%d]: DiscSteps 1, DiscLR 1 differ from the defaults", p.Name, j)
			}
			if !isD {
				if d1 != d3 || two.Params[i].Data[j] != one.Params[i].Data[j] {
					t.Fatalf("%s[%d]: the discriminator's settings changed the encoder/decoder update (%g, %g)", p.Name, j, d1, d3)
				}
				continue
			}
			if math.Abs(d1) < 0.9e-3 { // a gradient near Adam's eps, or none
				continue
			}
			checked++
			if math.Abs(d1-1e-3*math.Copysign(1, d1)) > 1e-6 || math.Abs(d3-3*d1) > 3e-6 {
				t.Fatalf("%s[%d]: moved %g with factor 1 and %g with factor 3, want ±1e-3 and three times that", p.Name, j, d1, d3)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d discriminator parameters moved: the test checks nothing", checked)
	}
	moved := false
	for i, p := range w0.Params {
		if strings.HasPrefix(p.Name, "disc.") && !slices.Equal(two.Params[i].Data, one.Params[i].Data) {
			moved = true
		}
	}
	if !moved {
		t.Error("DiscSteps 2 left the discriminator where one update put it")
	}
}
