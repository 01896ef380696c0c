package certify_test

import (
	"fmt"

	"github.com/eabs/eabs/certify"
)

// The label's optimum reconstructs x with residual r = 1 and loss l*_y = 4 (prior
// included); class 1's manifold is at distance 3, class 2's at 4. Class 1 binds:
// (9 - 4) / (2*3 + 2*1) = 0.625.
func ExampleRadius() {
	eps, binding, valid := certify.Radius(0, 4, 1, []float64{1.5, 3, 4})
	fmt.Printf("eps* = %.3f (class %d binds, condition holds: %v)\n", eps, binding, valid)
	// Output: eps* = 0.625 (class 1 binds, condition holds: true)
}
