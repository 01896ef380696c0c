package onnx

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/eabs/eabs/models"
)

// DecoderLayout is how the K class decoders are laid out in one graph.
//
// Both layouts compute the same values. Grouped is the default: in ONNX Runtime 1.24
// on this project's 2-core CPU, for the MNIST E-ABS model (K = 10), one intra-op
// thread, CPU time per image (BenchmarkDecoderLayouts, a loaded machine, so ±5%):
//
//	                     batch 1   batch 16   batch 128
//	decoders  grouped    3.96 ms    2.54 ms    2.18 ms
//	          branches   4.27 ms    2.49 ms    2.18 ms
//	latent    grouped    4.09 ms    4.33 ms    3.85 ms
//	step      branches   5.12 ms    3.97 ms    3.80 ms
//
// Throughput is the same at large batches (the convolutions dominate and ONNX Runtime
// runs both at the same speed); at batch 1 the grouped graph, with K times fewer
// nodes, is 7-20% faster, and with two threads its fastest run was 2-3 times faster
// than the branches' (2.7 against 7.7 ms per image for the decoders).
type DecoderLayout string

const (
	// Grouped runs the K decoders as one network: a batched MatMul for the K fully
	// connected layers, then grouped (group = K) transposed convolutions whose weights
	// are the K decoders' weights concatenated along the input-channel axis, and
	// BatchNorm over K*channels. One node per layer, whatever K.
	Grouped DecoderLayout = "grouped"
	// Branches runs K independent copies of the decoder, one per class, and
	// concatenates their outputs.
	Branches DecoderLayout = "branches"
)

// ExportOptions tunes Export.
type ExportOptions struct {
	// Dataset is written as eabs.dataset; empty means the architecture's name.
	Dataset string
	// Meta holds extra metadata written on every file, such as inference settings as
	// JSON under MetaEval. It may not override a key that Export writes.
	Meta map[string]string
	// DecoderLayout selects how decoders.onnx and latent_step.onnx batch the K
	// decoders; empty means Grouped, the faster in ONNX Runtime on CPU (see
	// DecoderLayout).
	DecoderLayout DecoderLayout
	// Roles restricts the export to these roles; nil means every role the model has
	// (Roles).
	Roles []string
	// OnnxGo writes the encoder, CNN and discriminator graphs only in operator forms
	// that onnx-go v0.5.0's Gorgonia backend runs correctly (runtime/onnxgo uses it).
	// The values, inputs, outputs (batch still symbolic) and metadata are the same,
	// and ONNX Runtime runs these files too; decoders.onnx and latent_step.onnx are
	// unchanged (onnx-go cannot run them: it has no ConvTranspose). The forms:
	//
	//   - each encoder is its own branch (onnx-go has no Tile, and Conv ignores
	//     group); their outputs are concatenated and reshaped to [B, E, M] (its
	//     MatMul is 2-D only);
	//   - [B, 1, M] is made by Reshape, not Unsqueeze (onnx-go reads Unsqueeze's
	//     axes as the attribute of opset 11, not the input of opset 13);
	//   - fully connected layers are MatMul then Add of the bias reshaped to [1, n],
	//     not Gemm (onnx-go's Gemm at batch 1 accumulates into its bias initializer,
	//     so every run adds x·W again) and not Add of an [n] bias (onnx-go guesses
	//     the broadcast axis by size and fails when the batch equals n).
	OnnxGo bool
}

// Roles lists the files a model exports: RoleCNN for the CNN kind; otherwise the
// encoder, the decoders, the discriminator when the model has one, and the latent
// step.
func Roles(s models.Spec) []string {
	if s.Kind == models.CNN {
		return []string{RoleCNN}
	}
	r := []string{RoleEncoder, RoleDecoders}
	if s.HasDiscriminator() {
		r = append(r, RoleDiscriminator)
	}
	return append(r, RoleLatentStep)
}

