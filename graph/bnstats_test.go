package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eabs/eabs/internal/naive"
	"github.com/eabs/eabs/models"
	"github.com/eabs/eabs/runtime/runtimetest"
	"gorgonia.org/tensor"
)

// TestBatchNormKernelByHand runs the BatchNorm+LeakyReLU kernel on a (2, 2, 1, 2) input
// small enough to do by hand, with PyTorch's definition (torch.nn.BatchNorm2d,
// momentum 0.1, eps 1e-5): in training the output is normalised with the batch mean
// and the BIASED batch variance (divide by n), and the running statistics become
// running = 0.9*running + 0.1*batch, with the UNBIASED batch variance (divide by
// n-1) in the running variance. In evaluation the running statistics normalise.
//
// Channel 0 holds 1, 2 (image 0) and 3, 6 (image 1): mean 3, sum of squared
// deviations 4+1+0+9 = 14, biased variance 14/4 = 3.5, unbiased 14/3. Channel 1 holds
// 0.5, -0.5 and 1.5, 2.5: mean 1, squares 0.25+2.25+0.25+2.25 = 5, biased 1.25,
// unbiased 5/3. With running mean (0.5, -1) and variance (2, 0.5) before the step:
// running mean 0.9*0.5+0.1*3 = 0.75 and 0.9*(-1)+0.1*1 = -0.8; running variance
// 0.9*2+0.1*14/3 = 1.8+0.4666... and 0.9*0.5+0.1*5/3 = 0.45+0.1666....
func TestBatchNormKernelByHand(t *testing.T) {
	x := []float64{
		1, 2, // image 0, channel 0
		0.5, -0.5, // image 0, channel 1
		3, 6, // image 1, channel 0
		1.5, 2.5, // image 1, channel 1
	}
	gamma, beta := []float64{2, 0.5}, []float64{0.1, -0.2}
	shapes := []tensor.Shape{{2, 2, 1, 2}, {2}, {2}}
	const slope, eps = 0.2, 1e-5
	leaky := func(v float64) float64 {
		if v <= 0 {
			return slope * v
		}
		return v
	}
	// by hand: gamma*(x - mean)/sqrt(var + eps) + beta, then LeakyReLU
	norm := func(x, gamma, beta, mean, vr float64) float64 {
		return leaky(gamma*(x-mean)/math.Sqrt(vr+eps) + beta)
	}
	const tol = 1e-12
	check := func(t *testing.T, what string, got, want []float64) {
		t.Helper()
		for i := range want {
			if !(math.Abs(got[i]-want[i]) <= tol*max(1, math.Abs(want[i]))) { // NaN fails too
				t.Errorf("%s[%d] = %.15g, want %.15g", what, i, got[i], want[i])
			}
		}
	}

	t.Run("train", func(t *testing.T) {
		update := true
		rm, rv := []float64{0.5, -1}, []float64{2, 0.5}
		k := newBN(true, &update, rm, rv, slope)
		out := make([]float64, len(x))
		if err := k.forward([][]float64{x, gamma, beta}, shapes, out); err != nil {
			t.Fatal(err)
		}
		check(t, "running mean", rm, []float64{0.75, -0.8})
		check(t, "running variance", rv, []float64{1.8 + 0.1*14.0/3, 0.45 + 0.1*5.0/3})
		want := make([]float64, len(x))
		for i, v := range x {
			if (i/2)%2 == 0 {
				want[i] = norm(v, 2, 0.1, 3, 3.5)
			} else {
				want[i] = norm(v, 0.5, -0.2, 1, 1.25)
			}
		}
		check(t, "output", out, want)
		// The gradient kernels read the last pass's statistics: the batch's.
		check(t, "kept mean", k.mean, []float64{3, 1})
		check(t, "kept 1/std", k.invStd, []float64{1 / math.Sqrt(3.5+eps), 1 / math.Sqrt(1.25+eps)})
	})
	t.Run("train-frozen", func(t *testing.T) {
		update := false
		rm, rv := []float64{0.5, -1}, []float64{2, 0.5}
		k := newBN(true, &update, rm, rv, slope)
		out := make([]float64, len(x))
		if err := k.forward([][]float64{x, gamma, beta}, shapes, out); err != nil {
			t.Fatal(err)
		}
		check(t, "running mean", rm, []float64{0.5, -1})
		check(t, "running variance", rv, []float64{2, 0.5})
		check(t, "output[0]", out[:1], []float64{norm(1, 2, 0.1, 3, 3.5)})
	})
	// One value per channel (PyTorch refuses to train on it): the unbiased variance
	// 0/0 is undefined, and the kernel folds the biased one, 0, in rather than NaN.
	t.Run("one-value", func(t *testing.T) {
		update := true
		rm, rv := []float64{0.5}, []float64{2}
		k := newBN(true, &update, rm, rv, slope)
		out := make([]float64, 1)
		if err := k.forward([][]float64{{3}, {2}, {0.1}}, []tensor.Shape{{1, 1, 1, 1}, {1}, {1}}, out); err != nil {
			t.Fatal(err)
		}
		check(t, "running mean", rm, []float64{0.9*0.5 + 0.1*3})
		check(t, "running variance", rv, []float64{0.9 * 2})
		check(t, "output", out, []float64{0.1})
	})
	t.Run("eval", func(t *testing.T) {
		rm, rv := []float64{0.5, -1}, []float64{2, 0.5}
		k := newBN(false, nil, rm, rv, slope)
		out := make([]float64, len(x))
		if err := k.forward([][]float64{x, gamma, beta}, shapes, out); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, len(x))
		for i, v := range x {
			if (i/2)%2 == 0 {
				want[i] = norm(v, 2, 0.1, 0.5, 2)
			} else {
				want[i] = norm(v, 0.5, -0.2, -1, 0.5)
			}
		}
		check(t, "output", out, want)
		check(t, "running mean", rm, []float64{0.5, -1})
		check(t, "running variance", rv, []float64{2, 0.5})
	})
}

