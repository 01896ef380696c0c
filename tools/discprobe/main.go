// Command discprobe measures whether a model's latent discriminator D(z) tells the
// encoder's latents from the prior N(0, I): D's mean output and the AUC of its logit
// separating the two, on encoder means and on encoder samples (z = mu + sigma*eps) of
// a split's first images, against as many prior draws. An AUC near 0.5 is a
// discriminator the encoder fools (the adversarial autoencoder's aim: Q(z) matches the
// prior); near 1, one it does not, whose -beta*log D(z) then pulls the inference's
// latents toward the prior's regions rather than the encoder's.
//
//	go run ./tools/discprobe -model zoo:gtsrb-10-eabs -dataset gtsrb-10 -data-dir ../shared/data -n 1000 -out d.json
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"

	"github.com/eabs/eabs/data"
	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/runtime"
	"github.com/eabs/eabs/runtime/ref"
)

// Side is D on one kind of latent.
type Side struct {
	N        int     `json:"n"`
	MeanD    float64 `json:"mean_d"`
	MeanLogD float64 `json:"mean_log_d"`
	// AUC is the probability that a prior draw's logit exceeds this latent's.
	AUC float64 `json:"auc_prior_over_this"`
	// GaussKL measures the latents' distance from the prior without D (whose own
	// strength sets its AUC): KL(N(m, diag(s^2)) || N(0, I)) of the Gaussian with the
	// latents' per-dimension means and variances, 0 for a perfect match (up to the
	// sampling error of n draws, about M/n for the prior itself).
	GaussKL float64 `json:"gauss_kl_diag"`
}

// Report is what discprobe writes.
type Report struct {
	Model, Dataset, Split string
	Seed                  uint64
	Prior                 Side `json:"prior"`
	EncoderMeans          Side `json:"encoder_means"`
	EncoderSamples        Side `json:"encoder_samples"`
}

func main() {
	model := flag.String("model", "zoo:mnist-eabs", "MODEL (an adversarial generative model)")
	dataset := flag.String("dataset", "", "dataset (default: the model's)")
	dataDir := flag.String("data-dir", "", "data root (default $EABS_DATA_DIR, then ../shared/data)")
	split := flag.String("split", "val", "split")
	n := flag.Int("n", 1000, "images (the split's first)")
	seed := flag.Uint64("seed", 1, "seed of the prior draws and the encoder samples")
	out := flag.String("out", "", "JSON report")
	flag.Parse()
	if err := run(*model, *dataset, *dataDir, *split, *n, *seed, *out); err != nil {
		fmt.Fprintln(os.Stderr, "discprobe:", err)
		os.Exit(1)
	}
}

func run(model, dataset, dataDir, split string, n int, seed uint64, out string) error {
	src, err := runtime.Load(model)
	if err != nil {
		return err
	}
	if err := src.NeedWeights("discprobe"); err != nil {
		return err
	}
	if !src.Weights.Spec.HasDiscriminator() {
		return fmt.Errorf("%s has no discriminator", model)
	}
	if dataset == "" {
		dataset = src.Dataset()
	}
	root, _ := data.ResolveRoot(dataDir, os.Getenv)
	ds, err := data.LoadRoot(dataset, root, data.Options{})
	if err != nil {
		return err
	}
	set, err := ds.Split(split)
	if err != nil {
		return err
	}
	n = min(n, set.N)
	m, err := ref.New(src.Weights)
	if err != nil {
		return err
	}
	defer m.Close()
	M := src.Weights.Spec.Arch.Latent
	mu, lv, err := m.Encode(set.Images[:n*set.ImageSize()], n)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0xD15C))
	prior := make([]float32, n*M)
	samples := make([]float32, n*M)
	for i := range prior {
		prior[i] = float32(rng.NormFloat64())
		samples[i] = mu[i] + float32(math.Exp(float64(lv[i])/2)*rng.NormFloat64())
	}
	logit := func(z []float32) ([]float64, error) {
		l, err := m.DiscLogit(z, n)
		out := make([]float64, len(l))
		for i, v := range l {
			out[i] = float64(v)
		}
		return out, err
	}
	lp, err := logit(prior)
	if err != nil {
		return err
	}
	lm, err := logit(mu)
	if err != nil {
		return err
	}
	ls, err := logit(samples)
	if err != nil {
		return err
	}
	rep := Report{Model: model, Dataset: dataset, Split: split, Seed: seed,
		Prior: side(lp, lp, prior, M), EncoderMeans: side(lm, lp, mu, M), EncoderSamples: side(ls, lp, samples, M)}
	fmt.Printf("%s on %d %s %s images: D (prior) %.3f, D (encoder means) %.3f, D (encoder samples) %.3f; AUC of prior over means %.3f, over samples %.3f; Gaussian-fit KL from the prior: prior draws %.3f, encoder samples %.3f\n",
		model, n, dataset, split, rep.Prior.MeanD, rep.EncoderMeans.MeanD, rep.EncoderSamples.MeanD, rep.EncoderMeans.AUC, rep.EncoderSamples.AUC, rep.Prior.GaussKL, rep.EncoderSamples.GaussKL)
	if out != "" {
		return atomicfile.WriteJSON(out, rep)
	}
	return nil
}

// side summarises D's logits l of the latents z (rows of M), with the AUC of the
// prior's logits lp over them.
func side(l, lp []float64, z []float32, M int) Side {
	s := Side{N: len(l), GaussKL: gaussKL(z, M)}
	for _, v := range l {
		d := 1 / (1 + math.Exp(-v))
		s.MeanD += d
		s.MeanLogD += -math.Log1p(math.Exp(-v))
	}
	s.MeanD /= float64(len(l))
	s.MeanLogD /= float64(len(l))
	s.AUC = auc(lp, l)
	return s
}

// auc is the probability that a draw of a exceeds a draw of b (ties count half), by
// ranks.
func auc(a, b []float64) float64 {
	type v struct {
		x     float64
		fromA bool
	}
	all := make([]v, 0, len(a)+len(b))
	for _, x := range a {
		all = append(all, v{x, true})
	}
	for _, x := range b {
		all = append(all, v{x, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].x < all[j].x })
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].x == all[i].x {
			j++
		}
		r := float64(i+j+1) / 2 // mean 1-based rank of the tie group
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankSum += r
			}
		}
		i = j
	}
	na, nb := float64(len(a)), float64(len(b))
	return (rankSum - na*(na+1)/2) / (na * nb)
}

// gaussKL is KL(N(m, diag(v)) || N(0, I)) = 1/2 sum_j (v_j + m_j^2 - 1 - ln v_j), with
// m and v the per-dimension mean and (population) variance of the rows of z.
func gaussKL(z []float32, M int) float64 {
	n := len(z) / M
	var kl float64
	for j := 0; j < M; j++ {
		var sum, sq float64
		for i := 0; i < n; i++ {
			x := float64(z[i*M+j])
			sum += x
			sq += x * x
		}
		m := sum / float64(n)
		v := sq/float64(n) - m*m
		kl += 0.5 * (v + m*m - 1 - math.Log(v))
	}
	return kl
}