// Export writes the ONNX files of the model with weights w to dir, one per role
// ("<role>.onnx"; see Roles), each atomically, then the manifest (ManifestFile) with
// their hashes, and returns the ONNX files' paths (on error, those of the files written
// before it). Every file uses
// opset 13 and IR version 7, holds the weights as initializers, has a symbolic batch
// dimension "batch", and carries the eabs metadata (MetaFormat and the other Meta*
// keys) plus opts.Meta.
//
// The graphs compute, per batch element (B is the batch, E = Spec.Encoders(), K the
// classes, M the latent size, C×H×W the image shape):
//
//	encoder.onnx        x [B,C,H,W] -> mu, logvar [B,E,M]
//	cnn.onnx            x [B,C,H,W] -> logits [B,K]
//	decoders.onnx       z [B,K,M] -> rec [B,K,C,H,W], rec[b,k] = G_k(z[b,k])
//	discriminator.onnx  z [B,M] -> logit [B,1], D(z) = sigmoid(logit)
//	latent_step.onnx    x [B,C,H,W], mu, logvar, eps [B,K,M] ->
//	                    loss [B,K], rec [B,K,C,H,W], grad_mu, grad_logvar [B,K,M]
//
// In the latent step z = mu + exp(logvar/2)*eps, rec[b,k] = G_k(z[b,k]) and
// loss[b,k] = ||x[b] - rec[b,k]||^2 + prior, where the prior is
// beta*softplus(-logit(z[b,k])) = -beta*log D(z) for adversarial models and the KL
// term beta/2*sum_m(mu^2 + exp(logvar) - logvar - 1) otherwise; grad_mu and
// grad_logvar are the gradients of sum(loss) with respect to mu and logvar, computed by
// vector-Jacobian products written as ONNX operators.
func Export(w *models.Weights, dir string, opts ExportOptions) ([]string, error) {
	roles := opts.Roles
	if roles == nil {
		roles = Roles(w.Spec)
	}
	var paths []string
	for _, role := range roles {
		m, err := BuildModel(w, role, opts)
		if err != nil {
			return paths, err
		}
		path := filepath.Join(dir, role+".onnx")
		if err := m.WriteFile(path); err != nil {
			return paths, fmt.Errorf("onnx: export %s: %w", role, err)
		}
		paths = append(paths, path)
	}
	if err := writeManifest(dir, WeightsSHA256(w), paths); err != nil {
		return paths, fmt.Errorf("onnx: export manifest: %w", err)
	}
	return paths, nil
}

// BuildModel builds the model of one role (see Export) in memory.
func BuildModel(w *models.Weights, role string, opts ExportOptions) (*Model, error) {
	s := w.Spec
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if !slices.Contains(Roles(s), role) {
		return nil, fmt.Errorf("onnx: a %q model has no %q role (roles: %s)", s.Name(), role, strings.Join(Roles(s), ", "))
	}
	for _, p := range w.Params {
		if len(p.Data) != models.Size(p.Shape) {
			return nil, fmt.Errorf("onnx: parameter %s has %d values for shape %v", p.Name, len(p.Data), p.Shape)
		}
	}
	layout := opts.DecoderLayout
	switch layout {
	case "":
		layout = Grouped
	case Grouped, Branches:
	default:
		return nil, fmt.Errorf("onnx: unknown decoder layout %q", layout)
	}
	dataset := opts.Dataset
	if dataset == "" {
		dataset = s.Arch.Name
	}
	var metaLayout string
	if role == RoleDecoders || role == RoleLatentStep {
		metaLayout = string(layout)
	}
	meta, err := baseMetadata(w, role, dataset, metaLayout)
	if err != nil {
		return nil, err
	}
	for k, v := range opts.Meta {
		if _, ok := meta[k]; ok {
			return nil, fmt.Errorf("onnx: ExportOptions.Meta may not set %q, which Export writes", k)
		}
		meta[k] = v
	}

	b := &builder{
		g:      NewGraph("eabs_" + s.Name() + "_" + role),
		w:      w,
		s:      s,
		a:      s.Arch,
		layout: layout,
		onnxgo: opts.OnnxGo && role != RoleLatentStep, // onnx-go cannot run it anyway
		inits:  map[string]string{},
	}
	io := ioShapes(s, role)
	in := map[string]string{}
	for _, v := range io.in {
		in[v.Name] = b.g.Input(v.Name, v.Shape...)
	}
	var out map[string]string
	switch role {
	case RoleCNN:
		out = map[string]string{"logits": b.cnn(in["x"])}
	case RoleEncoder:
		mu, logvar := b.encoder(in["x"])
		out = map[string]string{"mu": mu, "logvar": logvar}
	case RoleDecoders:
		out = map[string]string{"rec": b.decoders(in["z"])}
	case RoleDiscriminator:
		logit, _ := b.disc(in["z"])
		out = map[string]string{"logit": logit}
	case RoleLatentStep:
		out = b.latentStep(in["x"], in["mu"], in["logvar"], in["eps"])
	}
	for _, v := range io.out {
		b.g.Output(v.Name, out[v.Name], v.Shape...)
	}
	b.g.SetDoc(graphDoc(s, role))
	return &Model{Graph: b.g, ProducerVersion: FormatVersion, Metadata: meta}, b.g.Err()
}

