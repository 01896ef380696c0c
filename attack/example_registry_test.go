package attack_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/eabs/eabs/attack"
	"github.com/eabs/eabs/attack/attacktest"
)

// ExampleNew builds attacks by name, as the evaluation runner does, and runs them on a
// two-pixel affine model whose boundary x0 + x1 = 1.2 lies at L2 distance 0.1414 from
// x = (0.5, 0.5): DeepFool lands at 1.02 times that, PGD at its first adversarial
// iterate inside the budget.
func ExampleNew() {
	m := attacktest.Binary([]float64{1, 1}, -1.2)
	x, y := []float32{0.5, 0.5}, []int{0}
	for _, name := range []string{"deepfool-l2", "pgd-l2"} {
		a, err := attack.New(name, attack.Settings{Eps: 0.2})
		if err != nil {
			fmt.Println(err)
			return
		}
		f, err := a.Run(context.Background(), m, x, y, 1, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			fmt.Println(err)
			return
		}
		d := attacktest.Distance(a.Norm(), f.Adv, x)
		fmt.Printf("%s: fooled %v, distance %.4f, within 0.2: %v\n", a.Name(), f.Ok[0], d, d <= 0.2)
	}
	// Output:
	// deepfool-l2: fooled true, distance 0.1442, within 0.2: true
	// pgd-l2: fooled true, distance 0.1821, within 0.2: true
}
