package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/graph"
	"github.com/eabs/eabs/models"
)

// stepper performs one optimisation step of one model family on a batch of training
// indices, using rng for augmentation noise, dropout masks and latent samples.
type stepper interface {
	step(idx []int, rng *rand.Rand, lr float64) (stepStats, error)
	close()
}

type stepStats struct {
	loss, discLoss float64
	correct, n     int
}

// batcher gathers training images with additive Gaussian noise, clipped to [0,1]
// unless unclipped.
type batcher struct {
	set   *data.Set
	noise float64
	// noisyTarget makes the augmented images the reconstruction targets too;
	// otherwise the targets are the clean images (a denoising objective).
	noisyTarget bool
	// unclipped leaves the noisy images outside [0,1] where the noise takes them.
	unclipped bool
	x, clean  []float32
}

// target returns the reconstruction targets of the batch last gathered.
func (b *batcher) target() []float32 {
	if b.noisyTarget || b.noise == 0 {
		return b.x
	}
	return b.clean
}

func (b *batcher) gather(idx []int, rng *rand.Rand) []float32 {
	n := b.set.ImageSize()
	if len(b.x) != len(idx)*n {
		b.x, b.clean = make([]float32, len(idx)*n), make([]float32, len(idx)*n)
	}
	for j, i := range idx {
		dst := b.x[j*n : (j+1)*n]
		copy(dst, b.set.Image(i))
		copy(b.clean[j*n:(j+1)*n], dst)
		if b.noise > 0 {
			for p := range dst {
				v := float64(dst[p]) + b.noise*rng.NormFloat64()
				if !b.unclipped {
					v = math.Min(1, math.Max(0, v))
				}
				dst[p] = float32(v)
			}
		}
	}
	return b.x
}

func onehot(set *data.Set, idx []int, k int) []float32 {
	out := make([]float32, len(idx)*k)
	for j, i := range idx {
		out[j*k+set.Labels[i]] = 1
	}
	return out
}

func normals(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

func finite(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("train: %s became %v: training diverged (try a lower --lr)", name, v)
	}
	return nil
}

func grads(o *graph.Objective[float32]) [][]float32 {
	g := make([][]float32, len(o.Params))
	for i := range o.Params {
		g[i] = o.Grad(i)
	}
	return g
}

// argminRow returns the index of the smallest value of each row of a (B, K) matrix.
func argminRow(v []float32, k int) []int {
	out := make([]int, len(v)/k)
	for b := range out {
		best := 0
		for j := 1; j < k; j++ {
			if v[b*k+j] < v[b*k+best] {
				best = j
			}
		}
		out[b] = best
	}
	return out
}

// discStepper trains models with one shared encoder (E-ABS, D variants): eq. 5 for the
// encoder and decoders, then the discriminator on the same step's latents.
type discStepper struct {
	w    *models.Weights
	main *graph.Objective[float32]
	disc *discriminator
	opt  *Adam
	b    *batcher
}

func (s *discStepper) step(idx []int, rng *rand.Rand, lr float64) (stepStats, error) {
	a := s.w.Spec.Arch
	x := s.b.gather(idx, rng)
	if err := s.main.Set("x", x); err != nil {
		return stepStats{}, err
	}
	s.main.Set("target", s.b.target())
	s.main.Set("onehot", onehot(s.b.set, idx, a.Classes))
	s.main.Set("eps", normals(rng, len(idx)*a.Latent))
	loss, err := s.main.Run(rng)
	if err != nil {
		return stepStats{}, err
	}
	if err := finite("loss", loss); err != nil {
		return stepStats{}, err
	}
	st := stepStats{loss: loss, n: len(idx)}
	for j, k := range argminRow(s.main.Output("c"), a.Classes) {
		if k == s.b.set.Labels[idx[j]] {
			st.correct++
		}
	}
	s.opt.LR = lr
	if s.disc != nil {
		// Algorithm 1: the discriminator sees the latents sampled at the top of the
		// step, before the encoder update.
		if st.discLoss, err = s.disc.update(s.opt, s.main.Output("z"), len(idx)*a.Latent, rng, lr); err != nil {
			return st, err
		}
		s.opt.LR = lr
	}
	return st, s.opt.Step(s.main.Params, grads(s.main))
}

