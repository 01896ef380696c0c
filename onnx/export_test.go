package onnx_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/internal/testenv"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
)

// Tolerances. ONNX Runtime computes in float32 and the oracle in float64, on the same
// float32 weights and inputs.
const (
	// fwdTol bounds forward outputs (abs or rel, scalar.EqualWithinAbsOrRel).
	fwdTol = 1e-5
	// fdStep is the central finite-difference step for gradients.
	fdStep = 1e-3
	// fdTol bounds |grad - fd| relative to max(|fd|, max |grad|): float32 gradients
	// against float64 central differences, whose truncation error is O(step^2) but
	// which can straddle a ReLU kink. (With a step of 1e-5 every deviation is below
	// 1e-6; with 1e-3 a few reach 1e-3 next to kinks, and beyond fdTol the check
	// retries with a smaller step.)
	fdTol = 1e-3
)

// exported is a model with random weights exported to a temporary directory.
type exported struct {
	spec  models.Spec
	w     *models.Weights
	ref   *naive.Model
	paths map[string]string // by role
}

// export builds a model with random weights and BatchNorm statistics (so that
// eval-mode BatchNorm is not the identity) and exports it.
func export(t testing.TB, dataset, model string, seed uint64, layout onnx.DecoderLayout) *exported {
	t.Helper()
	s, err := models.NewSpec(dataset, model)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	w, err := models.NewWeights(s, rng)
	if err != nil {
		t.Fatal(err)
	}
	naive.RandomizeBN(w, rng)
	paths, err := onnx.Export(w, t.TempDir(), onnx.ExportOptions{DecoderLayout: layout})
	if err != nil {
		t.Fatalf("Export(%s/%s): %v", dataset, model, err)
	}
	e := &exported{spec: s, w: w, ref: naive.New(w), paths: map[string]string{}}
	for _, p := range paths {
		e.paths[strings.TrimSuffix(filepath.Base(p), ".onnx")] = p
	}
	if got, want := len(paths), len(onnx.Roles(s)); got != want {
		t.Fatalf("Export(%s/%s) wrote %d files, want %d", dataset, model, got, want)
	}
	return e
}

func uniform(rng *rand.Rand, n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return v
}

