package certify

import (
	"math"
	"testing"

	"github.com/eabs/eabs/infer"
)

// TestEngineClassifierGradient: on linear decoders the exact engine finds the true
// minimum, where (envelope theorem) d l*_k / dx = 2 (x - G_k(z*_k)) exactly, so the
// eq. 8 gradient LogitsVJP returns must match central finite differences of Logits.
func TestEngineClassifierGradient(t *testing.T) {
	const K, P = 3, 6
	f, _, _ := linearFake(K, P, 11)
	opt := infer.Options{Starts: 200, Steps: 400, LR: 0.02, BankSeed: 5, Exact: true}
	eng, err := infer.NewEngine(f, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	ec := &EngineClassifier{Engine: eng}
	x := []float32{0.3, -0.2, 0.8, 0.1, 0.5, -0.4}
	v := []float32{0.7, -1.2, 0.4} // cotangent on the logits
	_, g, err := ec.LogitsVJP(x, 1, func(l []float32) []float32 {
		if len(l) != K {
			t.Fatalf("%d logits", len(l))
		}
		return v
	})
	if err != nil {
		t.Fatal(err)
	}
	const h = 1e-2
	for j := 0; j < P; j++ {
		xp, xm := append([]float32(nil), x...), append([]float32(nil), x...)
		xp[j] += h
		xm[j] -= h
		lp, _ := ec.Logits(xp, 1)
		lm, _ := ec.Logits(xm, 1)
		var fd float64
		for k := 0; k < K; k++ {
			fd += float64(v[k]) * (float64(lp[k]) - float64(lm[k])) / (2 * h)
		}
		if math.Abs(fd-float64(g[j])) > 2e-2*(1+math.Abs(fd)) {
			t.Errorf("pixel %d: gradient %.5f, finite differences %.5f", j, g[j], fd)
		}
	}
}

// TestDeployedOptions: the validation's "deployed" target runs what users run (50
// sampled Adam steps), not the certificate's 100 exact ones, on the certificate's bank.
func TestDeployedOptions(t *testing.T) {
	cert := DefaultOptions().Infer
	d := DeployedOptions(cert)
	if d != infer.DefaultOptions() || d.Steps != 50 || d.Exact {
		t.Errorf("deployed inference %+v for the certificate's %+v, want %+v (50 steps, sampled)", d, cert, infer.DefaultOptions())
	}
	cert.Starts, cert.BankSeed = 500, 9
	if d := DeployedOptions(cert); d.Starts != 500 || d.BankSeed != 9 || d.Steps != 50 {
		t.Errorf("deployed inference %+v does not share the certificate's bank (500 starts, seed 9)", d)
	}
}
