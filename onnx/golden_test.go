package onnx_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
)

var update = flag.Bool("update", false, "regenerate testdata/golden")

// The golden case is a tiny E-ABS model: its weights as a models file (so the case does
// not move when the tiny architecture or the initialisation change), the ONNX files
// Export writes for it, and inputs with the outputs the float64 oracle gives for them
// (the gradients as central differences of the oracle's loss). Regenerate with
//
//	go test ./onnx -run Golden -update
const goldenDir = "testdata/golden/tiny-eabs"

type goldenIO struct {
	Batch  int       `json:"batch"`
	X      []float32 `json:"x"`      // [B,C,H,W]
	Z      []float32 `json:"z"`      // [B,K,M], decoders input
	ZDisc  []float32 `json:"z_disc"` // [B,M], discriminator input
	Mu     []float32 `json:"mu"`     // [B,K,M], latent-step inputs
	Logvar []float32 `json:"logvar"`
	Eps    []float32 `json:"eps"`

	// Expected outputs, computed in float64 and stored rounded to float32 (a relative
	// error of 6e-8, far below the tolerances).
	EncMu      []float32 `json:"enc_mu"` // encoder outputs on x
	EncLogvar  []float32 `json:"enc_logvar"`
	Rec        []float32 `json:"rec"`   // decoders output on z
	Logit      []float32 `json:"logit"` // discriminator output on z_disc
	Loss       []float32 `json:"loss"`  // latent-step outputs
	StepRec    []float32 `json:"step_rec"`
	GradMu     []float32 `json:"grad_mu"`
	GradLogvar []float32 `json:"grad_logvar"`
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func goldenWeights(t *testing.T) *models.Weights {
	path := filepath.Join(goldenDir, "weights.eabs")
	if *update {
		s, err := models.NewSpec("tiny", "eabs")
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(2024, 1))
		w, err := models.NewWeights(s, rng)
		if err != nil {
			t.Fatal(err)
		}
		naive.RandomizeBN(w, rng)
		if err := models.SaveModel(path, w, map[string]string{"generator": "go test ./onnx -run Golden -update"}); err != nil {
			t.Fatal(err)
		}
	}
	w, _, err := models.LoadModel(path)
	if err != nil {
		t.Fatalf("%v (regenerate with -update)", err)
	}
	return w
}

func goldenInputs(s models.Spec) *goldenIO {
	a := s.Arch
	k, m, batch := a.Classes, a.Latent, 2
	rng := rand.New(rand.NewPCG(2024, 2))
	return &goldenIO{
		Batch:  batch,
		X:      uniform(rng, batch*a.Pixels(), 0, 1),
		Z:      uniform(rng, batch*k*m, -1.5, 1.5),
		ZDisc:  uniform(rng, batch*m, -2, 2),
		Mu:     uniform(rng, batch*k*m, -1, 1),
		Logvar: uniform(rng, batch*k*m, -1, 0.5),
		Eps:    uniform(rng, batch*k*m, -1, 1),
	}
}

// oracle fills the expected outputs of io from the float64 oracle.
func (io *goldenIO) oracle(e *exported) {
	a := e.spec.Arch
	k, m := a.Classes, a.Latent
	for b := 0; b < io.Batch; b++ {
		x := e.image(io.X, b)
		mu, lv := e.ref.Encode(0, x)
		io.EncMu, io.EncLogvar = append(io.EncMu, to32(mu)...), append(io.EncLogvar, to32(lv)...)
		io.Logit = append(io.Logit, float32(e.ref.DiscLogit(naive.To64(io.ZDisc[b*m:(b+1)*m]))))
		for c := 0; c < k; c++ {
			io.Rec = append(io.Rec, to32(e.ref.Decode(c, e.vec(io.Z, b, c)).Data)...)
			mu, lv, eps := e.vec(io.Mu, b, c), e.vec(io.Logvar, b, c), e.vec(io.Eps, b, c)
			loss, rec := e.ref.Loss(x, c, mu, lv, eps)
			io.Loss, io.StepRec = append(io.Loss, float32(loss)), append(io.StepRec, to32(rec.Data)...)
			for _, v := range [][]float64{mu, lv} {
				var grads []float64
				for i := range v {
					// A step of 1e-5 keeps ReLU kinks out of the difference.
					const h = 1e-5
					v0 := v[i]
					v[i] = v0 + h
					lp, _ := e.ref.Loss(x, c, mu, lv, eps)
					v[i] = v0 - h
					lm, _ := e.ref.Loss(x, c, mu, lv, eps)
					v[i] = v0
					grads = append(grads, (lp-lm)/(2*h))
				}
				if &v[0] == &mu[0] {
					io.GradMu = append(io.GradMu, to32(grads)...)
				} else {
					io.GradLogvar = append(io.GradLogvar, to32(grads)...)
				}
			}
		}
	}
}

