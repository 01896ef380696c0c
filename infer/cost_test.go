package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
)

// countingModel counts the images (rows) each runtime call of the wrapped model sees.
type countingModel struct {
	*linearModel
	encode, decode, step, disc int
}

func (m *countingModel) Encode(x []float32, batch int) ([]float32, []float32, error) {
	m.encode += batch
	return m.linearModel.Encode(x, batch)
}

func (m *countingModel) Decode(z []float32, batch int) ([]float32, error) {
	m.decode += batch
	return m.linearModel.Decode(z, batch)
}

func (m *countingModel) LatentStep(x, mu, logvar, eps []float32, batch int) (*runtime.Step, error) {
	m.step += batch
	return m.linearModel.LatentStep(x, mu, logvar, eps, batch)
}

func (m *countingModel) DiscLogit(z []float32, n int) ([]float32, error) {
	m.disc += n
	return m.linearModel.DiscLogit(z, n)
}

func (m *countingModel) reset() { m.encode, m.decode, m.step, m.disc = 0, 0, 0, 0 }

// observed is the work per image the counted calls show; a mean step is a Decode,
// plus, for adversarial models, one discriminator logit per class.
func (m *countingModel) observed(t *testing.T, batch int) Work {
	t.Helper()
	K := m.spec.Arch.Classes
	if m.spec.HasDiscriminator() && m.disc != m.decode*K {
		t.Fatalf("%d discriminator logits for %d decoded images of %d classes", m.disc, m.decode, K)
	}
	return Work{Encodes: m.encode / batch, LatentSteps: m.step / batch, MeanSteps: m.decode / batch}
}

// TestWorkMatchesCalls: ClassifyWork and RefineWork count the runtime calls Classify
// and Refine make (the start search, not a runtime call, is checked by its bank size).
func TestWorkMatchesCalls(t *testing.T) {
	const K, M, P, batch = 3, 2, 5, 4
	for _, adversarial := range []bool{true, false} {
		for _, lossAt := range []LossAt{LossAtBest, LossAtFinal} {
			for _, steps := range []int{0, 3} {
				name := fmt.Sprintf("adversarial=%v/%s/steps=%d", adversarial, lossAt, steps)
				m := &countingModel{linearModel: newLinearModel(adversarial, K, M, P)}
				opt := Options{Starts: 40, Steps: steps, LR: 0.05, BankSeed: 1, LossAt: lossAt}
				e, err := NewEngine(m, opt, nil)
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(1, 2))
				x := make([]float32, batch*P)
				for i := range x {
					x[i] = rng.Float32()
				}
				m.reset()
				out, err := e.Classify(x, batch, rngs(batch, 3))
				if err != nil {
					t.Fatal(err)
				}
				if lossAt == LossAtBest && !slices.Contains(out.FromEncoder, false) {
					t.Fatalf("%s: every class started from the encoder; ClassifyWork counts the bank's start step", name)
				}
				want := ClassifyWork(opt)
				got := m.observed(t, batch)
				got.Search = e.Bank().S
				if got != want {
					t.Errorf("%s: Classify ran %+v per image, ClassifyWork = %+v", name, got, want)
				}
				for _, rs := range []int{0, 2} {
					m.reset()
					if _, err := e.Refine(x, batch, out.Z, out.Logvar, rs, rngs(batch, 4)); err != nil {
						t.Fatal(err)
					}
					if got, want := m.observed(t, batch), RefineWork(opt, rs); got != want {
						t.Errorf("%s: Refine(%d steps) ran %+v per image, RefineWork = %+v", name, rs, got, want)
					}
				}
			}
		}
	}
}

// TestMNISTInferenceCost checks the full inference of the MNIST E-ABS with the default
// options against a hand count: 53 latent steps (encoder start, chosen starts, 50 Adam
// steps, the final mean), each 10 decoders forward and input gradient
// (2 * 2 * 3261376 multiply-adds) and 10 discriminator passes (2 * 2 * 35456), the
// search of 8000 starts (2 * 10 * 8000 * 784) and the encoder (2 * 2126144):
//
//	53 * 10 * 4 * (3261376 + 35456) + 125440000 + 4252288 = 7118976128 FLOP.
//
// Issue 30 estimates ~6.8 GFLOP from 50 steps of the decoders alone: the three extra
// latent steps (3 * 131873280) and the discriminator (53 * 1418240) are the 4.7%.
func TestMNISTInferenceCost(t *testing.T) {
	s, err := models.NewSpec("mnist", "eabs")
	if err != nil {
		t.Fatal(err)
	}
	w := ClassifyWork(DefaultOptions())
	if want := (Work{Search: 8000, Encodes: 1, LatentSteps: 53}); w != want {
		t.Fatalf("ClassifyWork(default) = %+v, want %+v", w, want)
	}
	tests := []struct {
		name  string
		batch int
		gemm  int64
		bank  int64 // the bank's bytes read per call: 10*8000*(784+1)+8000 floats
	}{
		{"one image", 1, 7118976128, 4 * 62808000},
		{"batch of 16", 16, 16 * 7118976128, 4 * 62808000},
	}
	for _, test := range tests {
		c := w.Cost(s, test.batch)
		if c.GEMM != test.gemm {
			t.Errorf("%s: GEMM = %d FLOP, want %d", test.name, c.GEMM, test.gemm)
		}
		search := Work{Search: 8000}.Cost(s, test.batch)
		if search.WeightBytes != test.bank {
			t.Errorf("%s: the search reads %d bytes of bank, want %d", test.name, search.WeightBytes, test.bank)
		}
	}
	// Element-wise work (BatchNorm, activations, errors) stays a few percent.
	c := w.Cost(s, 1)
	if f := float64(c.Elementwise) / float64(c.FLOP()); f <= 0 || f > 0.03 {
		t.Errorf("element-wise share %.4f, want within (0, 0.03]", f)
	}
	// A warm-started refinement without steps is one forward pass of the decoders
	// and the discriminator: 10 * 2 * (3261376 + 35456) FLOP.
	if got, want := RefineWork(DefaultOptions(), 0).Cost(s, 1).GEMM, int64(10*2*(3261376+35456)); got != want {
		t.Errorf("refine without steps: GEMM = %d, want %d", got, want)
	}
}
