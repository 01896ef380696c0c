package onnx

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/eabs/eabs/models"
)

// Metadata keys written on every exported file.
const (
	// MetaFormat is the version of the eabs export conventions (FormatVersion).
	MetaFormat = "eabs.format"
	// MetaRole is which part of the model the file holds (RoleEncoder, ...).
	MetaRole = "eabs.role"
	// MetaSpec is the models.Spec as JSON.
	MetaSpec = "eabs.spec"
	// MetaDataset is the dataset the model was trained on.
	MetaDataset = "eabs.dataset"
	// MetaModel is the model name, models.Spec.Name() ("eabs", "abs", "cnn", ...).
	MetaModel = "eabs.model"
	// MetaClasses is the number of classes K.
	MetaClasses = "eabs.classes"
	// MetaInputShape is one input image's shape, "CxHxW" ("1x28x28").
	MetaInputShape = "eabs.input_shape"
	// MetaLatent is the latent size M ("0" for the CNN kind).
	MetaLatent = "eabs.latent"
	// MetaBeta is the prior weight beta baked into the latent step.
	MetaBeta = "eabs.beta"
	// MetaWeightsSHA256 is WeightsSHA256 of the exported weights: files exported from
	// the same weights carry the same value.
	MetaWeightsSHA256 = "eabs.weights_sha256"
	// MetaDecoderLayout records how the K decoders were batched (DecoderLayout).
	MetaDecoderLayout = "eabs.decoder_layout"
	// MetaEval is where callers store inference settings as JSON
	// (ExportOptions.Meta); Export itself does not write it.
	MetaEval = "eabs.eval"
)

// FormatVersion is the value of MetaFormat that this package writes and accepts.
const FormatVersion = "1"

// File roles: the value of MetaRole, and the base name of the file ("<role>.onnx").
const (
	RoleEncoder       = "encoder"
	RoleDecoders      = "decoders"
	RoleDiscriminator = "discriminator"
	RoleLatentStep    = "latent_step"
	RoleCNN           = "cnn"
)

// WeightsSHA256 is the hex SHA-256 of every parameter's float32 values, little-endian,
// in layout order (the order of w.Params): a fingerprint that matches ONNX files to
// the weights, and to one another.
func WeightsSHA256(w *models.Weights) string {
	h := sha256.New()
	var buf []byte
	for _, p := range w.Params {
		buf = buf[:0]
		for _, v := range p.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// baseMetadata is the metadata every exported file carries.
func baseMetadata(w *models.Weights, role, dataset, layout string) (map[string]string, error) {
	s := w.Spec
	spec, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("onnx: encode spec: %w", err)
	}
	latent := s.Arch.Latent
	if s.Kind == models.CNN {
		latent = 0
	}
	m := map[string]string{
		MetaFormat:        FormatVersion,
		MetaRole:          role,
		MetaSpec:          string(spec),
		MetaDataset:       dataset,
		MetaModel:         s.Name(),
		MetaClasses:       strconv.Itoa(s.Arch.Classes),
		MetaInputShape:    fmt.Sprintf("%dx%dx%d", s.Arch.InC, s.Arch.InH, s.Arch.InW),
		MetaLatent:        strconv.Itoa(latent),
		MetaBeta:          strconv.FormatFloat(s.Beta, 'g', -1, 64),
		MetaWeightsSHA256: WeightsSHA256(w),
	}
	if layout != "" {
		m[MetaDecoderLayout] = layout
	}
	return m, nil
}

// CompatError reports an ONNX file that eabs cannot use in the requested role: not
// exported by eabs, another format version or role, or inconsistent metadata.
type CompatError struct {
	Path string
	Msg  string
}

func (e *CompatError) Error() string {
	if e.Path == "" {
		return "onnx: " + e.Msg
	}
	return "onnx: " + e.Path + ": " + e.Msg
}

// CheckCompatible checks that info describes a file exported by this package's
// Export for the given role, and returns the model's Spec. It refuses files without
// eabs metadata (models exported by other tools), another format version, another
// role, a spec that does not decode or validate, metadata that contradicts the spec,
// and inputs or outputs that do not have the names and shapes the role defines.
func CheckCompatible(info *ModelInfo, role string) (models.Spec, error) {
	fail := func(format string, args ...any) (models.Spec, error) {
		return models.Spec{}, &CompatError{Path: info.Path, Msg: fmt.Sprintf(format, args...)}
	}
	md := info.Metadata
	format, ok := md[MetaFormat]
	if !ok {
		return fail("no eabs metadata (%s): not a model exported by eabs (producer %q)", MetaFormat, info.ProducerName)
	}
	if format != FormatVersion {
		return fail("eabs export format %q, this eabs reads format %q", format, FormatVersion)
	}
	if got := md[MetaRole]; got != role {
		return fail("holds the %q part of a model, want %q", got, role)
	}
	var s models.Spec
	if err := json.Unmarshal([]byte(md[MetaSpec]), &s); err != nil {
		return fail("bad %s metadata: %v", MetaSpec, err)
	}
	if err := s.Validate(); err != nil {
		return fail("bad %s metadata: %v", MetaSpec, err)
	}
	a := s.Arch
	if got, want := md[MetaModel], s.Name(); got != want {
		return fail("metadata says model %q, its spec is %q", got, want)
	}
	if got, want := md[MetaClasses], strconv.Itoa(a.Classes); got != want {
		return fail("metadata says %s classes, its spec has %s", got, want)
	}
	if got, want := md[MetaInputShape], fmt.Sprintf("%dx%dx%d", a.InC, a.InH, a.InW); got != want {
		return fail("metadata says input shape %s, its spec has %s", got, want)
	}
	switch role {
	case RoleCNN:
		if s.Kind != models.CNN {
			return fail("role %q for a %q model", role, s.Name())
		}
	case RoleEncoder, RoleDecoders, RoleLatentStep:
		if s.Kind != models.Generative {
			return fail("role %q for a %q model", role, s.Name())
		}
	case RoleDiscriminator:
		if !s.HasDiscriminator() {
			return fail("role %q for a %q model, which has no discriminator", role, s.Name())
		}
	default:
		return fail("unknown role %q", role)
	}
	io := ioShapes(s, role)
	for _, want := range io.in {
		if err := checkValue(info.Input(want.Name), want, "input"); err != "" {
			return fail("%s", err)
		}
	}
	for _, want := range io.out {
		if err := checkValue(info.Output(want.Name), want, "output"); err != "" {
			return fail("%s", err)
		}
	}
	return s, nil
}

func checkValue(got *ValueInfo, want ValueInfo, what string) string {
	if got == nil {
		return fmt.Sprintf("no %s %q", what, want.Name)
	}
	if got.ElemType != want.ElemType {
		return fmt.Sprintf("%s %q is %v, want %v", what, want.Name, got.ElemType, want.ElemType)
	}
	if !sameShape(got.Shape, want.Shape) {
		return fmt.Sprintf("%s %q has shape %v, want %v", what, want.Name, got.Shape, want.Shape)
	}
	return ""
}

// sameShape compares fixed sizes exactly and accepts any symbolic or unknown size
// where want is symbolic.
func sameShape(got, want []Dim) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if want[i].Param == "" && (got[i].Param != "" || got[i].Size != want[i].Size) {
			return false
		}
	}
	return true
}