func graphDoc(s models.Spec, role string) string {
	a := s.Arch
	head := fmt.Sprintf("eabs %s model on %s (%d classes, input %dx%dx%d, latent %d): ", s.Name(), a.Name, a.Classes, a.InC, a.InH, a.InW, a.Latent)
	switch role {
	case RoleCNN:
		return head + "x [B,C,H,W] -> logits [B,K]."
	case RoleEncoder:
		return head + "x [B,C,H,W] -> mean mu and log-variance logvar [B,E,M] of Q(z|x), one row per encoder."
	case RoleDecoders:
		return head + "z [B,K,M] -> rec [B,K,C,H,W] = G_k(z[:,k]) for every class k."
	case RoleDiscriminator:
		return head + "z [N,M] -> logit [N,1], D(z) = sigmoid(logit)."
	}
	return head + "x [B,C,H,W], mu, logvar, eps [B,K,M]; z = mu + exp(logvar/2)*eps; " +
		"loss[b,k] = ||x - G_k(z)||^2 + prior (beta*softplus(-logit(z)) if adversarial, else beta*KL); " +
		"rec = G_k(z); grad_mu, grad_logvar = d sum(loss) / d mu, logvar."
}

// builder emits one role's graph.
type builder struct {
	g      *Graph
	w      *models.Weights
	s      models.Spec
	a      models.Arch
	layout DecoderLayout
	onnxgo bool              // use the forms of ExportOptions.OnnxGo
	inits  map[string]string // initializers already added, by name
}

// param adds the named parameter as an initializer (once) and returns its name.
func (b *builder) param(name string) string {
	if n, ok := b.inits[name]; ok {
		return n
	}
	p := b.w.MustParam(name)
	n := b.g.Initializer(name, p.Shape, p.Data)
	b.inits[name] = n
	return n
}

// stacked adds the parameters prefix+suffix of every prefix concatenated in order, as
// one initializer of the given shape, and returns its name. With one prefix it is the
// parameter itself, whose shape must then be the given one.
func (b *builder) stacked(prefixes []string, suffix string, shape []int) string {
	if len(prefixes) == 1 {
		if p := b.w.MustParam(prefixes[0] + suffix); !slices.Equal(p.Shape, shape) {
			panic(fmt.Sprintf("onnx: internal error: %s has shape %v, used as %v", p.Name, p.Shape, shape))
		}
		return b.param(prefixes[0] + suffix)
	}
	name := stackedName(prefixes, suffix)
	if n, ok := b.inits[name]; ok {
		return n
	}
	var data []float32
	for _, p := range prefixes {
		data = append(data, b.w.MustParam(p+suffix).Data...)
	}
	n := b.g.Initializer(name, shape, data)
	b.inits[name] = n
	return n
}

// convTWeights returns the stacked weights [G*in, out, k, k] of transposed convolution
// i of the decoders of prefixes.
func (b *builder) convTWeights(prefixes []string, i, in int) string {
	l := b.a.Decoder[i]
	return b.stacked(prefixes, fmt.Sprintf(".convt%d.w", i), []int{len(prefixes) * in, l.Out, l.Kernel, l.Kernel})
}

