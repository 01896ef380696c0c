package train

import (
	"math/rand/v2"
	goruntime "runtime"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/models"
)

// TestStepsIndependentOfThreads trains the MNIST E-ABS for two steps at batch 16 (large
// enough that every kernel splits its work: the decoders' last layers have over 2^15
// activations) with 1, 2 and 3 Go threads and requires the same model bit for bit: the
// kernels split their work into a fixed number of parts, whatever GOMAXPROCS is, and
// every reduction keeps its order.
func TestStepsIndependentOfThreads(t *testing.T) {
	const batch, steps = 16, 2
	train := func(procs int) *models.Weights {
		defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(procs))
		s := mustSpec(t, "mnist", "eabs")
		w, err := models.NewWeights(s, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(2, 2))
		set := &data.Set{N: batch, C: 1, H: 28, W: 28, Classes: 10, Images: make([]float32, batch*784), Labels: make([]int, batch)}
		for i := range set.Images {
			set.Images[i] = float32(rng.Float64())
		}
		idx := make([]int, batch)
		for i := range idx {
			set.Labels[i], idx[i] = i%10, i
		}
		st, err := newStepper(w, batch, &batcher{set: set, noise: 0.2}, NewAdam(1e-3), nil, discSettings{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.close()
		for i := 0; i < steps; i++ {
			if _, err := st.step(idx, rng, 1e-3); err != nil {
				t.Fatal(err)
			}
		}
		return w
	}
	want := train(1)
	for _, procs := range []int{2, 3} {
		got := train(procs)
		for i, p := range want.Params {
			q := got.Params[i]
			for j := range p.Data {
				if p.Data[j] != q.Data[j] {
					t.Errorf("GOMAXPROCS %d: %s[%d] = %v, with 1 thread %v", procs, p.Name, j, q.Data[j], p.Data[j])
					break
				}
			}
		}
	}
}