// SameWeights reports an error unless all the files were exported from the same
// weights (equal MetaWeightsSHA256).
func SameWeights(infos ...*ModelInfo) error {
	if len(infos) == 0 {
		return nil
	}
	ref := infos[0].Metadata[MetaWeightsSHA256]
	for _, info := range infos[1:] {
		if got := info.Metadata[MetaWeightsSHA256]; got != ref || ref == "" {
			return &CompatError{Path: info.Path, Msg: fmt.Sprintf("exported from other weights (%s %q) than %s (%q)",
				MetaWeightsSHA256, got, infos[0].Path, ref)}
		}
	}
	return nil
}

// roleIO lists the inputs and outputs of one role's graph.
type roleIO struct{ in, out []ValueInfo }

// Batch is the symbolic batch dimension of every exported graph.
const Batch = "batch"

func ioShapes(s models.Spec, role string) roleIO {
	a := s.Arch
	k, m := a.Classes, a.Latent
	v := func(name string, sizes ...int) ValueInfo {
		return ValueInfo{Name: name, ElemType: Float, Shape: Shape(Batch, sizes...)}
	}
	x := v("x", a.InC, a.InH, a.InW)
	switch role {
	case RoleCNN:
		return roleIO{[]ValueInfo{x}, []ValueInfo{v("logits", k)}}
	case RoleEncoder:
		e := s.Encoders()
		return roleIO{[]ValueInfo{x}, []ValueInfo{v("mu", e, m), v("logvar", e, m)}}
	case RoleDecoders:
		return roleIO{[]ValueInfo{v("z", k, m)}, []ValueInfo{v("rec", k, a.InC, a.InH, a.InW)}}
	case RoleDiscriminator:
		return roleIO{[]ValueInfo{v("z", m)}, []ValueInfo{v("logit", 1)}}
	case RoleLatentStep:
		return roleIO{
			[]ValueInfo{x, v("mu", k, m), v("logvar", k, m), v("eps", k, m)},
			[]ValueInfo{v("loss", k), v("rec", k, a.InC, a.InH, a.InW), v("grad_mu", k, m), v("grad_logvar", k, m)},
		}
	}
	return roleIO{}
}