// convTranspose applies transposed convolution i of the decoders of prefixes (grouped,
// one group per decoder) to x, which has in channels per group, and adds bias unless
// it is "". ONNX Runtime's ConvTranspose runs at half the speed of its Conv on the same
// work (tools/ortprofile), so a stride-1 layer is written as the Conv with the kernel
// flipped, in and out channels swapped and padding k-1-p. Its weights are computed in
// the graph from the stored ones (Reshape, Transpose, reversing Slice), which ONNX
// Runtime folds into a constant when it loads the model, so the file holds the weights
// once. Strided layers stay ConvTranspose: their sub-pixel form (one Conv computing
// every output phase, then DepthToSpace) was measured slower on the MNIST decoders,
// 90 against 68 ms per latent step at batch 16, the interleave alone 12 ms.
func (b *builder) convTranspose(x string, prefixes []string, i, in int, bias string) string {
	l := b.a.Decoder[i]
	g, ci, co, k := int64(len(prefixes)), int64(in), int64(l.Out), int64(l.Kernel)
	w := b.convTWeights(prefixes, i, in) // [g*in, out, k, k]
	op, attrs := "ConvTranspose", convAttrs(l, len(prefixes))
	if l.Stride == 1 && l.Pad <= l.Kernel-1 {
		w = b.reshape(w, g, ci, co, k, k)
		w = b.transpose(w, 0, 2, 1, 3, 4) // [g, out, in, k, k]
		w = b.g.Op("Slice", []string{w, b.g.Ints(-1, -1), b.g.Ints(-k-1, -k-1), b.g.Ints(3, 4), b.g.Ints(-1, -1)})
		w = b.reshape(w, g*co, ci, k, k)
		op = "Conv"
		attrs = convAttrs(models.Layer{Out: l.Out, Kernel: l.Kernel, Stride: 1, Pad: l.Kernel - 1 - l.Pad}, len(prefixes))
	}
	if bias == "" {
		return b.op(op, attrs, x, w)
	}
	return b.op(op, attrs, x, w, bias)
}

// Small helpers over Graph for the operators used below.

func (b *builder) op(op string, attrs []Attr, in ...string) string { return b.g.Op(op, in, attrs...) }
func (b *builder) add(x, y string) string                          { return b.g.Op("Add", []string{x, y}) }
func (b *builder) sub(x, y string) string                          { return b.g.Op("Sub", []string{x, y}) }
func (b *builder) mul(x, y string) string                          { return b.g.Op("Mul", []string{x, y}) }
func (b *builder) matmul(x, y string) string                       { return b.g.Op("MatMul", []string{x, y}) }
func (b *builder) unary(op, x string) string                       { return b.g.Op(op, []string{x}) }
func (b *builder) scale(x string, c float64) string                { return b.mul(x, b.g.Scalar(c)) }

func (b *builder) transpose(x string, perm ...int) string {
	return b.g.Op("Transpose", []string{x}, IntsAttr("perm", perm...))
}

func (b *builder) reshape(x string, shape ...int64) string {
	return b.g.Op("Reshape", []string{x, b.g.Ints(shape...)})
}

// mask returns g where pre > 0 and slope*g elsewhere (0 for slope 0): the
// vector-Jacobian product of ReLU (slope 0) or LeakyReLU at pre. The derivative at
// exactly 0 is taken as the slope.
func (b *builder) mask(pre, g string, slope float64) string {
	pos := b.g.Op("Greater", []string{pre, b.g.Scalar(0)})
	neg := b.g.Scalar(0)
	if slope != 0 {
		neg = b.scale(g, slope)
	}
	return b.g.Op("Where", []string{pos, g, neg})
}

func convAttrs(l models.Layer, groups int) []Attr {
	return []Attr{
		IntsAttr("kernel_shape", l.Kernel, l.Kernel),
		IntsAttr("strides", l.Stride, l.Stride),
		IntsAttr("pads", l.Pad, l.Pad, l.Pad, l.Pad),
		IntAttr("group", groups),
	}
}