// compare checks got against want elementwise and returns the largest deviation
// |got-want|/max(1,|want|).
func compare(t testing.TB, what string, got []float32, want []float64, tol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var worst float64
	bad := 0
	for i := range want {
		g := float64(got[i])
		worst = max(worst, math.Abs(g-want[i])/max(1, math.Abs(want[i])))
		if !scalar.EqualWithinAbsOrRel(g, want[i], tol, tol) || math.IsNaN(g) {
			if bad++; bad <= 5 {
				t.Errorf("%s[%d] = %v, want %v", what, i, g, want[i])
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values out of tolerance", what, bad, len(want))
	}
	return worst
}

func i64(v ...int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// image returns sample b of a batch of images.
func (e *exported) image(x []float32, b int) naive.Image {
	a := e.spec.Arch
	n := a.Pixels()
	return naive.ImageFrom32(a.InC, a.InH, a.InW, x[b*n:(b+1)*n])
}

func (e *exported) checkEncoder(t *testing.T, batch int, rng *rand.Rand) {
	a := e.spec.Arch
	x := uniform(rng, batch*a.Pixels(), 0, 1)
	xf := feed{"x", i64(batch, a.InC, a.InH, a.InW), x}
	if e.spec.Kind == models.CNN {
		out, shapes := runFile(t, e.paths[onnx.RoleCNN], []string{"logits"}, xf)
		if got := fmt.Sprint(shapes[0]); got != fmt.Sprint(i64(batch, a.Classes)) {
			t.Fatalf("logits shape %s", got)
		}
		var want []float64
		for b := 0; b < batch; b++ {
			want = append(want, e.ref.Logits(e.image(x, b))...)
		}
		compare(t, "logits", out[0], want, fwdTol)
		return
	}
	out, shapes := runFile(t, e.paths[onnx.RoleEncoder], []string{"mu", "logvar"}, xf)
	n := e.spec.Encoders()
	if got, want := fmt.Sprint(shapes), fmt.Sprint([][]int64{i64(batch, n, a.Latent), i64(batch, n, a.Latent)}); got != want {
		t.Fatalf("encoder output shapes %s, want %s", got, want)
	}
	var mu, logvar []float64
	for b := 0; b < batch; b++ {
		for enc := 0; enc < n; enc++ {
			m, l := e.ref.Encode(enc, e.image(x, b))
			mu, logvar = append(mu, m...), append(logvar, l...)
		}
	}
	compare(t, "mu", out[0], mu, fwdTol)
	compare(t, "logvar", out[1], logvar, fwdTol)
}

func (e *exported) checkDecoders(t *testing.T, batch int, rng *rand.Rand) {
	a := e.spec.Arch
	k, m := a.Classes, a.Latent
	z := uniform(rng, batch*k*m, -1.5, 1.5)
	out, shapes := runFile(t, e.paths[onnx.RoleDecoders], []string{"rec"}, feed{"z", i64(batch, k, m), z})
	if got, want := fmt.Sprint(shapes[0]), fmt.Sprint(i64(batch, k, a.InC, a.InH, a.InW)); got != want {
		t.Fatalf("rec shape %s, want %s", got, want)
	}
	var want []float64
	for b := 0; b < batch; b++ {
		for c := 0; c < k; c++ {
			want = append(want, e.ref.Decode(c, naive.To64(z[(b*k+c)*m:(b*k+c+1)*m])).Data...)
		}
	}
	compare(t, "rec", out[0], want, fwdTol)
}

func (e *exported) checkDisc(t *testing.T, batch int, rng *rand.Rand) {
	m := e.spec.Arch.Latent
	z := uniform(rng, batch*m, -2, 2)
	out, _ := runFile(t, e.paths[onnx.RoleDiscriminator], []string{"logit"}, feed{"z", i64(batch, m), z})
	want := make([]float64, batch)
	for b := range want {
		want[b] = e.ref.DiscLogit(naive.To64(z[b*m : (b+1)*m]))
	}
	compare(t, "logit", out[0], want, fwdTol)
}

// latentResult is one latent-step run.
type latentResult struct {
	x, mu, logvar, eps         []float32
	loss, rec, gradMu, gradLog []float32
}

func (e *exported) runLatentStep(t testing.TB, batch int, rng *rand.Rand) latentResult {
	a := e.spec.Arch
	k, m := a.Classes, a.Latent
	r := latentResult{
		x:      uniform(rng, batch*a.Pixels(), 0, 1),
		mu:     uniform(rng, batch*k*m, -1, 1),
		logvar: uniform(rng, batch*k*m, -1, 0.5),
		eps:    uniform(rng, batch*k*m, -1, 1),
	}
	lat := i64(batch, k, m)
	out, _ := runFile(t, e.paths[onnx.RoleLatentStep], []string{"loss", "rec", "grad_mu", "grad_logvar"},
		feed{"x", i64(batch, a.InC, a.InH, a.InW), r.x},
		feed{"mu", lat, r.mu}, feed{"logvar", lat, r.logvar}, feed{"eps", lat, r.eps})
	r.loss, r.rec, r.gradMu, r.gradLog = out[0], out[1], out[2], out[3]
	return r
}

// checkLatentStep compares the latent step's loss and reconstructions with the oracle
// and its gradients with central differences of the oracle's loss, on fdCoords random
// (b, k, m) coordinates (all of them when fdCoords is 0). It returns the worst
// forward deviation and every gradient deviation.
func (e *exported) checkLatentStep(t *testing.T, batch, fdCoords int, rng *rand.Rand) (fwd float64, grad []float64) {
	a := e.spec.Arch
	k, m := a.Classes, a.Latent
	r := e.runLatentStep(t, batch, rng)
	var loss, rec []float64
	for b := 0; b < batch; b++ {
		for c := 0; c < k; c++ {
			l, img := e.ref.Loss(e.image(r.x, b), c, e.vec(r.mu, b, c), e.vec(r.logvar, b, c), e.vec(r.eps, b, c))
			loss, rec = append(loss, l), append(rec, img.Data...)
		}
	}
	fwd = max(compare(t, "loss", r.loss, loss, fwdTol), compare(t, "rec", r.rec, rec, fwdTol))

	// loss[b,k] depends only on mu[b,k,:] and logvar[b,k,:], so d sum(loss) / d mu[b,k,i]
	// is d loss[b,k] / d mu[b,k,i].
	type coord struct{ b, c, i int }
	var coords []coord
	for b := 0; b < batch; b++ {
		for c := 0; c < k; c++ {
			for i := 0; i < m; i++ {
				coords = append(coords, coord{b, c, i})
			}
		}
	}
	if fdCoords > 0 && fdCoords < len(coords) {
		rng.Shuffle(len(coords), func(i, j int) { coords[i], coords[j] = coords[j], coords[i] })
		coords = coords[:fdCoords]
	}
	// Deviations are relative to max(|fd|, the largest |gradient| of the tensor), so
	// that near-zero entries are judged on the gradient's scale.
	muScale, lvScale := maxAbs(r.gradMu), maxAbs(r.gradLog)
	kinks := 0
	defer func() {
		if kinks > 0 {
			t.Logf("%d of %d gradient checks retried with step %g (ReLU kink within the step)", kinks, 2*len(coords), fdStep/100)
		}
	}()
	for _, co := range coords {
		x := e.image(r.x, co.b)
		mu, lv, eps := e.vec(r.mu, co.b, co.c), e.vec(r.logvar, co.b, co.c), e.vec(r.eps, co.b, co.c)
		idx := (co.b*k+co.c)*m + co.i
		for _, p := range []struct {
			name  string
			v     []float64
			got   float32
			scale float64
		}{{"grad_mu", mu, r.gradMu[idx], muScale}, {"grad_logvar", lv, r.gradLog[idx], lvScale}} {
			central := func(h float64) float64 {
				v0 := p.v[co.i]
				p.v[co.i] = v0 + h
				lp, _ := e.ref.Loss(x, co.c, mu, lv, eps)
				p.v[co.i] = v0 - h
				lm, _ := e.ref.Loss(x, co.c, mu, lv, eps)
				p.v[co.i] = v0
				return (lp - lm) / (2 * h)
			}
			deviation := func(fd float64) float64 { return math.Abs(float64(p.got)-fd) / max(math.Abs(fd), p.scale) }
			fd := central(fdStep)
			dev := deviation(fd)
			if dev > fdTol {
				// The loss is piecewise smooth: a ReLU kink within ±fdStep spoils
				// the difference. Retry with a step a hundred times smaller.
				fd = central(fdStep / 100)
				dev = deviation(fd)
				kinks++
			}
			grad = append(grad, dev)
			if dev > fdTol || math.IsNaN(float64(p.got)) {
				t.Errorf("%s[%d,%d,%d] = %v, central difference %v", p.name, co.b, co.c, co.i, p.got, fd)
			}
		}
	}
	return fwd, grad
}

// logDeviations reports the accuracy reached: the worst forward deviation, and the
// median and worst gradient deviations (the worst is usually a ReLU kink near the
// finite-difference step).
func logDeviations(t *testing.T, fwd float64, grad []float64) {
	if len(grad) == 0 {
		return
	}
	slices.Sort(grad)
	t.Logf("latent step: forward deviation ≤ %.2g; gradient deviation from central differences: median %.2g, max %.2g (%d checks)",
		fwd, grad[len(grad)/2], grad[len(grad)-1], len(grad))
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

// vec returns row (b, k) of a [B, K, M] tensor in float64.
func (e *exported) vec(v []float32, b, k int) []float64 {
	m, kk := e.spec.Arch.Latent, e.spec.Arch.Classes
	return naive.To64(v[(b*kk+k)*m : (b*kk+k+1)*m])
}

// TestExportMatchesNaive runs every exported file of the tiny models in ONNX Runtime
// and compares with the float64 oracle, for both decoder layouts and batch sizes 1
// and 3.
func TestExportMatchesNaive(t *testing.T) {
	needORT(t)
	cases := []struct {
		model  string
		layout onnx.DecoderLayout
	}{
		{"eabs", onnx.Grouped}, {"eabs", onnx.Branches},
		{"abs", onnx.Grouped}, {"abs", onnx.Branches},
		{"dv", onnx.Grouped}, {"a", onnx.Grouped}, {"cnn", ""},
	}
	for i, tc := range cases {
		t.Run(tc.model+"/"+string(tc.layout), func(t *testing.T) {
			e := export(t, "tiny", tc.model, uint64(10+i), tc.layout)
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var fwd float64
			var grad []float64
			for _, batch := range []int{1, 3} {
				e.checkEncoder(t, batch, rng)
				if e.spec.Kind == models.CNN {
					continue
				}
				e.checkDecoders(t, batch, rng)
				if e.spec.HasDiscriminator() {
					e.checkDisc(t, batch, rng)
				}
				f, g := e.checkLatentStep(t, batch, 0, rng)
				fwd, grad = max(fwd, f), append(grad, g...)
			}
			logDeviations(t, fwd, grad)
		})
	}
}

// TestExportMNIST checks the real MNIST E-ABS architecture at batch 2 (the gradients
// on a random subset of coordinates, to keep the float64 oracle's time down).
func TestExportMNIST(t *testing.T) {
	needORT(t)
	if testing.Short() {
		t.Skip("MNIST-size oracle in -short mode")
	}
	e := export(t, "mnist", "eabs", 3, "")
	rng := rand.New(rand.NewPCG(3, 4))
	e.checkEncoder(t, 2, rng)
	e.checkDecoders(t, 2, rng)
	e.checkDisc(t, 2, rng)
	fwd, grad := e.checkLatentStep(t, 2, 24, rng)
	logDeviations(t, fwd, grad)
}

// TestExportChecker runs the ONNX checker (full_check, with shape inference) of
// Debian's python3-onnx on every exported file, and on the files ExportOptions.OnnxGo
// changes.
func TestExportChecker(t *testing.T) {
	var files []string
	for _, tc := range []struct {
		model  string
		layout onnx.DecoderLayout
	}{{"eabs", onnx.Grouped}, {"eabs", onnx.Branches}, {"abs", ""}, {"cnn", ""}, {"dv", ""}, {"a", ""}} {
		e := export(t, "tiny", tc.model, 1, tc.layout)
		for _, p := range e.paths {
			files = append(files, p)
		}
	}
	for _, model := range []string{"eabs", "abs", "cnn"} {
		e := exportOnnxGo(t, model, 1)
		for _, role := range []string{onnx.RoleEncoder, onnx.RoleCNN, onnx.RoleDiscriminator} {
			if p, ok := e.paths[role]; ok {
				files = append(files, p)
			}
		}
	}
	testenv.OnnxCheck(t, files)
}
