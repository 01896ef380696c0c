package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/onnx"
	"github.com/eabs/eabs/runtime"
)

// Model runs an exported generative model (the files onnx.Export writes into one
// directory) with ONNX Runtime: one reused session per file, dynamic batch size.
type Model struct {
	spec                   models.Spec
	enc, dec, disc, latent *Session
}

var (
	_ runtime.Model         = (*Model)(nil)
	_ runtime.Discriminator = (*Model)(nil)
)

// OpenModel opens the exported files in dir. Each file must carry eabs metadata for its
// role, all must come from the same weights, and every file must have the bytes the
// export's manifest records (onnx.VerifyExport); otherwise the error names the file
// and what is wrong with it. Init must have succeeded.
func OpenModel(dir string, opts Options) (*Model, error) {
	infos, spec, err := readExport(dir)
	if err != nil {
		return nil, err
	}
	if spec.Kind != models.Generative {
		return nil, fmt.Errorf("ort: %s holds a %s model, not a generative one", dir, spec.Name())
	}
	m := &Model{spec: spec}
	open := func(role string) (*Session, error) {
		o := opts
		o.InputNames, o.OutputNames = ioNames[role][0], ioNames[role][1]
		return Open(infos[role].Path, o)
	}
	if m.enc, err = open(onnx.RoleEncoder); err == nil {
		if m.dec, err = open(onnx.RoleDecoders); err == nil {
			if m.latent, err = open(onnx.RoleLatentStep); err == nil && spec.HasDiscriminator() {
				m.disc, err = open(onnx.RoleDiscriminator)
			}
		}
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// ioNames fixes the order in which each role's inputs and outputs are passed.
var ioNames = map[string][2][]string{
	onnx.RoleEncoder:       {{"x"}, {"mu", "logvar"}},
	onnx.RoleDecoders:      {{"z"}, {"rec"}},
	onnx.RoleDiscriminator: {{"z"}, {"logit"}},
	onnx.RoleLatentStep:    {{"x", "mu", "logvar", "eps"}, {"loss", "rec", "grad_mu", "grad_logvar"}},
	onnx.RoleCNN:           {{"x"}, {"logits"}},
}

// readExport reads and checks the metadata of every file a model's export holds.
func readExport(dir string) (map[string]*onnx.ModelInfo, models.Spec, error) {
	infos := map[string]*onnx.ModelInfo{}
	var spec models.Spec
	roles := []string{onnx.RoleEncoder}
	if _, err := os.Stat(filepath.Join(dir, onnx.RoleCNN+".onnx")); err == nil {
		roles = []string{onnx.RoleCNN}
	}
	for i := 0; i < len(roles); i++ {
		role := roles[i]
		path := filepath.Join(dir, role+".onnx")
		info, err := onnx.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, spec, fmt.Errorf("ort: %s has no %s.onnx: export the model first (eabs export MODEL --out %s)", dir, role, dir)
		}
		if err != nil {
			return nil, spec, err
		}
		s, err := onnx.CheckCompatible(info, role)
		if err != nil {
			return nil, spec, err
		}
		if i == 0 {
			spec = s
			roles = onnx.Roles(s)
		}
		infos[role] = info
	}
	all := make([]*onnx.ModelInfo, 0, len(infos))
	for _, r := range roles {
		all = append(all, infos[r])
	}
	if err := onnx.SameWeights(all...); err != nil {
		return nil, spec, err
	}
	// The metadata names the weights; the manifest's hashes show the files still hold
	// them (a changed initializer leaves the metadata as it was).
	sha, err := onnx.VerifyExport(dir)
	if err != nil {
		return nil, spec, err
	}
	if got := all[0].Metadata[onnx.MetaWeightsSHA256]; got != sha {
		return nil, spec, fmt.Errorf("ort: %s: the files say weights %s, the manifest %s", dir, got, sha)
	}
	return infos, spec, nil
}

// Spec implements runtime.Model.
func (m *Model) Spec() models.Spec { return m.spec }

func shape(batch int, dims ...int) []int64 {
	s := []int64{int64(batch)}
	for _, d := range dims {
		s = append(s, int64(d))
	}
	return s
}

// Encode implements runtime.Model.
func (m *Model) Encode(x []float32, batch int) (mu, logvar []float32, err error) {
	a := m.spec.Arch
	if err := runtime.CheckBatch("x", x, batch, a.Pixels()); err != nil {
		return nil, nil, err
	}
	out, err := m.enc.RunRows(batch, []Tensor{{Shape: shape(batch, a.InC, a.InH, a.InW), Data: x}})
	if err != nil {
		return nil, nil, err
	}
	return out[0].Data, out[1].Data, nil
}

// Decode implements runtime.Model.
func (m *Model) Decode(z []float32, batch int) ([]float32, error) {
	a := m.spec.Arch
	if err := runtime.CheckBatch("z", z, batch, a.Classes*a.Latent); err != nil {
		return nil, err
	}
	out, err := m.dec.RunRows(batch, []Tensor{{Shape: shape(batch, a.Classes, a.Latent), Data: z}})
	if err != nil {
		return nil, err
	}
	return out[0].Data, nil
}

// DiscLogit implements runtime.Discriminator.
func (m *Model) DiscLogit(z []float32, n int) ([]float32, error) {
	if m.disc == nil {
		return nil, fmt.Errorf("ort: %s model has no discriminator", m.spec.Name())
	}
	if err := runtime.CheckBatch("z", z, n, m.spec.Arch.Latent); err != nil {
		return nil, err
	}
	out, err := m.disc.RunRows(n, []Tensor{{Shape: shape(n, m.spec.Arch.Latent), Data: z}})
	if err != nil {
		return nil, err
	}
	return out[0].Data, nil
}

// LatentStep implements runtime.Model.
func (m *Model) LatentStep(x, mu, logvar, eps []float32, batch int) (*runtime.Step, error) {
	a := m.spec.Arch
	K, M := a.Classes, a.Latent
	if err := runtime.CheckLatentStep(m.spec, x, mu, logvar, eps, batch); err != nil {
		return nil, err
	}
	zs := shape(batch, K, M)
	out, err := m.latent.RunRows(batch, []Tensor{
		{Shape: shape(batch, a.InC, a.InH, a.InW), Data: x},
		{Shape: zs, Data: mu}, {Shape: zs, Data: logvar}, {Shape: zs, Data: eps}})
	if err != nil {
		return nil, err
	}
	return &runtime.Step{Loss: out[0].Data, Rec: out[1].Data, GradMu: out[2].Data, GradLogvar: out[3].Data}, nil
}

// Close implements runtime.Model.
func (m *Model) Close() error {
	var errs []error
	for _, s := range []*Session{m.enc, m.dec, m.disc, m.latent} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