func (b *builder) batchNorm(x string, prefixes []string, bn string, c int) string {
	shape := []int{len(prefixes) * c}
	return b.g.Op("BatchNormalization", []string{
		x,
		b.stacked(prefixes, bn+".gamma", shape),
		b.stacked(prefixes, bn+".beta", shape),
		b.stacked(prefixes, bn+".mean", shape),
		b.stacked(prefixes, bn+".var", shape),
	}, FloatAttr("epsilon", models.BNEpsilon))
}

// bnScale returns gamma/sqrt(var+eps) as a [G*c, 1, 1] tensor: the Jacobian of
// eval-mode BatchNorm, a per-channel scale. It is computed from the same initializers
// as the forward BatchNorm (ONNX Runtime folds it into a constant).
func (b *builder) bnScale(prefixes []string, bn string, c int) string {
	shape := []int{len(prefixes) * c}
	gamma := b.stacked(prefixes, bn+".gamma", shape)
	v := b.stacked(prefixes, bn+".var", shape)
	sd := b.unary("Sqrt", b.add(v, b.g.Scalar(models.BNEpsilon)))
	return b.reshape(b.g.Op("Div", []string{gamma, sd}), int64(shape[0]), 1, 1)
}

// encoderPrefixes are the encoders' parameter prefixes.
func (b *builder) encoderPrefixes() []string {
	ps := make([]string, b.s.Encoders())
	for e := range ps {
		ps[e] = models.EncoderPrefix(b.s, e)
	}
	return ps
}

// features runs the convolution stacks of the encoders with parameter prefixes ps on
// x [B,C,H,W] as one grouped network (the input is tiled E = len(ps) times) and
// returns [B, E*C_L, H_L, W_L].
func (b *builder) features(x string, ps []string) string {
	e := len(ps)
	h := x
	if e > 1 {
		h = b.g.Op("Tile", []string{x, b.g.Ints(1, int64(e), 1, 1)})
	}
	in := b.a.InC
	for i, l := range b.a.Encoder {
		wt := b.stacked(ps, fmt.Sprintf(".conv%d.w", i), []int{e * l.Out, in, l.Kernel, l.Kernel})
		h = b.op("Conv", convAttrs(l, e), h, wt)
		h = b.batchNorm(h, ps, fmt.Sprintf(".bn%d", i), l.Out)
		h = b.op("LeakyRelu", []Attr{FloatAttr("alpha", b.a.LeakySlope)}, h)
		in = l.Out
	}
	return h
}

// heads applies the dense heads named suffix (".mu", ".logvar", ".cls") of every
// encoder to the features and returns [B, E, n] (E = 1: [B, n] when flat is set).
func (b *builder) heads(feat, suffix string, n int, flat bool) string {
	ps := b.encoderPrefixes()
	e, f := len(ps), b.a.Features()
	if e == 1 {
		h := b.g.Op("Flatten", []string{feat}, IntAttr("axis", 1))
		y := b.g.Op("Gemm", []string{h, b.param(ps[0] + suffix + ".w"), b.param(ps[0] + suffix + ".b")})
		if flat {
			return y
		}
		return b.g.Op("Unsqueeze", []string{y, b.g.Ints(1)})
	}
	h := b.transpose(b.reshape(feat, 0, int64(e), int64(f)), 1, 0, 2) // [E, B, F]
	y := b.matmul(h, b.stacked(ps, suffix+".w", []int{e, f, n}))
	y = b.add(y, b.stacked(ps, suffix+".b", []int{e, 1, n}))
	return b.transpose(y, 1, 0, 2)
}

func (b *builder) encoder(x string) (mu, logvar string) {
	m := b.a.Latent
	if b.onnxgo {
		return b.encoderBranches(x)
	}
	feat := b.features(x, b.encoderPrefixes())
	return b.heads(feat, ".mu", m, false), b.heads(feat, ".logvar", m, false)
}

