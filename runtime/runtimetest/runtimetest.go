// Package runtimetest is one conformance suite for every runtime.Model: outputs are
// compared with the plain-loop float64 oracle of internal/naive, gradients with its
// central finite differences, and batched calls with single-image calls, bit for bit. Parts a
// runtime reports as not implemented are skipped, as onnx-go's test backend does.
package runtimetest

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime"
)

// Tolerances are the absolute/relative agreement a runtime must reach with the
// float64 oracle (float32 engines cannot do better than about 1e-5 relative).
type Tolerances struct {
	Value float64 // encoder, decoder, discriminator and loss outputs
	Grad  float64 // latent gradients against central finite differences of the oracle
}

// Factory opens a runtime on weights.
type Factory func(t *testing.T, w *models.Weights) runtime.Model

// Weights returns seeded tiny-architecture weights with randomised BatchNorm
// statistics, so evaluation BatchNorm is not the identity.
func Weights(t testing.TB, model string, seed uint64) *models.Weights {
	t.Helper()
	s, err := models.NewSpec("tiny", model)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	w, err := models.NewWeights(s, rng)
	if err != nil {
		t.Fatal(err)
	}
	naive.RandomizeBN(w, rng)
	return w
}

// Run runs the suite on the tiny E-ABS, ABS and DV models.
func Run(t *testing.T, open Factory, tol Tolerances) {
	for i, model := range []string{"eabs", "abs", "dv"} {
		t.Run(model, func(t *testing.T) {
			w := Weights(t, model, uint64(i+1))
			m := open(t, w)
			defer m.Close()
			o := naive.New(w)
			rng := rand.New(rand.NewPCG(uint64(i), 5))
			t.Run("encode", func(t *testing.T) { testEncode(t, m, o, rng, tol) })
			t.Run("decode", func(t *testing.T) { testDecode(t, m, o, rng, tol) })
			t.Run("disc", func(t *testing.T) { testDisc(t, m, o, rng, tol) })
			t.Run("latent-step", func(t *testing.T) { testLatentStep(t, m, o, rng, tol) })
			t.Run("bad-input", func(t *testing.T) { testBadInput(t, m) })
			t.Run("batch-invariance", func(t *testing.T) { CheckBatchInvariance(t, m, rng) })
		})
	}
}

func skipIfNotImplemented(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, runtime.ErrNotImplemented) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func close(got float32, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol*math.Max(1, math.Abs(want))
}

func images(rng *rand.Rand, a models.Arch, batch int) []float32 {
	x := make([]float32, batch*a.Pixels())
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	return x
}

func normals(rng *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(scale * rng.NormFloat64())
	}
	return out
}

func testEncode(t *testing.T, m runtime.Model, o *naive.Model, rng *rand.Rand, tol Tolerances) {
	a := m.Spec().Arch
	const batch = 3
	x := images(rng, a, batch)
	mu, lv, err := m.Encode(x, batch)
	skipIfNotImplemented(t, err)
	E, M := m.Spec().Encoders(), a.Latent
	if len(mu) != batch*E*M || len(lv) != batch*E*M {
		t.Fatalf("Encode returned %d and %d values, want %d", len(mu), len(lv), batch*E*M)
	}
	for b := 0; b < batch; b++ {
		img := naive.ImageFrom32(a.InC, a.InH, a.InW, x[b*a.Pixels():(b+1)*a.Pixels()])
		for e := 0; e < E; e++ {
			wm, wl := o.Encode(e, img)
			for j := 0; j < M; j++ {
				if i := (b*E+e)*M + j; !close(mu[i], wm[j], tol.Value) || !close(lv[i], wl[j], tol.Value) {
					t.Fatalf("image %d encoder %d dim %d: mu %v logvar %v, oracle %v %v", b, e, j, mu[i], lv[i], wm[j], wl[j])
				}
			}
		}
	}
	// Batching must not change results.
	mu1, _, err := m.Encode(x[a.Pixels():2*a.Pixels()], 1)
	if err != nil {
		t.Fatal(err)
	}
	for j := range mu1 {
		if !close(mu1[j], float64(mu[E*M+j]), tol.Value) {
			t.Fatalf("Encode of image 1 alone gives mu[%d] %v, in a batch %v", j, mu1[j], mu[E*M+j])
		}
	}
}

func testDecode(t *testing.T, m runtime.Model, o *naive.Model, rng *rand.Rand, tol Tolerances) {
	a := m.Spec().Arch
	const batch = 2
	K, M, P := a.Classes, a.Latent, a.Pixels()
	z := normals(rng, batch*K*M, 1)
	rec, err := m.Decode(z, batch)
	skipIfNotImplemented(t, err)
	if len(rec) != batch*K*P {
		t.Fatalf("Decode returned %d values, want %d", len(rec), batch*K*P)
	}
	for b := 0; b < batch; b++ {
		for k := 0; k < K; k++ {
			want := o.Decode(k, naive.To64(z[(b*K+k)*M:(b*K+k+1)*M])).Data
			for j, v := range want {
				if got := rec[(b*K+k)*P+j]; !close(got, v, tol.Value) {
					t.Fatalf("image %d class %d pixel %d: %v, oracle %v", b, k, j, got, v)
				}
			}
		}
	}
}

