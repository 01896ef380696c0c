package graph

import (
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/models"
)

// benchStep measures one forward+backward pass of the MNIST E-ABS objective (eq. 5)
// plus the discriminator's, without the optimiser update.
func benchStep(b *testing.B, batch int) {
	s, _ := models.NewSpec("mnist", "eabs")
	w, _ := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
	o, err := NewDiscriminative[float32](w, batch)
	if err != nil {
		b.Fatal(err)
	}
	d, err := NewDiscriminator[float32](w, batch)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	x64, onehot64, eps64 := randomBatch(rng, s.Arch, batch)
	f32 := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i := range v {
			out[i] = float32(v[i])
		}
		return out
	}
	o.Set("x", f32(x64))
	o.Set("onehot", f32(onehot64))
	o.Set("eps", f32(eps64))
	d.Set("zp", f32(eps64))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := o.Run(rng); err != nil {
			b.Fatal(err)
		}
		d.Set("zq", o.Output("z"))
		if _, err := d.Run(rng); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkEABSGradStep64(b *testing.B)  { benchStep(b, 64) }
func BenchmarkEABSGradStep512(b *testing.B) { benchStep(b, 512) }
