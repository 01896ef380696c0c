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

// TestDiscriminativeTemperature checks the softened cross-entropy (Spec.Temperature)
// against its closed form: with the same weights, inputs and dropout masks the runs at
// T = 1 and T = t differ only in that term, so per sample
// loss(t) - loss(1) = gamma*(t*LSE(-c/t) - LSE(-c)), computed here in float64 from the
// objective's own c output; and the gradients at T = 10 match finite differences.
func TestDiscriminativeTemperature(t *testing.T) {
	const batch = 4
	w0 := runtimetest.Weights(t, "eabs", 1)
	x, onehot, eps := randomBatch(rand.New(rand.NewPCG(4, 4)), w0.Spec.Arch, batch)
	run := func(temp float64) (float64, []float64, *Objective[float64]) {
		w := runtimetest.Weights(t, "eabs", 1)
		w.Spec.Temperature = temp
		o, l := runDiscriminative(t, w, batch, x, onehot, eps)
		return l, append([]float64(nil), o.Output("c")...), o
	}
	l1, c, o1 := run(0) // unset: the paper's T = 1
	o1.Close()
	k := len(c) / batch
	lse := func(row []float64, s float64) float64 { // log sum exp(-row/s), stably
		m := math.Inf(1)
		for _, v := range row {
			m = math.Min(m, v)
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(-(v - m) / s)
		}
		return -m/s + math.Log(sum)
	}
	gamma := w0.Spec.Gamma
	for _, temp := range []float64{1, 3, 10} {
		lt, ct, ot := run(temp)
		want := 0.0
		for b := 0; b < batch; b++ {
			row := c[b*k : (b+1)*k]
			want += gamma * (temp*lse(row, temp) - lse(row, 1)) / batch
		}
		for i := range c {
			if ct[i] != c[i] {
				t.Fatalf("T %g: c[%d] = %g, at T 1 %g: the temperature changed the reconstructions", temp, i, ct[i], c[i])
			}
		}
		if d := lt - l1; math.Abs(d-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("T %g: loss - loss at T 1 = %.12g, closed form %.12g", temp, d, want)
		}
		if temp == 10 {
			if want <= 0.1 {
				t.Errorf("T 10 changed the loss by only %g: the test would not see the term", want)
			}
			checkObjectiveGradients(t, ot, 1e-5)
		}
		ot.Close()
	}
}

// TestObjectiveOutputs: an objective's outputs are the values the loss used. With beta
// and gamma 0, eq. 5's loss is the batch mean of c(x, G_y(z)), a closed form in the
// objective's own c output; and c must not depend on gamma, so the paper's objective
// (gamma 10) must return the same c. Before outputs were read by G.Read, the paper's
// objective returned c times (1+gamma)/B: the tape machine had reused its register.
func TestObjectiveOutputs(t *testing.T) {
	const batch = 4
	w0 := runtimetest.Weights(t, "eabs", 1)
	x, onehot, eps := randomBatch(rand.New(rand.NewPCG(6, 6)), w0.Spec.Arch, batch)
	run := func(beta, gamma float64) (float64, []float64, []float64) {
		w := runtimetest.Weights(t, "eabs", 1)
		w.Spec.Beta, w.Spec.Gamma = beta, gamma
		o, l := runDiscriminative(t, w, batch, x, onehot, eps)
		defer o.Close()
		return l, append([]float64(nil), o.Output("c")...), append([]float64(nil), o.Output("z")...)
	}
	l0, c0, z0 := run(0, 0)
	k := len(c0) / batch
	cy := 0.0
	for b := 0; b < batch; b++ {
		for j := 0; j < k; j++ {
			cy += c0[b*k+j] * onehot[b*k+j] / batch
		}
	}
	if math.Abs(cy-l0) > 1e-9*math.Abs(l0) {
		t.Fatalf("beta 0, gamma 0: loss %.12g, mean c_y from the c output %.12g", l0, cy)
	}
	_, c10, z10 := run(1, 10)
	for i := range c0 {
		if math.Abs(c10[i]-c0[i]) > 1e-9*math.Abs(c0[i]) {
			t.Fatalf("c[%d] = %.12g with gamma 10, %.12g with gamma 0", i, c10[i], c0[i])
		}
	}
	for i := range z0 {
		if z10[i] != z0[i] {
			t.Fatalf("z[%d] = %g with gamma 10, %g with gamma 0", i, z10[i], z0[i])
		}
	}
}

// runDiscriminative builds eq. 5 for w, runs it once on x (also the target) with frozen
// BatchNorm statistics and fixed dropout masks, and returns it and the loss.
func runDiscriminative(t *testing.T, w *models.Weights, batch int, x, onehot, eps []float64) (*Objective[float64], float64) {
	t.Helper()
	o, err := NewDiscriminative[float64](w, batch)
	if err != nil {
		t.Fatal(err)
	}
	o.Net.SetBNUpdate(false)
	for name, v := range map[string][]float64{"x": x, "target": x, "onehot": onehot, "eps": eps} {
		if err := o.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	l, err := o.Run(rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	return o, l
}