func (s *discStepper) close() {
	s.main.Close()
	if s.disc != nil {
		s.disc.o.Close()
	}
}

// classStepper trains models with class-specific encoders (ABS, A and V variants): a
// batch holds images of one class and updates that class's autoencoder (and the shared
// discriminator, if any).
type classStepper struct {
	w    *models.Weights
	vaes []*graph.Objective[float32]
	disc *discriminator
	opt  *Adam
	b    *batcher
}

func (s *classStepper) step(idx []int, rng *rand.Rand, lr float64) (stepStats, error) {
	a := s.w.Spec.Arch
	k := s.b.set.Labels[idx[0]]
	o := s.vaes[k]
	o.Set("x", s.b.gather(idx, rng))
	o.Set("target", s.b.target())
	o.Set("eps", normals(rng, len(idx)*a.Latent))
	loss, err := o.Run(rng)
	if err != nil {
		return stepStats{}, err
	}
	if err := finite("loss", loss); err != nil {
		return stepStats{}, err
	}
	st := stepStats{loss: loss}
	s.opt.LR = lr
	if s.disc != nil {
		if st.discLoss, err = s.disc.update(s.opt, o.Output("z"), len(idx)*a.Latent, rng, lr); err != nil {
			return st, err
		}
		s.opt.LR = lr
	}
	return st, s.opt.Step(o.Params, grads(o))
}

func (s *classStepper) close() {
	for _, o := range s.vaes {
		o.Close()
	}
	if s.disc != nil {
		s.disc.o.Close()
	}
}

// cnnStepper trains the CNN baseline with cross-entropy, on PGD adversarial examples
// of each batch when pgd is set (adversarial training).
type cnnStepper struct {
	w   *models.Weights
	o   *graph.Objective[float32]
	opt *Adam
	b   *batcher
	pgd *attack.PGD
	adv *lossGrad
}

func (s *cnnStepper) step(idx []int, rng *rand.Rand, lr float64) (stepStats, error) {
	a := s.w.Spec.Arch
	x := s.b.gather(idx, rng)
	if s.pgd != nil {
		y := make([]int, len(idx))
		for j, i := range idx {
			y[j] = s.b.set.Labels[i]
		}
		var err error
		if x, err = s.pgd.Run(s.adv, x, y, len(idx), rng); err != nil {
			return stepStats{}, err
		}
	}
	s.o.Set("x", x)
	s.o.Set("onehot", onehot(s.b.set, idx, a.Classes))
	loss, err := s.o.Run(rng)
	if err != nil {
		return stepStats{}, err
	}
	if err := finite("loss", loss); err != nil {
		return stepStats{}, err
	}
	st := stepStats{loss: loss, n: len(idx)}
	logits := s.o.Output("logits")
	neg := make([]float32, len(logits))
	for i, v := range logits {
		neg[i] = -v
	}
	for j, k := range argminRow(neg, a.Classes) {
		if k == s.b.set.Labels[idx[j]] {
			st.correct++
		}
	}
	s.opt.LR = lr
	return st, s.opt.Step(s.o.Params, grads(s.o))
}

func (s *cnnStepper) close() {
	s.o.Close()
	if s.adv != nil {
		s.adv.p.Close()
	}
}

// lossGrad is the attack.Model of a CNN in training: a float32 evaluation-mode graph
// over the live weights, so the attack always sees the current model.
type lossGrad struct{ p *graph.Program[float32] }

func (l *lossGrad) LossGrad(x []float32, y []int, batch int) (logits, grad []float32, err error) {
	k := l.p.Net.W.Spec.Arch.Classes
	oh := make([]float32, batch*k)
	for b, c := range y {
		oh[b*k+c] = 1
	}
	if err := l.p.Set("x", x); err != nil {
		return nil, nil, err
	}
	if err := l.p.Set("onehot", oh); err != nil {
		return nil, nil, err
	}
	if err := l.p.Run(); err != nil {
		return nil, nil, err
	}
	return l.p.Output("logits"), l.p.Output("grad_x"), nil
}

