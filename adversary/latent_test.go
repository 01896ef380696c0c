package adversary

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/infer"
	"github.com/eabs/eabs/internal/floats"
	"github.com/eabs/eabs/runtime"
)

// objectiveByHand is class k's objective at latent z, from the decoder and the
// discriminator called directly: ||x - G_k(z)||^2 - beta log D(z), in float64, and
// G_k(z).
func objectiveByHand(t *testing.T, m runtime.Model, x, z []float32, k int) (float64, []float32) {
	t.Helper()
	s := m.Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	zz := make([]float32, K*M)
	copy(zz[k*M:(k+1)*M], z)
	rec, err := m.Decode(zz, 1)
	if err != nil {
		t.Fatal(err)
	}
	logit, err := m.(runtime.Discriminator).DiscLogit(z, 1)
	if err != nil {
		t.Fatal(err)
	}
	// -log sigmoid(l) = log(1 + exp(-l))
	return sq(x, rec[k*P:(k+1)*P]) + s.Beta*math.Log1p(math.Exp(-float64(logit[0]))), rec[k*P : (k+1)*P]
}

// TestObjectiveByHand: Objective's value is the decoder's squared distance plus
// -beta log D(z) computed from the model's parts, its reconstruction is the decoder's,
// and its latent gradient matches central differences of that hand computation.
func TestObjectiveByHand(t *testing.T) {
	e := tinyEngine(t)
	s := e.Model().Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	const n = 3
	x := randImages(n*P, 41)
	rng := rand.New(rand.NewPCG(41, 1))
	z := make([]float32, n*M)
	for i := range z {
		z[i] = float32(rng.NormFloat64())
	}
	class := []int{0, K - 1, 1}
	a := &Adaptive{Engine: e, Workers: 2}
	v, rec, g, err := a.Objective(x, class, z, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		xi, zi := x[i*P:(i+1)*P], z[i*M:(i+1)*M]
		want, wrec := objectiveByHand(t, e.Model(), xi, zi, class[i])
		if d := math.Abs(float64(v[i]) - want); d > 1e-5*math.Max(1, want) {
			t.Errorf("row %d: objective %v, by hand %v", i, v[i], want)
		}
		if d := sq(rec[i*P:(i+1)*P], wrec); d > 1e-10 {
			t.Errorf("row %d: reconstruction %v (squared) from the decoder's", i, d)
		}
		for j := 0; j < M; j++ {
			const h = 1e-2
			zp := append([]float32(nil), zi...)
			zp[j] += h
			zm := append([]float32(nil), zi...)
			zm[j] -= h
			vp, _ := objectiveByHand(t, e.Model(), xi, zp, class[i])
			vm, _ := objectiveByHand(t, e.Model(), xi, zm, class[i])
			fd := (vp - vm) / (2 * h)
			if d := math.Abs(fd - float64(g[i*M+j])); d > 2e-3*math.Max(1, math.Abs(fd)) {
				t.Errorf("row %d: d objective / d z[%d] = %v, central difference %v", i, j, g[i*M+j], fd)
			}
		}
	}
	if _, _, _, err := a.Objective(x, []int{0, K, 1}, z, n); err == nil {
		t.Error("class K accepted")
	}
	if _, _, _, err := a.Objective(x[:P], class, z, n); err == nil {
		t.Error("one image for three rows accepted")
	}
}

