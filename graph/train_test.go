package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func randomBatch(rng *rand.Rand, a models.Arch, batch int) (x, onehot, eps []float64) {
	x = make([]float64, batch*a.Pixels())
	for i := range x {
		x[i] = rng.Float64()
	}
	onehot = make([]float64, batch*a.Classes)
	for b := 0; b < batch; b++ {
		onehot[b*a.Classes+rng.IntN(a.Classes)] = 1
	}
	eps = make([]float64, batch*a.Latent)
	for i := range eps {
		eps[i] = rng.NormFloat64()
	}
	return
}

// checkObjectiveGradients compares every parameter gradient of an objective with
// central finite differences at a few random coordinates per parameter, and checks
// that every trained parameter gets a nonzero gradient.
func checkObjectiveGradients(t *testing.T, o *Objective[float64], tol float64) {
	t.Helper()
	o.Net.SetBNUpdate(false)
	run := func() float64 {
		l, err := o.Run(rand.New(rand.NewPCG(5, 5))) // the same dropout masks every run
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	run()
	grads := make([][]float64, len(o.Params))
	for i := range o.Params {
		grads[i] = append([]float64(nil), o.Grad(i)...)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	const h = 1e-5
	for i, p := range o.Params {
		nonzero := false
		for _, g := range grads[i] {
			if g != 0 {
				nonzero = true
				break
			}
		}
		if !nonzero {
			t.Errorf("parameter %s gets an all-zero gradient", p.Name)
		}
		vals := o.Net.params[p.Name].Value().Data().([]float64)
		for trial := 0; trial < 3; trial++ {
			j := rng.IntN(len(vals))
			orig := vals[j]
			vals[j] = orig + h
			lp := run()
			vals[j] = orig - h
			lm := run()
			vals[j] = orig
			fd := (lp - lm) / (2 * h)
			if d := math.Abs(fd - grads[i][j]); d > tol*math.Max(1, math.Abs(fd)) {
				t.Errorf("d loss / d %s[%d] = %.8g, finite difference %.8g", p.Name, j, grads[i][j], fd)
			}
		}
	}
}

func TestDiscriminativeGradients(t *testing.T) {
	for _, model := range []string{"eabs", "d"} {
		t.Run(model, func(t *testing.T) {
			w := runtimetest.Weights(t, model, 1)
			const batch = 4
			o, err := NewDiscriminative[float64](w, batch)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			x, onehot, eps := randomBatch(rand.New(rand.NewPCG(2, 2)), w.Spec.Arch, batch)
			target := append([]float64(nil), x...)
			for i := range target {
				target[i] = 1 - target[i]/2
			}
			for name, v := range map[string][]float64{"x": x, "target": target, "onehot": onehot, "eps": eps} {
				if err := o.Set(name, v); err != nil {
					t.Fatal(err)
				}
			}
			checkObjectiveGradients(t, o, 1e-5)
		})
	}
}

func TestOtherObjectiveGradients(t *testing.T) {
	const batch = 3
	rng := rand.New(rand.NewPCG(3, 3))
	t.Run("abs-class-vae", func(t *testing.T) {
		w := runtimetest.Weights(t, "abs", 2)
		o, err := NewClassVAE[float64](w, batch, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		x, _, eps := randomBatch(rng, w.Spec.Arch, batch)
		o.Set("x", x)
		o.Set("target", x)
		o.Set("eps", eps)
		checkObjectiveGradients(t, o, 1e-5)
	})
	t.Run("discriminator", func(t *testing.T) {
		w := runtimetest.Weights(t, "eabs", 3)
		o, err := NewDiscriminator[float64](w, batch)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		_, _, zq := randomBatch(rng, w.Spec.Arch, batch)
		_, _, zp := randomBatch(rng, w.Spec.Arch, batch)
		o.Set("zq", zq)
		o.Set("zp", zp)
		checkObjectiveGradients(t, o, 1e-5)
	})
	t.Run("cnn", func(t *testing.T) {
		w := runtimetest.Weights(t, "cnn", 4)
		o, err := NewCNN[float64](w, batch)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		x, onehot, _ := randomBatch(rng, w.Spec.Arch, batch)
		o.Set("x", x)
		o.Set("onehot", onehot)
		checkObjectiveGradients(t, o, 1e-5)
	})
}