// newStepper builds the training graphs of w's model family; pgd, when set, makes a
// CNN train adversarially.
func newStepper(w *models.Weights, batch int, b *batcher, opt *Adam, pgd *PGDConfig, ds discSettings) (stepper, error) {
	s := w.Spec
	var disc *discriminator
	if s.HasDiscriminator() {
		o, err := graph.NewDiscriminator[float32](w, batch)
		if err != nil {
			return nil, err
		}
		disc = &discriminator{o: o, discSettings: ds}
	}
	switch {
	case s.Kind == models.CNN:
		o, err := graph.NewCNN[float32](w, batch)
		if err != nil {
			return nil, err
		}
		cs := &cnnStepper{w: w, o: o, opt: opt, b: b}
		if pgd != nil {
			p, err := graph.NewCNNLossGrad[float32](w, batch)
			if err != nil {
				return nil, err
			}
			cs.adv = &lossGrad{p}
			cs.pgd = &attack.PGD{Norm: attack.Norm(pgd.Norm), Eps: pgd.Eps, Steps: pgd.Steps, Step: pgd.Step, RandomStart: true}
		}
		return cs, nil
	case s.Discriminative:
		o, err := graph.NewDiscriminative[float32](w, batch)
		if err != nil {
			return nil, err
		}
		return &discStepper{w: w, main: o, disc: disc, opt: opt, b: b}, nil
	default:
		cs := &classStepper{w: w, disc: disc, opt: opt, b: b}
		for k := 0; k < s.Arch.Classes; k++ {
			o, err := graph.NewClassVAE[float32](w, batch, k)
			if err != nil {
				return nil, err
			}
			cs.vaes = append(cs.vaes, o)
		}
		return cs, nil
	}
}

// batches plans one epoch: a seeded shuffle cut into full batches (the last partial
// batch is dropped; the next epoch's shuffle uses it). Models with class-specific
// encoders get single-class batches, interleaved class by class.
func batches(set *data.Set, batch int, perClass bool, rng *rand.Rand) [][]int {
	perm := rng.Perm(set.N)
	var out [][]int
	if !perClass {
		for i := 0; i+batch <= len(perm); i += batch {
			out = append(out, perm[i:i+batch])
		}
		return out
	}
	byClass := make([][]int, set.Classes)
	for _, i := range perm {
		byClass[set.Labels[i]] = append(byClass[set.Labels[i]], i)
	}
	for more := true; more; {
		more = false
		for k := range byClass {
			if len(byClass[k]) >= batch {
				out = append(out, byClass[k][:batch])
				byClass[k] = byClass[k][batch:]
				more = true
			}
		}
	}
	return out
}

// discSettings are the discriminator's updates per step and learning-rate factor
// (Config.DiscSteps, Config.DiscLR; zero values are the paper's 1 and 1).
type discSettings struct {
	steps int
	lr    float64
}

// discriminator trains D against the encoder's latents of a step.
type discriminator struct {
	o *graph.Objective[float32]
	discSettings
}

// update makes the discriminator's updates of one step, each on n fresh prior draws
// against the encoded latents zq, at the run's learning rate lr times the factor, and
// returns the first update's loss (the one the paper's single update would see). With
// the paper's settings it draws and computes exactly what one update always did, so
// runs begun before these settings existed continue bit for bit.
func (d *discriminator) update(opt *Adam, zq []float32, n int, rng *rand.Rand, lr float64) (float64, error) {
	opt.LR = lr
	if d.lr > 0 {
		opt.LR = lr * d.lr
	}
	var first float64
	for i := range max(1, d.steps) {
		d.o.Set("zq", zq)
		d.o.Set("zp", normals(rng, n))
		loss, err := d.o.Run(rng)
		if err != nil {
			return 0, err
		}
		if err := finite("discriminator loss", loss); err != nil {
			return 0, err
		}
		if i == 0 {
			first = loss
		}
		if err := opt.Step(d.o.Params, grads(d.o)); err != nil {
			return 0, err
		}
	}
	return first, nil
}