func testDisc(t *testing.T, m runtime.Model, o *naive.Model, rng *rand.Rand, tol Tolerances) {
	d, ok := m.(runtime.Discriminator)
	if !ok || !m.Spec().HasDiscriminator() {
		t.Skip("no discriminator")
	}
	M := m.Spec().Arch.Latent
	const n = 5
	z := normals(rng, n*M, 1)
	l, err := d.DiscLogit(z, n)
	skipIfNotImplemented(t, err)
	for i := 0; i < n; i++ {
		if want := o.DiscLogit(naive.To64(z[i*M : (i+1)*M])); !close(l[i], want, tol.Value) {
			t.Fatalf("logit %d: %v, oracle %v", i, l[i], want)
		}
	}
}

func testLatentStep(t *testing.T, m runtime.Model, o *naive.Model, rng *rand.Rand, tol Tolerances) {
	a := m.Spec().Arch
	const batch = 2
	K, M, P := a.Classes, a.Latent, a.Pixels()
	x := images(rng, a, batch)
	mu := normals(rng, batch*K*M, 1)
	lv := normals(rng, batch*K*M, 0.3)
	eps := normals(rng, batch*K*M, 1)
	st, err := m.LatentStep(x, mu, lv, eps, batch)
	skipIfNotImplemented(t, err)
	if len(st.Loss) != batch*K || len(st.Rec) != batch*K*P || len(st.GradMu) != batch*K*M || len(st.GradLogvar) != batch*K*M {
		t.Fatalf("LatentStep shapes: loss %d rec %d grads %d %d", len(st.Loss), len(st.Rec), len(st.GradMu), len(st.GradLogvar))
	}
	for b := 0; b < batch; b++ {
		img := naive.ImageFrom32(a.InC, a.InH, a.InW, x[b*P:(b+1)*P])
		for k := 0; k < K; k++ {
			i := b*K + k
			m64, l64, e64 := naive.To64(mu[i*M:(i+1)*M]), naive.To64(lv[i*M:(i+1)*M]), naive.To64(eps[i*M:(i+1)*M])
			want, rec := o.Loss(img, k, m64, l64, e64)
			if !close(st.Loss[i], want, tol.Value) {
				t.Fatalf("loss[%d,%d] = %v, oracle %v", b, k, st.Loss[i], want)
			}
			for j, v := range rec.Data {
				if !close(st.Rec[i*P+j], v, tol.Value) {
					t.Fatalf("rec[%d,%d] pixel %d = %v, oracle %v", b, k, j, st.Rec[i*P+j], v)
				}
			}
			// Central finite differences of the float64 oracle.
			const h = 1e-5
			for j := 0; j < M; j++ {
				for which, p := range [][]float64{m64, l64} {
					orig := p[j]
					p[j] = orig + h
					lp, _ := o.Loss(img, k, m64, l64, e64)
					p[j] = orig - h
					lm, _ := o.Loss(img, k, m64, l64, e64)
					p[j] = orig
					fd := (lp - lm) / (2 * h)
					got := st.GradMu[i*M+j]
					name := "grad_mu"
					if which == 1 {
						got, name = st.GradLogvar[i*M+j], "grad_logvar"
					}
					if !close(got, fd, tol.Grad) {
						t.Fatalf("%s[%d,%d,%d] = %v, finite difference %v", name, b, k, j, got, fd)
					}
				}
			}
		}
	}
}

func testBadInput(t *testing.T, m runtime.Model) {
	a := m.Spec().Arch
	K, M := a.Classes, a.Latent
	if _, _, err := m.Encode(make([]float32, a.Pixels()+1), 1); err == nil {
		t.Error("Encode accepted an image of the wrong size")
	}
	if _, err := m.Decode(make([]float32, K*M), 2); err == nil {
		t.Error("Decode accepted latents for 1 image as a batch of 2")
	}
	z := make([]float32, K*M)
	if _, err := m.LatentStep(make([]float32, a.Pixels()), z, z, z[:1], 1); err == nil {
		t.Error("LatentStep accepted a short eps")
	}
}

