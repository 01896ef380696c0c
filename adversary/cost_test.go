package adversary

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/models"
)

// TestGradientCostMatchesCalls: a cold gradient runs EOT full inferences per image and
// a warm one EOT refinements (Adaptive's own counters), and GradientCost is those
// inference calls, chunk by chunk, plus eq. 8's accumulation, by hand.
func TestGradientCostMatchesCalls(t *testing.T) {
	e := tinyEngine(t)
	s, opt := e.Model().Spec(), e.Options()
	K, P := s.Arch.Classes, s.Arch.Pixels()
	const batch, eot, chunk = 3, 2, 2
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, batch*P)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	cot := func(l []float32) []float32 { return ceCotangent(l, []int{0, 1, 2}, K) }
	warm := &WarmStart{Steps: 1}
	a := &Adaptive{Engine: e, EOT: eot, Chunk: chunk, Seed: 1, Workers: 1, Warm: warm}
	if _, _, err := a.LogitsVJP(x, batch, cot); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Full != eot*batch || st.Warm != 0 {
		t.Fatalf("first call: %d full and %d warm image-runs, want %d and 0", st.Full, st.Warm, eot*batch)
	}
	if _, _, err := a.LogitsVJP(x, batch, cot); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Full != eot*batch || st.Warm != eot*batch || st.Forced != 0 {
		t.Fatalf("second call at the same images: %d full, %d warm, %d forced image-runs, want %d, %d, 0", st.Full, st.Warm, st.Forced, eot*batch, eot*batch)
	}
	// Chunks of 2 and 1 images per run; eq. 8: 3 FLOP per run, image, class and
	// pixel, then 1 per image and pixel for the average.
	eq8 := int64(eot*batch*K*3*P + batch*P)
	for _, test := range []struct {
		name string
		warm *WarmStart
		work infer.Work
	}{
		{"cold", nil, infer.ClassifyWork(opt)},
		{"warm", warm, infer.RefineWork(opt, warm.Steps)},
	} {
		want := test.work.Cost(s, 2).Plus(test.work.Cost(s, 1)).Times(eot)
		got, err := GradientCost(s, opt, eot, chunk, test.warm, batch)
		if err != nil {
			t.Fatal(err)
		}
		if got.GEMM != want.GEMM || got.Elementwise != want.Elementwise+eq8 || got.WeightBytes != want.WeightBytes {
			t.Errorf("%s: GradientCost = %+v, want the inference %+v plus %d element-wise FLOP", test.name, got, want, eq8)
		}
	}
}

// TestMNISTGradientCost: the paper's attack gradient (EOT 5, full inference) on one
// MNIST image is 5 full inferences (infer's TestMNISTInferenceCost: 7118976128 GEMM
// FLOP each); the default warm start re-reads z* (no Adam step): 5 forward passes of
// the 10 decoders and the discriminator, 5 * 10 * 2 * (3261376 + 35456) FLOP.
func TestMNISTGradientCost(t *testing.T) {
	s, _ := models.NewSpec("mnist", "eabs")
	ws := DefaultWarmStart()
	tests := []struct {
		name string
		warm *WarmStart
		gemm int64
	}{
		{"cold", nil, 5 * 7118976128},
		{"warm", &ws, 5 * 10 * 2 * (3261376 + 35456)},
	}
	for _, test := range tests {
		c, err := GradientCost(s, infer.DefaultOptions(), 5, 0, test.warm, 1)
		if err != nil {
			t.Fatal(err)
		}
		if c.GEMM != test.gemm {
			t.Errorf("%s: GEMM = %d, want %d", test.name, c.GEMM, test.gemm)
		}
	}
	cnn, _ := models.NewSpec("mnist", "cnn")
	if _, err := GradientCost(cnn, infer.DefaultOptions(), 5, 0, nil, 1); err == nil || !strings.Contains(err.Error(), "no adaptive gradient") {
		t.Errorf("GradientCost(cnn) error = %v", err)
	}
	if _, err := GradientCost(s, infer.DefaultOptions(), 5, 0, nil, 0); err == nil || !strings.Contains(err.Error(), "batch 0") {
		t.Errorf("GradientCost(batch 0) error = %v", err)
	}
}
