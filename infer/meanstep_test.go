package infer

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// generativeNames are the generative models of models.ModelNames: E-ABS, ABS and every
// ablation variant.
func generativeNames(t *testing.T) []string {
	var out []string
	for _, n := range models.ModelNames {
		s, err := models.NewSpec("tiny", n)
		if err != nil {
			t.Fatal(err)
		}
		if s.Kind == models.Generative {
			out = append(out, n)
		}
	}
	return out
}

// engineCase is a runtime the equivalence tests run on, with the agreement its float
// arithmetic allows between meanStep and the latent step, relative to max(1, |value|).
type engineCase struct {
	name string
	open func(t *testing.T, w *models.Weights) runtime.Model
	// loss: the reference computes the latent step's loss in float64 and rounds it
	// once, meanStep sums in float64 over the float32 reconstruction, so the two can
	// round to neighbouring float32 values: 2 ulps (2*2^-23) allowed, 1 seen. ONNX
	// Runtime sums the squared error and the KL terms in float32 (64 pixels on the tiny
	// architecture): 1e-6 allowed, 1.8e-7 seen. rec: both engines run the same decoder
	// graph on z = mu + exp(logvar/2)*0 = mu, identical on the reference; ONNX Runtime's
	// two sessions may pick other kernels (1e-6 allowed, 0 seen with ORT 1.24.1).
	loss, rec float64
}

var engineCases = []engineCase{
	{"ref", func(t *testing.T, w *models.Weights) runtime.Model {
		m, err := ref.New(w)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}, 2.4e-7, 0},
	{"ort", func(t *testing.T, w *models.Weights) runtime.Model { return openORT(t, w, 1) }, 1e-6, 1e-6},
}

func near(got, want float32, tol float64) bool {
	return math.Abs(float64(got)-float64(want)) <= tol*max(1, math.Abs(float64(want)))
}

// TestMeanStepIsLatentStepAtZeroNoise checks meanStep's loss and reconstructions
// against the runtime's own latent step at eps = 0 (graph.NewLatentStep on the
// reference runtime, the exported latent_step.onnx on ONNX Runtime), for every
// generative model of models.ModelNames on the tiny architecture, with the
// log-variance 0 (exact inference) and random: an adversarial prior without the
// softplus, a KL missing its exp(logvar) - logvar - 1 part, a wrong beta or a sign
// error fails by far more than the tolerances.
func TestMeanStepIsLatentStepAtZeroNoise(t *testing.T) {
	const batch = 3
	for _, ec := range engineCases {
		t.Run(ec.name, func(t *testing.T) {
			for i, name := range generativeNames(t) {
				t.Run(name, func(t *testing.T) {
					w := runtimetest.Weights(t, name, uint64(i+1))
					// beta 1 would hide a dropped beta.
					w.Spec.Beta = 1.7
					m := ec.open(t, w)
					defer m.Close()
					a := w.Spec.Arch
					K, M, P := a.Classes, a.Latent, a.Pixels()
					r := rand.New(rand.NewPCG(uint64(i), 7))
					x := make([]float32, batch*P)
					for j := range x {
						x[j] = float32(r.Float64())
					}
					mu := make([]float32, batch*K*M)
					for j := range mu {
						mu[j] = float32(1.5 * r.NormFloat64())
					}
					random := make([]float32, len(mu))
					for j := range random {
						random[j] = float32(2*r.Float64() - 1.5)
					}
					for lvName, lv := range map[string][]float32{"logvar=0": make([]float32, len(mu)), "logvar random": random} {
						got, err := meanStep(m, x, batch, mu, lv)
						if err != nil {
							t.Fatal(err)
						}
						want, err := m.LatentStep(x, mu, lv, make([]float32, len(mu)), batch)
						if err != nil {
							t.Fatal(err)
						}
						if len(got.Loss) != len(want.Loss) || len(got.Rec) != len(want.Rec) {
							t.Fatalf("%s: %d losses and %d reconstruction values, want %d and %d", lvName, len(got.Loss), len(got.Rec), len(want.Loss), len(want.Rec))
						}
						var maxL, maxR float64
						for j := range want.Loss {
							maxL = max(maxL, math.Abs(float64(got.Loss[j]-want.Loss[j]))/max(1, math.Abs(float64(want.Loss[j]))))
							if !near(got.Loss[j], want.Loss[j], ec.loss) {
								t.Errorf("%s: loss of image %d class %d = %.9g, latent step %.9g", lvName, j/K, j%K, got.Loss[j], want.Loss[j])
							}
						}
						for j := range want.Rec {
							maxR = max(maxR, math.Abs(float64(got.Rec[j]-want.Rec[j]))/max(1, math.Abs(float64(want.Rec[j]))))
							if !near(got.Rec[j], want.Rec[j], ec.rec) {
								t.Fatalf("%s: G_k(mu) of image %d class %d pixel %d = %.9g, latent step %.9g", lvName, j/(K*P), j/P%K, j%P, got.Rec[j], want.Rec[j])
							}
						}
						t.Logf("%s: largest relative difference: loss %.3g, rec %.3g", lvName, maxL, maxR)
					}
				})
			}
		})
	}
}

// hiddenDisc is a runtime whose type does not show the discriminator.
type hiddenDisc struct{ runtime.Model }

// TestMeanStepWithoutDiscriminator: an adversarial model whose runtime hides the
// discriminator (a wrapper embedding runtime.Model) is evaluated by its latent step.
func TestMeanStepWithoutDiscriminator(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 3)
	inner, err := ref.New(w)
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	m := hiddenDisc{inner}
	a := w.Spec.Arch
	KM, P := a.Classes*a.Latent, a.Pixels()
	x, mu, lv := make([]float32, P), make([]float32, KM), make([]float32, KM)
	r := rand.New(rand.NewPCG(4, 4))
	for j := range x {
		x[j] = float32(r.Float64())
	}
	for j := range mu {
		mu[j], lv[j] = float32(r.NormFloat64()), float32(-r.Float64())
	}
	got, err := meanStep(m, x, 1, mu, lv)
	if err != nil {
		t.Fatal(err)
	}
	want, err := inner.LatentStep(x, mu, lv, make([]float32, KM), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Loss, want.Loss) || !slices.Equal(got.Rec, want.Rec) || got.GradMu == nil {
		t.Errorf("meanStep without a discriminator: loss %v (gradients %v), want the latent step's %v", got.Loss, got.GradMu != nil, want.Loss)
	}
}