// CheckBatchInvariance requires every output of a sample to be the same bits whether the
// sample is passed alone, first, in the middle or last of a batch: a sharded run must
// merge into exactly the unsharded one, whatever batches each shard forms.
func CheckBatchInvariance(t *testing.T, m runtime.Model, rng *rand.Rand) {
	a := m.Spec().Arch
	K, M, P := a.Classes, a.Latent, a.Pixels()
	const batch = 7
	x := images(rng, a, batch)
	z := normals(rng, batch*K*M, 1)
	lv := normals(rng, batch*K*M, 0.3)
	eps := normals(rng, batch*K*M, 1)
	// Each case computes the outputs of the samples [lo, hi) as one batch, flattened per
	// sample (out[i] is sample lo+i's values).
	cases := []struct {
		name string
		run  func(lo, hi int) ([][]float32, error)
	}{
		{"encode", func(lo, hi int) ([][]float32, error) {
			mu, v, err := m.Encode(x[lo*P:hi*P], hi-lo)
			return perSample(hi-lo, mu, v), err
		}},
		{"decode", func(lo, hi int) ([][]float32, error) {
			r, err := m.Decode(z[lo*K*M:hi*K*M], hi-lo)
			return perSample(hi-lo, r), err
		}},
		{"latent-step", func(lo, hi int) ([][]float32, error) {
			st, err := m.LatentStep(x[lo*P:hi*P], z[lo*K*M:hi*K*M], lv[lo*K*M:hi*K*M], eps[lo*K*M:hi*K*M], hi-lo)
			if err != nil {
				return nil, err
			}
			return perSample(hi-lo, st.Loss, st.Rec, st.GradMu, st.GradLogvar), nil
		}},
	}
	if d, ok := m.(runtime.Discriminator); ok && m.Spec().HasDiscriminator() {
		cases = append(cases, struct {
			name string
			run  func(lo, hi int) ([][]float32, error)
		}{"disc", func(lo, hi int) ([][]float32, error) {
			l, err := d.DiscLogit(z[lo*M:hi*M], hi-lo)
			return perSample(hi-lo, l), err
		}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkParts(t, batch, c.run) })
	}
}

// checkParts computes run(0, batch), then samples alone, first, in the middle and last
// of smaller batches, and requires each sample's values to be the same bits.
func checkParts(t *testing.T, batch int, run func(lo, hi int) ([][]float32, error)) {
	t.Helper()
	whole, err := run(0, batch)
	skipIfNotImplemented(t, err)
	for _, part := range [][2]int{{0, 1}, {3, 4}, {batch - 1, batch}, {2, 5}, {batch - 2, batch}, {0, 3}} {
		got, err := run(part[0], part[1])
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if j := firstDiff(v, whole[part[0]+i]); j >= 0 {
				t.Fatalf("sample %d computed in samples [%d, %d): value %d is %v, in the batch of %d %v",
					part[0]+i, part[0], part[1], j, v[j], batch, whole[part[0]+i][j])
			}
		}
	}
}

// Classifier is what CheckClassifierBatchInvariance needs of a classifier runtime.
type Classifier interface {
	Logits(x []float32, batch int) ([]float32, error)
}

// differentiable is a Classifier with input gradients (attack.Differentiable).
type differentiable interface {
	LogitsVJP(x []float32, batch int, cot func(logits []float32) []float32) (logits, grad []float32, err error)
}

// CheckClassifierBatchInvariance requires a classifier's logits, and its input
// gradients if it has them, of a sample to be the same bits in every batch it is passed
// in (see CheckBatchInvariance); pixels is the image size.
func CheckClassifierBatchInvariance(t *testing.T, c Classifier, pixels int, rng *rand.Rand) {
	const batch = 7
	x := make([]float32, batch*pixels)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	t.Run("logits", func(t *testing.T) {
		checkParts(t, batch, func(lo, hi int) ([][]float32, error) {
			l, err := c.Logits(x[lo*pixels:hi*pixels], hi-lo)
			return perSample(hi-lo, l), err
		})
	})
	// A cotangent computed from each logit alone.
	cot := func(l []float32) []float32 {
		v := make([]float32, len(l))
		for i, z := range l {
			v[i] = z/10 - 1
		}
		return v
	}
	d, ok := c.(differentiable)
	if !ok {
		return
	}
	t.Run("vjp", func(t *testing.T) {
		checkParts(t, batch, func(lo, hi int) ([][]float32, error) {
			l, g, err := d.LogitsVJP(x[lo*pixels:hi*pixels], hi-lo, cot)
			return perSample(hi-lo, l, g), err
		})
	})
}

// perSample splits outputs of n samples (each the n samples' equal parts one after
// another) into one flat slice per sample.
func perSample(n int, outs ...[]float32) [][]float32 {
	s := make([][]float32, n)
	for _, o := range outs {
		w := len(o) / n
		for i := range s {
			s[i] = append(s[i], o[i*w:(i+1)*w]...)
		}
	}
	return s
}

// firstDiff is the first index where a and b differ in bits (or in length), else -1.
func firstDiff(a, b []float32) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