// encoderBranches is the encoder in the onnx-go forms (ExportOptions.OnnxGo): one
// branch per encoder, whose heads' [B, M] outputs are concatenated and reshaped to
// [B, E, M].
func (b *builder) encoderBranches(x string) (mu, logvar string) {
	ps := b.encoderPrefixes()
	m := b.a.Latent
	var mus, logvars []string
	for _, p := range ps {
		h := b.g.Op("Flatten", []string{b.features(x, []string{p})}, IntAttr("axis", 1))
		mus = append(mus, b.dense(h, p+".mu"))
		logvars = append(logvars, b.dense(h, p+".logvar"))
	}
	e := int64(len(ps))
	return b.reshape(b.concat(mus, 1), 0, e, int64(m)), b.reshape(b.concat(logvars, 1), 0, e, int64(m))
}

func (b *builder) cnn(x string) string {
	feat := b.features(x, b.encoderPrefixes())
	if b.onnxgo {
		h := b.g.Op("Flatten", []string{feat}, IntAttr("axis", 1))
		return b.dense(h, b.encoderPrefixes()[0]+".cls")
	}
	return b.heads(feat, ".cls", b.a.Classes, true)
}

// dense applies the fully connected layer prefix.w [in, n], prefix.b [n] to h
// [..., in] in the onnx-go form (ExportOptions.OnnxGo): MatMul, then Add of the bias
// reshaped to [1, n].
func (b *builder) dense(h, prefix string) string {
	n := b.w.MustParam(prefix + ".b").Shape[0]
	bias := b.reshape(b.param(prefix+".b"), 1, int64(n))
	return b.add(b.matmul(h, b.param(prefix+".w")), bias)
}

// decoderGroup is a run of classes [k0, k0+len(prefixes)) whose decoders are
// evaluated as one grouped network.
type decoderGroup struct {
	k0       int
	prefixes []string
}

// decoderGroups splits the classes into the groups that share one decoder network:
// one group of K (Grouped) or K groups of one (Branches).
func (b *builder) decoderGroups() []decoderGroup {
	k := b.a.Classes
	all := make([]string, k)
	for i := range all {
		all[i] = models.DecoderPrefix(i)
	}
	if b.layout == Grouped {
		return []decoderGroup{{0, all}}
	}
	groups := make([]decoderGroup, k)
	for i := range groups {
		groups[i] = decoderGroup{i, all[i : i+1]}
	}
	return groups
}

// decoderTrace holds the values of one decoder group's forward pass that its
// vector-Jacobian product needs.
type decoderTrace struct {
	prefixes []string
	fcW      string   // fully connected weights, [M, C0] (G = 1) or [G, M, C0]
	pre      []string // BatchNorm outputs (ReLU inputs) of the hidden layers
	out      string   // sigmoid output [B, G*C, H, W]
}

// sliceClasses returns classes [k0, k0+n) of a [B, K, ...] tensor.
func (b *builder) sliceClasses(v string, k0, n int) string {
	if n == b.a.Classes {
		return v
	}
	return b.g.Op("Slice", []string{v, b.g.Ints(int64(k0)), b.g.Ints(int64(k0 + n)), b.g.Ints(1)})
}

// decoderForward runs the decoders of one group on z [B, G, M].
func (b *builder) decoderForward(z string, ps []string) decoderTrace {
	a := b.a
	g, m, c0 := len(ps), a.Latent, a.Decoder[0].Out
	tr := decoderTrace{prefixes: ps}
	var h string
	if g == 1 {
		tr.fcW = b.param(ps[0] + ".fc.w")
		h = b.g.Op("Gemm", []string{b.reshape(z, 0, int64(m)), tr.fcW, b.param(ps[0] + ".fc.b")})
	} else {
		tr.fcW = b.stacked(ps, ".fc.w", []int{g, m, c0})
		zt := b.transpose(z, 1, 0, 2) // [G, B, M]
		h = b.add(b.matmul(zt, tr.fcW), b.stacked(ps, ".fc.b", []int{g, 1, c0}))
		h = b.transpose(h, 1, 0, 2) // [B, G, C0]
	}
	h = b.reshape(h, 0, int64(g*c0), 1, 1)
	in := c0
	last := len(a.Decoder) - 1
	for i, l := range a.Decoder {
		var bias string
		if i == last {
			bias = b.stacked(ps, fmt.Sprintf(".convt%d.b", i), []int{g * l.Out})
		}
		h = b.convTranspose(h, ps, i, in, bias)
		if i < last {
			u := b.batchNorm(h, ps, fmt.Sprintf(".bn%d", i), l.Out)
			tr.pre = append(tr.pre, u)
			h = b.unary("Relu", u)
		} else {
			h = b.unary("Sigmoid", h)
		}
		in = l.Out
	}
	tr.out = h
	return tr
}

