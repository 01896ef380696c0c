package crosscheck

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ref"
	"github.com/eabs/eabs/runtime/runtimetest"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		name       string
		ref, other []float32
		tol        Tolerance
		pass       bool
		worst      int // the element furthest beyond the tolerance, -1 for none
	}{
		{"equal", []float32{1, 2}, []float32{1, 2}, Tolerance{Abs: 1e-9}, true, -1},
		{"abs ok", []float32{0, 1}, []float32{1e-6, 1}, Tolerance{Abs: 1e-5}, true, -1},
		{"abs broken", []float32{0, 1}, []float32{1e-4, 1}, Tolerance{Abs: 1e-5}, false, 0},
		{"rel ok", []float32{1000}, []float32{1000.05}, Tolerance{Rel: 1e-4}, true, -1},
		{"rel broken", []float32{1000}, []float32{1000.5}, Tolerance{Rel: 1e-4}, false, 0},
		// A tiny entry next to a large one in its row is judged against the large one.
		{"row ok", []float32{100, 0.001}, []float32{100, 0.002}, Tolerance{Rel: 1e-4, Row: 2}, true, -1},
		{"row broken", []float32{100, 0.001, 0.001, 0.001}, []float32{100, 0.001, 0.001, 0.002}, Tolerance{Rel: 1e-4, Row: 2}, false, 3},
		{"worst of two", []float32{1, 1, 1}, []float32{1.1, 1, 1.3}, Tolerance{Abs: 1e-2}, false, 2},
		{"length", []float32{1, 2}, []float32{1}, Tolerance{Abs: 1}, false, -1},
		{"nan", []float32{1}, []float32{float32(nan())}, Tolerance{Abs: 1, Rel: 1}, false, 0},
	}
	for _, test := range tests {
		got := compare(test.name, test.ref, test.other, test.tol)
		if got.Pass != test.pass || got.WorstAt != test.worst {
			t.Errorf("%s: pass = %v, worst at %d, want %v, %d (%+v)", test.name, got.Pass, got.WorstAt, test.pass, test.worst, got)
		}
	}
}

func nan() float64 { var z float64; return z / z }

// faulty wraps a runtime and corrupts its decoder outputs slightly, as a broken export
// would.
type faulty struct{ *ref.Model }

func (f faulty) Decode(z []float32, batch int) ([]float32, error) {
	r, err := f.Model.Decode(z, batch)
	for i := range r {
		r[i] += 1e-3
	}
	return r, err
}

func TestRunFindsDisagreement(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 2)
	a := w.Spec.Arch
	m1, _ := ref.New(w)
	m2, _ := ref.New(w)
	defer m1.Close()
	defer m2.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	set := &data.Set{N: 3, C: a.InC, H: a.InH, W: a.InW, Classes: a.Classes, Images: make([]float32, 3*a.Pixels()), Labels: []int{0, 1, 2}}
	for i := range set.Images {
		set.Images[i] = float32(rng.Float64())
	}
	opt := Options{Batch: 2, FullImages: 2, Infer: infer.Options{Starts: 16, Steps: 3, LR: 0.05, BankSeed: 1}, Seed: 4}
	same, err := Run(m1, m2, "ref", "ref", set, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !same.Pass || same.PredAgree != 2 {
		t.Errorf("a runtime against itself: %+v", same)
	}
	for _, r := range same.Rows {
		if r.MaxAbs != 0 {
			t.Errorf("%s differs from itself by %g", r.Tensor, r.MaxAbs)
		}
	}
	bad, err := Run(m1, faulty{m2}, "ref", "faulty", set, opt)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Pass {
		t.Fatal("a runtime with corrupted decoders passed")
	}
	for _, r := range bad.Rows {
		if r.Tensor == "decoders.rec" && r.Pass {
			t.Errorf("decoders.rec passed with a 1e-3 error: %+v", r)
		}
		if r.Tensor == "encoder.mu" && !r.Pass {
			t.Errorf("encoder.mu failed though the encoder is intact: %+v", r)
		}
	}
}