// TestGolden checks that Export still writes the committed files byte for byte, and
// that ONNX Runtime runs the committed files to the committed outputs.
func TestGolden(t *testing.T) {
	w := goldenWeights(t)
	s := w.Spec
	opts := onnx.ExportOptions{Dataset: "tiny"}
	dir := t.TempDir()
	if *update {
		dir = goldenDir
	}
	paths, err := onnx.Export(w, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ioPath := filepath.Join(goldenDir, "io.json")
	if *update {
		e := &exported{spec: s, w: w, ref: naive.New(w)}
		io := goldenInputs(s)
		io.oracle(e)
		b, err := json.Marshal(io)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ioPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range paths {
		golden := filepath.Join(goldenDir, filepath.Base(p))
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (regenerate with -update)", err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Export wrote %s different from %s (%d bytes, want %d); if the change is intended, run go test ./onnx -run Golden -update", filepath.Base(p), golden, len(got), len(want))
		}
	}

	raw, err := os.ReadFile(ioPath)
	if err != nil {
		t.Fatal(err)
	}
	var io goldenIO
	if err := json.Unmarshal(raw, &io); err != nil {
		t.Fatal(err)
	}
	needORT(t)
	a := s.Arch
	bs, k, m := io.Batch, a.Classes, a.Latent
	file := func(role string) string { return filepath.Join(goldenDir, role+".onnx") }
	x := feed{"x", i64(bs, a.InC, a.InH, a.InW), io.X}
	lat := i64(bs, k, m)

	out, _ := runFile(t, file(onnx.RoleEncoder), []string{"mu", "logvar"}, x)
	compare(t, "encoder mu", out[0], naive.To64(io.EncMu), fwdTol)
	compare(t, "encoder logvar", out[1], naive.To64(io.EncLogvar), fwdTol)
	out, _ = runFile(t, file(onnx.RoleDecoders), []string{"rec"}, feed{"z", lat, io.Z})
	compare(t, "decoders rec", out[0], naive.To64(io.Rec), fwdTol)
	out, _ = runFile(t, file(onnx.RoleDiscriminator), []string{"logit"}, feed{"z", i64(bs, m), io.ZDisc})
	compare(t, "discriminator logit", out[0], naive.To64(io.Logit), fwdTol)
	out, _ = runFile(t, file(onnx.RoleLatentStep), []string{"loss", "rec", "grad_mu", "grad_logvar"},
		x, feed{"mu", lat, io.Mu}, feed{"logvar", lat, io.Logvar}, feed{"eps", lat, io.Eps})
	compare(t, "latent_step loss", out[0], naive.To64(io.Loss), fwdTol)
	compare(t, "latent_step rec", out[1], naive.To64(io.StepRec), fwdTol)
	for i, g := range []struct {
		name string
		want []float32
	}{{"grad_mu", io.GradMu}, {"grad_logvar", io.GradLogvar}} {
		got := out[2+i]
		scale := maxAbs(got)
		for j := range g.want {
			want := float64(g.want[j])
			if d := math.Abs(float64(got[j])-want) / max(math.Abs(want), scale); d > fdTol {
				t.Errorf("latent_step %s[%d] = %v, want %v", g.name, j, got[j], g.want[j])
			}
		}
	}
}