// TestStartsAreTheSearchStarts: with no Adam step the inference's loss is the value of
// the start it picked, so it must equal the lower of Starts' values, from the encoder
// exactly when Starts' encoder value is the lower; with 5 steps the inference's loss
// (the lowest point it evaluated, the start included) must not exceed it; and
// Objective at the winning latent gives the winner's value.
func TestStartsAreTheSearchStarts(t *testing.T) {
	e5 := tinyEngine(t)
	opt := e5.Options()
	opt.Steps = 0
	e0, err := infer.NewEngineWithBank(e5.Model(), opt, e5.Bank(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := e5.Model().Spec()
	K, M, P := s.Arch.Classes, s.Arch.Latent, s.Arch.Pixels()
	const n = 4
	x := randImages(n*P, 43)
	a := &Adaptive{Engine: e5, Workers: 1}
	for b := 0; b < n; b++ {
		xb := x[b*P : (b+1)*P]
		rs := []*rand.Rand{infer.NoiseFor(9, 0, b)}
		o0, err := e0.Classify(xb, 1, rs)
		if err != nil {
			t.Fatal(err)
		}
		o5, err := e5.Classify(xb, 1, []*rand.Rand{infer.NoiseFor(9, 0, b)})
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < K; k++ {
			z, v, err := a.Starts(xb, k)
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != 2 || len(z) != 2*M {
				t.Fatalf("Starts gave %d values and %d latent values, want 2 and %d", len(v), len(z), 2*M)
			}
			w := floats.Argmin(v)
			if got, want := float64(o0.Loss[k]), float64(v[w]); math.Abs(got-want) > 1e-5*math.Max(1, want) {
				t.Errorf("image %d class %d: 0-step inference loss %v, lower start value %v (values %v)", b, k, got, want, v)
			}
			if o0.FromEncoder[k] != (v[0] <= v[1]) {
				t.Errorf("image %d class %d: inference from encoder %v, start values %v", b, k, o0.FromEncoder[k], v)
			}
			if got := float64(o5.Loss[k]); got > float64(v[w])*(1+1e-6) {
				t.Errorf("image %d class %d: 5-step inference loss %v above its start's value %v", b, k, got, v[w])
			}
			ov, _, _, err := a.Objective(xb, []int{k}, z[w*M:(w+1)*M], 1)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(float64(ov[0] - v[w])); d > 1e-5*math.Max(1, float64(v[w])) {
				t.Errorf("image %d class %d: objective at the winning start %v, its value %v", b, k, ov[0], v[w])
			}
		}
	}
}

// TestPoolRanksTheBank: Pool's latents are the bank's means with the lowest
// (||x - G_k(z)|| - eps)^2 + prior, recomputed here from the decoder and the
// discriminator directly, in that order.
func TestPoolRanksTheBank(t *testing.T) {
	e := tinyEngine(t)
	s := e.Model().Spec()
	M, P := s.Arch.Latent, s.Arch.Pixels()
	bk := e.Bank()
	x := randImages(P, 47)
	a := &Adaptive{Engine: e}
	for _, tc := range []struct {
		k     int
		eps   float64
		count int
	}{{0, 0.5, 5}, {2, 3, 4}, {1, 0, 32}} {
		got, err := a.Pool(x, tc.k, tc.eps, tc.count)
		if err != nil {
			t.Fatal(err)
		}
		type cand struct {
			j int
			r float64
		}
		cs := make([]cand, bk.S)
		for j := range cs {
			z := bk.Z[j*M : (j+1)*M]
			o, rec := objectiveByHand(t, e.Model(), x, z, tc.k)
			d2 := sq(x, rec)
			r := math.Max(math.Sqrt(d2)-tc.eps, 0)
			cs[j] = cand{j, r*r + o - d2}
		}
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].r < cs[j].r })
		if len(got) != tc.count*M {
			t.Fatalf("Pool(class %d, eps %g, %d) gave %d values, want %d", tc.k, tc.eps, tc.count, len(got), tc.count*M)
		}
		// Row i must be a bank mean whose value by hand is the i-th smallest, within
		// a tolerance: Pool reads ||x - G_k(z)||^2 through BLAS, whose kernels round
		// differently (OPENBLAS_CORETYPE), so near-ties may come in either order.
		byHand := make([]float64, bk.S)
		for _, c := range cs {
			byHand[c.j] = c.r
		}
		seen := map[int]bool{}
		for i := 0; i < tc.count; i++ {
			j := -1
			for jj := 0; jj < bk.S && j < 0; jj++ {
				if slices.Equal(got[i*M:(i+1)*M], bk.Z[jj*M:(jj+1)*M]) && !seen[jj] {
					j = jj
				}
			}
			if j < 0 {
				t.Fatalf("Pool(class %d, eps %g) row %d is no bank mean not already given", tc.k, tc.eps, i)
			}
			seen[j] = true
			if d := math.Abs(byHand[j] - cs[i].r); d > 1e-4*math.Max(1, math.Abs(cs[i].r)) {
				t.Fatalf("Pool(class %d, eps %g) row %d is bank mean %d of reachable value %v, want the %d-th smallest %v (mean %d)", tc.k, tc.eps, i, j, byHand[j], i+1, cs[i].r, cs[i].j)
			}
		}
	}
}

// TestBasinOnTinyEABS: the basin attack on the tiny E-ABS with exact (noise-free)
// inference: every candidate is inside the budget and [0,1], a claim is exactly the
// full inference's misclassification, and it finds some.
func TestBasinOnTinyEABS(t *testing.T) {
	e5 := tinyEngine(t)
	opt := e5.Options()
	opt.Exact = true
	e, err := infer.NewEngineWithBank(e5.Model(), opt, e5.Bank(), nil)
	if err != nil {
		t.Fatal(err)
	}
	K, P := e.Model().Spec().Arch.Classes, e.Model().Spec().Arch.Pixels()
	const batch, eps = 4, 2.0
	m := &Adaptive{Engine: e, Workers: 2, Warm: &WarmStart{Steps: 0, Restart: 5, Changed: 5}}
	x := randImages(batch*P, 53)
	l0, err := m.Full().Logits(x, batch)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]int, batch)
	for b := range y {
		y[b] = floats.Argmax(l0[b*K : (b+1)*K])
	}
	f, err := attack.Basin{Eps: eps, Steps: 20, ReachSteps: 10, Pool: 8, Candidates: 2}.Run(context.Background(), m, x, y, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	l1, err := m.Full().Logits(f.Adv, batch)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for b := 0; b < batch; b++ {
		adv := f.Adv[b*P : (b+1)*P]
		if d := math.Sqrt(sq(adv, x[b*P:(b+1)*P])); d > eps*(1+1e-6) {
			t.Errorf("image %d: distance %v beyond %v", b, d, eps)
		}
		for i, v := range adv {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("image %d pixel %d = %v outside [0,1]", b, i, v)
			}
		}
		mis := floats.Argmax(l1[b*K:(b+1)*K]) != y[b]
		if f.Ok[b] != mis {
			t.Errorf("image %d: claimed %v, the full inference misclassifies %v", b, f.Ok[b], mis)
		}
		if mis {
			found++
		}
	}
	t.Logf("%d of %d found", found, batch)
	if found == 0 {
		t.Error("the basin attack found no adversarial example on any image of the tiny E-ABS")
	}
}
