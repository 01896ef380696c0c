package adversary

import (
	"context"
	"math"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// TestLDAOnTinyEABS: on the tiny E-ABS with exact (noise-free) inference, every
// success is misclassified by the model itself, lies in [0,1] and no farther than the
// target reconstruction.
func TestLDAOnTinyEABS(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 5)
	rm, err := ref.New(w)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	e, err := infer.NewEngine(rm, infer.Options{Starts: 32, Steps: 5, LR: 0.05, BankSeed: 1, Exact: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	K, P := w.Spec.Arch.Classes, w.Spec.Arch.Pixels()
	const batch = 4
	m := &Adaptive{Engine: e, Workers: 2}
	x := randImages(batch*P, 21)
	l0, rec, err := m.Reconstruct(x, batch)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]int, batch)
	for b := range y {
		y[b] = floats.Argmax(l0[b*K : (b+1)*K])
	}
	f, err := attack.LDA{}.Run(context.Background(), m, x, y, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	l1, err := m.Logits(f.Adv, batch)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for b := 0; b < batch; b++ {
		adv := f.Adv[b*P : (b+1)*P]
		for i, v := range adv {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("image %d pixel %d = %v outside [0,1]", b, i, v)
			}
		}
		if !f.Ok[b] {
			continue
		}
		found++
		if p := floats.Argmax(l1[b*K : (b+1)*K]); p == y[b] {
			t.Errorf("image %d: LDA's adversarial is still classified %d", b, p)
		}
		k := -1
		for j := 0; j < K; j++ {
			if j != y[b] && (k < 0 || l0[b*K+j] > l0[b*K+k]) {
				k = j
			}
		}
		d, dk := math.Sqrt(sq(adv, x[b*P:(b+1)*P])), math.Sqrt(sq(rec[(b*K+k)*P:(b*K+k+1)*P], x[b*P:(b+1)*P]))
		if !(d > 0 && d <= dk+1e-6) {
			t.Errorf("image %d: distance %v, want in (0, %v] (the target reconstruction's)", b, d, dk)
		}
	}
	if found == 0 {
		t.Error("LDA found no adversarial example on any image of the tiny E-ABS")
	}
}
