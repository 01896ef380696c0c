package naive

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eabs/eabs/models"
)

func randSlice(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
	return v
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Hand-computed cases pin the definitions down (the adjoint test below would also pass
// for a consistently flipped pair).
func TestConvHand(t *testing.T) {
	x := Image{C: 1, H: 3, W: 3, Data: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}}
	// Kernel [[1, 0], [0, 1]]: y[i][j] = x[i][j] + x[i+1][j+1].
	y := Conv2d(x, []float64{1, 0, 0, 1}, 1, 2, 1, 0)
	if want := []float64{6, 8, 12, 14}; y.H != 2 || y.W != 2 || !slices.Equal(y.Data, want) {
		t.Errorf("Conv2d = %dx%d %v, want 2x2 %v", y.H, y.W, y.Data, want)
	}
	// Padding 1, stride 2, kernel 3 of ones: corner sums of the zero-padded image.
	y = Conv2d(x, slices.Repeat([]float64{1}, 9), 1, 3, 2, 1)
	if want := []float64{12, 16, 24, 28}; !slices.Equal(y.Data, want) {
		t.Errorf("Conv2d(stride 2, pad 1) = %v, want %v", y.Data, want)
	}
	// Stride-2 transposed convolution with a 2x2 kernel [[1, 2], [3, 4]] tiles the
	// scaled kernel: PyTorch's ConvTranspose2d gives the same.
	x = Image{C: 1, H: 2, W: 2, Data: []float64{1, 2, 3, 4}}
	y = ConvTranspose2d(x, []float64{1, 2, 3, 4}, 1, 2, 2, 0)
	want := []float64{
		1, 2, 2, 4,
		3, 4, 6, 8,
		3, 6, 4, 8,
		9, 12, 12, 16,
	}
	if y.H != 4 || y.W != 4 || !slices.Equal(y.Data, want) {
		t.Errorf("ConvTranspose2d = %dx%d %v, want 4x4 %v", y.H, y.W, y.Data, want)
	}
	// Padding 1 crops one pixel on every side of the stride-1 result.
	y = ConvTranspose2d(x, slices.Repeat([]float64{1}, 9), 1, 3, 1, 1)
	if want := []float64{10, 10, 10, 10}; y.H != 2 || !slices.Equal(y.Data, want) {
		t.Errorf("ConvTranspose2d(pad 1) = %dx%d %v, want 2x2 %v", y.H, y.W, y.Data, want)
	}
}

// TestConvTransposeAdjoint checks that ConvTranspose2d is the adjoint of Conv2d:
// <convT(x), y> == <x, conv(y)> with the same weights, stride and padding.
func TestConvTransposeAdjoint(t *testing.T) {
	type layer struct{ k, stride, pad int }
	cases := []layer{{1, 1, 0}, {3, 1, 0}, {3, 2, 1}, {2, 2, 0}, {3, 3, 1}}
	for _, name := range []string{"mnist", "svhn", "tiny"} {
		a, err := models.ArchFor(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range append(append([]models.Layer(nil), a.Encoder...), a.Decoder...) {
			cases = append(cases, layer{l.Kernel, l.Stride, l.Pad})
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range cases {
		for _, size := range []int{1, 2, 5} {
			in, out := 1+rng.IntN(3), 1+rng.IntN(3)
			h, w := size, size+1
			oh, ow := (h-1)*c.stride-2*c.pad+c.k, (w-1)*c.stride-2*c.pad+c.k
			if oh <= 0 || ow <= 0 {
				continue
			}
			x := Image{C: in, H: h, W: w, Data: randSlice(rng, in*h*w)}
			y := Image{C: out, H: oh, W: ow, Data: randSlice(rng, out*oh*ow)}
			wt := randSlice(rng, in*out*c.k*c.k)
			tx := ConvTranspose2d(x, wt, out, c.k, c.stride, c.pad)
			cy := Conv2d(y, wt, in, c.k, c.stride, c.pad)
			if tx.H != oh || tx.W != ow || cy.H != h || cy.W != w {
				t.Fatalf("%+v: shapes convT %dx%d (want %dx%d), conv %dx%d (want %dx%d)", c, tx.H, tx.W, oh, ow, cy.H, cy.W, h, w)
			}
			lhs, rhs := dot(tx.Data, y.Data), dot(x.Data, cy.Data)
			if math.Abs(lhs-rhs) > 1e-12*(1+math.Abs(lhs)) {
				t.Errorf("%+v size %d: <convT(x), y> = %v, <x, conv(y)> = %v", c, size, lhs, rhs)
			}
		}
	}
}

func TestBatchNormAndActivations(t *testing.T) {
	x := Image{C: 2, H: 1, W: 2, Data: []float64{1, 3, -1, 0}}
	y := BatchNorm(x, []float64{2, 1}, []float64{0.5, -1}, []float64{1, 1}, []float64{4 - 1e-5, 1 - 1e-5}, 1e-5)
	want := []float64{0.5, 2.5, -3, -2}
	for i := range want {
		if math.Abs(y.Data[i]-want[i]) > 1e-12 {
			t.Errorf("BatchNorm = %v, want %v", y.Data, want)
			break
		}
	}
	if got := LeakyReLU([]float64{-2, 0, 3}, 0.2); !slices.Equal(got, []float64{-0.4, 0, 3}) {
		t.Errorf("LeakyReLU = %v", got)
	}
	for _, v := range []float64{-800, -3, 0, 2, 800} {
		want := math.Log(1 + math.Exp(v))
		if v > 700 {
			want = v
		}
		if got := Softplus(v); math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
			t.Errorf("Softplus(%v) = %v, want %v", v, got, want)
		}
	}
	if got := Dense([]float64{1, 2}, []float64{1, 2, 3, 4, 5, 6}, []float64{1, 1, 1}); !slices.Equal(got, []float64{10, 13, 16}) {
		t.Errorf("Dense = %v, want [10 13 16]", got)
	}
}

// TestModelShapes runs every module of the tiny and MNIST models and checks output
// sizes and ranges.
func TestModelShapes(t *testing.T) {
	for _, tc := range []struct{ dataset, model string }{
		{"tiny", "eabs"}, {"tiny", "abs"}, {"tiny", "cnn"}, {"mnist", "eabs"},
	} {
		s, err := models.NewSpec(tc.dataset, tc.model)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(2, 3))
		w, err := models.NewWeights(s, rng)
		if err != nil {
			t.Fatal(err)
		}
		RandomizeBN(w, rng)
		m := New(w)
		a := s.Arch
		x := Image{C: a.InC, H: a.InH, W: a.InW, Data: randSlice(rng, a.Pixels())}
		if s.Kind == models.CNN {
			if got := len(m.Logits(x)); got != a.Classes {
				t.Errorf("%s/%s: %d logits", tc.dataset, tc.model, got)
			}
			continue
		}
		mu, logvar := m.Encode(s.Encoders()-1, x)
		if len(mu) != a.Latent || len(logvar) != a.Latent {
			t.Errorf("%s/%s: Encode gives %d, %d values, want %d", tc.dataset, tc.model, len(mu), len(logvar), a.Latent)
		}
		rec := m.Decode(a.Classes-1, mu)
		if rec.C != a.InC || rec.H != a.InH || rec.W != a.InW {
			t.Errorf("%s/%s: Decode gives %dx%dx%d", tc.dataset, tc.model, rec.C, rec.H, rec.W)
		}
		for _, v := range rec.Data {
			if !(v > 0 && v < 1) {
				t.Fatalf("%s/%s: reconstruction value %v outside (0, 1)", tc.dataset, tc.model, v)
			}
		}
		// With logvar = eps = 0 the KL prior is ABS's beta/2*||mu||^2.
		zero := make([]float64, a.Latent)
		loss, _ := m.Loss(x, 0, mu, zero, zero)
		if !s.Adversarial {
			var want float64
			r := m.Decode(0, mu)
			for i := range x.Data {
				want += (x.Data[i] - r.Data[i]) * (x.Data[i] - r.Data[i])
			}
			want += 0.5 * s.Beta * dot(mu, mu)
			if math.Abs(loss-want) > 1e-12*want {
				t.Errorf("%s/%s: Loss = %v, want %v", tc.dataset, tc.model, loss, want)
			}
		} else if math.IsNaN(loss) || loss <= 0 {
			t.Errorf("%s/%s: Loss = %v", tc.dataset, tc.model, loss)
		}
	}
}
