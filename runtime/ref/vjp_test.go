package ref_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

// The CNN reference is what gradient attacks run on for the baselines.
var (
	_ attack.Differentiable = (*ref.Classifier)(nil)
	_ attack.Model          = (*ref.Classifier)(nil)
)

// TestClassifierLogitsVJP checks d/dx sum_b <v_b, logits_b> against central differences
// of the float64 oracle (internal/naive), for a cotangent computed from the logits, and
// that the cotangent callback sees the logits of the same evaluation.
func TestClassifierLogitsVJP(t *testing.T) {
	w := runtimetest.Weights(t, "cnn", 4)
	c, err := ref.NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Classes() != w.Spec.Arch.Classes {
		t.Fatalf("Classes() = %d, want %d", c.Classes(), w.Spec.Arch.Classes)
	}
	o := naive.New(w)
	a := w.Spec.Arch
	K, P := a.Classes, a.Pixels()
	const batch = 2
	rng := rand.New(rand.NewPCG(3, 1))
	x := make([]float32, batch*P)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	r := make([]float32, batch*K) // a random weighting, multiplied by the logits in cot
	for i := range r {
		r[i] = float32(rng.NormFloat64())
	}
	var seen []float32
	// v = r * logits: the cotangent depends on the logits, as in CW or DLR.
	cot := func(z []float32) []float32 {
		seen = append([]float32(nil), z...)
		v := make([]float32, len(z))
		for i := range z {
			v[i] = r[i] * z[i]
		}
		return v
	}
	logits, grad, err := c.LogitsVJP(x, batch, cot)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := c.Logits(x, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range logits {
		if seen[i] != logits[i] || plain[i] != logits[i] {
			t.Fatalf("logit %d: LogitsVJP %v, seen by cot %v, Logits %v", i, logits[i], seen[i], plain[i])
		}
	}
	for b := 0; b < batch; b++ {
		img := naive.ImageFrom32(a.InC, a.InH, a.InW, x[b*P:(b+1)*P])
		z0 := o.Logits(img)
		v := make([]float64, K)
		for k := range v {
			v[k] = float64(r[b*K+k]) * float64(float32(z0[k]))
			if got, want := float64(logits[b*K+k]), z0[k]; math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
				t.Fatalf("logit[%d,%d] = %v, oracle %v", b, k, got, want)
			}
		}
		f := func() float64 { // <v, logits> with v held fixed, as the VJP defines it
			var s float64
			for k, zk := range o.Logits(img) {
				s += v[k] * zk
			}
			return s
		}
		for trial := 0; trial < 8; trial++ {
			j := rng.IntN(P)
			const h = 1e-5
			orig := img.Data[j]
			img.Data[j] = orig + h
			fp := f()
			img.Data[j] = orig - h
			fm := f()
			img.Data[j] = orig
			fd := (fp - fm) / (2 * h)
			if got := float64(grad[b*P+j]); math.Abs(got-fd) > 1e-5*math.Max(1, math.Abs(fd)) {
				t.Errorf("d<v,logits>/dx[%d,%d] = %v, central difference %v", b, j, got, fd)
			}
		}
	}
	if _, _, err := c.LogitsVJP(x, batch, func([]float32) []float32 { return make([]float32, 3) }); err == nil {
		t.Error("LogitsVJP accepted a cotangent of the wrong length")
	}
	if _, _, err := c.LogitsVJP(x[:P+1], batch, cot); err == nil {
		t.Error("LogitsVJP accepted images of the wrong size")
	}
}

// TestClassifierBatchPadding: batches padded to a power of two give every image the
// logits and gradient it has alone (blank padding images do not leak into real rows).
func TestClassifierBatchPadding(t *testing.T) {
	w := runtimetest.Weights(t, "cnn", 4)
	c, err := ref.NewClassifier(w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	K, P := w.Spec.Arch.Classes, w.Spec.Arch.Pixels()
	const batch = 3
	rng := rand.New(rand.NewPCG(5, 1))
	x := make([]float32, batch*P)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	cot := func(z []float32) []float32 {
		v := make([]float32, len(z))
		for i := range v {
			v[i] = float32(i%K) - 1
		}
		return v
	}
	z, g, err := c.LogitsVJP(x, batch, cot)
	if err != nil {
		t.Fatal(err)
	}
	if len(z) != batch*K || len(g) != batch*P {
		t.Fatalf("%d logits and %d gradient values for %d images", len(z), len(g), batch)
	}
	for b := 0; b < batch; b++ {
		z1, g1, err := c.LogitsVJP(x[b*P:(b+1)*P], 1, cot)
		if err != nil {
			t.Fatal(err)
		}
		for k := range z1 {
			if math.Abs(float64(z1[k]-z[b*K+k])) > 1e-6 {
				t.Fatalf("image %d logit %d: %v in a batch of 3, %v alone", b, k, z[b*K+k], z1[k])
			}
		}
		for i := range g1 {
			if math.Abs(float64(g1[i]-g[b*P+i])) > 1e-6*math.Max(1, math.Abs(float64(g1[i]))) {
				t.Fatalf("image %d gradient %d: %v in a batch of 3, %v alone", b, i, g[b*P+i], g1[i])
			}
		}
	}
}
