package attack_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/eabs/eabs/attack"
)

// sign is a one-pixel, two-class model whose logits are (x, -x): its cross-entropy
// for class 0 falls as x grows, so PGD against class 0 pushes x down.
type sign struct{}

func (sign) LossGrad(x []float32, y []int, batch int) ([]float32, []float32, error) {
	logits := make([]float32, 2*batch)
	grad := make([]float32, batch)
	for b := range grad {
		logits[2*b], logits[2*b+1] = x[b], -x[b]
		grad[b] = -1 // d CE(class 0) / dx has the sign of -1 for these logits
	}
	return logits, grad, nil
}

func ExamplePGD() {
	p := attack.PGD{Norm: attack.Linf, Eps: 0.3, Steps: 10}
	adv, _ := p.Run(sign{}, []float32{0.5}, []int{0}, 1, rand.New(rand.NewPCG(1, 1)))
	fmt.Printf("x moved from 0.5 to %.2f (budget 0.3)\n", adv[0])
	// Output: x moved from 0.5 to 0.20 (budget 0.3)
}
