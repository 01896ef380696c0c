package adversary

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/infer"
)

// TestFullIsTheFullInference: Full's logits are the full inference's (replayed on the
// engine with the Adaptive's next noise runs), and a judgement leaves the attacker's
// warm-start state alone, also for another batch size: the next warm-started
// evaluation re-reads the first evaluation's optimum, not the judgement's.
func TestFullIsTheFullInference(t *testing.T) {
	e := tinyEngine(t)
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	const batch, eot, seed = 2, 2, 7
	x := randImages(batch*P, 31)
	a := &Adaptive{Engine: e, EOT: eot, Seed: seed, Workers: 1, Warm: &WarmStart{Steps: 0}}
	l0, err := a.Logits(x, batch) // full search: noise runs 0 and 1
	if err != nil {
		t.Fatal(err)
	}
	lf, err := a.Full().Logits(x, batch) // runs 2 and 3
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, batch*K)
	for r := eot; r < 2*eot; r++ {
		rs := []*rand.Rand{infer.NoiseFor(seed, r, 0), infer.NoiseFor(seed, r, 1)}
		o, err := e.Classify(x, batch, rs)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range o.Loss {
			want[i] += float64(l)
		}
	}
	differs := false
	for i := range want {
		if w := float32(-want[i] / eot); lf[i] != w {
			t.Fatalf("Full logit %d = %v, full inference %v", i, lf[i], w)
		}
		differs = differs || lf[i] != l0[i]
	}
	if !differs {
		t.Fatal("the judgement's fresh noise gave the first evaluation's logits: the test cannot tell them apart")
	}
	if _, err := a.Full().Logits(x[:P], 1); err != nil { // another batch size
		t.Fatal(err)
	}
	l1, err := a.Logits(x, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range l0 {
		if d := math.Abs(float64(l1[i] - l0[i])); d > 1e-6*math.Abs(float64(l0[i])) {
			t.Fatalf("warm-started logit %d after the judgements = %v, the first evaluation's optimum gives %v", i, l1[i], l0[i])
		}
	}
	if st := a.Stats(); st.Full != batch*eot || st.Warm != batch*eot || st.Judged != (batch+1)*eot {
		t.Errorf("stats %+v: want %d full, %d warm and %d judged image-runs", st, batch*eot, batch*eot, (batch+1)*eot)
	}
}
