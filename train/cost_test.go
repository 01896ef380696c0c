package train

import (
	"strings"
	"testing"

	"github.com/eabs/eabs/models"
)

// TestStepCost checks the GEMM FLOP of a training step per image against hand counts
// from Table 9's MNIST layers (forward multiply-adds: encoder convolutions 78400,
// 627200, 819200, 589824, heads 2*5760 (E-ABS) or 5760 (CNN); decoder 3261376;
// discriminator 35456 of which its first layer 2560), and the Adam update against the
// models' trainable parameter counts (models.Layout, a separate source).
//
//	E-ABS: encoder 3*2*2126144 - 2*78400 (no input gradient for the image)
//	       + 10 decoders 3*2*3261376 + prior 2*2*35456
//	       + discriminator step 2 latents * (3*2*35456 - 2*2560)
//	       = 12600064 + 195682560 + 141824 + 415232 = 208839680
//	ABS:   encoder 12600064 + its class's decoder 19568256 = 32168320
//	CNN:   3*2*2120384 - 2*78400 = 12565504
//
// Issue 30 estimates ~210 MFLOP per E-ABS image (10*6.5*3 + 4.2*3); the exact GEMM
// count is 0.6% below it and the element-wise work adds 2-3%.
func TestStepCost(t *testing.T) {
	tests := []struct {
		model string
		gemm  int64 // per image
	}{
		{"eabs", 208839680},
		{"abs", 32168320},
		{"cnn", 12565504},
	}
	for _, test := range tests {
		s, err := models.NewSpec("mnist", test.model)
		if err != nil {
			t.Fatal(err)
		}
		var trainable int64
		for _, p := range models.Layout(s) {
			if !p.Role.Trainable() {
				continue
			}
			// ABS trains one class's encoder and decoder per step.
			if s.Kind == models.Generative && !s.Discriminative && !strings.HasPrefix(p.Name, "enc0.") && !strings.HasPrefix(p.Name, "dec0.") && !strings.HasPrefix(p.Name, "disc.") {
				continue
			}
			trainable += int64(models.Size(p.Shape))
		}
		for _, batch := range []int{1, 64} {
			c, err := StepCost(s, batch)
			if err != nil {
				t.Fatal(err)
			}
			if c.GEMM != test.gemm*int64(batch) {
				t.Errorf("%s, batch %d: GEMM = %d FLOP, want %d", test.model, batch, c.GEMM, test.gemm*int64(batch))
			}
			// Adam's bytes are per step, so the weight bytes hold them whatever
			// the batch.
			if c.WeightBytes < models.AdamBytes*trainable {
				t.Errorf("%s, batch %d: weight bytes %d do not cover Adam's %d on %d parameters", test.model, batch, c.WeightBytes, models.AdamBytes*trainable, trainable)
			}
			perImage := float64(c.Elementwise-models.AdamFLOP*trainable) / float64(batch)
			if f := perImage / float64(test.gemm); f <= 0 || f > 0.04 {
				t.Errorf("%s, batch %d: element-wise work per image is %.4f of the GEMM, want within (0, 0.04]", test.model, batch, f)
			}
		}
		// Adam exactly: the element-wise FLOP of two batches differ by one batch's
		// per-image work, so the per-step part is 2*c(1) - c(2).
		c1, _ := StepCost(s, 1)
		c2, _ := StepCost(s, 2)
		if got := 2*c1.Elementwise - c2.Elementwise; got != models.AdamFLOP*trainable {
			t.Errorf("%s: per-step element-wise FLOP %d, want Adam's %d on %d parameters", test.model, got, models.AdamFLOP*trainable, trainable)
		}
	}
	if _, err := StepCost(models.Spec{}, 1); err == nil {
		t.Error("StepCost accepted an empty spec")
	}
	s, _ := models.NewSpec("mnist", "eabs")
	if _, err := StepCost(s, 0); err == nil || !strings.Contains(err.Error(), "batch 0") {
		t.Errorf("StepCost(batch 0) error = %v, want one naming the batch", err)
	}
}