// decoderVJP returns the gradient with respect to z [B, G, M] given gOut, the
// gradient with respect to the decoder output (the sigmoid) [B, G*C, H, W]. The
// input-gradient of a transposed convolution is the convolution with the same
// weights, strides, pads and groups; its output size is exactly the transposed
// convolution's input size, since (((n-1)*s - 2p + k) + 2p - k)/s + 1 = n.
func (b *builder) decoderVJP(tr decoderTrace, gOut string) string {
	a := b.a
	ps := tr.prefixes
	g, c0 := len(ps), a.Decoder[0].Out
	s := tr.out
	grad := b.mul(gOut, b.mul(s, b.sub(b.g.Scalar(1), s))) // sigmoid' = s(1-s)
	for i := len(a.Decoder) - 1; i >= 0; i-- {
		l := a.Decoder[i]
		in := c0
		if i > 0 {
			in = a.Decoder[i-1].Out
		}
		grad = b.op("Conv", convAttrs(l, g), grad, b.convTWeights(ps, i, in))
		if i > 0 {
			bn := fmt.Sprintf(".bn%d", i-1)
			grad = b.mul(b.mask(tr.pre[i-1], grad, 0), b.bnScale(ps, bn, a.Decoder[i-1].Out))
		}
	}
	// grad is d/d h0 [B, G*C0, 1, 1]; back through h0 = z·W + b.
	if g == 1 {
		wT := b.transpose(tr.fcW, 1, 0) // [C0, M]
		gz := b.matmul(b.reshape(grad, 0, int64(c0)), wT)
		return b.g.Op("Unsqueeze", []string{gz, b.g.Ints(1)})
	}
	wT := b.transpose(tr.fcW, 0, 2, 1) // [G, C0, M]
	gh := b.transpose(b.reshape(grad, 0, int64(g), int64(c0)), 1, 0, 2)
	return b.transpose(b.matmul(gh, wT), 1, 0, 2)
}

// stackedName is the initializer name of stacked parameters: the parameter's own name
// for one prefix, else the first and last prefixes joined ("dec0-9.convt0.w").
func stackedName(prefixes []string, suffix string) string {
	if len(prefixes) == 1 {
		return prefixes[0] + suffix
	}
	last := prefixes[len(prefixes)-1]
	return prefixes[0] + "-" + strings.TrimLeft(last, "abcdefghijklmnopqrstuvwxyz") + suffix
}

// decoders runs every class decoder on z [B, K, M] and returns [B, K, C, H, W].
func (b *builder) decoders(z string) string {
	var recs []string
	for _, gr := range b.decoderGroups() {
		n := len(gr.prefixes)
		tr := b.decoderForward(b.sliceClasses(z, gr.k0, n), gr.prefixes)
		recs = append(recs, b.recShape(tr.out, n))
	}
	return b.concat(recs, 1)
}

// recShape reshapes [B, G*C, H, W] to [B, G, C, H, W].
func (b *builder) recShape(v string, g int) string {
	a := b.a
	return b.reshape(v, 0, int64(g), int64(a.InC), int64(a.InH), int64(a.InW))
}

func (b *builder) concat(vs []string, axis int) string {
	if len(vs) == 1 {
		return vs[0]
	}
	return b.g.Op("Concat", vs, IntAttr("axis", axis))
}

