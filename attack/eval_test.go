package attack_test

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

// TestEvaluate runs attack.Evaluate on a binary affine model whose answers are known:
// the boundary is the plane where all four pixels sum to 2 (constant images of value
// 0.5), so a constant image of value c has Linf distance |c - 0.5| to it. With eps 0.1
// the images at 0.1 and 0.3 stay robust, the one at 0.45 falls, and the one at 0.6 is
// misclassified from the start.
func TestEvaluate(t *testing.T) {
	m := attacktest.Binary([]float64{1, 1, 1, 1}, -2)
	const n = 4
	vals := []float32{0.1, 0.3, 0.45, 0.6}
	x := make([]float32, 0, len(vals)*n)
	for _, v := range vals {
		for i := 0; i < n; i++ {
			x = append(x, v)
		}
	}
	y := []int{0, 0, 0, 0}
	p := attack.PGD{Norm: attack.Linf, Eps: 0.1, Steps: 10}
	var ticks []int
	o, err := attack.Evaluate(m, p, 2, x, y, 3, 2, rand.New(rand.NewPCG(1, 1)), func(d int) { ticks = append(ticks, d) })
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, true, false}; !reflect.DeepEqual(o.CleanCorrect, want) {
		t.Errorf("CleanCorrect = %v, want %v", o.CleanCorrect, want)
	}
	if want := []bool{true, true, false, false}; !reflect.DeepEqual(o.Robust, want) {
		t.Errorf("Robust = %v, want %v", o.Robust, want)
	}
	if want := []int{0, 0, 0, 1}; !reflect.DeepEqual(o.CleanPred, want) {
		t.Errorf("CleanPred = %v, want %v", o.CleanPred, want)
	}
	if want := []int{0, 0, 1, 1}; !reflect.DeepEqual(o.AdvPred, want) {
		t.Errorf("AdvPred = %v, want %v", o.AdvPred, want)
	}
	if o.CleanAccuracy() != 0.75 || o.RobustAccuracy() != 0.5 {
		t.Errorf("accuracies %v clean, %v robust; want 0.75, 0.5", o.CleanAccuracy(), o.RobustAccuracy())
	}
	// PGD moves every attacked pixel by the full budget toward the boundary (the
	// gradient's sign is the same everywhere), so Linf = 0.1 and L2 = 0.2; the
	// misclassified image is not attacked.
	wantLinf := []float64{0.1, 0.1, 0.1, 0}
	for i := range wantLinf {
		if math.Abs(o.Linf[i]-wantLinf[i]) > 1e-6 || math.Abs(o.L2[i]-2*wantLinf[i]) > 1e-6 {
			t.Errorf("sample %d: Linf %v, L2 %v; want %v, %v", i, o.Linf[i], o.L2[i], wantLinf[i], 2*wantLinf[i])
		}
	}
	if !reflect.DeepEqual(ticks, []int{3, 4}) {
		t.Errorf("ticks %v, want [3 4] (batches of 3)", ticks)
	}
}