// kinked is a latent step whose gradient with respect to mu jumps from 1 to 2 where a
// row's first mean coordinate crosses 0.5, like a ReLU switching.
type kinked struct{ *ref.Model }

func (k kinked) LatentStep(x, mu, lv, eps []float32, batch int) (*runtime.Step, error) {
	M := k.Spec().Arch.Latent
	st := &runtime.Step{GradMu: make([]float32, len(mu)), GradLogvar: make([]float32, len(mu))}
	for r := 0; r < len(mu)/M; r++ {
		g := float32(1)
		if mu[r*M] > 0.5 {
			g = 2
		}
		for j := 0; j < M; j++ {
			st.GradMu[r*M+j] = g
		}
	}
	return st, nil
}

func TestExcuseKinks(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 2)
	inner, _ := ref.New(w)
	defer inner.Close()
	m := kinked{inner}
	a := w.Spec.Arch
	K, M := a.Classes, a.Latent
	set := &data.Set{N: 1, C: a.InC, H: a.InH, W: a.InW, Classes: K, Images: make([]float32, a.Pixels()), Labels: []int{0}}
	tests := []struct {
		name    string
		mu0     float32 // first mean coordinate of row 0
		other   float32 // the other engine's gradient on row 0
		excused bool
	}{
		{"on the kink, other side", 0.5 - 1e-7, 2, true},
		{"on the kink, wrong value", 0.5 - 1e-7, 3, false},
		{"far from the kink", 0, 2, false},
	}
	tols := DefaultTolerances(M)
	for _, test := range tests {
		mu := make([]float32, K*M)
		mu[0] = test.mu0
		in := stepInput{lo: 0, b: 1, mu: mu, logvar: make([]float32, K*M), eps: make([]float32, K*M)}
		refStep, _ := m.LatentStep(nil, mu, nil, nil, 1)
		other := slices.Clone(refStep.GradMu)
		for j := 0; j < M; j++ {
			other[j] = test.other
		}
		in.gradMu = [2][]float32{refStep.GradMu, other}
		in.gradLv = [2][]float32{refStep.GradLogvar, refStep.GradLogvar}
		rep := &Report{Rows: []Row{
			compare("step.grad_mu", refStep.GradMu, other, tols["step.grad_mu"]),
			compare("step.grad_logvar", refStep.GradLogvar, refStep.GradLogvar, tols["step.grad_logvar"]),
		}}
		if rep.Rows[0].Pass {
			t.Fatalf("%s: the gradients should differ before the check", test.name)
		}
		if err := excuseKinks(m, set, []stepInput{in}, tols, 1, rep); err != nil {
			t.Fatal(err)
		}
		row := rep.Rows[0]
		if row.FailedRows != 1 || (row.Excused == 1) != test.excused || row.Pass != test.excused {
			t.Errorf("%s: failed %d excused %d pass %v, want excused %v", test.name, row.FailedRows, row.Excused, row.Pass, test.excused)
		}
		if want := []int{0}; !test.excused && !slices.Equal(row.Unexcused, want) {
			t.Errorf("%s: unexcused rows %v, want %v", test.name, row.Unexcused, want)
		}
	}
}

// chaotic halves a loss or not on a coin flipped by the latent mean at the scale of
// float32 rounding, so that which evaluated point is the best, and its loss, depend on
// rounding: an optimisation that settles in one of several minima. The coin comes up
// halving with probability acos(bias)/pi.
type chaotic struct {
	*ref.Model
	bias float64
}

func (c chaotic) LatentStep(x, mu, lv, eps []float32, batch int) (*runtime.Step, error) {
	st, err := c.Model.LatentStep(x, mu, lv, eps, batch)
	if err != nil {
		return nil, err
	}
	M := c.Spec().Arch.Latent
	for r := range st.Loss {
		sum := 0.0
		for _, v := range mu[r*M : (r+1)*M] {
			sum += float64(v)
		}
		if math.Sin(sum*1e9) > c.bias {
			st.Loss[r] /= 2
		}
	}
	return st, nil
}