// disc runs the discriminator on z [..., M] and returns the logit [..., 1] and the
// pre-activations of its hidden layers.
func (b *builder) disc(z string) (logit string, pre []string) {
	h := z
	n := len(b.a.DiscHidden)
	for i := 0; i <= n; i++ {
		name := fmt.Sprintf("disc.fc%d", i)
		if b.onnxgo {
			h = b.dense(h, name)
		} else {
			h = b.add(b.matmul(h, b.param(name+".w")), b.param(name+".b"))
		}
		if i < n {
			pre = append(pre, h)
			h = b.op("LeakyRelu", []Attr{FloatAttr("alpha", b.a.LeakySlope)}, h)
		}
	}
	return h, pre
}

// discVJP returns the gradient with respect to z given the gradient gLogit with
// respect to the logit.
func (b *builder) discVJP(pre []string, gLogit string) string {
	g := gLogit
	for i := len(pre); i >= 0; i-- {
		if i < len(pre) {
			g = b.mask(pre[i], g, b.a.LeakySlope)
		}
		g = b.matmul(g, b.transpose(b.param(fmt.Sprintf("disc.fc%d.w", i)), 1, 0))
	}
	return g
}

// latentStep builds the latent-step graph (see Export) and returns its outputs by name.
func (b *builder) latentStep(x, mu, logvar, eps string) map[string]string {
	beta := b.s.Beta
	std := b.unary("Exp", b.scale(logvar, 0.5))
	z := b.add(mu, b.mul(std, eps))

	groups := b.decoderGroups()
	traces := make([]decoderTrace, len(groups))
	var recs []string
	for i, gr := range groups {
		n := len(gr.prefixes)
		traces[i] = b.decoderForward(b.sliceClasses(z, gr.k0, n), gr.prefixes)
		recs = append(recs, b.recShape(traces[i].out, n))
	}
	rec := b.concat(recs, 1)                                          // [B, K, C, H, W]
	diff := b.sub(rec, b.g.Op("Unsqueeze", []string{x, b.g.Ints(1)})) // rec - x
	loss := b.g.Op("ReduceSum", []string{b.mul(diff, diff), b.g.Ints(2, 3, 4)}, IntAttr("keepdims", 0))

	// d sum(loss) / d rec = 2 (rec - x), then back through each decoder group.
	gRec := b.scale(diff, 2)
	var gzs []string
	a := b.a
	for i, gr := range groups {
		n := len(gr.prefixes)
		gOut := b.sliceClasses(gRec, gr.k0, n)
		gOut = b.reshape(gOut, 0, int64(n*a.InC), int64(a.InH), int64(a.InW))
		gzs = append(gzs, b.decoderVJP(traces[i], gOut))
	}
	gz := b.concat(gzs, 1) // [B, K, M]

	var gradMu, gradLogvar string
	if b.s.Adversarial {
		// prior = beta*softplus(-logit); d prior / d logit = -beta*sigmoid(-logit).
		logit, pre := b.disc(z) // [B, K, 1]
		negLogit := b.unary("Neg", logit)
		prior := b.scale(b.unary("Softplus", negLogit), beta)
		loss = b.add(loss, b.g.Op("Squeeze", []string{prior, b.g.Ints(2)}))
		gLogit := b.scale(b.unary("Sigmoid", negLogit), -beta)
		gz = b.add(gz, b.discVJP(pre, gLogit))
		gradMu = gz
		gradLogvar = b.mul(b.mul(gz, eps), b.scale(std, 0.5))
	} else {
		// prior = beta/2 * sum_m(mu^2 + exp(logvar) - logvar - 1).
		ev := b.unary("Exp", logvar)
		kl := b.sub(b.sub(b.add(b.mul(mu, mu), ev), logvar), b.g.Scalar(1))
		kl = b.g.Op("ReduceSum", []string{kl, b.g.Ints(2)}, IntAttr("keepdims", 0))
		loss = b.add(loss, b.scale(kl, 0.5*beta))
		gradMu = b.add(gz, b.scale(mu, beta))
		gradLogvar = b.add(b.mul(b.mul(gz, eps), b.scale(std, 0.5)), b.scale(b.sub(ev, b.g.Scalar(1)), 0.5*beta))
	}
	return map[string]string{"loss": loss, "rec": rec, "grad_mu": gradMu, "grad_logvar": gradLogvar}
}