// trainBN is PyTorch's training-mode BatchNorm2d in float64 over a batch of images:
// it returns the images normalised with the batch mean and biased variance, and the
// updated running statistics (momentum 0.1, unbiased variance).
func trainBN(xs []naive.Image, gamma, beta, runMean, runVar []float64) ([]naive.Image, []float64, []float64) {
	c, hw := xs[0].C, xs[0].H*xs[0].W
	n := float64(len(xs) * hw)
	mean, biased := make([]float64, c), make([]float64, c)
	newMean, newVar := make([]float64, c), make([]float64, c)
	for ch := 0; ch < c; ch++ {
		var s float64
		for _, x := range xs {
			for _, v := range x.Data[ch*hw : (ch+1)*hw] {
				s += v
			}
		}
		mean[ch] = s / n
		var ss float64
		for _, x := range xs {
			for _, v := range x.Data[ch*hw : (ch+1)*hw] {
				ss += (v - mean[ch]) * (v - mean[ch])
			}
		}
		biased[ch] = ss / n
		newMean[ch] = 0.9*runMean[ch] + 0.1*mean[ch]
		newVar[ch] = 0.9*runVar[ch] + 0.1*ss/(n-1)
	}
	out := make([]naive.Image, len(xs))
	for i, x := range xs {
		out[i] = naive.BatchNorm(x, gamma, beta, mean, biased, models.BNEpsilon)
	}
	return out, newMean, newVar
}

// TestBatchNormRunningStatsAfterTrainingStep runs one forward/backward pass of the
// float32 training graph of a tiny E-ABS model (eq. 5) and compares the running
// statistics it leaves in the weights with trainBN's, layer after layer of the
// encoder: each layer's input is the previous layers' training-mode output (batch
// statistics, biased variance), so the normalisation is checked too. The weights
// start with random running statistics, so the momentum's direction shows. Batch 2
// keeps n small enough (18 values per channel in the last layer) that n/(n-1) is far
// above the float32 tolerance.
func TestBatchNormRunningStatsAfterTrainingStep(t *testing.T) {
	w := runtimetest.Weights(t, "eabs", 7)
	a := w.Spec.Arch
	const batch = 2
	o, err := NewDiscriminative[float32](w, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rng := rand.New(rand.NewPCG(4, 4))
	x64, onehot64, eps64 := randomBatch(rng, a, batch)
	to32 := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	x := to32(x64)
	for name, v := range map[string][]float32{"x": x, "target": x, "onehot": to32(onehot64), "eps": to32(eps64)} {
		if err := o.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	// Snapshot the weights before the step; the pass changes only running statistics.
	before := map[string][]float64{}
	for _, p := range w.Params {
		before[p.Name] = naive.To64(p.Data)
	}
	after := func(name string) []float64 { return naive.To64(w.MustParam(name).Data) }
	if _, err := o.Run(rand.New(rand.NewPCG(5, 5))); err != nil {
		t.Fatal(err)
	}

	P := a.Pixels()
	xs := make([]naive.Image, batch)
	for b := range xs {
		xs[b] = naive.ImageFrom32(a.InC, a.InH, a.InW, x[b*P:(b+1)*P])
	}
	pre := models.EncoderPrefix(w.Spec, 0)
	for i, l := range a.Encoder {
		for b := range xs {
			xs[b] = naive.Conv2d(xs[b], before[fmt.Sprintf("%s.conv%d.w", pre, i)], l.Out, l.Kernel, l.Stride, l.Pad)
		}
		bn := fmt.Sprintf("%s.bn%d", pre, i)
		oldMean, oldVar := before[bn+".mean"], before[bn+".var"]
		var wantMean, wantVar []float64
		xs, wantMean, wantVar = trainBN(xs, before[bn+".gamma"], before[bn+".beta"], oldMean, oldVar)
		for b := range xs {
			xs[b].Data = naive.LeakyReLU(xs[b].Data, a.LeakySlope)
		}
		gotMean, gotVar := after(bn+".mean"), after(bn+".var")
		n := batch * xs[0].H * xs[0].W
		const tol = 2e-5 // relative: a float32 forward pass against float64
		for ch := range wantMean {
			if d := math.Abs(gotMean[ch] - wantMean[ch]); !(d <= tol*max(1, math.Abs(wantMean[ch]))) {
				t.Errorf("%s channel %d: running mean %.7g -> %.7g, PyTorch's 0.9*old + 0.1*batch mean gives %.7g", bn, ch, oldMean[ch], gotMean[ch], wantMean[ch])
			}
			if d := math.Abs(gotVar[ch] - wantVar[ch]); !(d <= tol*max(1, math.Abs(wantVar[ch]))) {
				t.Errorf("%s channel %d: running variance %.7g -> %.7g, PyTorch's 0.9*old + 0.1*unbiased batch variance (n = %d) gives %.7g", bn, ch, oldVar[ch], gotVar[ch], n, wantVar[ch])
			}
		}
	}
}
