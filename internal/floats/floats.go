// Package floats holds the small float32 slice helpers that several packages need
// alike, so each does not keep its own copy.
package floats

// Argmax is the index of the largest element of v (the first on ties; 0 for an
// empty v): the class a row of logits or scores predicts.
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// Argmin is the index of the smallest element of v (the first on ties; 0 for an
// empty v): the class a row of E-ABS losses l_k predicts.
func Argmin(v []float32) int {
	best := 0
	for i, x := range v {
		if x < v[best] {
			best = i
		}
	}
	return best
}

// SqDist is the squared L2 distance of two vectors of equal length, summed in
// float64.
func SqDist(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}