// scaled multiplies every loss of its model by f: an engine that is wrong, not
// chaotic.
type scaled struct {
	runtime.Model
	f float32
}

func (s scaled) LatentStep(x, mu, lv, eps []float32, batch int) (*runtime.Step, error) {
	st, err := s.Model.LatentStep(x, mu, lv, eps, batch)
	if err != nil {
		return nil, err
	}
	for r := range st.Loss {
		st.Loss[r] *= s.f
	}
	return st, nil
}

func TestExcuseChaos(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 2)
	a := w.Spec.Arch
	K := a.Classes
	rng := rand.New(rand.NewPCG(3, 3))
	set := &data.Set{N: 2, C: a.InC, H: a.InH, W: a.InW, Classes: K, Images: make([]float32, 2*a.Pixels()), Labels: []int{0, 1}}
	for i := range set.Images {
		set.Images[i] = float32(rng.Float64())
	}
	opt := infer.Options{Starts: 16, Steps: 3, LR: 0.05, BankSeed: 1}
	steady := func(m *ref.Model) runtime.Model { return m }
	chaos := func(m *ref.Model) runtime.Model { return chaotic{m, 0} }
	// rarely halving, so that the jittered runs also land on the unhalved loss
	rare := func(m *ref.Model) runtime.Model { return chaotic{m, 0.8} }
	for _, test := range []struct {
		name string
		// the two engines' models; the other one may round differently (jittered)
		// or be wrong (scaled)
		refM, otherM func(*ref.Model) runtime.Model
		pass         bool
	}{
		{"well conditioned, other 1% off", steady,
			func(m *ref.Model) runtime.Model { return scaled{m, 1.01} }, false},
		{"chaotic, other rounds differently", chaos,
			func(m *ref.Model) runtime.Model { return jittered{chaos(m), rand.New(rand.NewPCG(9, 9))} }, true},
		{"chaotic, other 20% off", chaos,
			func(m *ref.Model) runtime.Model { return scaled{chaos(m), 1.2} }, false},
		// the reference never leaves its value; the other engine's own rounding
		// reaches it (image 255 of the MNIST E-ABS on ONNX Runtime)
		{"steady reference, other chaotic", steady, rare, true},
		{"steady reference, other chaotic and 20% off", steady,
			func(m *ref.Model) runtime.Model { return scaled{rare(m), 1.2} }, false},
	} {
		inner, _ := ref.New(w)
		e, err := infer.NewEngine(test.refM(inner), opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		oe, err := infer.NewEngineWithBank(test.otherM(inner), opt, e.Bank(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var l [2][]float32
		for i, eng := range []*infer.Engine{e, oe} {
			res, _, err := eng.ClassifySet(set, 2, 1, 5, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			l[i] = negated(res.Logits)
		}
		copy(l[1][K:], l[0][K:])    // one image of two may be excused
		tol := Tolerance{Rel: 1e-4} // the tiny model's jittered runs differ by up to ~6e-4
		row := compare("infer.loss", l[0], l[1], tol)
		if row.Pass {
			t.Fatalf("%s: the losses agree before any excuse; the test compares nothing", test.name)
		}
		if err := excuseChaos(e, oe, set, l[0], l[1], tol, 5, &row); err != nil {
			t.Fatal(err)
		}
		if row.FailedRows == 0 || row.Pass != test.pass {
			t.Errorf("%s: failed %d excused %d pass %v, want pass %v", test.name, row.FailedRows, row.Excused, row.Pass, test.pass)
		}
		if want := []int{0}; !test.pass && !slices.Equal(row.Unexcused, want) {
			t.Errorf("%s: unexcused images %v, want %v", test.name, row.Unexcused, want)
		}
		inner.Close()
	}
}
